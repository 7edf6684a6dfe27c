// A session's two peer connections (docs/signalling.md): the publisher, on which we offer our camera and microphone, and the subscriber, on which the server offers everyone else's media.

/**
 * The simulcast layers of our camera in a group visit ("Simulcast" in docs/signalling.md):
 * quarter, half and full resolution, low to high, so the server can give each subscriber the
 * layer that fits its tile and its bandwidth. A 1:1 visit sends one layer: there is only one
 * viewer, and the extra encodes would cost the phone's battery for nothing. The bitrate caps
 * keep the small layers small, so a subscriber on a weak link that gets `q` really is spared.
 */
export const SIMULCAST_ENCODINGS = Object.freeze([
  Object.freeze({ rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 }),
  Object.freeze({ rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 }),
  Object.freeze({ rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 }),
]);

function toWire(c) {
  return c && c.candidate
    ? { candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex, username_fragment: c.usernameFragment }
    : null;
}

function fromWire(c) {
  return c
    ? { candidate: c.candidate, sdpMid: c.sdp_mid ?? null, sdpMLineIndex: c.sdp_mline_index ?? null, usernameFragment: c.username_fragment ?? null }
    : null;
}

/**
 * The track id that the `a=msid` line of the media section `mid` names in `sdp` (its second
 * part): in a subscriber offer, the publication id that `track_settings` and `set_quality` name
 * (docs/signalling.md). Read from the SDP rather than `MediaStreamTrack.id`, which browsers need
 * not take from the msid line.
 */
export function msidTrackId(sdp, mid) {
  for (const section of String(sdp).split(/\r?\nm=/).slice(1)) {
    const lines = section.split(/\r?\n/);
    if (!lines.includes(`a=mid:${mid}`)) continue;
    const msid = lines.find((line) => line.startsWith('a=msid:'));
    return msid?.trim().split(/\s+/)[1] ?? null;
  }
  return null;
}

async function addCandidate(pc, init) {
  try {
    if (init) await pc.addIceCandidate(init);
    else await pc.addIceCandidate();
  } catch (error) {
    console.warn('remote candidate not applied', error);
  }
}

export class Peers {
  /**
   * `send(message)` sends on the session; `onTrack(event)` gets each remote track;
   * `onFailed(name)` is told when a connection's ICE fails.
   */
  constructor({ iceServers = [], send, onTrack, onFailed }) {
    this.iceServers = iceServers;
    this.send = send;
    this.onTrack = onTrack;
    this.onFailed = onFailed;
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    /** Remote candidates that arrived before the description of their connection. */
    this.pending = { publisher: [], subscriber: [] };
    this.closed = false;
  }

  make(name) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.addEventListener('icecandidate', (event) => {
      if (!this.closed) this.send({ type: 'candidate', pc: name, candidate: toWire(event.candidate) });
    });
    pc.addEventListener('connectionstatechange', () => {
      if (!this.closed && pc.connectionState === 'failed') this.onFailed(name);
    });
    return pc;
  }

  /** Offers `stream`'s tracks on a new publisher connection; video as simulcast if asked. */
  async publish(stream, { simulcast = false } = {}) {
    const pc = this.make('publisher');
    this.publisher = pc;
    for (const track of stream.getTracks()) {
      const init = { direction: 'sendonly', streams: [stream] };
      if (simulcast && track.kind === 'video') init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
      pc.addTransceiver(track, init);
    }
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: 'offer', pc: 'publisher', sdp: pc.localDescription.sdp });
  }

  async acceptAnswer(sdp) {
    if (!this.publisher) return;
    await this.publisher.setRemoteDescription({ type: 'answer', sdp });
    await this.flush('publisher');
  }

  /** The server's subscriber offer: answer it (the first one makes the connection). */
  async acceptOffer(sdp) {
    let pc = this.subscriber;
    if (!pc) {
      pc = this.make('subscriber');
      this.subscriber = pc;
      pc.addEventListener('track', (event) => { if (!this.closed) this.onTrack(event); });
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await this.flush('subscriber');
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: 'answer', pc: 'subscriber', sdp: pc.localDescription.sdp });
  }

  /** The server's track id (the publication id) of a remote track's `receiver`, or null. */
  remoteTrackId(receiver) {
    const pc = this.subscriber;
    const sdp = pc?.remoteDescription?.sdp;
    const mid = pc?.getTransceivers().find((t) => t.receiver === receiver)?.mid;
    return sdp && mid != null ? msidTrackId(sdp, mid) : null;
  }

  async addRemoteCandidate(message) {
    const name = message.pc === 'subscriber' ? 'subscriber' : 'publisher';
    const init = fromWire(message.candidate);
    const pc = this[name];
    if (!pc || !pc.remoteDescription) {
      this.pending[name].push(init);
      return;
    }
    await addCandidate(pc, init);
  }

  async flush(name) {
    const pc = this[name];
    for (const init of this.pending[name].splice(0)) await addCandidate(pc, init);
  }

  close() {
    this.closed = true;
    this.publisher?.close();
    this.subscriber?.close();
  }
}
