// graphql-ws (protocol graphql-transport-ws) client driven by the Rust end-to-end
// tests (tests/e2e/support/node.rs).
//
// Usage: node gqlws-driver.mjs '{"url":"ws://127.0.0.1:PORT/graphql","connectionParams":{...}|null,"headers":{...}|null}'
// (`headers`: extra HTTP headers of the upgrade request, e.g. the `Origin` a browser would send)
//
// Every observation is printed on stdout as one JSON object per line:
//   {"kind":"connected","payload":<connection_ack payload or null>}
//   {"kind":"closed","code":<int>,"reason":"..."}
//   {"kind":"error","message":"..."}
//   {"kind":"connection_failed","error":<described error>}   the non-lazy connection gave up
//   {"kind":"next","id":"s1","payload":{"data":...,"errors":...}}
//   {"kind":"sub_error","id":"s1","errors":<described error>}
//   {"kind":"complete","id":"s1"}
//   {"kind":"unsubscribed","id":"s1"}
//   {"kind":"disposed"}
//   {"kind":"driver_error","message":"..."}
// A described error is the GraphQL error array as received, or
// {"type":"close","code":..,"reason":"..","wasClean":..} for a close event, or
// {"type":"error","name":"..","message":".."} for anything else.
//
// Commands are read from stdin, one JSON object per line:
//   {"cmd":"subscribe","id":"s1","query":"subscription { ... }","variables":{...},"operationName":null}
//   {"cmd":"query","id":"q1","query":"query { ... }","variables":{...}}    (query or mutation over the socket)
//   {"cmd":"unsubscribe","id":"s1"}                                        (sends "complete" for it)
//   {"cmd":"dispose"}                                                      (close, print "disposed", exit 0)
// End of stdin behaves like "dispose".

import { createInterface } from "node:readline";
// The client entry point does not load `graphql` itself.
import { createClient } from "graphql-ws/client";
import WebSocket from "ws";

function print(obj) {
  let line;
  try {
    line = JSON.stringify(obj);
  } catch (e) {
    line = JSON.stringify({ kind: "driver_error", message: `cannot serialise ${obj && obj.kind}: ${e.message}` });
  }
  // Writes to a pipe are synchronous on Linux, so each line is flushed here.
  process.stdout.write(line + "\n");
}

function driverError(message) {
  print({ kind: "driver_error", message: String(message) });
}

process.on("uncaughtException", (e) => driverError(`uncaught: ${e && e.stack ? e.stack : e}`));
process.on("unhandledRejection", (e) => driverError(`unhandled rejection: ${e && e.stack ? e.stack : e}`));

function isCloseEvent(v) {
  return v != null && typeof v === "object" && typeof v.code === "number" && "reason" in v;
}

function describe(err) {
  if (Array.isArray(err)) return err;
  if (isCloseEvent(err)) {
    return { type: "close", code: err.code, reason: String(err.reason ?? ""), wasClean: err.wasClean ?? null };
  }
  if (err instanceof Error) return { type: "error", name: err.name, message: err.message };
  if (err != null && typeof err === "object") {
    // e.g. the ErrorEvent of the `ws` package
    const message = err.message ?? (err.error && err.error.message) ?? String(err);
    return { type: "error", name: err.type ?? "Event", message };
  }
  return { type: "error", name: typeof err, message: String(err) };
}

let options;
try {
  options = JSON.parse(process.argv[2] ?? "");
  if (!options || typeof options.url !== "string") throw new Error("options.url (string) is required");
} catch (e) {
  driverError(`bad options argument: ${e.message}`);
  process.exit(2);
}

// The `ws` package takes upgrade headers as a third constructor argument.
const headers = options.headers ?? null;
const WebSocketImpl = headers
  ? class extends WebSocket {
      constructor(url, protocols) {
        super(url, protocols, { headers });
      }
    }
  : WebSocket;

let lastSocket = null;
const client = createClient({
  url: options.url,
  webSocketImpl: WebSocketImpl,
  lazy: false,
  retryAttempts: 0,
  // null means "no payload": the connection_init message then carries none.
  connectionParams: options.connectionParams ?? undefined,
  onNonLazyError: (err) => print({ kind: "connection_failed", error: describe(err) }),
  on: {
    opened: (socket) => {
      lastSocket = socket;
    },
    connected: (_socket, payload) => print({ kind: "connected", payload: payload ?? null }),
    closed: (event) => {
      const e = event || {};
      print({ kind: "closed", code: e.code ?? null, reason: String(e.reason ?? "") });
    },
    error: (err) => print({ kind: "error", message: describe(err).message ?? "unknown error" }),
  },
});

const operations = new Map(); // id -> unsubscribe function

function start(cmd) {
  if (typeof cmd.id !== "string") return driverError(`${cmd.cmd}: id (string) is required`);
  if (typeof cmd.query !== "string") return driverError(`${cmd.cmd}: query (string) is required`);
  const id = cmd.id;
  const payload = { query: cmd.query };
  if (cmd.variables != null) payload.variables = cmd.variables;
  if (cmd.operationName != null) payload.operationName = cmd.operationName;
  const unsubscribe = client.subscribe(payload, {
    next: (value) => print({ kind: "next", id, payload: value }),
    error: (err) => {
      operations.delete(id);
      print({ kind: "sub_error", id, errors: describe(err) });
    },
    complete: () => {
      operations.delete(id);
      print({ kind: "complete", id });
    },
  });
  operations.set(id, unsubscribe);
}

let disposing = false;
async function disposeAndExit() {
  if (disposing) return;
  disposing = true;
  const socket = lastSocket;
  try {
    await client.dispose();
  } catch (e) {
    driverError(`dispose failed: ${e.message}`);
  }
  // Let the close frame leave before exiting.
  const deadline = Date.now() + 1000;
  while (socket && socket.readyState !== WebSocket.CLOSED && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  print({ kind: "disposed" });
  process.exit(0);
}

function handle(cmd) {
  switch (cmd.cmd) {
    case "subscribe":
    case "query":
      return start(cmd);
    case "unsubscribe": {
      const unsubscribe = operations.get(cmd.id);
      if (!unsubscribe) return driverError(`unsubscribe: no active operation ${JSON.stringify(cmd.id)}`);
      operations.delete(cmd.id);
      unsubscribe();
      print({ kind: "unsubscribed", id: cmd.id });
      return;
    }
    case "dispose":
      disposeAndExit();
      return;
    default:
      driverError(`unknown command: ${JSON.stringify(cmd.cmd)}`);
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return driverError(`bad command line ${JSON.stringify(line)}: ${e.message}`);
  }
  try {
    handle(cmd);
  } catch (e) {
    driverError(`command ${JSON.stringify(cmd.cmd)} failed: ${e.message}`);
  }
});
rl.on("close", () => disposeAndExit());
