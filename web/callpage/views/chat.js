// The chat panel of a group visit: the messages with their senders' names exactly as the server sent them and the time, and the form to send one. Chat text is only ever put into the page as text, and never logged.

import { locale, t } from '/i18n.js';
import { roleText } from './tile.js';

/** The server's limit (docs/signalling.md, `chat`). */
const MAX_CHARS = 2000;

export class ChatView {
  /**
   * `ui`: `{ log, list, empty, form, input }`; `send(message)` sends on the signalling session;
   * `isOpen()` says whether the panel shows; `onUnread(count)` is told how many came unseen.
   */
  constructor({ ui, state, notices, send, isOpen, onUnread }) {
    this.ui = ui;
    this.state = state;
    this.notices = notices;
    this.send = send;
    this.isOpen = isOpen;
    this.onUnread = onUnread;
    this.unread = 0;
    /** The text of the last message sent, to give it back if the server refuses it. */
    this.lastSent = null;

    state.on('chat', ({ reset, message }) => (reset ? this.renderAll() : this.append(message)));
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    // Enter sends, Shift+Enter starts a new line (as in other chats).
    ui.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.renderAll();
  }

  submit() {
    const text = this.ui.input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      this.notices.flash('flash_chat_too_long');
      return;
    }
    this.send({ type: 'chat', text });
    this.lastSent = this.ui.input.value;
    this.ui.input.value = '';
  }

  /** The server refused our last message (`chat_too_long`, `rate_limited`): give it back to edit. */
  refused() {
    if (this.lastSent && !this.ui.input.value) this.ui.input.value = this.lastSent;
    this.lastSent = null;
  }

  /** The panel was opened: everything is seen now. */
  opened() {
    this.setUnread(0);
    this.scrollToEnd();
  }

  setUnread(count) {
    this.unread = count;
    this.onUnread(count);
  }

  renderAll() {
    this.ui.list.replaceChildren(...this.state.chat.map((m) => this.item(m)));
    this.ui.empty.hidden = this.state.chat.length > 0;
    this.scrollToEnd();
  }

  append(message) {
    const log = this.ui.log;
    const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    this.ui.list.append(this.item(message));
    while (this.ui.list.children.length > this.state.chat.length) this.ui.list.firstElementChild.remove();
    this.ui.empty.hidden = true;
    if (atEnd || message.from === this.state.self?.id) this.scrollToEnd();
    if (message.from === this.state.self?.id) {
      this.lastSent = null;
    } else if (!this.isOpen()) {
      this.setUnread(this.unread + 1);
      this.notices.announce(t('announce_chat', { name: message.name }));
    }
  }

  scrollToEnd() {
    this.ui.log.scrollTop = this.ui.log.scrollHeight;
  }

  /** One message: sender (as the server named them for us), role, time, text. */
  item(message) {
    const li = document.createElement('li');
    li.className = 'chat-message';
    li.dataset.id = String(message.id);
    li.classList.toggle('is-own', message.from === this.state.self?.id);
    const meta = document.createElement('p');
    meta.className = 'chat-meta';
    const sender = document.createElement('span');
    sender.className = 'chat-sender';
    sender.textContent = message.name;
    meta.append(sender);
    const role = roleText(message.role);
    if (role) {
      const roleEl = document.createElement('span');
      roleEl.className = 'chat-role';
      roleEl.textContent = ` (${role})`;
      meta.append(roleEl);
    }
    const time = document.createElement('time');
    time.className = 'chat-time';
    const at = new Date(Number(message.at));
    if (!Number.isNaN(at.getTime())) {
      time.dateTime = at.toISOString();
      time.textContent = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(at);
    }
    meta.append(' ', time);
    const text = document.createElement('p');
    text.className = 'chat-text';
    text.textContent = message.text;
    li.append(meta, text);
    return li;
  }

  /** Draws again in the new language (role names and times). */
  redraw() {
    this.renderAll();
  }
}
