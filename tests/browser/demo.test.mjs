// Browser test of the demo (`realtime-dashboard demo`): the dashboard moves by itself.
//
//   BASE_URL=http://127.0.0.1:4000 ADMIN_EMAIL=admin@demo.local ADMIN_PASSWORD=… node tests/browser/demo.test.mjs
//
// Env: BASE_URL (default http://127.0.0.1:4000), ADMIN_EMAIL (default admin@demo.local),
// ADMIN_PASSWORD (required: the demo's password), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT (default test-artifacts/demo.png), MOVE_WITHIN_MS (default 30000).
//
// The demo admin signs in to /dashboard/; the shop is there at once (a catalogue, orders
// in several statuses, people, conversations). Then, with nobody touching the page and
// without a reload, within MOVE_WITHIN_MS the simulated traffic must show: a new order
// row, an order moving to another status, the order count changing, a chat message
// arriving (a conversation's latest message is newer), and someone coming online or
// going offline.
// Exit code 0 on success; on failure the step, what did not move, and exit code 1.

import { chromium } from 'playwright-core';
import { assert, harness, log } from './harness.mjs';

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:4000').replace(/\/+$/, '');
const ADMIN_EMAIL = process.env.ADMIN_EMAIL || 'admin@demo.local';
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT || 'test-artifacts/demo.png';
const MOVE_WITHIN_MS = Number(process.env.MOVE_WITHIN_MS || 30_000);
const HARD_TIMEOUT_MS = MOVE_WITHIN_MS + 60_000;

let browser = null;
let page = null;
let navigations = 0;

const { step, saveScreenshot, waitUntil, finish, setPage, pageErrors } = harness({
  screenshot: SCREENSHOT,
  hardTimeoutMs: HARD_TIMEOUT_MS,
  cleanup: () => browser?.close().catch(() => {}),
});

/** What the page shows now, in the terms the checks compare. */
function snapshot() {
  return page.evaluate(() => {
    const all = (s) => [...document.querySelectorAll(s)];
    return {
      orders: Object.fromEntries(all('tr[data-testid="order-row"]').map((r) => [r.dataset.orderId, r.dataset.status])),
      ordersKpi: document.querySelector('[data-testid="kpi-orders"] .kpi-value')?.textContent.trim() ?? '',
      unread: all('[data-testid="unread-count"]').reduce((sum, e) => sum + Number(e.textContent), 0),
      // The time of each conversation's latest message: a newer one is a new message
      // (unread counts are not compared: they are re-counted as the page catches up).
      latest: Object.fromEntries(
        all('button[data-testid="conversation"]').map((b) => [b.dataset.peerId, Date.parse(b.querySelector('time')?.dateTime || '') || 0]),
      ),
      presence: Object.fromEntries(all('li[data-testid="presence-item"]').map((li) => [li.dataset.userId, li.dataset.presence])),
      products: all('tr[data-testid="product-row"]').length,
      conversations: all('button[data-testid="conversation"]').length,
    };
  });
}

// Each check compares the page with the snapshot taken before waiting.
const MOVES = {
  'a new order row': (before) =>
    [...document.querySelectorAll('tr[data-testid="order-row"]')].some((r) => !(r.dataset.orderId in before.orders)),
  'an order moving to another status': (before) =>
    [...document.querySelectorAll('tr[data-testid="order-row"]')].some(
      (r) => r.dataset.orderId in before.orders && before.orders[r.dataset.orderId] !== r.dataset.status,
    ),
  'the order count': (before) =>
    (document.querySelector('[data-testid="kpi-orders"] .kpi-value')?.textContent.trim() ?? '') !== before.ordersKpi,
  'a chat message arriving': (before) =>
    [...document.querySelectorAll('button[data-testid="conversation"]')].some(
      (b) => (Date.parse(b.querySelector('time')?.dateTime || '') || 0) > (before.latest[b.dataset.peerId] ?? 0),
    ),
  'someone coming online or going offline': (before) =>
    [...document.querySelectorAll('li[data-testid="presence-item"]')].some((li) => before.presence[li.dataset.userId] !== li.dataset.presence),
};

