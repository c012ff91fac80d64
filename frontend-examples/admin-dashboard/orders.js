// The orders table: newest first, new orders arrive live (`newOrder`), status
// moves arrive live (`orderStatusUpdated`), and buttons move an order forward
// (`updateOrderStatus`). A refused move (CONFLICT) is shown beside the order.

import { h, replaceChildren, formatMoney, statusLabel, STATUSES, timeEl, flash, announce } from './dom.js';
import { ORDERS, ORDER_BY_ID, UPDATE_ORDER_STATUS } from './queries.js';
import { describeError } from './api.js';

const PAGE = 20;
const ACTION_LABELS = { PROCESSING: 'Process', SHIPPED: 'Ship', DELIVERED: 'Deliver' };

export class OrdersView {
  constructor(session, root) {
    this.session = session;
    this.root = root;
    this.tbody = root.querySelector('tbody');
    this.empty = root.querySelector('#orders-empty');
    this.more = root.querySelector('#orders-more');
    this.filter = root.querySelector('#orders-filter');
    this.error = root.querySelector('#orders-error');
    this.orders = new Map(); // id -> order
    this.order = []; // ids, newest first
    this.rows = new Map(); // id -> <tr>
    this.messages = new Map(); // id -> inline message text
    this.endCursor = null;
    this.filter.addEventListener('change', () => this.load());
    this.more.addEventListener('click', () => this.loadMore());
  }

  get status() {
    return this.filter.value || null;
  }

  async load() {
    this.orders.clear();
    this.order = [];
    this.rows.clear();
    replaceChildren(this.tbody);
    this.endCursor = null;
    await this.fetchPage();
  }

  /** Catches up after a reconnect without losing inline messages. */
  async reload() {
    const messages = new Map(this.messages);
    await this.load();
    for (const [id, text] of messages) if (this.rows.has(id)) this.showMessage(id, text);
  }

  async loadMore() {
    this.more.disabled = true;
    await this.fetchPage();
    this.more.disabled = false;
  }

  async fetchPage() {
    try {
      const { orders } = await this.session.query(ORDERS, { status: this.status, first: PAGE, after: this.endCursor });
      this.error.hidden = true;
      for (const order of orders.nodes) this.upsert(order, { append: true });
      this.endCursor = orders.pageInfo.endCursor;
      this.more.hidden = !orders.pageInfo.hasNextPage;
    } catch (err) {
      if (!this.session.signedIn) return;
      this.error.textContent = `Could not load orders: ${describeError(err)}`;
      this.error.hidden = false;
    }
    this.empty.hidden = this.order.length > 0;
  }

  matches(order) {
    return !this.status || order.status === this.status;
  }

  /** A new order from `newOrder`. */
  added(order) {
    if (this.orders.has(order.id)) return;
    if (!this.matches(order)) return;
    this.upsert(order, { append: false });
    flash(this.rows.get(order.id));
    announce(`New order from ${order.user?.name ?? 'a user'}: ${order.quantity} × ${order.product?.name ?? 'a product'}`);
  }

  /** A status move from `orderStatusUpdated` (or our own mutation). */
  updated(order) {
    const known = this.orders.get(order.id);
    if (!known) {
      // Not on screen (e.g. an older page); show it if it now matches the filter.
      if (this.status && this.matches(order)) this.upsert(order, { append: false });
      return;
    }
    if (known.status === order.status && known.updatedAt === order.updatedAt) return;
    this.messages.delete(order.id); // an older conflict note no longer applies
    if (!this.matches(order)) {
      this.remove(order.id);
      return;
    }
    this.upsert(order);
    flash(this.rows.get(order.id));
  }

  remove(id) {
    this.rows.get(id)?.remove();
    this.rows.delete(id);
    this.orders.delete(id);
    this.order = this.order.filter((x) => x !== id);
    this.empty.hidden = this.order.length > 0;
  }

