// The call controls at the bottom: microphone, camera and leave.

import { isInCall } from '../state.js';

export class Controls {
  /** `ui`: `{ bar, mic, camera, leave }`; `on`: `{ toggle(kind), leave() }`. */
  constructor({ ui, state, media, on }) {
    this.ui = ui;
    this.state = state;
    this.media = media;
    ui.mic.addEventListener('click', () => on.toggle('audio'));
    ui.camera.addEventListener('click', () => on.toggle('video'));
    ui.leave.addEventListener('click', () => on.leave());
    state.on('status', () => this.render());
  }

  render() {
    const { ui, media } = this;
    const inCall = isInCall(this.state.status);
    ui.bar.hidden = !inCall;
    ui.leave.disabled = !inCall;
    ui.mic.disabled = !inCall || !media.track('audio');
    ui.camera.disabled = !inCall || !media.track('video');
    ui.mic.setAttribute('aria-pressed', String(media.audioMuted));
    ui.camera.setAttribute('aria-pressed', String(media.videoMuted));
  }
}
