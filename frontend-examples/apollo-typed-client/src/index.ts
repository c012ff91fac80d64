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
//      client made no HTTP request to learn it;
//   6. Relay-style refetch: the user leaves the subscription, the admin
//      ships the order, and the user refetches it with node(id:) and a typed
//      `... on Order` fragment: the answer is the same normalized object
//      (cache.identify gives Order:<id>, the node field is a reference to it),
//      so MyOrder's watched query sees SHIPPED;
//   7. chat: the user sends two messages to a second account and reads the
//      thread (messages(with:, last:), Relay backward paging) into the cache;
//   8. the user subscribes to messagesSeen selecting `messages { id seen
//      seenAt }` and watches the thread in the cache only;
//   9. the peer marks the thread seen (markMessagesSeen): the receipt's
//      messages are normalized into the cached ones, so the watched thread
//      and cache.readFragment show them seen, with no HTTP request;
//  10. the user holds a product in the cache and subscribes to
//      productRemoved; the admin deletes the product; the subscription's
//      handler evicts Product:<productId> (cache.evict + cache.gc) and the
//      product is gone from the cache, again with no HTTP request.
//
// Run it from the repository root (after `npm ci --prefix frontend-examples/apollo-typed-client`):
//
//   npm --prefix frontend-examples/apollo-typed-client start
//
// which generates the types (src/gql/), type-checks (tsc) and runs this file.
//
// Environment: BASE_URL (default http://127.0.0.1:4000), ADMIN_EMAIL and
// ADMIN_PASSWORD (required: the admin creates and deletes products and
// moves the order). Exits 0 when every step worked, 1 naming the failed step
// otherwise, and gives up after 60 seconds.

import { createHash } from "node:crypto";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition, isReference } from "@apollo/client/utilities";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

import type {
  OrderStatus,
  OrderStatusFieldsFragment,
  ProductFieldsFragment,
  ReceiptFieldsFragment,
} from "./gql/graphql";
import {
  CreateProduct,
  DeleteProduct,
  Login,
  MarkMessagesSeen,
  MessageSeenFields,
  MessagesSeen,
  MoveOrder,
  MyOrder,
  OrderRefetch,
  OrderStatusFields,
  OrderStatusUpdated,
  PlaceOrder,
  ProductById,
  ProductFields,
  ProductRemoved,
  Register,
  SendMessage,
  Thread,
  WhoAmI,
} from "./operations";

