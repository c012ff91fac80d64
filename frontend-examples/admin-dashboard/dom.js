// Small DOM and formatting helpers. Text always goes in as text nodes, never
// as HTML, so names, product descriptions and chat messages cannot inject markup.

/**
 * Creates an element: h('button', { class: 'x', onclick: fn, dataset: {...} }, 'text', child)
 * Attributes that are false/null/undefined are left out; `true` sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = String(v);
    } else if (key === 'testid') {
      el.dataset.testid = value;
    } else if (key === 'class') {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === 'testid') el.setAttribute('data-testid', value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of `el`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);

const money = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
export const formatMoney = (amount) => money.format(Number(amount) || 0);

const integer = new Intl.NumberFormat();
export const formatInt = (n) => integer.format(Number(n) || 0);

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
export const formatDateTime = (iso) => (iso ? dateTime.format(new Date(iso)) : '—');
export const formatTime = (iso) => (iso ? timeOnly.format(new Date(iso)) : '');

/** "just now", "4 min ago", "3 h ago", else a date. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return 'never';
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return formatDateTime(iso);
}

/** A <time> element that the page re-renders every so often. */
export function timeEl(iso, style = 'relative') {
  const el = h('time', { datetime: iso || '', title: iso ? formatDateTime(iso) : '', dataset: { style } });
  el.dataset.iso = iso || '';
  el.textContent = style === 'relative' ? relativeTime(iso) : formatDateTime(iso);
  return el;
}

/** Re-renders every relative <time> under `root`. */
export function refreshRelativeTimes(root = document) {
  for (const el of root.querySelectorAll('time[data-style="relative"]')) {
    el.textContent = relativeTime(el.dataset.iso || null);
  }
}

export const STATUSES = ['PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED'];
const STATUS_LABELS = { PENDING: 'Pending', PROCESSING: 'Processing', SHIPPED: 'Shipped', DELIVERED: 'Delivered' };
export const statusLabel = (s) => STATUS_LABELS[s] || s;

/** Polite screen-reader announcement (and a visible toast). */
export function announce(text, kind = 'info') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const toast = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  region.append(toast);
  // At most three at a time, each for a few seconds: news, not clutter.
  while (region.children.length > 3) region.firstElementChild.remove();
  setTimeout(() => toast.remove(), kind === 'error' ? 8000 : 4000);
}

/** Briefly highlights an element that changed live. */
export function flash(el) {
  if (!el) return;
  el.classList.remove('flash');
  void el.offsetWidth; // restart the animation
  el.classList.add('flash');
}

/** Calls `fn` at most once per `ms`, trailing. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
