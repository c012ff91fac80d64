// A typed Apollo Client for Realtime Dashboard: operations typed from the
// repository's schema.graphql by GraphQL Code Generator (src/operations.ts),
// queries and mutations over HTTP with automatic persisted queries (hashed
// queries over GET), subscriptions over graphql-ws, and one normalized cache.
//
//   1. create an account (register) and sign in (login), as a typed client;
//   2. as the admin: sign in and create a product; as the user: order it;
//   3. read the order (typed query MyOrder): the first request sends only the
//      query's hash over GET, the server does not hold it
//      (PersistedQueryNotFound), Apollo sends it again with the query over
//      POST; the second read sends the hash alone over GET and the server
//      runs it;
//   4. subscribe to orderStatusUpdated over the WebSocket, and watch the
//      order in the cache only (no network);
//   5. the admin moves the order to PROCESSING; the subscription's payload
//      (an Order with its id) is normalized into the cached order: the
//      watched query and cache.readFragment see PROCESSING, and the user's
//      client made no HTTP request to learn it.
//
// Run it from the repository root (after `npm ci --prefix frontend-examples/apollo-typed-client`):
//
//   npm --prefix frontend-examples/apollo-typed-client start
//
// which generates the types (src/gql/), type-checks (tsc) and runs this file.
//
// Environment: BASE_URL (default http://127.0.0.1:4000), ADMIN_EMAIL and
// ADMIN_PASSWORD (required: the admin creates the product and moves the
// order). Exits 0 when every step worked, 1 naming the failed step
// otherwise, and gives up after 60 seconds.

import { createHash } from "node:crypto";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

import type { OrderStatus, OrderStatusFieldsFragment } from "./gql/graphql";
import {
  CreateProduct,
  Login,
  MoveOrder,
  MyOrder,
  OrderStatusFields,
  OrderStatusUpdated,
  PlaceOrder,
  Register,
  WhoAmI,
} from "./operations";

const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:4000").replace(/\/+$/, "");
const HTTP_URL = `${BASE_URL}/graphql`;
const WS_URL = HTTP_URL.replace(/^http/, "ws");
const ADMIN_EMAIL = process.env.ADMIN_EMAIL || "";
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || "";
const HARD_TIMEOUT_MS = 60_000;

let stepNumber = 0;
let currentStep = "starting";
const sockets: Client[] = [];

function step(text: string): void {
  stepNumber += 1;
  currentStep = text;
  console.log(`[${stepNumber}] ${text}`);
}

function info(text: string): void {
  console.log(`    ${text}`);
}

async function finish(code: number, message: string): Promise<never> {
  (code === 0 ? console.log : console.error)(message);
  await Promise.race([
    Promise.all(sockets.map((socket) => socket.dispose())),
    new Promise((resolve) => setTimeout(resolve, 1000)),
  ]).catch(() => {});
  process.exit(code);
}

function fail(message: string): Promise<never> {
  return finish(1, `FAILED at step ${stepNumber} (${currentStep}): ${message}`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : JSON.stringify(error);
}

setTimeout(() => void fail(`timed out after ${HARD_TIMEOUT_MS / 1000} s`), HARD_TIMEOUT_MS).unref();
process.on("unhandledRejection", (error) => void fail(describe(error)));

/** One HTTP request a client made, as the persisted-query protocol sees it. */
interface Sent {
  method: string;
  operationName: string | null;
  withQuery: boolean;
  withHash: boolean;
  status: number;
  persistedQueryNotFound: boolean;
}

/**
 * A signed-in (or anonymous) Apollo Client: HTTP through Apollo's
 * PersistedQueryLink (hashed queries over GET), subscriptions and
 * operations marked `{ overSocket: true }` over graphql-ws, one cache.
 * `sent` lists its HTTP requests.
 */
function connect(token: string | null): { client: ApolloClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const method = init?.method ?? "GET";
    const request: { query?: unknown; extensions?: { persistedQuery?: unknown }; operationName?: string } =
      method === "GET"
        ? {
            query: url.searchParams.get("query") ?? undefined,
            extensions: JSON.parse(url.searchParams.get("extensions") ?? "{}"),
            operationName: url.searchParams.get("operationName") ?? undefined,
          }
        : JSON.parse(String(init?.body ?? "{}"));
    let response: Response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      throw new Error(`cannot reach ${HTTP_URL} (${describe(error)}); is the server running?`);
    }
    const body = await response
      .clone()
      .json()
      .catch(() => ({}));
    sent.push({
      method,
      operationName: request.operationName ?? null,
      withQuery: typeof request.query === "string" && request.query.length > 0,
      withHash: Boolean(request.extensions?.persistedQuery),
      status: response.status,
      persistedQueryNotFound: (body.errors ?? []).some(
        (error: { extensions?: { code?: string } }) => error.extensions?.code === "PERSISTED_QUERY_NOT_FOUND",
      ),
    });
    return response;
  };
  const http = new PersistedQueryLink({
    sha256: (query: string) => createHash("sha256").update(query).digest("hex"),
    useGETForHashedQueries: true,
  }).concat(
    new HttpLink({
      uri: HTTP_URL,
      fetch: recordingFetch,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    }),
  );
  if (!token) {
    return { client: new ApolloClient({ link: http, cache: new InMemoryCache() }), sent };
  }
  const socket = createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
  });
  sockets.push(socket);
  const link = ApolloLink.split(
    ({ query, getContext }) => {
      const definition = getMainDefinition(query);
      const isSubscription = definition.kind === "OperationDefinition" && definition.operation === "subscription";
      return isSubscription || getContext().overSocket === true;
    },
    new GraphQLWsLink(socket),
    http,
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), sent };
}

