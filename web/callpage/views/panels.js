// The side panels of a group visit (chat, host controls): one open at a time, opened and closed by a toggle button in the controls bar, with focus moved so keyboard users land in the panel and back on the button.

export class Panels {
  constructor() {
    /** name → `{ button, panel, heading, onOpen }` */
    this.panels = new Map();
    this.openName = null;
    this.listeners = new Set();
  }

  /** `close` is the panel's own close button; `onOpen()` is called whenever it opens. */
  add(name, { button, panel, heading, close, onOpen = () => {} }) {
    this.panels.set(name, { button, panel, heading, onOpen });
    button.addEventListener('click', () => (this.openName === name ? this.close({ focus: true }) : this.open(name)));
    close.addEventListener('click', () => this.close({ focus: true }));
    panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) this.close({ focus: true });
    });
  }

  /** Calls `listener(name or null)` whenever the open panel changes. */
  onChange(listener) {
    this.listeners.add(listener);
  }

  isOpen(name) {
    return this.openName === name;
  }

  open(name) {
    if (this.openName && this.openName !== name) this.close();
    const entry = this.panels.get(name);
    if (!entry) return;
    this.openName = name;
    entry.panel.hidden = false;
    entry.button.setAttribute('aria-expanded', 'true');
    entry.panel.closest('.call-layout')?.classList.add('has-panel');
    entry.onOpen();
    entry.heading.focus();
    for (const listener of this.listeners) listener(name);
  }

  /** Closes the open panel; with `focus`, puts focus back on its toggle button. */
  close({ focus = false } = {}) {
    const entry = this.panels.get(this.openName);
    this.openName = null;
    if (!entry) return;
    entry.panel.hidden = true;
    entry.button.setAttribute('aria-expanded', 'false');
    entry.panel.closest('.call-layout')?.classList.remove('has-panel');
    if (focus && !entry.button.hidden) entry.button.focus();
    for (const listener of this.listeners) listener(null);
  }
}
