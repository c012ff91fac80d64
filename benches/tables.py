#!/usr/bin/env python3
"""Markdown tables from loadgen's JSON lines (benches/side-by-side.sh).

One table per workload (and per door for W5), one row per server, then the
ratios of ours to each baseline for the figures the targets are set on.
"""
import json
import sys


def fmt_us(value):
    if value is None:
        return "–"
    return f"{value / 1000:.1f} ms" if value >= 1000 else f"{value} µs"


def row(r):
    lat = r.get("latency") or {}
    server = r.get("server") or {}
    cpu_unit = r.get("server_cpu_us_per_unit")
    per_conn = r.get("server_bytes_per_connection")
    return "| {target} | {rate:,.0f} {unit}/s | {p50} | {p99} | {max} | {delivered:,} / {expected:,} | {lost:,} | {errors:,} | {cpu} | {cpu_unit} | {peak} | {per_conn} |".format(
        target=r["target"],
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
        print()
    w2 = next((r for r in runs if r["workload"] == "W2 fan-out" and r["flavor"] == "ours"), None)
    w6 = next((r for r in runs if r["workload"] == "W6 subscriptions"), None)
    if w2 and w6 and w2.get("latency") and w6.get("latency"):
        print(f"W6 p99 / our W2 p99: {ratio(w6['latency']['p99_us'], w2['latency']['p99_us'])}\n")


if __name__ == "__main__":
    main(sys.argv[1])
