// The call controls at the bottom: microphone, camera, raise hand, chat and host controls (group visits), and leave.

import { t } from '/i18n.js';
import { isInCall } from '../state.js';

export class Controls {
  /**
   * `ui`: `{ bar, mic, camera, hand, chat, chatUnread, host, hostWaiting, leave }`;
   * `on`: `{ toggle(kind), raiseHand(raised), leave() }`. The chat and host buttons are wired
   * by panels.js.
   */
  constructor({ ui, state, media, on }) {
    this.ui = ui;
    this.state = state;
    this.media = media;
    /** Chat messages that came while the chat was closed. */
    this.unread = 0;
    ui.mic.addEventListener('click', () => on.toggle('audio'));
    ui.camera.addEventListener('click', () => on.toggle('video'));
    ui.hand.addEventListener('click', () => on.raiseHand(!state.self?.hand_raised));
    ui.leave.addEventListener('click', () => on.leave());
    for (const type of ['status', 'screen', 'self', 'kind', 'roster']) state.on(type, () => this.render());
  }

  /** How many are in the waiting room (only hosts are told of them). */
  waitingCount() {
    let count = 0;
    for (const p of this.state.participants.values()) if (p.state === 'waiting') count += 1;
    return count;
  }

  setUnread(count) {
    this.unread = count;
    this.render();
  }

  render() {
    const { ui, media, state } = this;
    const inCall = isInCall(state.status);
    const inVisit = state.screen === 'call';
    const waiting = this.waitingCount();
    ui.bar.hidden = !inCall;
    ui.leave.disabled = !inCall;
    // In the waiting room (and until we know we are not in it) nothing is sent: only leaving
    // makes sense there.
    ui.mic.hidden = state.screen === 'waiting' || state.screen === 'joining';
    ui.camera.hidden = ui.mic.hidden;
    ui.mic.disabled = !inCall || !media.track('audio');
    ui.camera.disabled = !inCall || !media.track('video');
    ui.mic.setAttribute('aria-pressed', String(media.audioMuted));
    ui.camera.setAttribute('aria-pressed', String(media.videoMuted));

    ui.hand.hidden = !(state.isGroup && inVisit);
    ui.hand.setAttribute('aria-pressed', String(Boolean(state.self?.hand_raised)));
    ui.chat.hidden = !(state.isGroup && inVisit);
    ui.chatUnread.hidden = this.unread === 0;
    ui.chatUnread.textContent = this.unread ? t('count_new', { count: this.unread }) : '';
    // A 1:1 visit with a waiting room shows the host controls only while someone waits.
    const expanded = ui.host.getAttribute('aria-expanded') === 'true';
    ui.host.hidden = !(state.isHost && inVisit && (state.isGroup || waiting > 0 || expanded));
    ui.hostWaiting.hidden = waiting === 0;
    ui.hostWaiting.textContent = waiting ? t('count_waiting', { count: waiting }) : '';
    ui.bar.classList.toggle('is-group', state.isGroup);
  }
}
