// The host panel (clinicians only): the waiting room with full names as the server sends them to hosts (admit, deny with a message, admit all), everyone in the visit with their controls (mute, stop camera, lower hand, spotlight, move to the waiting room, remove), lock, guest link and ending the visit for everyone.
//
// The panel is redrawn from the state on every change; the focused button and the open
// <details> are found again by key afterwards, so a keyboard user keeps their place.

import { locale, t } from '/i18n.js';
import { ConfirmDialog } from './dialog.js';
import { roleText } from './tile.js';

export class HostPanel {
  /**
   * `ui`: `{ waitingHeading, waitingNone, waitingList, admitAll, peopleHeading, peopleList,
   * lockNote, lock, inviteForm, guestName, guestBox, guestLabel, guestLink, copyGuestLink,
   * endVisit }`; `send(message)` sends a host action; `dialog` is a ConfirmDialog.
   */
  constructor({ ui, state, notices, send, dialog }) {
    this.ui = ui;
    this.state = state;
    this.notices = notices;
    this.send = send;
    this.dialog = dialog;
    /** Participant ids whose actions are unfolded. */
    this.unfolded = new Set();
    /** The last `guest_link` message. */
    this.guest = null;

    for (const type of ['roster', 'self', 'room', 'cleared']) state.on(type, () => this.render());
    state.on('roster', (change) => this.announce(change));
    ui.admitAll.addEventListener('click', () => this.send({ type: 'admit_all' }));
    ui.lock.addEventListener('click', () => this.send({ type: 'lock', locked: !state.locked }));
    ui.inviteForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = ui.guestName.value.trim();
      if (!name) return;
      this.send({ type: 'invite_guest', name });
      ui.guestName.value = '';
    });
    ui.copyGuestLink.addEventListener('click', () => this.copyGuestLink());
    ui.endVisit.addEventListener('click', async () => {
      if (await this.dialog.ask(ConfirmDialog.texts('end'))) this.send({ type: 'end_visit' });
    });
    this.render();
  }

  /** Tells a host (by screen reader) of someone new in the waiting room or a raised hand. */
  announce({ participant, before, bulk }) {
    if (!this.state.isHost || bulk || !participant) return;
    if (participant.state === 'waiting' && before?.state !== 'waiting') {
      this.notices.announce(t('announce_waiting', { name: participant.name }));
    } else if (participant.hand_raised && !before?.hand_raised) {
      this.notices.announce(t('announce_hand', { name: participant.name }));
    }
  }

  render() {
    if (!this.state.isHost) {
      // Only a host's page has anything to put here.
      this.ui.waitingList.replaceChildren();
      this.ui.peopleList.replaceChildren();
      return;
    }
    const focused = document.activeElement?.closest?.('[data-key]')?.dataset.key ?? null;
    const everyone = [...this.state.participants.values()];
    const waiting = everyone.filter((p) => p.state === 'waiting');
    const inVisit = everyone.filter((p) => p.state !== 'waiting');
    const { ui, state } = this;

    ui.waitingHeading.textContent = t('waiting_list_heading', { count: waiting.length });
    ui.waitingNone.hidden = waiting.length > 0;
    ui.waitingList.replaceChildren(...waiting.map((p) => this.waitingItem(p)));
    ui.admitAll.hidden = waiting.length === 0;
    ui.admitAll.disabled = state.locked;

    const self = state.self ? [state.self] : [];
    ui.peopleHeading.textContent = t('people_heading', { count: self.length + inVisit.length });
    ui.peopleList.replaceChildren(...[...self, ...inVisit].map((p) => this.personItem(p)));

    ui.lock.textContent = state.locked ? t('unlock_action') : t('lock_action');
    ui.lockNote.textContent = state.locked ? t('locked_note') : t('unlocked_note');
    this.renderGuestLink();

    if (focused && !this.ui.waitingList.contains(document.activeElement) && !this.ui.peopleList.contains(document.activeElement)) {
      const again = this.findKey(focused);
      if (again) again.focus();
      else this.fallbackFocus(focused);
    }
  }

  findKey(key) {
    for (const el of [...this.ui.waitingList.querySelectorAll('[data-key]'), ...this.ui.peopleList.querySelectorAll('[data-key]')]) {
      if (el.dataset.key === key) return el;
    }
    return null;
  }

  /** The focused button went away (e.g. "Mute microphone" after muting): stay near it. */
  fallbackFocus(key) {
    const id = key.slice(0, key.indexOf(':'));
    const target = this.findKey(`${id}:summary`) ?? (this.ui.waitingList.querySelector('[data-key]') || this.ui.waitingHeading);
    if (target === this.ui.waitingHeading) target.tabIndex = -1;
    target.focus();
  }

  button(key, label, name, onClick, { danger = false, pressed = null } = {}) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = danger ? 'button button-small button-danger' : 'button button-small';
    button.dataset.key = key;
    button.append(label);
    if (name) {
      // The visible label stays short; screen readers also hear whom it is about.
      const who = document.createElement('span');
      who.className = 'visually-hidden';
      who.textContent = ` – ${name}`;
      button.append(who);
    }
    if (pressed !== null) button.setAttribute('aria-pressed', String(pressed));
    button.addEventListener('click', onClick);
    return button;
  }

  nameLine(p, { you = false } = {}) {
    const line = document.createElement('span');
    line.className = 'person-name';
    line.textContent = you ? t('person_you', { name: p.name }) : p.name;
    const role = roleText(p.role);
    const roleEl = document.createElement('span');
    roleEl.className = 'person-role';
    roleEl.textContent = role ? ` (${role})` : '';
    return [line, roleEl];
  }

  waitingItem(p) {
    const li = document.createElement('li');
    li.className = 'person';
    li.dataset.person = p.id;
    const who = document.createElement('p');
    who.className = 'person-who';
    who.append(...this.nameLine(p));
    const actions = document.createElement('div');
    actions.className = 'person-actions';
    const admit = this.button(`${p.id}:admit`, t('admit'), p.name, () => this.send({ type: 'admit', participants: [p.id] }));
    admit.disabled = this.state.locked;
    actions.append(
      admit,
      this.button(`${p.id}:deny`, t('deny'), p.name, async () => {
        const answer = await this.dialog.ask({ ...ConfirmDialog.texts('deny', { name: p.name }), withMessage: true });
        if (!answer) return;
        const message = { type: 'deny', participant: p.id };
        if (answer.message) message.message = answer.message;
        this.send(message);
      }),
    );
    li.append(who, actions);
    return li;
  }

  /** Short states shown after a name: hand raised, microphone and camera off, reconnecting. */
  flags(p, isSelf) {
    const flags = [];
    if (p.hand_raised) flags.push(t('hand_raised'));
    if (!isSelf && p.audio_muted) flags.push(t('mic_off'));
    if (!isSelf && p.video_muted) flags.push(t('camera_off'));
    if (p.state === 'reconnecting') flags.push(t('state_reconnecting'));
    if (this.state.spotlight === p.id) flags.push(t('spotlight_badge'));
    return flags;
  }

  personItem(p) {
    const isSelf = p.id === this.state.self?.id;
    const li = document.createElement('li');
    li.className = 'person';
    li.dataset.person = p.id;
    const details = document.createElement('details');
    details.open = this.unfolded.has(p.id);
    details.addEventListener('toggle', () => {
      if (details.open) this.unfolded.add(p.id);
      else this.unfolded.delete(p.id);
    });
    const summary = document.createElement('summary');
    summary.dataset.key = `${p.id}:summary`;
    summary.append(...this.nameLine(p, { you: isSelf }));
    const flags = this.flags(p, isSelf);
    if (flags.length) {
      const flagEl = document.createElement('span');
      flagEl.className = 'person-flags';
      flagEl.textContent = ` – ${flags.join(', ')}`;
      summary.append(flagEl);
    }
    const actions = document.createElement('div');
    actions.className = 'person-actions';
    const send = (message) => () => this.send({ ...message, participant: p.id });
    // The server refuses these for another clinician: offer them only for patients and guests.
    const moderated = !isSelf && p.role !== 'clinician';
    if (moderated && !p.audio_muted) actions.append(this.button(`${p.id}:mute-audio`, t('mute_mic_action'), p.name, send({ type: 'mute_participant', kind: 'audio' })));
    if (moderated && !p.video_muted) actions.append(this.button(`${p.id}:mute-video`, t('stop_camera_action'), p.name, send({ type: 'mute_participant', kind: 'video' })));
    if (!isSelf && p.hand_raised) actions.append(this.button(`${p.id}:lower-hand`, t('lower_hand_action'), p.name, send({ type: 'lower_hand' })));
    const spotlit = this.state.spotlight === p.id;
    actions.append(this.button(`${p.id}:spotlight`, spotlit ? t('spotlight_end_action') : t('spotlight_action'), p.name,
      () => this.send({ type: 'spotlight', participant: spotlit ? null : p.id })));
    if (moderated) {
      actions.append(this.button(`${p.id}:move`, t('move_action'), p.name, send({ type: 'move_to_waiting_room' })));
      actions.append(this.button(`${p.id}:remove`, t('remove_action'), p.name, async () => {
        if (await this.dialog.ask(ConfirmDialog.texts('remove', { name: p.name }))) this.send({ type: 'remove_participant', participant: p.id });
      }, { danger: true }));
    }
    details.append(summary, actions);
    li.append(details);
    return li;
  }

  /** The answer to `invite_guest`: shows the link with a copy button. */
  showGuestLink(message) {
    this.guest = { url: String(message.url ?? ''), expiresAt: Number(message.expires_at) };
    this.renderGuestLink();
    this.notices.flash('flash_guest_link');
    this.ui.guestLink.focus();
    this.ui.guestLink.select();
  }

  renderGuestLink() {
    const { ui, guest } = this;
    ui.guestBox.hidden = !guest;
    if (!guest) return;
    ui.guestLink.value = guest.url;
    const until = new Date(guest.expiresAt * 1000);
    const time = Number.isNaN(until.getTime())
      ? ''
      : new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'short' }).format(until);
    ui.guestLabel.textContent = t('guest_link_label', { time });
  }

  async copyGuestLink() {
    try {
      await navigator.clipboard.writeText(this.ui.guestLink.value);
      this.notices.flash('flash_copied');
    } catch {
      this.ui.guestLink.select();
      this.notices.flash('flash_copy_failed');
    }
  }

  /** The visit ended: forget the guest link. */
  reset() {
    this.guest = null;
    this.unfolded.clear();
    this.render();
  }
}
