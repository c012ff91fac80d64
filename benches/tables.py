#!/usr/bin/env python3
"""Markdown tables from loadgen's JSON lines (benches/side-by-side.sh).

One table per workload (and per door for W5), one row per server, what
loadgen noted about a row (a run cut short, the Apollo reference's smaller W5
selection), then the ratios of ours to each baseline for the figures the
targets are set on. Last, the GraphQL targets of issue 12 with their
verdicts: GraphQL `products` requests per second ours / Apollo (at least
4x), W6 server CPU per delivery ours / Apollo (at most 0.25x) and W6 p99
against our W2 p99 from the same run (at most 1.5x). W7
(`WORKLOADS=cluster`) compares two processes of one cluster with one process,
both on MongoDB with the Redis backplane: the added p99 and the ratio of
server CPU per unit (summed over the processes).
"""
import json
import sys


def fmt_us(value):
    if value is None:
        return "–"
    return f"{value / 1000:.1f} ms" if value >= 1000 else f"{value} µs"


def processes(r):
    """Server processes a run drove (loadgen leaves the field out for 1)."""
    return r.get("processes", 1)


def label(r):
    n = processes(r)
    return r["target"] if n == 1 or "×" in r["target"] else f"{r['target']} ×{n}"


def row(r):
    lat = r.get("latency") or {}
    server = r.get("server") or {}
    cpu_unit = r.get("server_cpu_us_per_unit")
    per_conn = r.get("server_bytes_per_connection")
    return "| {target} | {rate:,.0f} {unit}/s | {p50} | {p99} | {max} | {delivered:,} / {expected:,} | {lost:,} | {errors:,} | {cpu} | {cpu_unit} | {peak} | {per_conn} |".format(
        target=label(r),
        rate=r["per_second"],
        unit=r["unit"],
        p50=fmt_us(lat.get("p50_us")),
        p99=fmt_us(lat.get("p99_us")),
        max=fmt_us(lat.get("max_us")),
        delivered=r["delivered"],
        expected=r["expected"],
        lost=r["lost"],
        errors=r["errors"],
        cpu=f"{server['cpu_ms']:,.0f} ms" if server else "–",
        cpu_unit=f"{cpu_unit:,.1f} µs" if cpu_unit is not None else "–",
        peak=f"{server['rss_peak_kib'] / 1024:,.0f} MiB" if server else "–",
        per_conn=f"{per_conn:,.0f} B" if per_conn is not None else "–",
    )


def ratio(a, b):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.2f}×"