/** How a list of requests looks, for the log. */
function show(sent: Sent[]): string {
  return sent
    .map(
      (request) =>
        `${request.method} ${request.operationName} ${request.withQuery ? "query+hash" : "hash only"} → ` +
        `${request.status}${request.persistedQueryNotFound ? " PersistedQueryNotFound" : ""}`,
    )
    .join(", ");
}

/** The order as the user's cache holds it (no network). */
function cachedOrder(client: ApolloClient, id: string): OrderStatusFieldsFragment | null {
  return client.cache.readFragment({
    id: client.cache.identify({ __typename: "Order", id }),
    fragment: OrderStatusFields,
  });
}

/** Resolves once `check` returns true, re-checked on every `poke`. */
function waiter(): { until: (check: () => boolean) => Promise<void>; poke: () => void } {
  const pending: { check: () => boolean; resolve: () => void }[] = [];
  const poke = () => {
    for (const entry of [...pending]) {
      if (entry.check()) {
        pending.splice(pending.indexOf(entry), 1);
        entry.resolve();
      }
    }
  };
  const until = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      pending.push({ check, resolve });
      poke();
    });
  return { until, poke };
}

async function main(): Promise<void> {
  if (!ADMIN_EMAIL || !ADMIN_PASSWORD) {
    throw new Error("set ADMIN_EMAIL and ADMIN_PASSWORD: the admin creates the product and moves the order");
  }
  console.log(`Typed Apollo Client example against ${HTTP_URL} and ${WS_URL} (admin ${ADMIN_EMAIL})`);
  const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `apollo-example-${stamp}@example.com`;
  const password = "example-password-1";

  step(`create an account ${email} (Register, typed)`);
  const anonymous = connect(null);
  const registered = await anonymous.client.mutate({
    mutation: Register,
    variables: { input: { name: "Apollo Example", email, password } },
  });
  // `registered.data` is RegisterMutation | undefined, typed from the schema.
  const newUser = registered.data?.register.user;
  if (!newUser) throw new Error("register answered no user");
  info(`user ${newUser.id}, role ${newUser.role}; requests: ${show(anonymous.sent)}`);

  step("sign in as the user and as the admin (Login)");
  const userSession = (await anonymous.client.mutate({ mutation: Login, variables: { email, password } })).data
    ?.login;
  const adminSession = (
    await anonymous.client.mutate({ mutation: Login, variables: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })
  ).data?.login;
  if (!userSession || !adminSession) throw new Error("login answered no session");
  if (adminSession.user.role !== "ADMIN") {
    throw new Error(`${ADMIN_EMAIL} is not an admin (role ${adminSession.user.role})`);
  }
  const user = connect(userSession.token);
  const admin = connect(adminSession.token);
  info(`signed in as ${userSession.user.name} and ${adminSession.user.name}`);

  step("the admin creates a product; the user orders it (CreateProduct, PlaceOrder)");
  const product = (
    await admin.client.mutate({
      mutation: CreateProduct,
      variables: {
        input: { name: `Apollo example mug ${stamp}`, price: 12.5, stock: 3, description: "typed-client" },
      },
    })
  ).data?.createProduct;
  if (!product) throw new Error("createProduct answered nothing");
  const placed = (await user.client.mutate({ mutation: PlaceOrder, variables: { productId: product.id } })).data
    ?.placeOrder;
  if (!placed) throw new Error("placeOrder answered nothing");
  const orderId = placed.id;
  info(`product ${product.id}, order ${orderId} ${placed.status}`);

  step("read the order (MyOrder) twice: automatic persisted queries, hashed over GET");
  const before = user.sent.length;
  const first = await user.client.query({ query: MyOrder, variables: { id: orderId }, fetchPolicy: "network-only" });
  const second = await user.client.query({ query: MyOrder, variables: { id: orderId }, fetchPolicy: "network-only" });
  const reads = user.sent.slice(before);
  info(`requests: ${show(reads)}`);
  const [miss, registration, hit] = reads;
  if (
    reads.length !== 3 ||
    !miss ||
    !registration ||
    !hit ||
    !(miss.method === "GET" && !miss.withQuery && miss.withHash && miss.persistedQueryNotFound) ||
    !(registration.method === "POST" && registration.withQuery && registration.withHash && registration.status === 200) ||
    !(hit.method === "GET" && !hit.withQuery && hit.withHash && hit.status === 200 && !hit.persistedQueryNotFound)
  ) {
    throw new Error(`expected a hash miss over GET, the query with its hash over POST, then a hit by hash over GET`);
  }
  const status: OrderStatus | undefined = second.data?.order?.status;
  if (first.data?.order?.id !== orderId || status !== "PENDING") {
    throw new Error(`MyOrder answered ${JSON.stringify(second.data)}`);
  }
  info(`APQ: the first read missed and registered the query, the second ran by its hash alone`);
  info(`cache: Order ${orderId} is ${cachedOrder(user.client, orderId)?.status} (readFragment)`);

  step("subscribe to orderStatusUpdated and watch the order in the cache only");
  const changes = waiter();
  const received: OrderStatusFieldsFragment[] = [];
  user.client.subscribe({ query: OrderStatusUpdated }).subscribe({
    next: ({ data, error }) => {
      if (error) return void fail(`orderStatusUpdated: ${describe(error)}`);
      if (!data) return;
      info(`subscription payload: ${JSON.stringify(data.orderStatusUpdated)}`);
      received.push(data.orderStatusUpdated);
      changes.poke();
    },
    error: (error) => void fail(`orderStatusUpdated subscription: ${describe(error)}`),
  });
  const watched: string[] = [];
  user.client
    .watchQuery({ query: MyOrder, variables: { id: orderId }, fetchPolicy: "cache-only" })
    .subscribe(({ data }) => {
      const seen = data?.order?.status;
      if (seen && watched.at(-1) !== seen) {
        watched.push(seen);
        info(`watched query (cache-only) sees ${seen}`);
        changes.poke();
      }
    });
  // The server handles one connection's messages in order: once a query sent
  // after the subscription is answered over the same socket, it is live.
  const me = await user.client.query({ query: WhoAmI, fetchPolicy: "network-only", context: { overSocket: true } });
  info(`the subscription is live (the socket knows us as ${me.data?.me.email})`);

  step("the admin moves the order to PROCESSING (MoveOrder); the user's cache follows the subscription");
  const requestsBefore = user.sent.length;
  await admin.client.mutate({ mutation: MoveOrder, variables: { id: orderId, status: "PROCESSING" } });
  await changes.until(
    () =>
      received.some((order) => order.id === orderId && order.status === "PROCESSING") &&
      watched.at(-1) === "PROCESSING",
  );
  const cached = cachedOrder(user.client, orderId);
  if (cached?.status !== "PROCESSING") {
    throw new Error(`readFragment sees ${JSON.stringify(cached)} after the payload`);
  }
  if (user.sent.length !== requestsBefore) {
    throw new Error(`the user's client refetched: ${show(user.sent.slice(requestsBefore))}`);
  }
  info(`cache: Order ${orderId} is ${cached.status} (readFragment), updated ${cached.updatedAt}, with no HTTP request`);

  await finish(
    0,
    "OK: typed operations, persisted queries (miss, registration, hit over GET), and the normalized cache " +
      "updated by the orderStatusUpdated payload without a refetch.",
  );
}

main().catch((error) => void fail(describe(error)));
