// GraphQL over HTTP (POST /graphql) and the admin's session: sign-in, token
// refresh before expiry, sign-out. Nothing here touches the DOM.

const ENDPOINT = '/graphql';
const STORAGE_KEY = 'realtime-dashboard.refreshToken';

/** A GraphQL error with its `extensions.code` (BAD_USER_INPUT, CONFLICT, …). */
export class GqlError extends Error {
  constructor(message, code, errors = []) {
    super(message);
    this.name = 'GqlError';
    this.code = code;
    this.errors = errors;
  }
}

/** Posts one operation; resolves with `data`, rejects with GqlError. */
export async function request(query, variables = {}, token = null) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new GqlError('Cannot reach the server. Check your connection and try again.', 'NETWORK');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GqlError(`The server answered ${response.status} without a GraphQL body.`, response.status === 429 ? 'RATE_LIMITED' : 'INTERNAL');
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new GqlError(first.message || 'Request failed', first.extensions?.code || 'INTERNAL', body.errors);
  }
  return body.data;
}

const AUTH_FIELDS = 'token refreshToken expiresIn user { id name email role }';

const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { ${AUTH_FIELDS} }
}`;
const REFRESH = `mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { ${AUTH_FIELDS} }
}`;
const LOGOUT = `mutation Logout($refreshToken: String!) { logout(refreshToken: $refreshToken) }`;
const ME = `query Me { me { id name email role } }`;

/** Refresh this long before the access token expires (or a fifth of its life, if shorter). */
const REFRESH_MARGIN_MS = 60_000;

/**
 * The signed-in admin. Emits:
 *  - 'refreshed' (after a new access token arrived; subscriptions should reconnect)
 *  - 'ended' ({ reason }) when the session is over (sign-out, revoked, demoted).
 */
export class Session extends EventTarget {
  constructor() {
    super();
    this.token = null;
    this.refreshToken = null;
    this.expiresAt = 0;
    this.user = null;
    this.refreshCount = 0;
    this.timer = null;
    this.inflight = null;
  }

  get signedIn() {
    return Boolean(this.token);
  }

  /** Signs in; refuses (and signs straight out of) accounts that are not admins. */
  async login(email, password) {
    const { login } = await request(LOGIN, { email, password });
    if (login.user.role !== 'ADMIN') {
      // Leave no session behind for a non-admin.
      request(LOGOUT, { refreshToken: login.refreshToken }).catch(() => {});
      throw new GqlError(
        `Signed in as ${login.user.name}, but this dashboard is for administrators only. Ask an admin to grant you access.`,
        'NOT_ADMIN',
      );
    }
    await this.adopt(login);
  }

  /** Resumes a session kept in this tab's sessionStorage (after a reload). */
  async resume() {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (!stored) return false;
    this.refreshToken = stored;
    try {
      await this.refresh({ silent: true });
      return this.signedIn;
    } catch {
      this.clear();
      return false;
    }
  }

  async adopt(payload) {
    this.token = payload.token;
    this.refreshToken = payload.refreshToken;
    this.expiresAt = Date.now() + payload.expiresIn * 1000;
    sessionStorage.setItem(STORAGE_KEY, payload.refreshToken);
    // The payload's user may come without the email (no caller yet when it was built): ask `me`.
    let user = payload.user;
    try {
      user = (await request(ME, {}, this.token)).me;
    } catch {
      /* keep the payload's user */
    }
    this.user = user;
    this.schedule(payload.expiresIn);
  }

  schedule(expiresIn) {
    clearTimeout(this.timer);
    const lifeMs = expiresIn * 1000;
    const delay = Math.max(5_000, lifeMs - Math.min(REFRESH_MARGIN_MS, lifeMs / 5));
    this.timer = setTimeout(() => this.refresh().catch(() => {}), delay);
  }

  /** True when the access token has less than `marginMs` left. */
  expiresSoon(marginMs = 30_000) {
    return !this.token || Date.now() > this.expiresAt - marginMs;
  }

  /**
   * Exchanges the refresh token for a new session. Concurrent callers share one
   * request (the refresh token is single-use: a second use would revoke it).
   */
  refresh({ silent = false } = {}) {
    if (this.inflight) return this.inflight;
    this.inflight = (async () => {
      if (!this.refreshToken) throw new GqlError('Not signed in', 'UNAUTHENTICATED');
      let payload;
      try {
        payload = (await request(REFRESH, { refreshToken: this.refreshToken })).refreshToken;
      } catch (err) {
        if (err.code === 'NETWORK' || err.code === 'UNAVAILABLE' || err.code === 'RATE_LIMITED') {
          // Transient: try again shortly while the current token still works.
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.refresh().catch(() => {}), 5_000);
        } else if (!silent) {
          this.end('Your session has ended. Please sign in again.');
        }
        throw err;
      }
      if (payload.user.role !== 'ADMIN') {
        request(LOGOUT, { refreshToken: payload.refreshToken }).catch(() => {});
        this.end('Your administrator access was removed.');
        throw new GqlError('Not an admin any more', 'FORBIDDEN');
      }
      await this.adopt(payload);
      this.refreshCount += 1;
      this.dispatchEvent(new CustomEvent('refreshed'));
    })().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** An authenticated request; one refresh-and-retry when the token was refused. */
  async query(query, variables = {}) {
    if (this.expiresSoon(5_000) && this.refreshToken) await this.refresh().catch(() => {});
    try {
      return await request(query, variables, this.token);
    } catch (err) {
      if (err.code !== 'UNAUTHENTICATED' || !this.refreshToken) throw err;
      await this.refresh();
      return request(query, variables, this.token);
    }
  }

  async logout() {
    const refreshToken = this.refreshToken;
    if (refreshToken) await request(LOGOUT, { refreshToken }).catch(() => {});
    this.end('You have signed out.');
  }

  clear() {
    clearTimeout(this.timer);
    this.token = null;
    this.refreshToken = null;
    this.user = null;
    this.expiresAt = 0;
    sessionStorage.removeItem(STORAGE_KEY);
  }

  end(reason) {
    const wasSignedIn = this.signedIn || this.refreshToken;
    this.clear();
    if (wasSignedIn) this.dispatchEvent(new CustomEvent('ended', { detail: { reason } }));
  }
}

/** A human sentence for an error, by class. */
export function describeError(err) {
  switch (err?.code) {
    case 'UNAUTHENTICATED':
      return 'Your session is no longer valid. Please sign in again.';
    case 'FORBIDDEN':
      return 'You are not allowed to do that.';
    case 'NOT_FOUND':
      return 'It no longer exists (someone may have removed it).';
    case 'RATE_LIMITED':
      return 'Too many attempts. Wait a minute and try again.';
    case 'UNAVAILABLE':
      return 'The server is temporarily unavailable. Try again shortly.';
    case 'BAD_USER_INPUT':
    case 'CONFLICT':
    case 'NETWORK':
    case 'NOT_ADMIN':
      return err.message;
    default:
      return err?.message || 'Something went wrong.';
  }
}
