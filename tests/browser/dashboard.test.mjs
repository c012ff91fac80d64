// Browser test of the admin dashboard (/dashboard/) against a running server.
//
//   BASE_URL=http://127.0.0.1:4000 ADMIN_EMAIL=… ADMIN_PASSWORD=… node tests/browser/dashboard.test.mjs
//
// Env: BASE_URL (default http://127.0.0.1:4000), ADMIN_EMAIL, ADMIN_PASSWORD (required),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOT (default test-artifacts/dashboard.png;
// a phone-sized one is saved beside it as …-phone.png).
//
// An admin signs in with the keyboard; a user registered over REST and connected with
// the real socket.io-client places an order over REST, which appears in the table
// without reload; the admin ships it and the user's socket hears order_status_update;
// a chat round trip shows typing both ways and the seen tick; the user shows online,
// then offline after disconnecting. Also: products live (added, changed, removed) and via the form, a token
// refresh that reconnects the subscriptions, and nothing loaded from another origin.
// Exit code 0 on success; on failure a message naming the step, and exit code 1.

import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { Failure, STEP_TIMEOUT_MS, assert, harness, log } from './harness.mjs';

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:4000').replace(/\/+$/, '');
const ADMIN_EMAIL = process.env.ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT || 'test-artifacts/dashboard.png';
const HARD_TIMEOUT_MS = 120_000;

const origin = new URL(BASE_URL).origin;
const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

let browser = null;
let page = null;
let userSocket = null;
const foreignRequests = [];
const heldBackOrders = new Set();
let graphqlSockets = 0;

async function cleanup() {
  try {
    userSocket?.close();
  } catch {
    /* ignore */
  }
  try {
    await browser?.close();
  } catch {
    /* ignore */
  }
}

const { step, saveScreenshot, waitUntil, finish, setPage, pageErrors, consoleErrors } = harness({
  screenshot: SCREENSHOT,
  hardTimeoutMs: HARD_TIMEOUT_MS,
  cleanup,
  reportConsoleErrors: true,
});

// ---- REST (the legacy door a user's app takes) ----

async function rest(method, route, body, token, { allowError = false } = {}) {
  let response;
  try {
    response = await fetch(`${BASE_URL}${route}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Failure(`${method} ${route}: cannot reach ${BASE_URL} (${err.cause?.code || err.message}); is the server running?`);
  }
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  if (!response.ok && !(allowError && json)) throw new Failure(`${method} ${route} answered ${response.status}: ${text.slice(0, 300)}`);
  return json;
}

/** A real socket.io-client signed in as `token`, recording the user's events. */
async function connectUserSocket(token) {
  const socket = io(BASE_URL, { auth: { token }, transports: ['websocket'], reconnection: false });
  socket.events = recorder(socket, ['order_status_update', 'user_typing', 'receive_message', 'messages_seen', 'session_ended']);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure('socket.io-client did not connect within 10 s')), 10_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(new Failure(`socket.io-client connect_error: ${err.message}`));
    });
  });
  return socket;
}

// ---- Socket.IO events, recorded so that a wait never misses an early one ----

function recorder(socket, names) {
  const seen = [];
  const waiters = new Set();
  for (const name of names) {
    socket.on(name, (payload) => {
      seen.push({ name, payload });
      for (const w of [...waiters]) {
        if (w.name === name && w.predicate(payload)) {
          waiters.delete(w);
          w.resolve(payload);
        }
      }
    });
  }
  return {
    seen,
    wait(name, predicate = () => true, what = name, timeout = STEP_TIMEOUT_MS) {
      const earlier = seen.find((e) => e.name === name && predicate(e.payload));
      if (earlier) return Promise.resolve(earlier.payload);
      return new Promise((resolve, reject) => {
        const w = { name, predicate, resolve };
        waiters.add(w);
        setTimeout(() => {
          if (waiters.delete(w)) {
            const got = seen.filter((e) => e.name === name).map((e) => JSON.stringify(e.payload));
            reject(new Failure(`the user's Socket.IO client did not receive ${what} within ${timeout / 1000} s (${name} events seen: ${got.length ? got.join(', ') : 'none'})`));
          }
        }, timeout);
      });
    },
  };
}

function emitWithAck(socket, event, payload) {
  return new Promise((resolve, reject) => {
    socket.timeout(STEP_TIMEOUT_MS).emit(event, payload, (err, ack) => {
      if (err) reject(new Failure(`no ack for ${event} within ${STEP_TIMEOUT_MS / 1000} s`));
      else if (ack?.status !== 'success') reject(new Failure(`${event} was refused: ${JSON.stringify(ack)}`));
      else resolve(ack.data);
    });
  });
}

