// Chat: conversations with unread counts, one open thread with history paging,
// sending, typing indicators both ways and seen ticks.
//
//   conversationsConnection, messages(with, last, before)  history
//   sendMessage, setTyping, markMessagesSeen          actions
//   messageReceived, userTyping, messagesSeen         live

import { h, replaceChildren, formatTime, formatDateTime, timeEl, relativeTime, announce, debounce } from './dom.js';
import { CONVERSATIONS, MESSAGES, SEND_MESSAGE, MARK_SEEN, SET_TYPING } from './queries.js';
import { describeError } from './api.js';
import { presenceText } from './presence.js';

const PAGE = 20; // messages per page of a thread
const CONVERSATION_PAGE = 100;
const TYPING_REFRESH_MS = 2_000; // re-announce while typing (the server expires it after 5 s)
const TYPING_IDLE_MS = 3_000; // stop after this long without a keystroke
const TYPING_SHOW_MS = 6_000; // hide a peer's indicator if no update arrives

const byTime = (a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class ChatView {
  constructor(session, root, { presenceOf }) {
    this.session = session;
    this.root = root;
    this.presenceOf = presenceOf;
    this.list = root.querySelector('#conversation-list');
    this.listError = root.querySelector('#chat-list-error');
    this.thread = root.querySelector('#thread');
    this.threadEmpty = root.querySelector('#thread-empty');
    this.threadTitle = root.querySelector('#thread-title');
    this.threadPresence = root.querySelector('#thread-presence');
    this.older = root.querySelector('#thread-older');
    this.messagesEl = root.querySelector('#thread-messages');
    this.typingEl = root.querySelector('#typing-indicator');
    this.form = root.querySelector('#chat-form');
    this.input = root.querySelector('#chat-input');
    this.sendError = root.querySelector('#chat-error');

    this.conversations = new Map(); // peerId -> { peer, lastMessage, unreadCount }
    this.open = null; // { peer, messages: Map, startCursor, hasPrevious }
    this.typingFrom = new Map(); // peerId -> { name, timer }
    this.known = new Set(); // ids of messages already counted or shown
    this.outgoing = { to: null, typing: false, lastSent: 0, idleTimer: null };
    this.refetchConversations = debounce(() => this.loadConversations(), 300);
    this.markSeenSoon = debounce(() => this.markSeen(), 150);

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener('input', () => this.typed());
    this.input.addEventListener('blur', () => this.stopTyping());
    this.older.addEventListener('click', () => this.loadOlder());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.markSeenSoon();
    });
  }

  get me() {
    return this.session.user?.id;
  }

  async load() {
    await this.loadConversations();
    if (this.open) await this.reloadThread();
  }

  async loadConversations() {
    try {
      const conversations = await this.allConversations();
      this.listError.hidden = true;
      this.conversations = new Map(conversations.filter((c) => c.peer).map((c) => [c.peer.id, c]));
      for (const c of conversations) this.known.add(c.lastMessage.id);
      if (this.open) {
        const c = this.conversations.get(this.open.peer.id);
        if (c && document.visibilityState === 'visible') c.unreadCount = 0;
      }
      this.renderList();
    } catch (err) {
      if (!this.session.signedIn) return;
      this.listError.textContent = `Could not load conversations: ${describeError(err)}`;
      this.listError.hidden = false;
    }
  }

  /** Every conversation, most recent first: conversationsConnection, page after page. */
  async allConversations() {
    const all = [];
    let after = null;
    for (;;) {
      const { conversationsConnection: page } = await this.session.query(CONVERSATIONS, { first: CONVERSATION_PAGE, after });
      all.push(...page.nodes);
      if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor || page.pageInfo.endCursor === after) return all;
      after = page.pageInfo.endCursor;
    }
  }

  renderList() {
    const items = [...this.conversations.values()].sort((a, b) => byTime(b.lastMessage, a.lastMessage));
    const focusedPeer = this.list.contains(document.activeElement) ? document.activeElement.dataset.peerId : null;
    replaceChildren(
      this.list,
      items.map((c) => {
        const mine = c.lastMessage.from?.id === this.me;
        const typing = this.typingFrom.has(c.peer.id);
        const active = this.open?.peer.id === c.peer.id;
        return h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: `conversation${active ? ' active' : ''}${c.unreadCount ? ' unread' : ''}`,
              testid: 'conversation',
              'aria-current': active ? 'true' : false,
              dataset: { peerId: c.peer.id },
              onclick: () => this.openThread(c.peer),
            },
            h('span', { class: 'conv-name' }, c.peer.name),
            h('span', { class: 'conv-time small muted' }, timeEl(c.lastMessage.createdAt)),
            h(
              'span',
              { class: 'conv-preview small' },
              typing ? h('em', {}, 'typing…') : `${mine ? 'You: ' : ''}${c.lastMessage.text}`,
            ),
            c.unreadCount
              ? h('span', { class: 'unread-badge', testid: 'unread-count', 'aria-label': `${c.unreadCount} unread` }, String(c.unreadCount))
              : null,
          ),
        );
      }),
    );
    if (!items.length) this.list.append(h('li', { class: 'muted small' }, 'No conversations yet. Start one from the People list.'));
    if (focusedPeer) this.list.querySelector(`button[data-peer-id="${CSS.escape(focusedPeer)}"]`)?.focus();
  }

  /** Opens the thread with `peer` ({ id, name }). */
  async openThread(peer) {
    if (this.open?.peer.id !== peer.id) {
      this.stopTyping();
      this.open = { peer, messages: new Map(), startCursor: null, hasPrevious: false };
      this.thread.hidden = false;
      this.threadEmpty.hidden = true;
      this.thread.dataset.peerId = peer.id;
      this.sendError.hidden = true;
      this.renderHeader();
      this.renderTyping();
      replaceChildren(this.messagesEl, h('li', { class: 'muted small' }, 'Loading…'));
      const c = this.conversations.get(peer.id);
      if (c) c.unreadCount = 0;
      this.renderList();
      await this.reloadThread();
    }
    this.input.focus();
  }

  /** Loads the latest page of the open thread (keeps what is already there). */
  async reloadThread() {
    const open = this.open;
    try {
      const { messages } = await this.session.query(MESSAGES, { with: open.peer.id, last: PAGE });
      if (this.open !== open) return;
      if (open.messages.size === 0) {
        open.startCursor = messages.pageInfo.startCursor;
        open.hasPrevious = messages.pageInfo.hasPreviousPage;
      }
      for (const m of messages.nodes) open.messages.set(m.id, m);
      this.renderMessages({ stick: true });
      this.markSeenSoon();
    } catch (err) {
      if (this.open !== open || !this.session.signedIn) return;
      replaceChildren(this.messagesEl, h('li', { class: 'error' }, `Could not load the conversation: ${describeError(err)}`));
    }
  }

  async loadOlder() {
    const open = this.open;
    if (!open?.hasPrevious) return;
    this.older.disabled = true;
    try {
      const { messages } = await this.session.query(MESSAGES, { with: open.peer.id, last: PAGE, before: open.startCursor });
      if (this.open !== open) return;
      open.startCursor = messages.pageInfo.startCursor;
      open.hasPrevious = messages.pageInfo.hasPreviousPage;
      for (const m of messages.nodes) open.messages.set(m.id, m);
      const fromBottom = this.messagesEl.scrollHeight - this.messagesEl.scrollTop;
      this.renderMessages();
      this.messagesEl.scrollTop = this.messagesEl.scrollHeight - fromBottom;
    } catch (err) {
      announce(`Could not load older messages: ${describeError(err)}`, 'error');
    } finally {
      this.older.disabled = false;
      if (!this.older.hidden) this.older.focus();
    }
  }

  renderHeader() {
    if (!this.open) return;
    const peer = this.presenceOf(this.open.peer.id) || this.open.peer;
    this.threadTitle.textContent = peer.name;
    this.threadPresence.textContent = 'online' in peer ? presenceText(peer) : '';
  }

  renderMessages({ stick = false } = {}) {
    const open = this.open;
    const el = this.messagesEl;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    const messages = [...open.messages.values()].sort(byTime);
    this.older.hidden = !open.hasPrevious;
    replaceChildren(
      el,
      messages.length
        ? messages.map((m) => this.renderMessage(m))
        : h('li', { class: 'muted small' }, `No messages with ${open.peer.name} yet. Say hello.`),
    );
    if (stick || atBottom) el.scrollTop = el.scrollHeight;
  }

  renderMessage(m) {
    const mine = m.from?.id === this.me;
    return h(
      'li',
      { class: `msg ${mine ? 'msg-mine' : 'msg-theirs'}`, testid: 'chat-message', dataset: { messageId: m.id, from: mine ? 'me' : 'peer' } },
      h('div', { class: 'msg-text' }, m.text),
      h(
        'div',
        { class: 'msg-meta small' },
        h('time', { datetime: m.createdAt, title: formatDateTime(m.createdAt) }, formatTime(m.createdAt)),
        mine
          ? h(
              'span',
              {
                class: `tick${m.seen ? ' seen' : ''}`,
                testid: 'seen-tick',
                dataset: { seen: m.seen ? 'true' : 'false' },
                title: m.seen ? `Seen ${m.seenAt ? relativeTime(m.seenAt) : ''}` : 'Sent',
              },
              h('span', { 'aria-hidden': 'true' }, m.seen ? '✓✓' : '✓'),
              h('span', { class: 'visually-hidden' }, m.seen ? 'Seen' : 'Sent'),
            )
          : null,
      ),
    );
  }

  // ---- live events ----

  /** `messageReceived`: to me, or mine from another tab. */
  received(m) {
    const incoming = m.from?.id !== this.me;
    const peer = incoming ? m.from : m.to;
    if (!peer) return;
    const open = this.open?.peer.id === peer.id ? this.open : null;
    if (open?.messages.has(m.id)) return; // duplicate (e.g. across a reconnect)
    if (incoming) this.clearTyping(peer.id);

    let c = this.conversations.get(peer.id);
    if (!c) {
      c = { peer, lastMessage: m, unreadCount: 0 };
      this.conversations.set(peer.id, c);
    }
    const known = this.known.has(m.id) || c.lastMessage.id === m.id;
    this.known.add(m.id);
    if (byTime(m, c.lastMessage) >= 0) c.lastMessage = m;
    const visible = document.visibilityState === 'visible';
    // Shown at once; the server's count (refetched just after) is the truth,
    // e.g. when missed messages are replayed as the subscription starts.
    if (incoming && !known && !(open && visible)) c.unreadCount += 1;
    this.renderList();
    if (incoming) this.refetchConversations();

    if (open) {
      open.messages.set(m.id, m);
      this.renderMessages();
      if (incoming) this.markSeenSoon();
    } else if (incoming) {
      announce(`New message from ${peer.name}`);
    }
  }

  /** `messagesSeen`: my messages were read. */
  seen({ ids, seenAt }) {
    if (!this.open) return;
    let changed = false;
    for (const id of ids) {
      const m = this.open.messages.get(id);
      if (m && !m.seen) {
        this.open.messages.set(id, { ...m, seen: true, seenAt });
        changed = true;
      }
    }
    if (changed) this.renderMessages();
  }

  /** `userTyping`. */
  typing({ from, typing }) {
    if (!from) return;
    if (typing) {
      clearTimeout(this.typingFrom.get(from.id)?.timer);
      const timer = setTimeout(() => this.clearTyping(from.id), TYPING_SHOW_MS);
      this.typingFrom.set(from.id, { name: from.name, timer });
    } else {
      this.clearTyping(from.id, { render: false });
    }
    this.renderTyping();
    this.renderList();
  }

  clearTyping(peerId, { render = true } = {}) {
    const entry = this.typingFrom.get(peerId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.typingFrom.delete(peerId);
    if (render) {
      this.renderTyping();
      this.renderList();
    }
  }

  renderTyping() {
    const entry = this.open && this.typingFrom.get(this.open.peer.id);
    this.typingEl.textContent = entry ? `${entry.name} is typing…` : '';
    this.typingEl.dataset.active = entry ? 'true' : 'false';
  }

  // ---- actions ----

  async markSeen() {
    const open = this.open;
    if (!open || document.visibilityState !== 'visible') return;
    const unseen = [...open.messages.values()].some((m) => m.from?.id !== this.me && !m.seen);
    const c = this.conversations.get(open.peer.id);
    if (!unseen && !c?.unreadCount) return;
    try {
      const { markMessagesSeen } = await this.session.query(MARK_SEEN, { with: open.peer.id });
      const ids = new Set(markMessagesSeen.ids);
      for (const [id, m] of open.messages) {
        if (m.from?.id !== this.me && (ids.has(id) || !m.seen)) open.messages.set(id, { ...m, seen: true, seenAt: markMessagesSeen.seenAt });
      }
      if (c) c.unreadCount = 0;
      this.renderList();
    } catch {
      /* not fatal: the next open tries again */
    }
  }

  typed() {
    if (!this.open) return;
    const to = this.open.peer.id;
    if (!this.input.value.trim()) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (!this.outgoing.typing || this.outgoing.to !== to || now - this.outgoing.lastSent > TYPING_REFRESH_MS) {
      this.outgoing = { ...this.outgoing, to, typing: true, lastSent: now };
      this.session.query(SET_TYPING, { to, typing: true }).catch(() => {});
    }
    clearTimeout(this.outgoing.idleTimer);
    this.outgoing.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping({ announceStop = true } = {}) {
    clearTimeout(this.outgoing.idleTimer);
    if (this.outgoing.typing && this.outgoing.to && announceStop) {
      this.session.query(SET_TYPING, { to: this.outgoing.to, typing: false }).catch(() => {});
    }
    this.outgoing = { to: null, typing: false, lastSent: 0, idleTimer: null };
  }

  async send() {
    const open = this.open;
    const text = this.input.value.trim();
    if (!open || !text) return;
    this.sendError.hidden = true;
    const button = this.form.querySelector('button[type="submit"]');
    button.disabled = true;
    // Sending ends the typing indicator on the server by itself.
    this.stopTyping({ announceStop: false });
    try {
      const { sendMessage } = await this.session.query(SEND_MESSAGE, { to: open.peer.id, text });
      this.input.value = '';
      if (this.open === open) {
        open.messages.set(sendMessage.id, sendMessage);
        this.renderMessages({ stick: true });
      }
      const c = this.conversations.get(open.peer.id);
      if (c) c.lastMessage = sendMessage;
      else this.conversations.set(open.peer.id, { peer: open.peer, lastMessage: sendMessage, unreadCount: 0 });
      this.renderList();
    } catch (err) {
      this.sendError.textContent = `Not sent: ${describeError(err)}`;
      this.sendError.hidden = false;
    } finally {
      button.disabled = false;
      this.input.focus();
    }
  }

  reset() {
    this.stopTyping({ announceStop: false });
    for (const { timer } of this.typingFrom.values()) clearTimeout(timer);
    this.typingFrom.clear();
    this.conversations.clear();
    this.known.clear();
    this.open = null;
    this.thread.hidden = true;
    this.threadEmpty.hidden = false;
    replaceChildren(this.list);
    replaceChildren(this.messagesEl);
  }
}
