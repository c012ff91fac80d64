// KPI cards and charts from `dashboardStats` (plus the latest orders' times
// for the orders-over-time chart). Refetched, debounced, whenever an order
// arrives or moves, a product changes or someone comes or goes.

import { h, svg, replaceChildren, formatMoney, formatInt, statusLabel, STATUSES, debounce, flash } from './dom.js';
import { STATS } from './queries.js';
import { describeError } from './api.js';

const STATUS_COLORS = {
  PENDING: 'var(--status-pending)',
  PROCESSING: 'var(--status-processing)',
  SHIPPED: 'var(--status-shipped)',
  DELIVERED: 'var(--status-delivered)',
};

export class StatsView {
  constructor(session, root) {
    this.session = session;
    this.root = root;
    this.kpis = root.querySelector('[data-testid="kpis"]');
    this.statusChart = root.querySelector('#chart-status');
    this.timeChart = root.querySelector('#chart-time');
    this.lowStock = root.querySelector('#low-stock');
    this.error = root.querySelector('#stats-error');
    this.last = null;
    this.refresh = debounce(() => this.load(), 250);
  }

  async load() {
    try {
      const data = await this.session.query(STATS);
      this.error.hidden = true;
      this.render(data.dashboardStats, data.recent.nodes);
    } catch (err) {
      if (!this.session.signedIn) return;
      this.error.textContent = `Could not load the figures: ${describeError(err)}`;
      this.error.hidden = false;
    }
  }

  render(stats, recent) {
    const totalOrders = stats.ordersByStatus.reduce((sum, s) => sum + s.count, 0);
    const cards = [
      ['revenue', 'Revenue', formatMoney(stats.revenue)],
      ['orders', 'Orders', formatInt(totalOrders)],
      ['orders-24h', 'Orders, last 24 h', formatInt(stats.ordersLast24H)],
      ['products', 'Products', formatInt(stats.productCount)],
      ['users', 'Users', formatInt(stats.userCount)],
      ['online', 'Online now', formatInt(stats.usersOnline)],
    ];
    const previous = this.last;
    replaceChildren(
      this.kpis,
      cards.map(([key, label, value]) => {
        const card = h('div', { class: 'kpi card', testid: `kpi-${key}` }, h('dt', {}, label), h('dd', { class: 'kpi-value' }, value));
        if (previous && previous[key] !== value) flash(card);
        return card;
      }),
    );
    this.last = Object.fromEntries(cards.map(([key, , value]) => [key, value]));
    this.renderStatusChart(stats.ordersByStatus);
    this.renderTimeChart(recent);
    replaceChildren(
      this.lowStock,
      stats.lowStockProducts.length
        ? stats.lowStockProducts.map((p) =>
            h('li', { testid: 'low-stock-item' }, h('span', {}, p.name), h('span', { class: p.stock === 0 ? 'badge badge-danger' : 'badge badge-warn' }, p.stock === 0 ? 'sold out' : `${p.stock} left`)),
          )
        : h('li', { class: 'muted' }, 'Every product has 5 or more units.'),
    );
  }

  /** Orders by status: an inline SVG bar chart. */
  renderStatusChart(byStatus) {
    const counts = Object.fromEntries(byStatus.map((s) => [s.status, s.count]));
    const max = Math.max(1, ...Object.values(counts));
    const W = 320;
    const H = 170;
    const top = 22;
    const bottom = 28;
    const slot = W / STATUSES.length;
    const barW = slot * 0.56;
    const label = STATUSES.map((s) => `${statusLabel(s)}: ${counts[s] || 0}`).join(', ');
    const chart = svg(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Orders by status. ${label}`, class: 'chart' },
      svg('line', { x1: 0, x2: W, y1: H - bottom, y2: H - bottom, class: 'axis' }),
      ...STATUSES.flatMap((status, i) => {
        const count = counts[status] || 0;
        const barH = ((H - top - bottom) * count) / max;
        const x = i * slot + (slot - barW) / 2;
        const y = H - bottom - barH;
        return [
          svg('rect', { x, y, width: barW, height: Math.max(barH, count ? 2 : 0), rx: 3, fill: STATUS_COLORS[status], testid: `bar-${status}`, 'data-count': count }),
          svg('text', { x: x + barW / 2, y: y - 6, 'text-anchor': 'middle', class: 'chart-value' }, String(count)),
          svg('text', { x: x + barW / 2, y: H - 9, 'text-anchor': 'middle', class: 'chart-label' }, statusLabel(status)),
        ];
      }),
    );
    replaceChildren(this.statusChart, chart);
  }

  /** Orders per hour over the last 24 hours (from the latest 100 orders). */
  renderTimeChart(recent) {
    const HOURS = 24;
    const now = Date.now();
    const hourMs = 3_600_000;
    const end = Math.ceil(now / hourMs) * hourMs;
    const buckets = new Array(HOURS).fill(0);
    for (const o of recent) {
      const t = new Date(o.createdAt).getTime();
      const idx = HOURS - 1 - Math.floor((end - 1 - t) / hourMs);
      if (idx >= 0 && idx < HOURS) buckets[idx] += 1;
    }
    const max = Math.max(1, ...buckets);
    const W = 320;
    const H = 170;
    const top = 16;
    const bottom = 28;
    const slot = W / HOURS;
    const total = buckets.reduce((a, b) => a + b, 0);
    const hourFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric' });
    const chart = svg(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Orders per hour over the last 24 hours: ${total} in all, at most ${max === 1 && total === 0 ? 0 : max} in one hour.`, class: 'chart' },
      svg('line', { x1: 0, x2: W, y1: H - bottom, y2: H - bottom, class: 'axis' }),
      ...buckets.flatMap((count, i) => {
        const barH = ((H - top - bottom) * count) / max;
        const x = i * slot + 1;
        const parts = [svg('rect', { x, y: H - bottom - barH, width: slot - 2, height: barH, rx: 1.5, class: 'bar-time', 'data-count': count }, svg('title', {}, `${count} order(s)`))];
        if (i % 6 === 0 || i === HOURS - 1) {
          const at = new Date(end - (HOURS - i) * hourMs);
          const anchor = i === 0 ? 'start' : i === HOURS - 1 ? 'end' : 'middle';
          const tx = i === 0 ? x : i === HOURS - 1 ? x + slot - 2 : x + slot / 2;
          parts.push(svg('text', { x: tx, y: H - 9, 'text-anchor': anchor, class: 'chart-label' }, i === HOURS - 1 ? 'now' : hourFmt.format(at)));
        }
        return parts;
      }),
    );
    replaceChildren(this.timeChart, chart);
  }
}
