#!/usr/bin/env bash
# W1 to W6 against Realtime Dashboard, the Express + Socket.IO reference and
# the limit server, back to back with the same parameters; every server is
# started fresh for every workload and stopped after it.
#
#   benches/side-by-side.sh            # the full run of BENCHMARKS.md
#   CONNECTIONS=1000 benches/side-by-side.sh   # a lighter one
#   WORKLOADS=chat PAIRS=200 RATE=2000 benches/side-by-side.sh   # some only
#
# Needs: cargo, node and npm, python3 (for the tables). The reference server
# is copied out of NODE_REF (default: ../shared/peers/node-socketio-reference,
# beside the checkout) into target/side-by-side and installed there with npm;
# nothing of it is written into the repository.
# Results: target/side-by-side/results.jsonl (one loadgen JSON line per run)
# and target/side-by-side/tables.md.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_REF=${NODE_REF:-../shared/peers/node-socketio-reference}
OUT=target/side-by-side
CONNECTIONS=${CONNECTIONS:-10000}
PAIRS=${PAIRS:-50}
RATE=${RATE:-500}
CHAT_SECONDS=${CHAT_SECONDS:-20}
EVENTS=${EVENTS:-20}
READ_SECONDS=${READ_SECONDS:-10}
READ_CONCURRENCY=${READ_CONCURRENCY:-32}
WORKLOADS=${WORKLOADS:-chat fanout idle connect reads subscriptions}
ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD=admin-password-1
OURS_PORT=4400 NODE_PORT=4401 LIMIT_PORT=4402

mkdir -p "$OUT"
: >"$OUT/results.jsonl"
ulimit -n "$(ulimit -Hn)"

echo "== building (release)"
# One at a time, so that the server is built with its own dependency features
# only, as `cargo build --release` and the Dockerfile build it.
cargo build --release --locked -p realtime-dashboard
cargo build --release --locked -p loadgen
LOADGEN=target/release/loadgen

echo "== installing the Node reference into $OUT/node-ref"
rm -rf "$OUT/node-ref"
mkdir -p "$OUT/node-ref"
cp "$NODE_REF/server.js" "$NODE_REF/package.json" "$NODE_REF/package-lock.json" "$OUT/node-ref/"
(cd "$OUT/node-ref" && npm ci --no-audit --no-fund --silent)

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
      DATA_DIR="$data" PORT=$OURS_PORT HOST=127.0.0.1 RUST_LOG=warn \
        ADMIN_EMAIL=$ADMIN_EMAIL ADMIN_PASSWORD=$ADMIN_PASSWORD \
        target/release/realtime-dashboard serve >"$OUT/ours.log" 2>&1 &
      SERVER_PID=$!
      wait_for_port $OURS_PORT
      ;;
    node)
      (cd "$OUT/node-ref" && PORT=$NODE_PORT ADMIN_EMAIL=$ADMIN_EMAIL ADMIN_PASSWORD=$ADMIN_PASSWORD \
        exec node server.js) >"$OUT/node.log" 2>&1 &
      SERVER_PID=$!
      wait_for_port $NODE_PORT
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
port_of() { case "$1" in ours) echo $OURS_PORT ;; node) echo $NODE_PORT ;; limit) echo $LIMIT_PORT ;; esac; }

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

wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }

wants chat && for flavor in ours node; do
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
wants reads && run ours reads --door graphql --concurrency "$READ_CONCURRENCY" --duration "$READ_SECONDS"
wants subscriptions && run ours subscriptions --connections "$CONNECTIONS" --events "$EVENTS"

python3 benches/tables.py "$OUT/results.jsonl" | tee "$OUT/tables.md"
