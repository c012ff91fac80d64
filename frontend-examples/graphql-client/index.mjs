// A GraphQL client for Realtime Dashboard: queries and mutations over HTTP
// (fetch), subscriptions over WebSocket with graphql-ws (protocol
// graphql-transport-ws), the access token in the `connection_init` payload.
//
//   1. create an account (`register`) and sign in with the `login` mutation;
//   2. open a graphql-ws connection with `connection_init {token}` and
//      subscribe to `newProduct` and `orderStatusUpdated`;
//   3. with admin credentials: sign in as the admin (`login`), create a product
//      (`createProduct`) and wait for our own `newProduct` event; then order it
//      (`placeOrder`), move the order as the admin (`updateOrderStatus`) and
//      wait for `orderStatusUpdated`.
//
// Run it from the repository root (after `npm ci --prefix frontend-examples/graphql-client`):
//
//   node frontend-examples/graphql-client/index.mjs
//
// Environment:
//   BASE_URL        the server (default http://127.0.0.1:4000); the WebSocket
//                   URL is the same with ws:// (or wss://) and /graphql
//   ADMIN_EMAIL     with ADMIN_PASSWORD: the admin who creates the product and
//   ADMIN_PASSWORD  moves the order. Without them the example only watches and
//                   prints the events it receives (create a product on the
//                   dashboard to see one) and, having no product of its own to
//                   see, exits 1 at the time limit.
//
// Exits 0 once it has seen its own product (and its order's status change),
// 1 with a message naming the failed step otherwise. Whatever happens, it
// gives up after 60 seconds.

import { createClient } from "graphql-ws/client";
import WebSocket from "ws";

const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:4000").replace(/\/+$/, "");
const HTTP_URL = `${BASE_URL}/graphql`;
const WS_URL = HTTP_URL.replace(/^http/, "ws");
const ADMIN_EMAIL = process.env.ADMIN_EMAIL || "";
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || "";
const HARD_TIMEOUT_MS = 60_000;

let stepNumber = 0;
let currentStep = "starting";
let client = null;

function step(text) {
  stepNumber += 1;
  currentStep = text;
  console.log(`[${stepNumber}] ${text}`);
}

function info(text) {
  console.log(`    ${text}`);
}

async function finish(code, message) {
  if (message) {
    (code === 0 ? console.log : console.error)(message);
  }
  if (client) {
    const closing = client.dispose();
    client = null;
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 1000))]).catch(() => {});
  }
  process.exit(code);
}

function fail(message) {
  return finish(1, `FAILED at step ${stepNumber} (${currentStep}): ${message}`);
}

setTimeout(() => {
  if (ADMIN_EMAIL) {
    fail(`timed out after ${HARD_TIMEOUT_MS / 1000} s`);
  } else {
    finish(
      1,
      `Stopped after ${HARD_TIMEOUT_MS / 1000} s of watching. Without ADMIN_EMAIL/ADMIN_PASSWORD this example ` +
        "cannot create a product of its own to see, so it does not count as a success.",
    );
  }
}, HARD_TIMEOUT_MS);

process.on("unhandledRejection", (error) => fail(error?.message ?? String(error)));
process.on("uncaughtException", (error) => fail(error?.message ?? String(error)));

