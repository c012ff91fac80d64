// A legacy Socket.IO client for Realtime Dashboard, written the way frontends
// built against the original Express + Socket.IO server talk to it:
//
//   1. register and sign in over REST (POST /auth/register, POST /auth/login);
//   2. connect with socket.io-client v4, the access token in `auth.token`;
//   3. place an order over REST (POST /orders) for the first product in stock;
//   4. wait for `order_status_update` about that order;
//   5. chat: `send_message {to, text}`, wait for the ack (and for the reply);
//   6. resume (with admin credentials): drop the user's socket, let the admin
//      ship the order meanwhile, reconnect with the last position seen as
//      `auth.offset`, and receive the missed `order_status_update`.
//
// Run it from the repository root (after `npm ci --prefix frontend-examples/socketio-client`):
//
//   node frontend-examples/socketio-client/index.mjs
//
// Environment:
//   BASE_URL        the server (default http://127.0.0.1:4000)
//   ADMIN_EMAIL     with ADMIN_PASSWORD: the example also signs in as this admin,
//   ADMIN_PASSWORD  moves the order with the admin's own socket
//                   (`update_order_status`) and answers the chat message, so it
//                   runs unattended. Without them, someone must move the order
//                   (e.g. on the dashboard) within the time limit.
//   CHAT_TO         without admin credentials: the user id to send the chat
//                   message to (usually an admin's); chat is skipped if unset.
//
// Exits 0 when every step succeeded, 1 with a message naming the failed step
// otherwise, 2 when the catalogue has no product in stock to order. Whatever
// happens, it gives up after 60 seconds.

import { io } from "socket.io-client";

const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:4000").replace(/\/+$/, "");
const ADMIN_EMAIL = process.env.ADMIN_EMAIL || "";
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || "";
const CHAT_TO = process.env.CHAT_TO || "";
const HARD_TIMEOUT_MS = 60_000;
const ACK_TIMEOUT_MS = 10_000;

let stepNumber = 0;
let currentStep = "starting";
const sockets = [];

function step(text) {
  stepNumber += 1;
  currentStep = text;
  console.log(`[${stepNumber}] ${text}`);
}

function info(text) {
  console.log(`    ${text}`);
}

function finish(code, message) {
  if (message) {
    (code === 0 ? console.log : console.error)(message);
  }
  for (const socket of sockets) {
    socket.disconnect();
  }
  process.exit(code);
}

function fail(message) {
  finish(1, `FAILED at step ${stepNumber} (${currentStep}): ${message}`);
}

setTimeout(() => {
  fail(`timed out after ${HARD_TIMEOUT_MS / 1000} s`);
}, HARD_TIMEOUT_MS);

process.on("unhandledRejection", (error) => fail(error?.message ?? String(error)));
process.on("uncaughtException", (error) => fail(error?.message ?? String(error)));

