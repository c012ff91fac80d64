// GraphQL subscriptions over WebSocket (`graphql-transport-ws`) with the
// vendored graphql-ws client (vendor/graphql-ws/graphql-ws.min.js, loaded as a
// classic script that defines `globalThis.graphqlWs`).
//
// One connection carries every subscription. `connection_init` carries
// `{ token }`. After a token refresh a new connection is opened with the new
// token, every subscription is re-made on it, and only then is the old one
// closed, so nothing is missed and presence does not flap.

/** ws:// or wss:// on the page's own origin. */
export function graphqlWsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/graphql`;
}

/** How long the old connection stays open after the new one is acknowledged. */
const OVERLAP_MS = 2_500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Emits 'status' ({ state: 'connecting' | 'live' | 'offline', detail }) and
 * 'reconnected' (a connection after the first came up: refetch to catch up).
 */
export class Live extends EventTarget {
  constructor(session) {
    super();
    this.createClient = globalThis.graphqlWs?.createClient;
    if (!this.createClient) throw new Error('vendor/graphql-ws/graphql-ws.min.js did not load');
    this.session = session;
    this.subs = new Map(); // key -> { query, variables, onData }
    this.current = null; // { client, unsubscribes: Map }
    this.connectedOnce = false;
    this.generation = 0;
    this.tokenRejected = false;
  }

  /** Registers a subscription for the lifetime of this Live (survives reconnects). */
  subscribe(key, query, onData, variables = {}) {
    this.subs.set(key, { query, variables, onData });
    if (this.current) this.attach(this.current, key);
  }

  start() {
    this.current = this.open();
  }

  open() {
    const generation = ++this.generation;
    const conn = { client: null, unsubscribes: new Map(), generation, ready: null };
    let markReady;
    conn.ready = new Promise((resolve) => (markReady = resolve));
    conn.client = this.createClient({
      url: graphqlWsUrl(),
      lazy: false,
      keepAlive: 20_000,
      retryAttempts: Infinity,
      shouldRetry: () => !this.stopped,
      retryWait: async (retries) => {
        this.emitStatus('connecting', 'reconnecting…');
        await sleep(Math.min(1000 * 2 ** retries, 15_000) + Math.random() * 500);
      },
      onNonLazyError: () => {},
      connectionParams: async () => {
        // Closed with 4403 (token expired, session revoked, role changed)
        // or about to expire: get a new token before (re)connecting.
        if (this.tokenRejected || this.session.expiresSoon(15_000)) {
          this.tokenRejected = false;
          this.refreshingInline = true;
          try {
            await this.session.refresh();
          } catch {
            // A refused refresh ends the session (and stops this client); a
            // transient one is retried by the next attempt. Never throw here:
            // graphql-ws would surface it as an unhandled rejection.
          } finally {
            this.refreshingInline = false;
          }
        }
        return { token: this.session.token };
      },
      on: {
        connecting: () => {
          if (this.current === conn || !this.current) this.emitStatus('connecting', 'connecting…');
        },
        connected: () => {
          markReady();
          if (this.current !== conn) return;
          this.emitStatus('live', 'live');
          if (this.connectedOnce) this.dispatchEvent(new CustomEvent('reconnected'));
          this.connectedOnce = true;
        },
        closed: (event) => {
          if (this.current !== conn || this.stopped) return;
          if (event && event.code === 4403) this.tokenRejected = true;
          this.emitStatus('offline', event?.reason ? `disconnected (${event.reason})` : 'disconnected');
        },
      },
    });
    for (const key of this.subs.keys()) this.attach(conn, key);
    return conn;
  }

  attach(conn, key) {
    const sub = this.subs.get(key);
    const unsubscribe = conn.client.subscribe(
      { query: sub.query, variables: sub.variables },
      {
        next: (result) => {
          if (conn !== this.current && conn !== this.previous) return;
          if (result.errors?.length) {
            // e.g. LAGGED: the subscriber fell behind; refetch everything.
            if (result.errors.some((e) => e.extensions?.code === 'LAGGED')) {
              this.dispatchEvent(new CustomEvent('reconnected'));
            }
            return;
          }
          if (result.data) sub.onData(result.data);
        },
        error: () => {},
        complete: () => {},
      },
    );
    conn.unsubscribes.get(key)?.();
    conn.unsubscribes.set(key, unsubscribe);
  }

  /** Reconnects with the session's current (fresh) token, overlapping the old connection. */
  async reconnect() {
    // A connection that is (re)connecting right now already uses the new token.
    if (this.stopped || this.refreshingInline) return;
    const old = this.current;
    this.previous = old;
    const next = this.open();
    this.current = next;
    // Until the new connection is up and its subscriptions have had time to
    // start on the server, events still come from the old one (duplicates are
    // dropped by id downstream).
    await Promise.race([next.ready, sleep(10_000)]);
    await sleep(OVERLAP_MS);
    if (this.previous === old) this.previous = null;
    if (old) this.close(old);
    if (this.current === next) this.dispatchEvent(new CustomEvent('reconnected'));
  }

  close(conn) {
    for (const unsubscribe of conn.unsubscribes.values()) {
      try {
        unsubscribe();
      } catch {
        /* already gone */
      }
    }
    // dispose() awaits a connection in progress and rejects if that one fails.
    Promise.resolve(conn.client.dispose()).catch(() => {});
  }

  stop() {
    this.stopped = true;
    if (this.current) this.close(this.current);
    if (this.previous) this.close(this.previous);
    this.current = this.previous = null;
    this.emitStatus('offline', 'signed out');
  }

  emitStatus(state, detail) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('status', { detail: { state, detail } }));
  }
}
