// The device check before a group visit: camera preview, microphone level meter, choice of camera and microphone, "join with audio only"; a refused or missing camera falls back to sound only instead of failing.

import { t } from '/i18n.js';
import { LocalMedia } from '../media.js';

export class Prejoin {
  /**
   * `ui`: `{ section, video, noCamera, cameraSelect, micSelect, level, join, joinAudio, retry }`;
   * `onJoin()` is called when the user joins (media holds what they chose).
   */
  constructor({ ui, state, media, onJoin }) {
    this.ui = ui;
    this.state = state;
    this.media = media;
    this.onJoin = onJoin;
    this.meter = null;
    state.on('screen', (screen) => {
      ui.section.hidden = screen !== 'prejoin';
      if (screen !== 'prejoin') this.stopMeter();
    });
    ui.join.addEventListener('click', () => this.join(false));
    ui.joinAudio.addEventListener('click', () => this.join(true));
    ui.retry.addEventListener('click', () => this.open());
    ui.cameraSelect.addEventListener('change', () => this.choose('video', ui.cameraSelect.value));
    ui.micSelect.addEventListener('change', () => this.choose('audio', ui.micSelect.value));
  }

  /** Shows the device check with the best media we can get. */
  async open() {
    this.state.stopped = null;
    this.state.setScreen('prejoin');
    this.state.setStatus('media_prompt');
    // Joining while the browser still asks for permission would race the answer.
    this.setBusy(true);
    const { mode } = await this.media.acquireBest('av');
    this.setBusy(false);
    if (this.state.screen !== 'prejoin') return;
    this.state.setStatus({ av: 'prejoin', audio: 'prejoin_audio', none: 'prejoin_none' }[mode]);
    await this.render();
    this.ui.join.focus();
  }

  setBusy(busy) {
    for (const button of [this.ui.join, this.ui.joinAudio, this.ui.retry]) button.disabled = busy;
  }

  async render() {
    const { ui, media } = this;
    const hasVideo = Boolean(media.track('video'));
    ui.video.srcObject = hasVideo ? media.stream : null;
    if (hasVideo) ui.video.play().catch(() => {});
    ui.video.hidden = !hasVideo;
    ui.noCamera.hidden = hasVideo;
    ui.joinAudio.hidden = !hasVideo;
    ui.retry.hidden = media.mode === 'av';
    const devices = await LocalMedia.listDevices();
    this.fill(ui.cameraSelect, devices.video, media.track('video'), 'device_camera_n');
    this.fill(ui.micSelect, devices.audio, media.track('audio'), 'device_microphone_n');
    this.startMeter();
  }

  /** Lists `devices` in `select`, the one `track` uses selected; disabled when there is none in use. */
  fill(select, devices, track, unnamedKey) {
    const current = track?.getSettings?.().deviceId ?? null;
    const options = devices.map((device, index) => {
      const option = document.createElement('option');
      option.value = device.deviceId;
      option.textContent = device.label || t(unnamedKey, { n: index + 1 });
      option.selected = device.deviceId === current;
      return option;
    });
    if (!options.length || !track) {
      const none = document.createElement('option');
      none.value = '';
      none.textContent = t('no_devices');
      options.splice(0, options.length, none);
    }
    select.replaceChildren(...options);
    select.disabled = !track || devices.length < 2;
  }

  async choose(kind, deviceId) {
    try {
      await this.media.switchDevice(kind, deviceId);
    } catch (error) {
      console.warn('could not switch device', error?.name);
    }
    await this.render();
  }

  /** The level meter: the microphone's loudness, measured with an AnalyserNode. */
  startMeter() {
    this.stopMeter();
    const track = this.media.track('audio');
    const AudioContextClass = window.AudioContext ?? window.webkitAudioContext;
    if (!track || !AudioContextClass) {
      this.ui.level.value = 0;
      return;
    }
    const context = new AudioContextClass();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const meter = { context, frame: 0 };
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      // Speech sits around 0.05–0.2 RMS: scaled so a normal voice fills about half the bar.
      this.ui.level.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      meter.frame = requestAnimationFrame(tick);
    };
    this.meter = meter;
    context.resume().catch(() => {}).finally(tick);
  }

  stopMeter() {
    if (!this.meter) return;
    cancelAnimationFrame(this.meter.frame);
    this.meter.context.close().catch(() => {});
    this.meter = null;
    this.ui.level.value = 0;
  }

  join(audioOnly) {
    if (audioOnly) this.media.dropVideo();
    this.stopMeter();
    this.ui.video.srcObject = null;
    this.onJoin();
  }
}
