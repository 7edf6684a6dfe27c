// A modal confirmation (<dialog id="confirm">) for the host's actions that cannot be undone: end the visit, remove someone, deny someone (with an optional message to them).

import { t } from '/i18n.js';

export class ConfirmDialog {
  /** `ui`: `{ dialog, title, text, messageField, message, ok }`. */
  constructor(ui) {
    this.ui = ui;
  }

  /**
   * Asks; resolves to null when cancelled, else to `{ message }` (the text typed when
   * `withMessage`, trimmed, or null). Focus returns to where it was.
   */
  ask({ title, text, ok, withMessage = false }) {
    const { dialog } = this.ui;
    if (dialog.open) dialog.close('cancel');
    const before = document.activeElement;
    this.ui.title.textContent = title;
    this.ui.text.textContent = text;
    this.ui.ok.textContent = ok;
    this.ui.messageField.hidden = !withMessage;
    this.ui.message.value = '';
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        if (before?.isConnected) before.focus();
        if (dialog.returnValue !== 'ok') return resolve(null);
        const message = withMessage ? this.ui.message.value.trim() : '';
        return resolve({ message: message || null });
      }, { once: true });
      dialog.showModal();
    });
  }

  /** Closes an open question as cancelled (the call ended under it). */
  cancel() {
    if (this.ui.dialog.open) this.ui.dialog.close('cancel');
  }

  static texts(key, vars = {}) {
    return { title: t(`confirm_${key}_title`, vars), text: t(`confirm_${key}_text`, vars), ok: t(`confirm_${key}_ok`) };
  }
}