def main(path):
    runs = [json.loads(line) for line in open(path) if line.startswith("{")]
    groups = {}
    for r in runs:
        key = r["workload"]
        if r["workload"] == "W5 reads":
            key += " (" + r["params"]["door"] + ")"
        groups.setdefault(key, []).append(r)
    for key, rs in groups.items():
        print(f"### {key}\n")
        print("params: `" + json.dumps(rs[0]["params"]) + "`\n")
        print("| server | throughput | p50 | p99 | max | delivered / expected | lost | errors | server CPU | server CPU per unit | server peak RSS | server memory per connection |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rs:
            print(row(r))
        remarks = [
            f"- {label(r)}: {remark}"
            for r in rs
            for remark in ([r["limited_by"]] if r.get("limited_by") else []) + r.get("notes", [])
        ]
        if remarks:
            print("\n" + "\n".join(remarks))
        ours = next((r for r in rs if r["flavor"] == "ours"), None)
        if ours:
            for base in (r for r in rs if r["flavor"] != "ours"):
                lat_o, lat_b = ours.get("latency") or {}, base.get("latency") or {}
                print(
                    f"\nours / {base['target']}: throughput {ratio(ours['per_second'], base['per_second'])}, "
                    f"p99 {ratio(lat_o.get('p99_us'), lat_b.get('p99_us'))}, "
                    f"server CPU per unit {ratio(ours.get('server_cpu_us_per_unit'), base.get('server_cpu_us_per_unit'))}, "
                    f"memory per connection {ratio(ours.get('server_bytes_per_connection'), base.get('server_bytes_per_connection'))}"
                )
        if key.startswith("W7"):
            cluster_comparison(rs)
        print()
    graphql_targets(runs)


def find(runs, workload, flavor, door=None):
    """The first run of `workload` against `flavor` (through `door` for W5)."""
    return next(
        (
            r
            for r in runs
            if r["workload"] == workload
            and r["flavor"] == flavor
            and (door is None or r["params"].get("door") == door)
        ),
        None,
    )


def verdict(value, bound, at_least):
    """`value` (a ratio) against its target, or nothing when there is none."""
    if value is None:
        return "–"
    met = value >= bound if at_least else value <= bound
    sign = "≥" if at_least else "≤"
    return f"{value:.2f}× (target {sign} {bound}×: {'met' if met else 'missed'})"


def quotient(a, b):
    return None if a is None or b in (None, 0) else a / b


def graphql_targets(runs):
    """Issue 12's GraphQL targets, each printed only when both its runs are here."""
    lines = []
    ours_reads = find(runs, "W5 reads", "ours", "GraphQL products")
    apollo_reads = find(runs, "W5 reads", "apollo", "GraphQL products")
    if ours_reads and apollo_reads:
        rps = quotient(ours_reads["per_second"], apollo_reads["per_second"])
        lines.append(f"GraphQL products requests per second, ours / Apollo: {verdict(rps, 4, True)}")
    ours_w6 = find(runs, "W6 subscriptions", "ours")
    apollo_w6 = find(runs, "W6 subscriptions", "apollo")
    if ours_w6 and apollo_w6:
        cpu = quotient(ours_w6.get("server_cpu_us_per_unit"), apollo_w6.get("server_cpu_us_per_unit"))
        lines.append(f"W6 server CPU per delivery, ours / Apollo: {verdict(cpu, 0.25, False)}")
        p99_o = (ours_w6.get("latency") or {}).get("p99_us")
        p99_a = (apollo_w6.get("latency") or {}).get("p99_us")
        lines.append(f"W6 p99, ours / Apollo: {ratio(p99_o, p99_a)}")
    w2 = find(runs, "W2 fan-out", "ours")
    if w2 and ours_w6 and w2.get("latency") and ours_w6.get("latency"):
        p99 = quotient(ours_w6["latency"]["p99_us"], w2["latency"]["p99_us"])
        lines.append(f"W6 p99 / our W2 p99: {verdict(p99, 1.5, False)}")
    if lines:
        print("\n".join(lines) + "\n")


def cluster_comparison(rs):
    """W7: the last two-process run against the last one-process run."""
    one = next((r for r in reversed(rs) if processes(r) == 1), None)
    two = next((r for r in reversed(rs) if processes(r) == 2), None)
    if not (one and two):
        return
    p99_1 = (one.get("latency") or {}).get("p99_us")
    p99_2 = (two.get("latency") or {}).get("p99_us")
    if p99_1 is not None and p99_2 is not None:
        added = (p99_2 - p99_1) / 1000
        p99 = f"p99 {fmt_us(p99_2)} against {fmt_us(p99_1)} ({added:+.2f} ms"
        if "chat" in two["workload"]:
            p99 += ", goal under +2 ms: " + ("met" if added < 2 else "missed")
        p99 += ")"
    else:
        p99 = "p99 –"
    cpu_1, cpu_2 = one.get("server_cpu_us_per_unit"), two.get("server_cpu_us_per_unit")
    cpu = "–" if cpu_1 is None or cpu_2 is None else f"{cpu_2:,.1f} µs against {cpu_1:,.1f} µs, {ratio(cpu_2, cpu_1)}"
    unit = {"messages": "message", "deliveries": "delivery"}.get(two["unit"], two["unit"])
    print(
        f"\n{label(two)} against {label(one)}: {p99}; server CPU per {unit} {cpu}; "
        f"delivered {two['delivered']:,} of {two['expected']:,} (lost {two['lost']:,}) against "
        f"{one['delivered']:,} of {one['expected']:,} (lost {one['lost']:,})"
    )
    split = (two.get("server") or {}).get("cpu_ms_by_process")
    if split:
        print(f"\nserver CPU by process ({label(two)}): " + " + ".join(f"{ms:,.0f} ms" for ms in split))


if __name__ == "__main__":
    main(sys.argv[1])
