// Socket.IO client driven by the Rust end-to-end tests (tests/e2e/support/node.rs).
//
// Usage: node sio-driver.mjs '{"url":"http://127.0.0.1:PORT","auth":{...}|null,"query":{...}|null,"extraHeaders":{...}|null,"transports":[...]|null}'
// ("transports" defaults to ["websocket"]; ["polling"] or ["polling","websocket"] exercise long polling and the upgrade)
//
// Every observation is printed on stdout as one JSON object per line:
//   {"kind":"connect","id":"<socket id>","transport":"websocket"|"polling"}
//   {"kind":"upgrade","transport":"websocket"}   the engine moved from polling to a WebSocket
//   {"kind":"connect_error","message":"...","data":<err.data or null>}
//   {"kind":"disconnect","reason":"..."}
//   {"kind":"event","event":"<name>","args":[...]}
//   {"kind":"ack","tag":"...","args":[...]}
//   {"kind":"ack_timeout","tag":"..."}
//   {"kind":"sent_raw"}
//   {"kind":"closed"}
//   {"kind":"driver_error","message":"..."}
//
// Commands are read from stdin, one JSON object per line:
//   {"cmd":"emit","event":"name","args":[...],"ack":true|false,"tag":"...","timeoutMs":5000}
//   {"cmd":"emit_raw","packet":"42[\"x\"]"}   raw text frame on the underlying WebSocket
//   {"cmd":"disconnect"}                      disconnect, print "closed", exit 0
// End of stdin behaves like "disconnect".

import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const DEFAULT_ACK_TIMEOUT_MS = 5000;

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

let options;
try {
  options = JSON.parse(process.argv[2] ?? "");
  if (!options || typeof options.url !== "string") throw new Error("options.url (string) is required");
} catch (e) {
  driverError(`bad options argument: ${e.message}`);
  process.exit(2);
}

const ioOptions = {
  transports: ["websocket"],
  reconnection: false,
  timeout: 5000,
};
// null means "not given": leave the option out so socket.io-client uses its default.
for (const key of ["auth", "query", "extraHeaders", "transports"]) {
  if (options[key] !== null && options[key] !== undefined) ioOptions[key] = options[key];
}

const socket = io(options.url, ioOptions);

socket.on("connect", () =>
  print({ kind: "connect", id: socket.id, transport: socket.io.engine && socket.io.engine.transport.name }),
);
socket.io.on("open", () => {
  socket.io.engine.on("upgrade", (transport) => print({ kind: "upgrade", transport: transport.name }));
});
socket.on("connect_error", (err) =>
  print({ kind: "connect_error", message: err && err.message, data: (err && err.data) ?? null }),
);
socket.on("disconnect", (reason) => print({ kind: "disconnect", reason }));
socket.onAny((event, ...args) => print({ kind: "event", event, args }));

function underlyingWebSocket() {
  const engine = socket.io && socket.io.engine;
  const transport = engine && engine.transport;
  return transport && transport.ws ? transport.ws : null;
}

let closing = false;
async function closeAndExit() {
  if (closing) return;
  closing = true;
  const ws = underlyingWebSocket();
  try {
    socket.disconnect();
  } catch (e) {
    driverError(`disconnect failed: ${e.message}`);
  }
  // Give the DISCONNECT packet and the WebSocket close frame a chance to leave.
  const deadline = Date.now() + 1000;
  while (ws && ws.readyState !== 3 /* CLOSED */ && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  print({ kind: "closed" });
  process.exit(0);
}

function handle(cmd) {
  switch (cmd.cmd) {
    case "emit": {
      const args = Array.isArray(cmd.args) ? cmd.args : cmd.args === undefined ? [] : [cmd.args];
      if (typeof cmd.event !== "string") return driverError("emit: event (string) is required");
      if (cmd.ack) {
        const tag = cmd.tag ?? null;
        const timeoutMs = Number.isFinite(cmd.timeoutMs) ? cmd.timeoutMs : DEFAULT_ACK_TIMEOUT_MS;
        socket.timeout(timeoutMs).emit(cmd.event, ...args, (err, ...response) => {
          if (err) print({ kind: "ack_timeout", tag });
          else print({ kind: "ack", tag, args: response });
        });
      } else {
        socket.emit(cmd.event, ...args);
      }
      return;
    }
    case "emit_raw": {
      const ws = underlyingWebSocket();
      if (!ws) return driverError("emit_raw: no open WebSocket transport");
      if (typeof cmd.packet !== "string") return driverError("emit_raw: packet (string) is required");
      ws.send(cmd.packet, (err) => {
        if (err) driverError(`emit_raw: ${err.message}`);
        else print({ kind: "sent_raw" });
      });
      return;
    }
    case "disconnect":
      closeAndExit();
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
rl.on("close", () => closeAndExit());
