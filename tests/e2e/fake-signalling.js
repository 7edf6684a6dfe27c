// A stand-in vardrum server inside the page (replaces window.WebSocket) so page.test.mjs can test the call page without the Rust server.
//
// It speaks signalling v1 (docs/signalling.md) with real RTCPeerConnections: it answers the
// publisher offer, and echoes the page's own tracks back on a subscriber offer whose stream id
// is the made-up participant "p-echo". `window.__fakeConfig.mode` picks a scenario:
//   "echo"        join works; the page sees one other participant, "Eko Person", sending media
//   "alone"       join works; nobody else is in the room
//   "error:CODE"  join is refused with the fatal error CODE and the matching close code
//   "unreachable" every WebSocket fails to connect
// `window.__fake` exposes what the page sent and lets the test push server messages.
(() => {
  const config = window.__fakeConfig ?? { mode: 'echo' };
  const CLOSE_CODES = {
    token_invalid: 4001, token_expired: 4001, token_not_yet_valid: 4001, token_wrong_room: 4001,
    room_full: 4004, unsupported_version: 4000,
  };
  const ECHO = { id: 'p-echo', name: 'Eko Person', role: 'clinician', state: 'active', audio_muted: false, video_muted: false };

  const fake = {
    sockets: [],
    /** Every message the page sent, in order (all sockets). */
    received: [],
    connectAttempts: 0,
    /** The socket of the live session. */
    get socket() { return this.sockets.findLast((s) => s.readyState === 1) ?? null; },
    /** Pushes a server message to the page on the live session. */
    push(message) { this.socket?.deliver(message); },
    /** Drops the live session's connection as a network loss would (close 1006). */
    drop() { this.socket?.serverClose(1006, ''); },
  };
  window.__fake = fake;

  async function gathered(pc) {
    if (pc.iceGatheringState === 'complete') return;
    await new Promise((resolve) => {
      const check = () => { if (pc.iceGatheringState === 'complete') resolve(); };
      pc.addEventListener('icegatheringstatechange', check);
      setTimeout(resolve, 3000);
    });
  }

  function toInit(c) {
    return c ? { candidate: c.candidate, sdpMid: c.sdp_mid, sdpMLineIndex: c.sdp_mline_index, usernameFragment: c.username_fragment } : null;
  }

  class FakeSocket extends EventTarget {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;

    constructor(url) {
      super();
      this.url = url;
      this.readyState = 0;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      this.serverPublisher = null;
      this.serverSubscriber = null;
      this.queue = Promise.resolve();
      fake.connectAttempts += 1;
      fake.sockets.push(this);
      setTimeout(() => {
        if (config.mode === 'unreachable') {
          this.readyState = 3;
          this.dispatchEvent(new Event('error'));
          this.dispatchEvent(new CloseEvent('close', { code: 1006, wasClean: false }));
          return;
        }
        this.readyState = 1;
        this.dispatchEvent(new Event('open'));
      }, 10);
    }

    send(text) {
      if (this.readyState !== 1) throw new DOMException('not open', 'InvalidStateError');
      const message = JSON.parse(text);
      fake.received.push(message);
      this.queue = this.queue.then(() => this.handle(message)).catch((e) => console.error('fake server:', e));
    }

    close(code = 1000) {
      if (this.readyState >= 2) return;
      this.readyState = 2;
      setTimeout(() => this.finish(code), 5);
    }

    deliver(message) {
      if (this.readyState !== 1) return;
      this.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(message) }));
    }

    serverClose(code, reason = '') {
      if (this.readyState >= 2) return;
      this.readyState = 2;
      setTimeout(() => this.finish(code, reason), 5);
    }

    finish(code, reason = '') {
      this.readyState = 3;
      this.serverPublisher?.close();
      this.serverSubscriber?.close();
      this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean: code !== 1006 }));
    }

    async handle(message) {
      switch (message.type) {
        case 'join': {
          if (config.mode.startsWith('error:')) {
            const code = config.mode.slice('error:'.length);
            this.deliver({ type: 'error', code, message: 'refused by the fake', fatal: true });
            this.serverClose(CLOSE_CODES[code] ?? 1008);
            return;
          }
          const others = config.mode === 'echo' ? [ECHO] : [];
          this.deliver({
            type: 'joined', v: 1, room: message.room, session_id: `fake-${fake.connectAttempts}`,
            participant: { id: 'me', name: 'Test Person', role: 'patient', state: 'active', audio_muted: false, video_muted: false },
            participants: others, resumed: fake.connectAttempts > 1, ice_servers: [],
          });
          return;
        }
        case 'offer': {
          const pc = new RTCPeerConnection();
          this.serverPublisher = pc;
          await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          await gathered(pc);
          this.deliver({ type: 'answer', pc: 'publisher', sdp: pc.localDescription.sdp });
          if (config.mode === 'echo') await this.offerEcho(pc.getReceivers().map((r) => r.track));
          return;
        }
        case 'answer':
          await this.serverSubscriber.setRemoteDescription({ type: 'answer', sdp: message.sdp });
          return;
        case 'candidate': {
          const pc = message.pc === 'subscriber' ? this.serverSubscriber : this.serverPublisher;
          const init = toInit(message.candidate);
          if (pc) await (init ? pc.addIceCandidate(init) : pc.addIceCandidate()).catch(() => {});
          return;
        }
        case 'leave':
          this.deliver({ type: 'bye', reason: 'left' });
          this.serverClose(1000);
          return;
        case 'ping':
          this.deliver({ type: 'pong', id: message.id });
          return;
        case 'mute':
          return;
        default:
          this.deliver({ type: 'error', code: 'unknown_type', message: message.type, fatal: false });
      }
    }

    /** Sends the page its own tracks back as if "p-echo" published them. */
    async offerEcho(tracks) {
      const pc = new RTCPeerConnection();
      this.serverSubscriber = pc;
      const stream = new MediaStream();
      for (const track of tracks) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      // The real server names the participant id as the stream id (a=msid).
      const sdp = pc.localDescription.sdp.split(stream.id).join(ECHO.id);
      this.deliver({ type: 'offer', pc: 'subscriber', sdp });
    }
  }

  window.WebSocket = FakeSocket;
})();
