// The admin dashboard: sign-in, then every panel wired to GraphQL queries,
// mutations and one graphql-transport-ws connection for live updates.

import { $, announce, refreshRelativeTimes, formatTime } from './dom.js';
import { Session, describeError } from './api.js';
import { Live } from './live.js';
import * as Q from './queries.js';
import { StatsView } from './stats.js';
import { OrdersView } from './orders.js';
import { ProductsView } from './products.js';
import { PresenceView } from './presence.js';
import { ChatView } from './chat.js';

const session = new Session();
let live = null;
let views = null;
let ticker = null;

const loginView = $('#login-view');
const appView = $('#app-view');
const loginForm = $('#login-form');
const loginError = $('#login-error');
const loginNote = $('#login-note');
const sessionBar = $('#session-bar');
const liveStatus = $('[data-testid="live-status"]');
const currentUser = $('[data-testid="current-user"]');

function showLogin(note) {
  appView.hidden = true;
  sessionBar.hidden = true;
  loginView.hidden = false;
  document.body.dataset.view = 'login';
  loginNote.textContent = note || '';
  loginNote.hidden = !note;
  loginForm.querySelector('button[type="submit"]').disabled = false;
  $('#login-email').focus();
}

async function showApp() {
  loginView.hidden = true;
  appView.hidden = false;
  sessionBar.hidden = false;
  document.body.dataset.view = 'dashboard';
  renderSessionInfo();
  $('#main').focus({ preventScroll: true }); // keyboard users start at the top of the content

  const presence = new PresenceView(session, $('#people'), { onMessage: (user) => { chat.openThread(user); $('#chat').scrollIntoView({ block: 'start' }); } });
  const chat = new ChatView(session, $('#chat'), { presenceOf: (id) => presence.get(id) });
  views = {
    stats: new StatsView(session, $('#overview')),
    orders: new OrdersView(session, $('#orders')),
    products: new ProductsView(session, $('#products')),
    presence,
    chat,
  };

  live = new Live(session);
  live.addEventListener('status', (event) => setLiveStatus(event.detail));
  live.addEventListener('reconnected', () => catchUp());
  const { stats, orders, products } = views;
  live.subscribe('newOrder', Q.SUB_NEW_ORDER, ({ newOrder }) => {
    orders.added(newOrder);
    stats.refresh();
  });
  live.subscribe('orderStatusUpdated', Q.SUB_ORDER_STATUS, ({ orderStatusUpdated }) => {
    orders.updated(orderStatusUpdated);
    stats.refresh();
  });
  live.subscribe('newProduct', Q.SUB_NEW_PRODUCT, ({ newProduct }) => {
    products.added(newProduct);
    stats.refresh();
  });
  live.subscribe('productUpdated', Q.SUB_PRODUCT_UPDATED, ({ productUpdated }) => {
    products.changed(productUpdated);
    stats.refresh();
  });
  live.subscribe('productRemoved', Q.SUB_PRODUCT_REMOVED, ({ productRemoved }) => {
    products.deleted(productRemoved.productId);
    stats.refresh();
  });
  live.subscribe('presenceChanged', Q.SUB_PRESENCE, ({ presenceChanged }) => {
    presence.changed(presenceChanged);
    chat.renderHeader();
    stats.refresh();
  });
  live.subscribe('messageReceived', Q.SUB_MESSAGE, ({ messageReceived }) => chat.received(messageReceived));
  live.subscribe('messagesSeen', Q.SUB_SEEN, ({ messagesSeen }) => chat.seen(messagesSeen));
  live.subscribe('userTyping', Q.SUB_TYPING, ({ userTyping }) => chat.typing(userTyping));
  live.start();

  await Promise.all(Object.values(views).map((v) => v.load()));
  document.body.dataset.ready = 'true';

  clearInterval(ticker);
  ticker = setInterval(() => {
    refreshRelativeTimes();
    presence.render(); // "recently active" ages into "offline"
    chat.renderHeader();
  }, 30_000);
}

/** After a reconnect (or a lagged subscription): refetch what events may have been missed. */
async function catchUp() {
  if (!views) return;
  await Promise.all([views.stats.load(), views.orders.reload(), views.products.load(), views.presence.load(), views.chat.load()]);
}

function teardown() {
  clearInterval(ticker);
  live?.stop();
  live = null;
  views?.chat.reset();
  views = null;
  delete document.body.dataset.ready;
}

function setLiveStatus({ state, detail }) {
  liveStatus.dataset.state = state;
  liveStatus.textContent = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Offline';
  liveStatus.title = detail || '';
}

function renderSessionInfo() {
  const user = session.user;
  currentUser.textContent = user ? `${user.name}${user.email ? ` · ${user.email}` : ''}` : '';
  const info = $('[data-testid="session-info"]');
  info.textContent = session.expiresAt ? `session renews before ${formatTime(new Date(session.expiresAt).toISOString())}` : '';
  info.dataset.refreshCount = String(session.refreshCount);
}

loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const email = loginForm.elements.email.value.trim();
  const password = loginForm.elements.password.value;
  const button = loginForm.querySelector('button[type="submit"]');
  loginError.hidden = true;
  loginNote.hidden = true;
  button.disabled = true;
  try {
    await session.login(email, password);
    loginForm.reset();
    await showApp();
    announce(`Signed in as ${session.user.name}.`);
  } catch (err) {
    loginError.textContent =
      err.code === 'UNAUTHENTICATED'
        ? 'That email and password do not match an account.'
        : err.code === 'BAD_USER_INPUT'
          ? 'Enter a valid email address and your password.'
          : describeError(err);
    loginError.hidden = false;
    button.disabled = false;
    loginForm.elements.password.focus();
  }
});

$('#logout').addEventListener('click', () => session.logout());

session.addEventListener('refreshed', () => {
  renderSessionInfo();
  live?.reconnect();
});
session.addEventListener('ended', (event) => {
  teardown();
  showLogin(event.detail.reason);
});

// Debugging and tests: renew the session now (as the timer does before expiry).
window.dashboard = {
  refreshNow: () => session.refresh(),
  state: () => ({
    signedIn: session.signedIn,
    refreshCount: session.refreshCount,
    expiresAt: session.expiresAt,
    live: live?.state ?? 'offline',
    connections: live ? (live.current ? 1 : 0) + (live.previous ? 1 : 0) : 0,
    generation: live?.generation ?? 0,
  }),
};

(async () => {
  if (await session.resume()) await showApp();
  else showLogin();
})();
