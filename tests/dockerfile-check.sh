#!/usr/bin/env bash
# The Dockerfile check: replays the Dockerfile's build stage without Docker.
#
# There is no Docker engine where the tests run, so this does what the build
# stage does, with cargo directly:
#
#   1. reads the Dockerfile: the stage whose RUN runs `cargo build`, its
#      WORKDIR, its COPY lines (sources relative to the repository, the build
#      context) and that cargo command;
#   2. copies exactly those paths, minus what .dockerignore excludes, into a
#      fresh temporary directory, laid out as the COPY destinations say (a
#      directory source copies its contents, as in Docker);
#   3. runs the Dockerfile's `cargo build` there as `cargo check`, with
#      `--release` dropped.
#
# It proves that the copied files are enough for cargo to load the workspace
# (every member's manifest and targets, the declared bench target, Cargo.lock
# with --locked) and to compile the server crate: every module, build script
# and macro runs, so migrations and the dashboard files must be there. It
# does not produce the binary: the release build is the same source in
# another profile, and even a dev build of it costs minutes, because the
# server alone resolves its dependencies' features differently from the
# tests (tokio's test-util, reqwest's client), so nothing compiled for the
# tests could be reused. So:
#
#   - `cargo check`, dev profile: the dependencies are checked, not compiled
#     (metadata only), about a minute on two cores the first time, seconds
#     after; they live in the repository's target/ (or CARGO_TARGET_DIR), used
#     as the build directory (CARGO_BUILD_BUILD_DIR), so later runs reuse them;
#   - the copies get fresh modification times, so the server crate is always
#     checked from the copy, never taken as up to date;
#   - for the server package only, `incremental = false`: its artifacts get
#     their own hash, so they never stand in for the repository's own;
#   - the output goes to a target directory inside the temporary copy; the
#     copy is removed at exit.
#
# It fails, loudly, when a COPY source is missing or ignored, when cargo
# cannot load or build from the copy (a file the build needs is not among the
# COPY'd paths), when the Dockerfile has no COPY line or no `cargo build`, when
# that build is not --locked, or when the runtime stage takes the binary from
# a cache mount (which is not part of the image).
#
#   tests/dockerfile-check.sh              # the repository's Dockerfile
#   tests/dockerfile-check.sh path/to/Dockerfile
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
dockerfile=${1:-Dockerfile}

fail() {
    echo "tests/dockerfile-check.sh: FAILED: $*" >&2
    exit 1
}
[ -f "$dockerfile" ] || fail "no $dockerfile"
command -v python3 >/dev/null || fail "python3 is required"

# The repository's build directory: where its dependencies are compiled.
build_dir=${CARGO_BUILD_BUILD_DIR:-${CARGO_TARGET_DIR:-$repo/target}}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/dockerfile-check.XXXXXX")
cleanup() { rm -rf "$scratch"; }
trap cleanup EXIT