  upsert(order, { append = true } = {}) {
    const isNew = !this.orders.has(order.id);
    this.orders.set(order.id, order);
    const row = this.renderRow(order);
    const old = this.rows.get(order.id);
    this.rows.set(order.id, row);
    if (old) {
      old.replaceWith(row);
    } else if (isNew && append) {
      this.order.push(order.id);
      this.tbody.append(row);
    } else {
      this.order.unshift(order.id);
      this.tbody.prepend(row);
    }
    const message = this.messages.get(order.id);
    if (message) this.showMessage(order.id, message);
    this.empty.hidden = true;
  }

  renderRow(order) {
    const index = STATUSES.indexOf(order.status);
    const next = STATUSES.slice(index + 1);
    const product = order.product ? order.product.name : h('em', { class: 'muted' }, 'deleted product');
    return h(
      'tr',
      { testid: 'order-row', dataset: { orderId: order.id, status: order.status } },
      h('td', { 'data-label': 'Placed' }, timeEl(order.createdAt)),
      h(
        'td',
        { 'data-label': 'Customer' },
        h('div', {}, h('div', {}, order.user?.name ?? 'unknown'), order.user?.email ? h('div', { class: 'muted small' }, order.user.email) : null),
      ),
      h('td', { 'data-label': 'Product' }, product),
      h('td', { 'data-label': 'Qty', class: 'num' }, String(order.quantity)),
      h('td', { 'data-label': 'Total', class: 'num' }, formatMoney(order.total)),
      h('td', { 'data-label': 'Status' }, h('span', { class: `status status-${order.status.toLowerCase()}`, testid: 'order-status' }, statusLabel(order.status))),
      h(
        'td',
        { 'data-label': 'Move to', class: 'actions' },
        h(
          'div',
          {},
          next.length
          ? h(
              'div',
              { class: 'row-actions', role: 'group', 'aria-label': `Move order ${order.id.slice(-6)} forward` },
              next.map((status) =>
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-small',
                    testid: `order-to-${status}`,
                    'aria-label': `${ACTION_LABELS[status]} order ${order.id.slice(-6)} (mark ${statusLabel(status).toLowerCase()})`,
                    onclick: (event) => this.advance(order.id, status, event.currentTarget),
                  },
                  ACTION_LABELS[status],
                ),
              ),
            )
          : h('span', { class: 'muted small' }, 'complete'),
          h('p', { class: 'inline-msg', testid: 'order-message', role: 'status', hidden: true }),
        ),
      ),
    );
  }

  showMessage(id, text) {
    this.messages.set(id, text);
    const el = this.rows.get(id)?.querySelector('[data-testid="order-message"]');
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
  }

  async advance(id, status, button) {
    const row = this.rows.get(id);
    for (const b of row?.querySelectorAll('button') ?? []) b.disabled = true;
    this.messages.delete(id);
    try {
      const { updateOrderStatus } = await this.session.query(UPDATE_ORDER_STATUS, { id, status });
      this.updated(updateOrderStatus);
      this.rows.get(id)?.querySelector(`[data-testid^="order-to-"]`)?.focus();
      announce(`Order ${id.slice(-6)} is now ${statusLabel(updateOrderStatus.status).toLowerCase()}.`);
    } catch (err) {
      let text = `Not moved: ${describeError(err)}`;
      if (err.code === 'CONFLICT') {
        // Someone moved it first (or the move is not forward): show where it is now.
        try {
          const { order } = await this.session.query(ORDER_BY_ID, { id });
          if (order) {
            this.upsert(order);
            text = `Not moved: it is already ${statusLabel(order.status).toLowerCase()} (changed elsewhere).`;
          }
        } catch {
          /* keep the first message */
        }
      }
      this.showMessage(id, text);
      for (const b of this.rows.get(id)?.querySelectorAll('button') ?? []) b.disabled = false;
      button?.isConnected && button.focus();
    }
  }
}
