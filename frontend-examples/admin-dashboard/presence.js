// Who is online, recently active (last 5 minutes) or offline, with last seen.
// Loaded with `users(first: 100)`, kept current by `presenceChanged`. Each
// other account has a switch that deactivates it (`setUserActive`): it can no
// longer sign in and its open connections end; reactivating undoes that.

import { h, replaceChildren, relativeTime, formatDateTime, announce } from './dom.js';
import { USERS, SET_USER_ACTIVE } from './queries.js';
import { describeError } from './api.js';

const RECENT_MS = 5 * 60_000;
const RANK = { ONLINE: 0, RECENTLY_ACTIVE: 1, OFFLINE: 2 };

/** The same rule as `User.presence`, recomputed as time passes. */
export function presenceOf(user, now = Date.now()) {
  if (user.online) return 'ONLINE';
  if (user.lastActive && now - new Date(user.lastActive).getTime() < RECENT_MS) return 'RECENTLY_ACTIVE';
  return 'OFFLINE';
}

export function presenceText(user, now = Date.now()) {
  switch (presenceOf(user, now)) {
    case 'ONLINE':
      return 'Online';
    case 'RECENTLY_ACTIVE':
      return `Active ${relativeTime(user.lastActive, now)}`;
    default:
      return user.lastActive ? `Last seen ${relativeTime(user.lastActive, now)}` : 'Never connected';
  }
}

export class PresenceView {
  constructor(session, root, { onMessage }) {
    this.session = session;
    this.root = root;
    this.list = root.querySelector('#presence-list');
    this.summary = root.querySelector('#presence-summary');
    this.error = root.querySelector('#presence-error');
    this.onMessage = onMessage;
    this.users = new Map();
  }

  async load() {
    try {
      const { users } = await this.session.query(USERS);
      this.error.hidden = true;
      this.users = new Map(users.nodes.map((u) => [u.id, u]));
      this.render();
    } catch (err) {
      if (!this.session.signedIn) return;
      this.error.textContent = `Could not load people: ${describeError(err)}`;
      this.error.hidden = false;
    }
  }

  get(id) {
    return this.users.get(id);
  }

  /** Deactivates or reactivates an account, then shows it as it is now. */
  async setActive(user, active, button) {
    button.disabled = true;
    try {
      const { setUserActive } = await this.session.query(SET_USER_ACTIVE, { id: user.id, active });
      this.users.set(user.id, { ...this.users.get(user.id), ...setUserActive });
      this.render();
      announce(`${user.name} is ${active ? 'active again' : 'deactivated'}.`);
    } catch (err) {
      button.disabled = false;
      announce(`Could not change ${user.name}: ${describeError(err)}`, 'error');
    }
  }

  /** A `presenceChanged` event. */
  changed({ online, lastActive, user }) {
    if (!user) return;
    const known = this.users.get(user.id) || user;
    this.users.set(user.id, { ...known, ...user, online, lastActive });
    this.render();
  }

  render() {
    const now = Date.now();
    const users = [...this.users.values()].sort(
      (a, b) => RANK[presenceOf(a, now)] - RANK[presenceOf(b, now)] || a.name.localeCompare(b.name),
    );
    const counts = { ONLINE: 0, RECENTLY_ACTIVE: 0, OFFLINE: 0 };
    for (const u of users) counts[presenceOf(u, now)] += 1;
    this.summary.textContent = `${counts.ONLINE} online · ${counts.RECENTLY_ACTIVE} recently active · ${counts.OFFLINE} offline`;
    const me = this.session.user?.id;
    // Keep keyboard focus on the same button across re-renders.
    const focusedId = this.list.contains(document.activeElement) ? document.activeElement.closest('li')?.dataset.userId : null;
    replaceChildren(
      this.list,
      users.map((u) => {
        const presence = presenceOf(u, now);
        return h(
          'li',
          { testid: 'presence-item', class: `presence presence-${presence.toLowerCase()}`, dataset: { userId: u.id, presence } },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          h(
            'div',
            { class: 'who' },
            h(
              'div',
              { class: 'name' },
              u.name,
              u.id === me ? h('span', { class: 'muted small' }, ' (you)') : null,
              u.role === 'ADMIN' ? h('span', { class: 'badge' }, 'admin') : null,
              u.active === false ? h('span', { class: 'badge badge-danger', testid: 'deactivated-badge' }, 'deactivated') : null,
            ),
            u.email ? h('div', { class: 'muted small' }, u.email) : null,
          ),
          h('div', { class: 'when small', testid: 'presence-status', title: u.lastActive ? `Last active ${formatDateTime(u.lastActive)}` : '' }, presenceText(u, now)),
          u.id !== me
            ? h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': `Message ${u.name}`, onclick: () => this.onMessage(u) }, 'Message')
            : null,
          u.id !== me
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-small btn-ghost',
                  testid: 'toggle-active',
                  'aria-pressed': String(u.active === false),
                  'aria-label': `${u.active === false ? 'Reactivate' : 'Deactivate'} ${u.name}`,
                  onclick: (event) => this.setActive(u, u.active === false, event.currentTarget),
                },
                u.active === false ? 'Reactivate' : 'Deactivate',
              )
            : null,
        );
      }),
    );
    if (!users.length) this.list.append(h('li', { class: 'muted' }, 'No accounts yet.'));
    if (focusedId) this.list.querySelector(`li[data-user-id="${CSS.escape(focusedId)}"] button`)?.focus();
  }
}