# Steps 1 and 2. Prints the directory to run cargo in, then the cargo command,
# one argument per line.
plan=$(python3 - "$dockerfile" "$scratch/context" <<'PY'
import glob, json, os, re, shlex, shutil, sys

dockerfile, out = sys.argv[1], sys.argv[2]


def die(message):
    sys.exit(f"tests/dockerfile-check.sh: FAILED: {message}")


# --- Instructions: comments dropped, continuation lines joined. -------------
instructions, current = [], ""
for number, raw in enumerate(open(dockerfile, encoding="utf-8"), 1):
    line = raw.rstrip("\n")
    if line.lstrip().startswith("#"):
        continue
    if line.endswith("\\"):
        current += line[:-1] + " "
        continue
    current += line
    if current.strip():
        keyword, _, rest = current.strip().partition(" ")
        instructions.append((number, keyword.upper(), rest.strip()))
    current = ""
if current.strip():
    die(f"{dockerfile} ends inside a continued line")


def flags_and_args(rest):
    """Splits `--flag=value ... args` (shell words, or an exec-form JSON list)."""
    words = shlex.split(rest) if not rest.startswith("[") else None
    flags = []
    if words is None:
        return flags, json.loads(rest)
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    return flags, words


# --- Stages. ----------------------------------------------------------------
stages = []
for number, keyword, rest in instructions:
    if keyword == "FROM":
        words = rest.split()
        name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
        stages.append({"name": name, "line": number, "body": []})
    elif not stages:
        if keyword != "ARG":
            die(f"{dockerfile}:{number}: {keyword} before the first FROM")
    else:
        stages[-1]["body"].append((number, keyword, rest))

builds = [
    stage for stage in stages
    if any(k == "RUN" and re.search(r"\bcargo\s+build\b", r) for _, k, r in stage["body"])
]
if not builds:
    die(f"{dockerfile} has no RUN with `cargo build`: nothing to replay")
if len(builds) > 1:
    die(f"{dockerfile} runs `cargo build` in {len(builds)} stages; the check replays one")
build = builds[0]

# --- The build stage: WORKDIR, COPY lines, the cargo RUN. --------------------
workdir, copies, cargo_run = "/", [], None
for number, keyword, rest in build["body"]:
    if keyword == "WORKDIR":
        workdir = os.path.normpath(os.path.join(workdir, rest))
    elif keyword == "ADD":
        die(f"{dockerfile}:{number}: ADD in the build stage; use COPY (the check replays COPY only)")
    elif keyword == "COPY":
        flags, args = flags_and_args(rest)
        if any(f.startswith("--from") for f in flags):
            die(f"{dockerfile}:{number}: COPY --from in the build stage; the check cannot replay it")
        if len(args) < 2:
            die(f"{dockerfile}:{number}: COPY needs a source and a destination")
        copies.append((number, args[:-1], args[-1], workdir))
    elif keyword == "RUN" and re.search(r"\bcargo\s+build\b", rest):
        if cargo_run is not None:
            die(f"{dockerfile}:{number}: a second RUN with `cargo build`; the check replays one")
        cargo_run = (number, workdir, rest)
    elif keyword == "RUN" and cargo_run is None and re.search(r"\b(touch|echo|cat|printf|mkdir|cp|mv|tee)\b", rest):
        # A step that writes files before the build would not be replayed.
        die(f"{dockerfile}:{number}: a RUN that may write files before `cargo build`; "
            "the check replays COPY lines only")

if not copies:
    die(f"{dockerfile}: the build stage has no COPY line")
run_line, run_workdir, run_rest = cargo_run
if not any(number < run_line for number, *_ in copies):
    die(f"{dockerfile}: no COPY before the `cargo build` RUN")
late = [number for number, *_ in copies if number > run_line]
if late:
    die(f"{dockerfile}:{late[0]}: COPY after the `cargo build` RUN")

# --- .dockerignore, as Docker reads it (last matching pattern wins; a match on
# a directory covers everything under it; `!` re-includes). -----------------
patterns = []
if os.path.exists(".dockerignore"):
    for raw in open(".dockerignore", encoding="utf-8"):
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern[1:].strip() if negated else pattern
        pattern = os.path.normpath(pattern).lstrip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((re.compile(regex + r"\Z"), negated))


def ignored(relative):
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for regex, negated in patterns:
        if any(regex.match(c) for c in candidates):
            verdict = not negated
    return verdict


# --- Copy. ------------------------------------------------------------------
# Destinations live under the cargo RUN's WORKDIR, which becomes `out`.
def destination(dest, stage_workdir):
    absolute = os.path.normpath(os.path.join(stage_workdir, dest))
    relative = os.path.relpath(absolute, run_workdir)
    if relative.startswith(".."):
        die(f"{dockerfile}: COPY to {absolute}, outside the build's WORKDIR {run_workdir}")
    return os.path.join(out, relative)


def copy_file(source, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(source, target)  # permissions, not times: the copy is new


os.makedirs(out)
copied = 0
for number, sources, dest, stage_workdir in copies:
    if number > run_line:
        continue
    matched = []
    for source in sources:
        if os.path.isabs(source) or os.path.normpath(source).startswith(".."):
            die(f"{dockerfile}:{number}: COPY source {source} is outside the build context")
        found = sorted(glob.glob(source)) if any(c in source for c in "*?[") else (
            [source] if os.path.lexists(source) else [])
        found = [f for f in found if not ignored(os.path.normpath(f))]
        if not found:
            die(f"{dockerfile}:{number}: COPY source {source} does not exist "
                "(or .dockerignore excludes it)")
        matched += found
    into_directory = dest.endswith("/") or len(matched) > 1
    if len(matched) > 1 and not dest.endswith("/"):
        die(f"{dockerfile}:{number}: COPY of several sources needs a destination ending in /")
    target_root = destination(dest, stage_workdir)
    for source in matched:
        source = os.path.normpath(source)
        if os.path.isdir(source):
            for directory, subdirs, files in os.walk(source):
                subdirs[:] = [d for d in subdirs if not ignored(os.path.join(directory, d))]
                for name in files:
                    path = os.path.join(directory, name)
                    if not ignored(path):
                        copy_file(path, os.path.join(target_root, os.path.relpath(path, source)))
                        copied += 1
        else:
            target = os.path.join(target_root, os.path.basename(source)) if into_directory else target_root
            copy_file(source, target)
            copied += 1
if copied == 0:
    die(f"{dockerfile}: the COPY lines copy no file")

# --- The cargo command. -----------------------------------------------------
if run_rest.startswith("["):
    die(f"{dockerfile}:{run_line}: the `cargo build` RUN is in exec form; the check reads shell form")
lexer = shlex.shlex(run_rest, posix=True, punctuation_chars=";&|")
lexer.whitespace_split = True
segments, segment = [], []
for token in lexer:
    if token and set(token) <= set(";&|"):
        segments.append(segment)
        segment = []
    else:
        segment.append(token)
segments.append(segment)
cache_mounts = []
while segments[0] and segments[0][0].startswith("--"):
    flag = segments[0].pop(0)
    if flag.startswith("--mount="):
        fields = dict(f.split("=", 1) for f in flag[len("--mount="):].split(",") if "=" in f)
        if fields.get("type") == "cache":
            mount = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
            cache_mounts.append(os.path.normpath(os.path.join(run_workdir, mount)))
cargo = [s for s in segments if s[:2] == ["cargo", "build"]]
if len(cargo) != 1:
    die(f"{dockerfile}:{run_line}: expected one `cargo build` command in the RUN, found {len(cargo)}")
cargo = cargo[0]
if "--locked" not in cargo and "--frozen" not in cargo:
    die(f"{dockerfile}:{run_line}: `cargo build` without --locked: the image would not build what Cargo.lock says")
if "--target-dir" in cargo or any(a.startswith("--target-dir=") for a in cargo):
    die(f"{dockerfile}:{run_line}: --target-dir in the build; the check cannot replay it")


def writes(segment, path):
    """Whether a command of the RUN (cp, mv, install: destination last) writes path."""
    if len(segment) < 3 or segment[0] not in ("cp", "mv", "install"):
        return False
    last = os.path.normpath(os.path.join(run_workdir, segment[-1]))
    return last == path or (last == os.path.dirname(path) and
                            any(os.path.basename(a) == os.path.basename(path) for a in segment[1:-1]))


# The runtime stages must not take files from a cache mount: it is not part of
# the build stage's image. Whatever they take must be written by the RUN.
for stage in stages:
    for number, keyword, rest in stage["body"]:
        if keyword != "COPY":
            continue
        copy_flags, args = flags_and_args(rest)
        if f"--from={build['name']}" not in copy_flags:
            continue
        for source in args[:-1]:
            absolute = os.path.normpath(os.path.join(run_workdir, source))
            for mount in cache_mounts:
                if absolute == mount or absolute.startswith(mount + "/"):
                    die(f"{dockerfile}:{number}: COPY --from={build['name']} {source}: that is in "
                        f"the cache mount {mount}, which is not in the image; copy the binary out "
                        "of it in the same RUN as `cargo build`")
            if not any(writes(s, absolute) for s in segments):
                die(f"{dockerfile}:{number}: COPY --from={build['name']} {source}: no cp in the "
                    f"`cargo build` RUN (line {run_line}) writes it")

# Dev profile: drop --release (and a --profile).
replay, skip = [], False
for arg in cargo:
    if skip:
        skip = False
    elif arg == "--release" or arg.startswith("--profile="):
        continue
    elif arg == "--profile":
        skip = True
    else:
        replay.append(arg)

print(out)
for arg in replay:
    print(arg)
PY
) || exit 1

mapfile -t lines <<<"$plan"
context=${lines[0]}
cargo_command=("${lines[@]:1}")
[ "${cargo_command[0]:-}" = cargo ] || fail "no cargo command in the plan: $plan"

# The server package: the `-p` of the Dockerfile's command, else the root one.
package=
for ((i = 1; i < ${#cargo_command[@]}; i++)); do
    case "${cargo_command[i]}" in
        -p | --package) package=${cargo_command[i + 1]:-} ;;
        -p* | --package=*) package=${cargo_command[i]#-p}; package=${package#--package=} ;;
    esac
done
if [ -z "$package" ]; then
    package=$(sed -n '/^\[package\]/,/^\[/s/^name *= *"\(.*\)"/\1/p' "$context/Cargo.toml" | head -n 1)
fi
[ -n "$package" ] || fail "cannot tell which package the Dockerfile builds"

echo "    copied: $(cd "$context" && find . -type f | wc -l) files; running in the copy:"
echo "    cargo check ${cargo_command[*]:2}   (dev profile; dependencies from target/)"
(
    cd "$context"
    export CARGO_BUILD_BUILD_DIR="$build_dir"
    export CARGO_TARGET_DIR="$scratch/target"
    "${cargo_command[0]}" check \
        --config "profile.dev.package.\"$package\".incremental=false" \
        "${cargo_command[@]:2}"
) || fail "the Dockerfile's cargo build fails on a clean copy of the files it COPYs: a file the build needs is missing from its COPY lines (or the crate does not compile)"
echo "    ok: the files the Dockerfile copies compile $package"