/** A GraphQL operation over HTTP that must succeed; returns `data`. */
async function graphql(query, variables = {}, token = null) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(HTTP_URL, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new Error(`cannot reach ${HTTP_URL} (${error.cause?.code ?? error.message}); is the server running?`);
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status} with a body that is not JSON: ${text}`);
  }
  if (body.errors?.length) {
    const described = body.errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; ");
    throw new Error(`GraphQL errors: ${described}`);
  }
  if (!response.ok || !body.data) {
    throw new Error(`HTTP ${response.status}: ${text}`);
  }
  return body.data;
}

/** Runs one operation over the WebSocket and resolves with its result. */
function overSocket(query) {
  return new Promise((resolve, reject) => {
    let result = null;
    client.subscribe(
      { query },
      {
        next: (value) => (result = value),
        error: (error) => reject(new Error(describe(error))),
        complete: () => resolve(result),
      },
    );
  });
}

/** A readable form of what graphql-ws hands to `error`. */
function describe(error) {
  if (Array.isArray(error)) return error.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; ");
  if (error && typeof error.code === "number") return `socket closed with ${error.code} ${error.reason || ""}`.trim();
  return error?.message ?? String(error);
}

const AUTH_FIELDS = "token refreshToken expiresIn user { id name email role }";

async function main() {
  if (Boolean(ADMIN_EMAIL) !== Boolean(ADMIN_PASSWORD)) {
    throw new Error("set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither");
  }
  const automated = Boolean(ADMIN_EMAIL);
  console.log(`GraphQL client example against ${HTTP_URL} and ${WS_URL} (${automated ? `admin ${ADMIN_EMAIL}` : "watching only"})`);

  const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `graphql-example-${stamp}@example.com`;
  const password = "example-password-1";

  step(`create an account ${email} (register mutation)`);
  const registered = await graphql(
    `mutation Register($input: RegisterInput!) { register(input: $input) { user { id role } } }`,
    { input: { name: "GraphQL Example", email, password } },
  );
  info(`user id ${registered.register.user.id}, role ${registered.register.user.role}`);

  step("sign in (login mutation over HTTP)");
  const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { ${AUTH_FIELDS} } }`;
  const session = (await graphql(LOGIN, { email, password })).login;
  info(`signed in as ${session.user.name} (${session.user.id}); token expires in ${session.expiresIn} s`);

  step(`connect to ${WS_URL} with connection_init {token}`);
  client = createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { token: session.token },
    lazy: false,
    retryAttempts: 0,
    on: {
      closed: (event) => {
        if (client) fail(`the WebSocket closed: ${event?.code ?? ""} ${event?.reason ?? ""}`.trim());
      },
    },
  });
  await new Promise((resolve, reject) => {
    const offConnected = client.on("connected", () => {
      offConnected();
      resolve();
    });
    client.on("error", (error) => reject(new Error(`connection failed: ${describe(error)}`)));
  });
  info("connection acknowledged");

  step("subscribe to newProduct and orderStatusUpdated");
  const seenProducts = [];
  const seenUpdates = [];
  let onEvent = () => {};
  client.subscribe(
    { query: "subscription { newProduct { id name price stock description createdAt } }" },
    {
      next: ({ data, errors }) => {
        if (errors) return fail(`newProduct: ${describe(errors)}`);
        console.log(`    event newProduct: ${JSON.stringify(data.newProduct)}`);
        seenProducts.push(data.newProduct);
        onEvent();
      },
      error: (error) => fail(`newProduct subscription: ${describe(error)}`),
      complete: () => {},
    },
  );
  client.subscribe(
    { query: "subscription { orderStatusUpdated { id status quantity total updatedAt product { id name } user { id } } }" },
    {
      next: ({ data, errors }) => {
        if (errors) return fail(`orderStatusUpdated: ${describe(errors)}`);
        console.log(`    event orderStatusUpdated: ${JSON.stringify(data.orderStatusUpdated)}`);
        seenUpdates.push(data.orderStatusUpdated);
        onEvent();
      },
      error: (error) => fail(`orderStatusUpdated subscription: ${describe(error)}`),
      complete: () => {},
    },
  );
  // The server handles one connection's messages in order: once a query sent
  // after the subscriptions is answered, both subscriptions are live.
  const me = await overSocket("{ me { id email } }");
  info(`both subscriptions are live (the socket knows us as ${me.data.me.email})`);

  /** Resolves with the first event in `list` that `matches`, waiting for it if needed. */
  const eventually = (list, matches) =>
    new Promise((resolve) => {
      const check = () => {
        const found = list.find(matches);
        if (found) resolve(found);
      };
      const previous = onEvent;
      onEvent = () => {
        previous();
        check();
      };
      check();
    });

  if (!automated) {
    step("watching: no ADMIN_EMAIL/ADMIN_PASSWORD, so nothing is created; events are printed as they arrive");
    return;
  }

  step(`sign in as the admin ${ADMIN_EMAIL} (login mutation)`);
  const admin = (await graphql(LOGIN, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).login;
  if (admin.user.role !== "ADMIN") {
    throw new Error(`${ADMIN_EMAIL} is not an admin (role ${admin.user.role})`);
  }

  const name = `GraphQL example kettle ${stamp}`;
  step(`create a product "${name}" (createProduct, as the admin)`);
  const created = (
    await graphql(
      `mutation Create($input: CreateProductInput!) { createProduct(input: $input) { id name price stock } }`,
      { input: { name, price: 24.99, stock: 3, description: "Made by frontend-examples/graphql-client." } },
      admin.token,
    )
  ).createProduct;
  info(`created ${created.id}`);

  step("wait for our own newProduct event");
  const mine = await eventually(seenProducts, (p) => p.id === created.id);
  info(`received newProduct ${mine.id} "${mine.name}" at ${mine.price}, stock ${mine.stock}`);

  step("order it (placeOrder, as the user)");
  const order = (
    await graphql(
      `mutation Place($productId: ID!) { placeOrder(productId: $productId, quantity: 1) { id status total } }`,
      { productId: created.id },
      session.token,
    )
  ).placeOrder;
  info(`order ${order.id}: ${order.status}, total ${order.total}`);

  step("move it to SHIPPED (updateOrderStatus, as the admin) and wait for orderStatusUpdated");
  const updated = eventually(seenUpdates, (o) => o.id === order.id && o.status === "SHIPPED");
  await graphql(
    `mutation Move($id: ID!) { updateOrderStatus(id: $id, status: SHIPPED) { id status } }`,
    { id: order.id },
    admin.token,
  );
  const update = await updated;
  info(`received orderStatusUpdated: order ${update.id} is ${update.status}`);

  await finish(0, "OK: signed in, subscribed, saw our own newProduct and our order's orderStatusUpdated.");
}

main().catch((error) => fail(error.message));
