// Our own camera and microphone: asking for them (with the devices chosen on the device check), falling back to sound only, muting, and letting them go.

/** Whether a getUserMedia failure means the user or the browser said no (not a missing device). */
export function isDenied(errorName) {
  return errorName === 'NotAllowedError' || errorName === 'SecurityError';
}

export class LocalMedia {
  constructor() {
    /** 'av' (camera + microphone), 'audio' or 'none' (watch and listen only). */
    this.mode = 'av';
    /** @type {MediaStream | null} */
    this.stream = null;
    this.audioMuted = false;
    this.videoMuted = false;
    /** Device ids chosen on the device check (null: the browser's default). */
    this.devices = { audio: null, video: null };
  }

  track(kind) {
    return this.stream?.getTracks().find((track) => track.kind === kind) ?? null;
  }

  get hasTracks() {
    return Boolean(this.stream && this.stream.getTracks().length > 0);
  }

  constraint(kind) {
    const id = this.devices[kind];
    return id ? { deviceId: { exact: id } } : true;
  }

  /** Asks for camera and microphone (or only the microphone); resolves to the error name on failure. */
  async acquire(mode) {
    this.mode = mode;
    this.stop();
    if (mode === 'none') return null;
    if (!navigator.mediaDevices?.getUserMedia) return 'NotSupportedError';
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: this.constraint('audio'),
        video: mode === 'av' ? this.constraint('video') : false,
      });
      this.audioMuted = false;
      this.videoMuted = false;
      return null;
    } catch (error) {
      console.warn('getUserMedia failed', error);
      this.stream = null;
      // A chosen device that has gone: let the browser pick next time.
      if (error?.name === 'OverconstrainedError' || error?.name === 'NotFoundError') this.devices = { audio: null, video: null };
      return error?.name || 'Error';
    }
  }

  /**
   * Gets the best of camera and microphone, then the microphone alone, then nothing (watch and
   * listen), starting from `mode`: a patient whose camera is refused or missing joins with sound
   * instead of failing. Resolves to `{ mode, failure }`, the first failure's error name or null.
   */
  async acquireBest(mode = 'av') {
    const order = ['av', 'audio', 'none'];
    let failure = null;
    for (const next of order.slice(order.indexOf(mode))) {
      const error = await this.acquire(next);
      if (!error) return { mode: next, failure };
      failure ??= error;
    }
    return { mode: 'none', failure };
  }

  /** Uses another camera or microphone (`deviceId`) in place of the current one. */
  async switchDevice(kind, deviceId) {
    this.devices[kind] = deviceId || null;
    if (!this.stream || !this.track(kind)) return;
    const fresh = await navigator.mediaDevices.getUserMedia({ [kind]: this.constraint(kind) });
    const track = fresh.getTracks()[0];
    const old = this.track(kind);
    this.stream.removeTrack(old);
    old.stop();
    track.enabled = !(kind === 'audio' ? this.audioMuted : this.videoMuted);
    this.stream.addTrack(track);
  }

  /** Stops the camera and goes on with the microphone only ("join with audio only"). */
  dropVideo() {
    const video = this.track('video');
    if (video) {
      this.stream.removeTrack(video);
      video.stop();
    }
    if (this.mode === 'av') this.mode = 'audio';
  }

  /** The cameras and microphones the browser lists (with names only after permission). */
  static async listDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return { audio: [], video: [] };
    const all = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    return {
      audio: all.filter((d) => d.kind === 'audioinput' && d.deviceId),
      video: all.filter((d) => d.kind === 'videoinput' && d.deviceId),
    };
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
