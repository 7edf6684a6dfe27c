// Our own camera and microphone: asking for them, muting them, and letting them go.

export class LocalMedia {
  constructor() {
    /** 'av' (camera + microphone), 'audio' or 'none' (watch and listen only). */
    this.mode = 'av';
    /** @type {MediaStream | null} */
    this.stream = null;
    this.audioMuted = false;
    this.videoMuted = false;
  }

  track(kind) {
    return this.stream?.getTracks().find((track) => track.kind === kind) ?? null;
  }

  get hasTracks() {
    return Boolean(this.stream && this.stream.getTracks().length > 0);
  }

  /** Asks for camera and microphone (or only the microphone); resolves to the error name on failure. */
  async acquire(mode) {
    this.mode = mode;
    if (mode === 'none') {
      this.stream = null;
      return null;
    }
    if (!navigator.mediaDevices?.getUserMedia) return 'NotSupportedError';
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: mode === 'av' });
      this.audioMuted = false;
      this.videoMuted = false;
      return null;
    } catch (error) {
      console.warn('getUserMedia failed', error);
      this.stream = null;
      return error?.name || 'Error';
    }
  }

  /** Whether we are not sending `kind` right now (muted, or no such device, or it was unplugged). */
  isOff(kind) {
    const track = this.track(kind);
    return !track || track.readyState === 'ended' || (kind === 'audio' ? this.audioMuted : this.videoMuted);
  }

  /** Mutes or unmutes `kind`; resolves to the new muted state, or null without such a track. */
  setMuted(kind, muted) {
    const track = this.track(kind);
    if (!track) return null;
    if (kind === 'audio') this.audioMuted = muted;
    else this.videoMuted = muted;
    track.enabled = !muted;
    return muted;
  }

  stop() {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
  }
}
