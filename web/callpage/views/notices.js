// The status line (what is happening, in a polite live region) and the action buttons under it when the user has to choose (fallbacks, join again).

import { t } from '/i18n.js';

export class Notices {
  /** `ui`: `{ status, notice, buttons: { name: button } }`; shows `state`'s status. */
  constructor({ ui, state }) {
    this.ui = ui;
    this.state = state;
    state.on('status', (key) => this.setStatus(key));
  }

  /** Shows the text of status `key` (`status_KEY`, or `textKey` when given). */
  setStatus(key, textKey = `status_${key}`) {
    this.ui.status.dataset.state = key;
    // Only touch the live region when the text changes, so screen readers do not repeat it.
    const text = t(textKey);
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
}
