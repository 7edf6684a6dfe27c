// What the page tells the user in words: the status line (a polite live region), the action buttons under it, a visible note of the latest event in the visit, the host's message to someone denied, and announcements for screen readers only.

import { has, t } from '/i18n.js';

export class Notices {
  /**
   * `ui`: `{ status, notice, buttons: { name: button }, flash, flashText, flashClose, announcer,
   * hostMessage }`; shows `state`'s status.
   */
  constructor({ ui, state }) {
    this.ui = ui;
    this.state = state;
    /** The latest event note: `{ key, vars }`, redrawn on a language switch. */
    this.flashed = null;
    this.hostMessageText = null;
    state.on('status', () => this.renderStatus());
    state.on('kind', () => this.renderStatus());
    ui.flashClose.addEventListener('click', () => this.clearFlash());
  }

  /** The text of the status: `status_KEY`, or `status_KEY_group` in a group visit if there is one. */
  statusText(key) {
    if (this.state.isGroup && has(`status_${key}_group`)) return t(`status_${key}_group`);
    return t(`status_${key}`);
  }

  renderStatus() {
    const key = this.state.status;
    this.ui.status.dataset.state = key;
    // Only touch the live region when the text changes, so screen readers do not repeat it.
    const text = this.statusText(key);
    if (this.ui.status.textContent !== text) this.ui.status.textContent = text;
  }

  /**
   * Shows the action buttons named in `names` below the status line (which says why), the first
   * one focused, or hides them all when `names` is null or empty.
   */
  showActions(names) {
    if (!names?.length) {
      this.ui.notice.hidden = true;
      return;
    }
    for (const [name, button] of Object.entries(this.ui.buttons)) button.hidden = !names.includes(name);
    this.ui.notice.hidden = false;
    this.ui.buttons[names[0]]?.focus();
  }

  /** Shows the event `key` (an i18n key) until the next one or a dismiss, and says it aloud. */
  flash(key, vars = {}) {
    this.flashed = { key, vars };
    this.ui.flashText.textContent = t(key, vars);
    this.ui.flash.hidden = false;
    this.announce(t(key, vars));
  }

  clearFlash() {
    this.flashed = null;
    this.ui.flash.hidden = true;
  }

  /**
   * Says `text` to screen readers (the #announcer live region). Emptied first, so the same text
   * twice in a row is still read.
   */
  announce(text) {
    const region = this.ui.announcer;
    region.textContent = '';
    setTimeout(() => { region.textContent = text; }, 100);
  }

  /** The message a host gave with `deny`, exactly as the server sent it, or none. */
  setHostMessage(message) {
    this.hostMessageText = message || null;
    this.renderHostMessage();
  }

  renderHostMessage() {
    const text = this.hostMessageText;
    this.ui.hostMessage.hidden = !text;
    this.ui.hostMessage.textContent = text ? t('host_message', { message: text }) : '';
  }

  /** Draws the texts again in the new language. */
  redraw() {
    this.renderStatus();
    if (this.flashed) this.ui.flashText.textContent = t(this.flashed.key, this.flashed.vars);
    this.renderHostMessage();
  }
}