const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:4000").replace(/\/+$/, "");
const HTTP_URL = `${BASE_URL}/graphql`;
const WS_URL = HTTP_URL.replace(/^http/, "ws");
const ADMIN_EMAIL = process.env.ADMIN_EMAIL || "";
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || "";
const HARD_TIMEOUT_MS = 60_000;
/** How long a step waits for a payload or a cache update. */
const WAIT_MS = 10_000;

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
function connect(token: string | null): { client: ApolloClient; cache: InMemoryCache; sent: Sent[] } {
  const sent: Sent[] = [];
  const cache = new InMemoryCache();
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
    return { client: new ApolloClient({ link: http, cache }), cache, sent };
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
  return { client: new ApolloClient({ link, cache }), cache, sent };
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

/** How many of the messages `ids` the user's cache holds as seen (no network). */
function seenCount(client: ApolloClient, ids: string[]): number {
  return ids.filter(
    (id) =>
      client.cache.readFragment({
        id: client.cache.identify({ __typename: "Message", id }),
        fragment: MessageSeenFields,
      })?.seen === true,
  ).length;
}

/** The product as the cache holds it (null once evicted). */
function cachedProduct(client: ApolloClient, id: string): ProductFieldsFragment | null {
  return client.cache.readFragment({
    id: client.cache.identify({ __typename: "Product", id }),
    fragment: ProductFields,
  });
}

/**
 * `until(check, what)` resolves once `check` returns true, re-checked on
 * every `poke`, and fails naming `what` after `WAIT_MS`.
 */
function waiter(): { until: (check: () => boolean, what: string) => Promise<void>; poke: () => void } {
  const pending: { check: () => boolean; resolve: () => void }[] = [];
  const poke = () => {
    for (const entry of [...pending]) {
      if (entry.check()) {
        pending.splice(pending.indexOf(entry), 1);
        entry.resolve();
      }
    }
  };
  const until = (check: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.splice(pending.indexOf(entry), 1);
        reject(new Error(`no ${what} within ${WAIT_MS / 1000} s`));
      }, WAIT_MS);
      const entry = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      pending.push(entry);
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
  const hitByHash = (request: Sent | undefined) =>
    request !== undefined &&
    request.method === "GET" &&
    !request.withQuery &&
    request.withHash &&
    request.status === 200 &&
    !request.persistedQueryNotFound;
  const [miss, registration, hit] = reads;
  // A server that already holds the hash (this example run before against
  // it, or another client registered the query) answers the first read by
  // its hash at once.
  const registeredBefore = reads.length === 2 && reads.every(hitByHash);
  const registeredNow =
    reads.length === 3 &&
    miss?.method === "GET" &&
    !miss.withQuery &&
    miss.withHash &&
    miss.persistedQueryNotFound &&
    registration?.method === "POST" &&
    registration.withQuery &&
    registration.withHash &&
    registration.status === 200 &&
    hitByHash(hit);
  if (!registeredBefore && !registeredNow) {
    throw new Error(
      `expected a hash miss over GET, the query with its hash over POST, then a hit by hash over GET ` +
        `(or, when the server already holds the hash, two hits by hash over GET)`,
    );
  }
  const status: OrderStatus | undefined = second.data?.order?.status;
  if (first.data?.order?.id !== orderId || status !== "PENDING") {
    throw new Error(`MyOrder answered ${JSON.stringify(second.data)}`);
  }
  info(
    registeredNow
      ? `APQ: the first read missed and registered the query, the second ran by its hash alone`
      : `APQ: the server already held the query; both reads ran by its hash alone`,
  );
  info(`cache: Order ${orderId} is ${cachedOrder(user.client, orderId)?.status} (readFragment)`);

  step("subscribe to orderStatusUpdated and watch the order in the cache only");
  const changes = waiter();
  const received: OrderStatusFieldsFragment[] = [];
  const orderUpdates = user.client.subscribe({ query: OrderStatusUpdated }).subscribe({
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
    "orderStatusUpdated payload with PROCESSING seen by the watched query",
  );
  const cached = cachedOrder(user.client, orderId);
  if (cached?.status !== "PROCESSING") {
    throw new Error(`readFragment sees ${JSON.stringify(cached)} after the payload`);
  }
  if (user.sent.length !== requestsBefore) {
    throw new Error(`the user's client refetched: ${show(user.sent.slice(requestsBefore))}`);
  }
  info(`cache: Order ${orderId} is ${cached.status} (readFragment), updated ${cached.updatedAt}, with no HTTP request`);

  step("leave orderStatusUpdated; the admin ships the order; the user refetches it by node(id:) (OrderRefetch)");
  orderUpdates.unsubscribe();
  // As above: once a query sent after the `complete` is answered on the same
  // socket, the server has ended the subscription.
  await user.client.query({ query: WhoAmI, fetchPolicy: "network-only", context: { overSocket: true } });
  await admin.client.mutate({ mutation: MoveOrder, variables: { id: orderId, status: "SHIPPED" } });
  const stale = cachedOrder(user.client, orderId);
  if (stale?.status !== "PROCESSING") {
    throw new Error(`with no subscription the cached order should still be PROCESSING, not ${JSON.stringify(stale)}`);
  }
  info(`cache: Order ${orderId} is still ${stale.status} (readFragment): nothing told the user's client`);
  const orderKey = user.client.cache.identify({ __typename: "Order", id: orderId });
  const refetched = (
    await user.client.query({ query: OrderRefetch, variables: { id: orderId }, fetchPolicy: "network-only" })
  ).data?.node;
  // `node` is any Node: the typename narrows it to the `... on Order` fields.
  if (refetched?.__typename !== "Order" || refetched.status !== "SHIPPED") {
    throw new Error(`node(id:) answered ${JSON.stringify(refetched)}`);
  }
  const refetchedKey = user.client.cache.identify(refetched);
  const rootField = user.cache.extract().ROOT_QUERY?.[`node(${JSON.stringify({ id: orderId })})`];
  if (!orderKey || refetchedKey !== orderKey || !isReference(rootField) || rootField.__ref !== orderKey) {
    throw new Error(
      `node(id:) should be a reference to ${orderKey}: identified as ${refetchedKey}, stored as ${JSON.stringify(rootField)}`,
    );
  }
  await changes.until(() => watched.at(-1) === "SHIPPED", "SHIPPED in MyOrder's watched query after the refetch");
  const shipped = cachedOrder(user.client, orderId);
  if (shipped?.status !== "SHIPPED") {
    throw new Error(`readFragment sees ${JSON.stringify(shipped)} after the refetch`);
  }
  info(
    `refetched by node(id:): the same normalized object ${orderKey} (cache.identify), ` +
      `now ${shipped.status} for MyOrder's watched query and readFragment`,
  );

  step("chat: the user writes to a second account, holds the thread in the cache (Thread: messages(with:, last:))");
  const peerEmail = `apollo-example-peer-${stamp}@example.com`;
  const peerSession = (
    await anonymous.client.mutate({
      mutation: Register,
      variables: { input: { name: "Apollo Peer", email: peerEmail, password } },
    })
  ).data?.register;
  if (!peerSession) throw new Error("register answered no session for the peer");
  const peer = connect(peerSession.token);
  const peerId = peerSession.user.id;
  const sentIds: string[] = [];
  for (const text of ["Hello from the typed client", "Did you see this?"]) {
    const message = (await user.client.mutate({ mutation: SendMessage, variables: { to: peerId, text } })).data
      ?.sendMessage;
    if (!message) throw new Error("sendMessage answered nothing");
    sentIds.push(message.id);
  }
  const thread = (
    await user.client.query({ query: Thread, variables: { with: peerId, last: 10 }, fetchPolicy: "network-only" })
  ).data?.messages;
  const threadIds = thread?.nodes.map((message) => message.id) ?? [];
  if (
    thread?.totalCount !== sentIds.length ||
    threadIds.join() !== sentIds.join() ||
    thread.nodes.some((message) => message.seen)
  ) {
    throw new Error(`expected the thread to be the ${sentIds.length} unseen messages sent: ${JSON.stringify(thread)}`);
  }
  info(`thread with ${peerSession.user.name}: ${thread.totalCount} messages, none seen (cache: ${seenCount(user.client, sentIds)} seen)`);

  step("subscribe to messagesSeen (ids seenAt messages { id seen seenAt }) and watch the thread in the cache only");
  const receipts = waiter();
  const receiptsReceived: ReceiptFieldsFragment[] = [];
  user.client.subscribe({ query: MessagesSeen }).subscribe({
    next: ({ data, error }) => {
      if (error) return void fail(`messagesSeen: ${describe(error)}`);
      if (!data) return;
      info(`messagesSeen payload: ${JSON.stringify(data.messagesSeen)}`);
      receiptsReceived.push(data.messagesSeen);
      receipts.poke();
    },
    error: (error) => void fail(`messagesSeen subscription: ${describe(error)}`),
  });
  const threadWatched: number[] = [];
  user.client
    .watchQuery({ query: Thread, variables: { with: peerId, last: 10 }, fetchPolicy: "cache-only" })
    .subscribe(({ data }) => {
      const nodes = data?.messages?.nodes;
      if (!nodes) return;
      const seen = nodes.filter((message) => message.seen).length;
      if (threadWatched.at(-1) !== seen) {
        threadWatched.push(seen);
        info(`watched thread (cache-only): ${seen} of ${nodes.length} seen`);
        receipts.poke();
      }
    });
  await user.client.query({ query: WhoAmI, fetchPolicy: "network-only", context: { overSocket: true } });
  info("the subscription is live");

  step("the peer marks the thread seen (MarkMessagesSeen); the user's cached messages follow the receipt");
  const beforeSeen = user.sent.length;
  const marked = (await peer.client.mutate({ mutation: MarkMessagesSeen, variables: { with: newUser.id } })).data
    ?.markMessagesSeen;
  if (!marked || [...marked.ids].sort().join() !== [...sentIds].sort().join()) {
    throw new Error(`markMessagesSeen marked ${JSON.stringify(marked)}, not the messages sent`);
  }
  await receipts.until(
    () => receiptsReceived.some((receipt) => sentIds.every((id) => receipt.ids.includes(id))),
    "messagesSeen payload naming the messages sent",
  );
  // Apollo writes a subscription's payload to the cache before handing it
  // over, so the cached messages are read here as they now are.
  const seenNow = sentIds.map((id) =>
    user.client.cache.readFragment({
      id: user.client.cache.identify({ __typename: "Message", id }),
      fragment: MessageSeenFields,
    }),
  );
  if (seenNow.some((message) => message?.seen !== true || message.seenAt !== marked.seenAt)) {
    throw new Error(`readFragment sees ${JSON.stringify(seenNow)} after the receipt (seen at ${marked.seenAt})`);
  }
  await receipts.until(
    () => threadWatched.at(-1) === sentIds.length,
    `watched thread showing all ${sentIds.length} messages seen`,
  );
  if (user.sent.length !== beforeSeen) {
    throw new Error(`the user's client refetched: ${show(user.sent.slice(beforeSeen))}`);
  }
  info(
    `cache: ${seenCount(user.client, sentIds)} of ${sentIds.length} messages seen (readFragment), ` +
      `seenAt ${marked.seenAt}, with no HTTP request`,
  );

  step("the user holds a product in the cache and subscribes to productRemoved; the admin deletes it");
  const doomed = (
    await admin.client.mutate({
      mutation: CreateProduct,
      variables: { input: { name: `Apollo example discontinued ${stamp}`, price: 3, stock: 1 } },
    })
  ).data?.createProduct;
  if (!doomed) throw new Error("createProduct answered nothing");
  await user.client.query({ query: ProductById, variables: { id: doomed.id }, fetchPolicy: "network-only" });
  const productKey = user.client.cache.identify({ __typename: "Product", id: doomed.id });
  if (!productKey || !cachedProduct(user.client, doomed.id) || !(productKey in user.cache.extract())) {
    throw new Error(`ProductById did not put ${productKey} in the cache`);
  }
  info(`cache: ${productKey} is "${cachedProduct(user.client, doomed.id)?.name}" (readFragment)`);
  const removals = waiter();
  const removed: string[] = [];
  user.client.subscribe({ query: ProductRemoved }).subscribe({
    next: ({ data, error }) => {
      if (error) return void fail(`productRemoved: ${describe(error)}`);
      if (!data) return;
      const { productId } = data.productRemoved;
      info(`productRemoved payload: ${JSON.stringify(data.productRemoved)}`);
      // What an app does with it: the product leaves the normalized cache,
      // and every list or query that pointed at it stops showing it.
      user.client.cache.evict({ id: user.client.cache.identify({ __typename: "Product", id: productId }) });
      user.client.cache.gc();
      removed.push(productId);
      removals.poke();
    },
    error: (error) => void fail(`productRemoved subscription: ${describe(error)}`),
  });
  await user.client.query({ query: WhoAmI, fetchPolicy: "network-only", context: { overSocket: true } });
  const beforeRemoval = user.sent.length;
  const deleted = (await admin.client.mutate({ mutation: DeleteProduct, variables: { id: doomed.id } })).data
    ?.deleteProduct;
  if (deleted !== doomed.id) throw new Error(`deleteProduct answered ${JSON.stringify(deleted)}`);
  await removals.until(() => removed.includes(doomed.id), `productRemoved payload for ${doomed.id}`);
  if (cachedProduct(user.client, doomed.id) !== null || productKey in user.cache.extract()) {
    throw new Error(`${productKey} is still in the cache after the eviction`);
  }
  if (user.sent.length !== beforeRemoval) {
    throw new Error(`the user's client refetched: ${show(user.sent.slice(beforeRemoval))}`);
  }
  info(`evicted ${productKey}: gone from the cache (readFragment null, not in cache.extract()), with no HTTP request`);

  await finish(
    0,
    "OK: typed operations, persisted queries (run by their hash over GET), and the normalized cache " +
      "updated without a refetch by orderStatusUpdated and messagesSeen payloads, a productRemoved eviction, " +
      "and a node(id:) refetch landing on the same cached order.",
  );
}

main().catch((error) => void fail(describe(error)));