// ---- page helpers ----

const sel = {
  orderRow: (id) => `tr[data-testid="order-row"][data-order-id="${id}"]`,
  productRow: (id) => `tr[data-testid="product-row"][data-product-id="${id}"]`,
  presence: (id) => `li[data-testid="presence-item"][data-user-id="${id}"]`,
  conversation: (id) => `button[data-testid="conversation"][data-peer-id="${id}"]`,
};

async function waitVisible(selector, what, timeout = STEP_TIMEOUT_MS) {
  try {
    await page.locator(selector).first().waitFor({ state: 'visible', timeout });
  } catch {
    throw new Failure(`${what}: ${selector} did not appear within ${timeout / 1000} s`);
  }
}

async function textOf(selector) {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

// ---- the test ----

async function main() {
  assert(ADMIN_EMAIL && ADMIN_PASSWORD, 'set ADMIN_EMAIL and ADMIN_PASSWORD (the server\'s bootstrap admin)');
  log(`browser test of ${BASE_URL}/dashboard/ with ${CHROMIUM}`);

  let admin;
  let user;
  let product;
  let order;

  await step('the admin and a user exist (REST)', async () => {
    const login = await rest('POST', '/auth/login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    admin = { token: login.data.token, id: login.data.user.id };
    assert(admin.token && admin.id, `POST /auth/login gave no token/user: ${JSON.stringify(login).slice(0, 200)}`);
    const reg = await rest('POST', '/auth/register', { name: `Buyer ${suffix}`, email: `buyer-${suffix}@example.test`, password: 'buyer-password-1' });
    user = { token: reg.data.token, id: reg.data.user.id, name: reg.data.user.name, email: reg.data.user.email, password: 'buyer-password-1' };
    assert(user.token && user.id, 'POST /auth/register gave no token/user');
    await rest('POST', '/auth/register', { name: `Visitor ${suffix}`, email: `visitor-${suffix}@example.test`, password: 'visitor-password-1' });
  });

  await step('the dashboard page loads from the server, nothing from elsewhere', async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    page = await context.newPage();
    setPage(page); // also collects page errors and console errors
    // The GraphQL WebSocket goes through a pass-through proxy that can hold back
    // one order's live events (to provoke a conflict) and counts connections.
    await page.routeWebSocket(/\/graphql$/, (ws) => {
      graphqlSockets += 1;
      const server = ws.connectToServer();
      server.onMessage((message) => {
        if (heldBackOrders.size && typeof message === 'string') {
          try {
            const msg = JSON.parse(message);
            const id = msg.payload?.data?.orderStatusUpdated?.id;
            if (id && heldBackOrders.has(id)) return;
          } catch {
            /* not JSON: forward */
          }
        }
        ws.send(message);
      });
    });
    page.on('request', (req) => {
      const url = req.url();
      if (url.startsWith('data:') || url.startsWith('blob:')) return;
      if (new URL(url).origin !== origin) foreignRequests.push(url);
    });
    const response = await page.goto(`${BASE_URL}/dashboard/`, { waitUntil: 'load' });
    assert(response && response.ok(), `GET /dashboard/ answered ${response?.status()}`);
    await waitVisible('[data-testid="login-form"]', 'the sign-in form');
  });

  await step('a non-admin is refused politely', async () => {
    await page.locator('[data-testid="login-email"]').fill(`visitor-${suffix}@example.test`);
    await page.locator('[data-testid="login-password"]').fill('visitor-password-1');
    await page.locator('[data-testid="login-submit"]').click();
    await waitVisible('[data-testid="login-error"]', 'the refusal message');
    const text = await textOf('[data-testid="login-error"]');
    assert(/administrator/i.test(text), `the refusal says "${text}"`);
    assert(await page.locator('[data-testid="dashboard"]').isHidden(), 'the dashboard opened for a non-admin');
    await page.locator('[data-testid="login-email"]').fill('');
    await page.locator('[data-testid="login-password"]').fill('');
  });

  await step('the admin signs in with the keyboard', async () => {
    await page.locator('[data-testid="login-email"]').focus();
    await page.keyboard.type(ADMIN_EMAIL);
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN_PASSWORD);
    await page.keyboard.press('Enter');
    try {
      await page.waitForFunction(() => document.body.dataset.ready === 'true' || !document.querySelector('[data-testid="login-error"]').hidden, null, { timeout: STEP_TIMEOUT_MS, polling: 100 });
    } catch {
      throw new Failure('the dashboard did not finish loading within 15 s of signing in');
    }
    const refused = await page.locator('[data-testid="login-error"]').isVisible();
    assert(!refused, `sign-in was refused: "${refused ? await textOf('[data-testid="login-error"]') : ''}"`);
    await waitUntil(() => document.querySelector('[data-testid="live-status"]')?.dataset.state === 'live', null, 'the live status never became "live" (GraphQL WebSocket)');
    const kpis = await page.locator('[data-testid="kpis"] .kpi').count();
    assert(kpis >= 4, `expected KPI cards, found ${kpis}`);
    await waitVisible('[data-testid="chart-status"] svg', 'the orders-by-status chart');
  });

  await step('a reload keeps the admin signed in', async () => {
    await page.reload({ waitUntil: 'load' });
    await waitUntil(() => document.body.dataset.ready === 'true', null, 'after a reload the dashboard did not come back without signing in');
    await waitUntil(() => document.querySelector('[data-testid="live-status"]')?.dataset.state === 'live', null, 'after a reload the live status never became "live"');
  });

  await step('a token refresh reconnects the subscriptions with the new token', async () => {
    const before = await page.evaluate(() => window.dashboard.state());
    const socketsBefore = graphqlSockets;
    await page.evaluate(() => window.dashboard.refreshNow());
    await waitUntil(
      (before) => {
        const s = window.dashboard.state();
        return s.refreshCount > before.refreshCount && s.generation > before.generation && s.connections === 1 && s.live === 'live';
      },
      before,
      'after refreshNow() the dashboard did not settle on one new live connection',
    );
    assert(graphqlSockets > socketsBefore, 'no new GraphQL WebSocket was opened after the refresh');
  });

  await step('a product created by another admin appears live (REST → newProduct)', async () => {
    const created = await rest('POST', '/products', { name: `Desk lamp ${suffix}`, price: 24.5, stock: 10, description: 'Warm light' }, admin.token);
    product = created.data;
    assert(product?.id, 'POST /products gave no product id');
    await waitVisible(sel.productRow(product.id), 'the new product in the products table');
  });

  await step('the user connects with socket.io-client and shows online', async () => {
    userSocket = await connectUserSocket(user.token);
    await waitVisible(`${sel.presence(user.id)}[data-presence="ONLINE"]`, 'the user as online in the presence list');
  });

  await step('an order placed over REST appears in the table without reload', async () => {
    const placed = await rest('POST', '/orders', { productId: product.id, quantity: 2 }, user.token);
    order = placed.data;
    assert(order?.id, 'POST /orders gave no order id');
    await waitVisible(sel.orderRow(order.id), 'the new order row');
    const status = await textOf(`${sel.orderRow(order.id)} [data-testid="order-status"]`);
    assert(/pending/i.test(status), `the new order shows status "${status}", expected Pending`);
    await waitUntil(() => Number(document.querySelector('[data-testid="bar-PENDING"]')?.dataset.count) >= 1, null, 'the orders-by-status chart did not count the pending order');
  });

  await step('the admin ships it; the user\'s socket hears order_status_update', async () => {
    await page.locator(`${sel.orderRow(order.id)} [data-testid="order-to-SHIPPED"]`).click();
    await waitUntil(
      (s) => /shipped/i.test(document.querySelector(s)?.textContent || ''),
      `${sel.orderRow(order.id)} [data-testid="order-status"]`,
      'the order row did not show Shipped',
    );
    const update = await userSocket.events.wait('order_status_update', (p) => p.orderId === order.id && /shipped/i.test(p.status), 'order_status_update {status: shipped}');
    assert(update.orderId === order.id, 'order_status_update for another order');
  });

  await step('a move the order has already passed is a conflict shown beside it', async () => {
    // Another admin delivers it over REST; the row follows live and offers no more moves.
    await rest('PUT', `/orders/${order.id}`, { status: 'delivered' }, admin.token);
    await waitUntil(
      (s) => /delivered/i.test(document.querySelector(s)?.textContent || ''),
      `${sel.orderRow(order.id)} [data-testid="order-status"]`,
      'the order row did not follow the status change made elsewhere',
    );
    // A second order, moved forward elsewhere while its "Process" button is still clicked here.
    const second = (await rest('POST', '/orders', { productId: product.id, quantity: 1 }, user.token)).data;
    await waitVisible(sel.orderRow(second.id), 'the second order row');
    // Hold back the page's live news of this order (as a slow connection would).
    heldBackOrders.add(second.id);
    await rest('PUT', `/orders/${second.id}`, { status: 'shipped' }, admin.token);
    await page.locator(`${sel.orderRow(second.id)} [data-testid="order-to-PROCESSING"]`).click();
    await waitVisible(`${sel.orderRow(second.id)} [data-testid="order-message"]`, 'the inline conflict message');
    const message = await textOf(`${sel.orderRow(second.id)} [data-testid="order-message"]`);
    assert(/already shipped/i.test(message), `the conflict message says "${message}"`);
    heldBackOrders.delete(second.id);
  });

  await step('products: edit in the form, live change by another admin, delete', async () => {
    await page.locator(`${sel.productRow(product.id)} [data-testid="product-edit"]`).click();
    const price = page.locator('[data-testid="product-price-input"]');
    await price.fill('19.99');
    await page.locator('[data-testid="product-submit"]').click();
    await waitUntil((s) => /19\.99/.test(document.querySelector(s)?.textContent || ''), `${sel.productRow(product.id)} [data-testid="product-price"]`, 'the edited price did not show');
    await rest('PUT', `/products/${product.id}`, { stock: 42 }, admin.token);
    await waitUntil((s) => (document.querySelector(s)?.textContent || '').trim() === '42', `${sel.productRow(product.id)} [data-testid="product-stock"]`, 'the stock change by another admin did not arrive live');
    // Create one in the form, then delete it.
    const name = `Throwaway ${suffix}`;
    await page.locator('[data-testid="product-name-input"]').fill(name);
    await page.locator('[data-testid="product-price-input"]').fill('3');
    await page.locator('[data-testid="product-stock-input"]').fill('1');
    await page.locator('[data-testid="product-submit"]').click();
    const row = page.locator('tr[data-testid="product-row"]', { hasText: name });
    await row.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    await row.locator('[data-testid="product-delete"]').click();
    await row.locator('[data-testid="product-confirm-delete"]').click();
    await row.waitFor({ state: 'detached', timeout: STEP_TIMEOUT_MS });
  });

  await step('a product another admin deletes leaves the table live (REST → productRemoved)', async () => {
    const doomed = (await rest('POST', '/products', { name: `Discontinued ${suffix}`, price: 2, stock: 1 }, admin.token)).data;
    assert(doomed?.id, 'POST /products gave no product id');
    await waitVisible(sel.productRow(doomed.id), 'the product to delete in the products table');
    await rest('DELETE', `/products/${doomed.id}`, undefined, admin.token);
    await waitUntil((s) => !document.querySelector(s), sel.productRow(doomed.id), 'the product deleted by another admin stayed in the table');
  });

  let userMessage;
  let firstMessage;
  const HISTORY = 21; // more than one page (20) of history
  await step('chat: the user\'s messages arrive with an unread count', async () => {
    for (let i = 1; i <= HISTORY; i += 1) {
      const m = await emitWithAck(userSocket, 'send_message', { to: admin.id, text: `history ${i}` });
      if (i === 1) firstMessage = m;
      await new Promise((resolve) => setTimeout(resolve, 110)); // under the 10/s chat rate limit
    }
    userMessage = await emitWithAck(userSocket, 'send_message', { to: admin.id, text: `Hello from ${user.name}, where is my lamp?` });
    await waitVisible(sel.conversation(user.id), 'the conversation with the user');
    await waitUntil(
      ([s, n]) => (document.querySelector(s)?.textContent || '').trim() === String(n),
      [`${sel.conversation(user.id)} [data-testid="unread-count"]`, HISTORY + 1],
      `the conversation did not show ${HISTORY + 1} unread`,
    );
  });

  await step('chat: the admin opens the thread, pages back through history; the user hears it was seen', async () => {
    await page.locator(sel.conversation(user.id)).click();
    await waitVisible(`[data-testid="chat-message"][data-message-id="${userMessage.id}"]`, 'the user\'s message in the thread');
    await userSocket.events.wait('messages_seen', (p) => (p.ids || []).includes(userMessage.id), 'messages_seen for the opened thread');
    await waitUntil((s) => !document.querySelector(s), `${sel.conversation(user.id)} [data-testid="unread-count"]`, 'the unread count did not clear once the thread was open');
    assert((await page.locator(`[data-testid="chat-message"][data-message-id="${firstMessage.id}"]`).count()) === 0, 'the whole history loaded at once (expected a page of 20)');
    await page.locator('[data-testid="chat-load-older"]').click();
    await waitVisible(`[data-testid="chat-message"][data-message-id="${firstMessage.id}"]`, 'the oldest message after "Load older messages"');
    await page.locator('[data-testid="chat-load-older"]').waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
  });

  await step('chat: the user types, the admin sees the typing indicator', async () => {
    userSocket.emit('typing', { to: admin.id });
    await waitUntil(() => document.querySelector('[data-testid="typing-indicator"]')?.dataset.active === 'true', null, 'the typing indicator did not show');
    const text = await textOf('[data-testid="typing-indicator"]');
    assert(text.includes(user.name), `the typing indicator says "${text}"`);
    userSocket.emit('stop_typing', { to: admin.id });
  });

  const reply = `On its way, ${suffix}!`;
  await step('chat: the admin types (user hears user_typing) and replies (user hears receive_message)', async () => {
    await page.locator('[data-testid="chat-input"]').focus();
    await page.keyboard.type(reply, { delay: 15 });
    const typing = await userSocket.events.wait('user_typing', (p) => p.typing === true && p.from === admin.id, 'user_typing {typing: true} from the admin');
    assert(typing.typing === true, 'user_typing was not typing: true');
    await page.keyboard.press('Enter');
    const received = await userSocket.events.wait('receive_message', (p) => p.text === reply, 'receive_message with the reply');
    await waitVisible(`[data-testid="chat-message"][data-message-id="${received.id}"] [data-testid="seen-tick"][data-seen="false"]`, 'the reply with a sent (not yet seen) tick');
    userMessage = received;
  });

  await step('chat: the user marks the thread seen; the admin\'s reply shows the seen tick', async () => {
    userSocket.emit('mark_seen', { with: admin.id });
    await waitVisible(`[data-testid="chat-message"][data-message-id="${userMessage.id}"] [data-testid="seen-tick"][data-seen="true"]`, 'the seen tick on the admin\'s reply');
  });

  await step('presence: the user goes offline after disconnecting (grace period)', async () => {
    userSocket.close();
    await waitUntil(
      (s) => {
        const el = document.querySelector(s);
        return el && el.dataset.presence !== 'ONLINE';
      },
      sel.presence(user.id),
      'the user still shows online 15 s after the socket closed',
    );
    const status = await textOf(`${sel.presence(user.id)} [data-testid="presence-status"]`);
    assert(/active|last seen/i.test(status), `the presence entry says "${status}"`);
  });

  await step('people: the admin deactivates the user with the switch; their socket ends; reactivating undoes it', async () => {
    const socket = await connectUserSocket(user.token);
    const toggle = `${sel.presence(user.id)} [data-testid="toggle-active"]`;
    await waitVisible(toggle, 'the deactivate switch on the user');
    await page.click(toggle);
    const ended = await socket.events.wait('session_ended', () => true, 'session_ended on the user\'s socket');
    assert(ended.reason === 'deactivated', `session_ended said ${JSON.stringify(ended)}`);
    await waitVisible(`${sel.presence(user.id)} [data-testid="deactivated-badge"]`, 'the deactivated badge');
    const refused = await rest('POST', '/auth/login', { email: user.email, password: user.password }, null, { allowError: true });
    assert(refused.code === 'FORBIDDEN', `signing in while deactivated answered ${JSON.stringify(refused)}`);
    await page.click(toggle);
    await waitUntil(
      (s) => !document.querySelector(s),
      `${sel.presence(user.id)} [data-testid="deactivated-badge"]`,
      'the deactivated badge is still shown after reactivating',
    );
    socket.close();
  });

  await step('no page errors and nothing loaded from another origin', async () => {
    assert(pageErrors.length === 0, `uncaught page errors: ${pageErrors.join(' | ')}`);
    assert(foreignRequests.length === 0, `requests to other origins: ${foreignRequests.join(', ')}`);
    const csp = consoleErrors.filter((t) => /Content Security Policy/i.test(t));
    assert(csp.length === 0, `Content Security Policy violations: ${csp.join(' | ')}`);
  });

  await step('screenshots of the final state (laptop and phone)', async () => {
    await page.locator('#overview').scrollIntoViewIfNeeded();
    const laptop = await saveScreenshot(SCREENSHOT);
    assert(laptop, `could not write ${SCREENSHOT}`);
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 1, `on a phone-sized screen the page scrolls sideways by ${overflow}px`);
    const phone = SCREENSHOT.replace(/(\.png)?$/i, '-phone.png');
    await saveScreenshot(phone);
    log(`      screenshots: ${laptop}, ${phone}`);
  });
}

await finish(main);