async function main() {
  assert(ADMIN_PASSWORD, 'set ADMIN_PASSWORD (the demo\'s password, as printed by `realtime-dashboard demo`)');
  log(`demo browser test of ${BASE_URL}/dashboard/ with ${CHROMIUM}`);

  await step('the demo admin signs in to the dashboard', async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    page = await context.newPage();
    setPage(page); // also collects page errors
    const response = await page.goto(`${BASE_URL}/dashboard/`, { waitUntil: 'load' });
    assert(response && response.ok(), `GET /dashboard/ answered ${response?.status()}`);
    await page.locator('[data-testid="login-email"]').fill(ADMIN_EMAIL);
    await page.locator('[data-testid="login-password"]').fill(ADMIN_PASSWORD);
    await page.locator('[data-testid="login-submit"]').click();
    await waitUntil(
      () => document.body.dataset.ready === 'true' || !document.querySelector('[data-testid="login-error"]').hidden,
      null,
      'the dashboard did not finish loading after signing in',
    );
    const refused = await page.locator('[data-testid="login-error"]').isVisible();
    assert(!refused, `sign-in was refused: "${refused ? await page.locator('[data-testid="login-error"]').textContent() : ''}"`);
    await waitUntil(() => document.querySelector('[data-testid="live-status"]')?.dataset.state === 'live', null, 'the live status never became "live"');
  });

  let before;
  await step('the shop is stocked: products, orders in several statuses, people, conversations', async () => {
    await waitUntil(() => document.querySelectorAll('tr[data-testid="product-row"]').length >= 15, null, 'fewer than 15 products listed');
    await waitUntil(() => document.querySelectorAll('button[data-testid="conversation"]').length >= 4, null, 'fewer than 4 conversations listed');
    before = await snapshot();
    const statuses = new Set(Object.values(before.orders));
    assert(statuses.size >= 3, `the orders are in ${statuses.size} statuses (${[...statuses].join(', ')}); expected at least 3`);
    assert(Object.keys(before.presence).length >= 8, `only ${Object.keys(before.presence).length} people listed`);
    log(`      at sign-in: ${before.products} products, ${Object.keys(before.orders).length} orders (${[...statuses].join(', ')}), ${before.conversations} conversations, ${before.unread} unread`);
  });

  await step(`without a reload, the dashboard moves within ${MOVE_WITHIN_MS / 1000} s`, async () => {
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    navigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    const started = Date.now();
    const outcomes = await Promise.all(
      Object.entries(MOVES).map(async ([what, check]) => {
        try {
          await page.waitForFunction(check, before, { timeout: MOVE_WITHIN_MS, polling: 100 });
          return { what, after: Date.now() - started };
        } catch {
          return { what, after: null };
        }
      }),
    );
    for (const { what, after } of outcomes) log(`      ${after === null ? 'still' : 'moved'}: ${what}${after === null ? '' : ` (${(after / 1000).toFixed(1)} s)`}`);
    const still = outcomes.filter((o) => o.after === null).map((o) => o.what);
    assert(still.length === 0, `nothing changed within ${MOVE_WITHIN_MS / 1000} s for: ${still.join('; ')}`);
    const same = await page.evaluate(() => window.__sameDocument === true);
    assert(same && navigations === 0, `the page was reloaded or navigated (${navigations} navigations)`);
  });

  await step('no page errors; a screenshot of the moving dashboard', async () => {
    assert(pageErrors.length === 0, `uncaught page errors: ${pageErrors.join(' | ')}`);
    await page.locator('#overview').scrollIntoViewIfNeeded();
    const shot = await saveScreenshot(SCREENSHOT);
    assert(shot, `could not write ${SCREENSHOT}`);
    log(`      screenshot: ${shot}`);
  });
}

await finish(main);