/** A REST call that must answer `expectedStatus`; returns the parsed body. */
async function rest(method, path, { body, token, expectedStatus = 200 } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`${BASE_URL}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(`${method} ${path}: cannot reach ${BASE_URL} (${error.cause?.code ?? error.message}); is the server running?`);
  }
  const text = await response.text();
  if (response.status !== expectedStatus) {
    throw new Error(`${method} ${path} answered HTTP ${response.status}, expected ${expectedStatus}: ${text}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${method} ${path} answered HTTP ${response.status} with a body that is not JSON: ${text}`);
  }
}

/**
 * The last event-log position this client received: every resumable event
 * carries `position`, and `resume_position` arrives right after connecting.
 * Sent back as `auth.offset`, it makes the server replay what was missed.
 */
let lastPosition = null;

function trackPositions(socket) {
  socket.onAny((event, payload) => {
    if (payload && typeof payload.position === "string") lastPosition = payload.position;
  });
}

/** Connects a socket with the token; resolves on `connect`, rejects on `connect_error`. */
function connect(label, token, offset) {
  const auth = offset ? { token, offset } : { token };
  const socket = io(BASE_URL, { auth, reconnection: false, timeout: 10_000 });
  sockets.push(socket);
  socket.on("session_ended", (payload) => fail(`${label} socket: session_ended ${JSON.stringify(payload)}`));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => {
      socket.on("disconnect", (reason) => {
        if (reason !== "io client disconnect") fail(`${label} socket disconnected: ${reason}`);
      });
      resolve(socket);
    });
    socket.once("connect_error", (error) => {
      reject(new Error(`${label} socket: connect_error ${error.message}${error.data ? ` ${JSON.stringify(error.data)}` : ""}`));
    });
  });
}

/** Resolves with the first `event` payload for which `matches` is true. */
function waitFor(socket, event, matches) {
  return new Promise((resolve) => {
    const listener = (payload) => {
      if (matches(payload)) {
        socket.off(event, listener);
        resolve(payload);
      }
    };
    socket.on(event, listener);
  });
}

/** Emits with an ack; resolves with `data` of a success envelope, rejects otherwise. */
async function emitWithAck(socket, event, payload) {
  let ack;
  try {
    ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch {
    throw new Error(`no ack for ${event} within ${ACK_TIMEOUT_MS / 1000} s`);
  }
  if (!ack || ack.status !== "success") {
    throw new Error(`${event} was refused: ${JSON.stringify(ack)}`);
  }
  return ack.data;
}

async function main() {
  if (Boolean(ADMIN_EMAIL) !== Boolean(ADMIN_PASSWORD)) {
    throw new Error("set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither");
  }
  const automated = Boolean(ADMIN_EMAIL);
  console.log(`Socket.IO client example against ${BASE_URL} (${automated ? `admin part automated as ${ADMIN_EMAIL}` : "admin part manual"})`);

  const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `sio-example-${stamp}@example.com`;
  const password = "example-password-1";

  step(`register ${email} (POST /auth/register)`);
  const registered = await rest("POST", "/auth/register", {
    body: { name: "Socket.IO Example", email, password },
    expectedStatus: 201,
  });
  info(`user id ${registered.data.user.id}, role ${registered.data.user.role}`);

  step("sign in (POST /auth/login)");
  const login = await rest("POST", "/auth/login", { body: { email, password } });
  const userToken = login.token ?? login.data.token;
  const user = login.user ?? login.data.user;
  info(`access token expires in ${login.data.expiresIn} s`);

  let admin = null;
  let adminSocket = null;
  if (automated) {
    step(`sign in as the admin ${ADMIN_EMAIL} (POST /auth/login)`);
    const adminLogin = await rest("POST", "/auth/login", { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    admin = adminLogin.data.user;
    if (admin.role !== "admin") {
      throw new Error(`${ADMIN_EMAIL} is not an admin (role ${admin.role})`);
    }
    info(`admin id ${admin.id}`);

    step("connect the admin's socket");
    adminSocket = await connect("admin", adminLogin.data.token);
    info(`connected, socket id ${adminSocket.id}`);
    adminSocket.on("new_order", (order) => {
      console.log(`    admin socket: new_order ${order.id} (${order.quantity} x product ${order.productId}, status ${order.status})`);
    });
    // The admin answers every message from our user.
    adminSocket.on("receive_message", (message) => {
      if (message.from !== user.id) return;
      console.log(`    admin socket: receive_message from the user: ${JSON.stringify(message.text)}`);
      emitWithAck(adminSocket, "send_message", { to: user.id, text: `Hello! Your message "${message.text}" arrived.` })
        .then((reply) => console.log(`    admin socket: reply ${reply.id} acknowledged`))
        .catch((error) => fail(`admin reply: ${error.message}`));
    });
  }

  step("connect the user's socket with auth.token");
  let userSocket = await connect("user", userToken);
  trackPositions(userSocket);
  info(`connected, socket id ${userSocket.id}, transport ${userSocket.io.engine.transport.name}`);

  step("pick a product (GET /products)");
  const products = await rest("GET", "/products?limit=100");
  const product = products.data.find((p) => p.stock >= 1);
  if (!product) {
    const what = products.data.length === 0 ? "the catalogue is empty" : "no product on the first page has stock left";
    finish(
      2,
      `FAILED at step ${stepNumber} (${currentStep}): ${what}, so there is nothing to order. ` +
        "This example creates no product: add one first (as an admin, e.g. `createProduct` in GraphiQL, " +
        "POST /products, the dashboard, or frontend-examples/rest-walk.sh with ADMIN_EMAIL/ADMIN_PASSWORD), then run it again.",
    );
  }
  info(`"${product.name}" (${product.id}), price ${product.price}, stock ${product.stock}`);

  step("place an order (POST /orders {productId, quantity: 1})");
  // Listen before placing it, so no update can slip past.
  let orderId = null;
  const early = [];
  userSocket.on("order_status_update", (update) => {
    console.log(`    user socket: order_status_update ${JSON.stringify(update)}`);
    early.push(update);
  });
  const placed = await rest("POST", "/orders", {
    body: { productId: product.id, quantity: 1 },
    token: userToken,
    expectedStatus: 201,
  });
  const order = placed.data;
  orderId = order.id;
  info(`order ${order.id}: status ${order.status}, total ${order.total}`);

  step(`wait for order_status_update about order ${orderId}`);
  const updated = new Promise((resolve) => {
    const found = early.find((u) => u.orderId === orderId);
    if (found) return resolve(found);
    waitFor(userSocket, "order_status_update", (u) => u.orderId === orderId).then(resolve);
  });
  if (adminSocket) {
    info("the admin moves it to processing with update_order_status");
    const moved = await emitWithAck(adminSocket, "update_order_status", { orderId, status: "processing" });
    info(`admin socket: ack, order ${moved.id} is now ${moved.status}`);
  } else {
    info(`waiting for an admin to move it (e.g. on ${BASE_URL}/dashboard); giving up at the ${HARD_TIMEOUT_MS / 1000} s limit`);
  }
  const update = await updated;
  info(`received: order ${update.orderId} is ${update.status} (updated ${update.updatedAt})`);

  const chatTo = admin ? admin.id : CHAT_TO;
  if (!chatTo) {
    step("chat skipped: no ADMIN_EMAIL/ADMIN_PASSWORD and no CHAT_TO user id to write to");
  } else {
    const text = `Hi, about my order ${orderId}: when will it ship?`;
    step(`chat: send_message {to: ${chatTo}, text} and wait for the ack`);
    const reply = adminSocket ? waitFor(userSocket, "receive_message", (m) => m.from === chatTo) : null;
    const sent = await emitWithAck(userSocket, "send_message", { to: chatTo, text });
    info(`ack: message ${sent.id} stored at ${sent.createdAt}`);
    if (reply) {
      step("chat: wait for the admin's reply (receive_message)");
      const answer = await reply;
      info(`receive_message from ${answer.from}: ${JSON.stringify(answer.text)}`);
    }
  }

  if (adminSocket) {
    step("resume: disconnect, the order ships meanwhile, reconnect with auth.offset");
    // Let the last events (and their positions) arrive before dropping.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const offset = lastPosition;
    info(`last position seen: ${offset}`);
    userSocket.disconnect();
    const shipped = await emitWithAck(adminSocket, "update_order_status", { orderId, status: "shipped" });
    info(`while away: the admin moved order ${shipped.id} to ${shipped.status}`);
    const missed = new Promise((resolve) => {
      const socket = io(BASE_URL, { auth: { token: userToken, offset }, reconnection: false, timeout: 10_000 });
      sockets.push(socket);
      socket.on("resync_required", (payload) => fail(`resync_required ${JSON.stringify(payload)}`));
      socket.on("order_status_update", (update) => {
        if (update.orderId === orderId && update.status === "shipped") resolve(update);
      });
      userSocket = socket;
    });
    const update = await missed;
    info(`replayed on reconnect: order ${update.orderId} is ${update.status} (position ${update.position})`);
  }

  finish(0, "OK: signed in, ordered, heard the status change" + (chatTo ? ", chatted" : "") + (adminSocket ? ", resumed" : "") + ".");
}

main().catch((error) => fail(error.message));
