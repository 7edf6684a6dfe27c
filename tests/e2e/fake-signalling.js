// A stand-in vardrum server inside the page (replaces window.WebSocket) so page.test.mjs can test the call page without the Rust server.
//
// It speaks signalling v1 (docs/signalling.md) with real RTCPeerConnections: it answers the
// publisher offer, and echoes the page's own tracks back on a subscriber offer whose stream id
// is the made-up participant "p-echo". `window.__fakeConfig` sets the scene:
//   mode    "echo"        join works; the page sees "p-echo" (in `others`) sending media
//           "alone"       join works; nobody else is in the room
//           "error:CODE"  join is refused with the fatal error CODE and the matching close code
//           "unreachable" every WebSocket fails to connect
//   kind    "visit" (default) or "group": the room's kind in `joined`
//   role    our role, "patient" (default) or "clinician" (a host: may send host actions)
//   waiting true: we join into the waiting room (`joined` with state "waiting")
//   others  the other participants as this viewer sees them (default: Eko Person, care staff);
//           those with state "waiting" are sent to a clinician only
//   chat    chat messages so far (a file in the chat is one with empty `text` and a `file`)
// `window.__fake` exposes what the page sent, lets the test push server messages, and plays the
// other side of host actions (`admit()`, `moveToWaitingRoom()`, `hostMute()`, `bye()`, ...), the
// active speaker (`speaker(id)`) and files in the chat (`fileFrom()`, `announceFile()`).
// `track_settings` are checked as the server checks them, kept in `trackSettings` (each with the
// page's `performance.now()` when it was sent as `at`), and obeyed: the echoed video of a track
// the page does not show is paused, and resumes when it is shown again.
// Like the real server it never logs chat text or file names.
(() => {
  const config = window.__fakeConfig ?? { mode: 'echo' };
  const mode = config.mode ?? 'echo';
  const kind = config.kind ?? 'visit';
  const CLOSE_CODES = {
    token_invalid: 4001, token_expired: 4001, token_not_yet_valid: 4001, token_wrong_room: 4001,
    wrong_room_kind: 4001, room_full: 4004, unsupported_version: 4000, visit_ended: 4007, room_locked: 4009,
  };
  const BYE_CODES = { left: 1000, replaced: 4003, server_shutdown: 1001, denied: 4005, removed: 4006, ended: 4007 };
  const HOST_ACTIONS = new Set([
    'admit', 'admit_all', 'deny', 'mute_participant', 'lower_hand', 'move_to_waiting_room',
    'remove_participant', 'lock', 'spotlight', 'end_visit', 'invite_guest',
  ]);
  const ECHO = {
    id: 'p-echo', name: 'Eko Person', role: 'clinician', state: 'active', audio_muted: false, video_muted: false, hand_raised: false,
  };

  /** The room as the fake server holds it. */
  const room = {
    self: {
      id: 'me', name: config.selfName ?? 'Test Person', role: config.role ?? 'patient',
      state: config.waiting ? 'waiting' : 'active', audio_muted: false, video_muted: false, hand_raised: false,
    },
    others: new Map((config.others ?? (mode === 'echo' ? [ECHO] : [])).map((p) => [p.id, { hand_raised: false, ...p }])),
    locked: false,
    spotlight: null,
    chat: [...(config.chat ?? [])],
    nextChatId: (config.chat ?? []).length + 1,
  };
  const isHost = () => room.self.role === 'clinician';
  const waiting = () => room.self.state === 'waiting';
  /** Everyone else this viewer may see: people in the waiting room only for a host. */
  const visible = () => [...room.others.values()].filter((p) => isHost() || p.state !== 'waiting').map((p) => ({ ...p }));

  const fake = {
    sockets: [],
    /** Every message the page sent, in order (all sockets). */
    received: [],
    /** Every `track_settings` the server accepted, in order, each with `at` (performance.now()). */
    trackSettings: [],
    connectAttempts: 0,
    room,
    /** The socket of the live session. */
    get socket() { return this.sockets.findLast((s) => s.readyState === 1) ?? null; },
    /** Pushes a server message to the page on the live session. */
    push(message) { this.socket?.deliver(message); },
    /** Drops the live session's connection as a network loss would (close 1006). */
    drop() { this.socket?.serverClose(1006, ''); },
    /** A host lets us in from the waiting room. */
    admit() {
      room.self.state = 'active';
      this.push({ type: 'admitted', participants: visible(), chat: room.chat, locked: room.locked, spotlight: room.spotlight });
    },
    /** A host sends us back to the waiting room: the server closes our peer connections. */
    moveToWaitingRoom() {
      room.self.state = 'waiting';
      room.self.hand_raised = false;
      this.socket?.closePeers();
      this.push({ type: 'moved_to_waiting_room' });
    },
    /** A host mutes our microphone (`audio`) or stops our camera (`video`). */
    hostMute(kind) {
      room.self[kind === 'audio' ? 'audio_muted' : 'video_muted'] = true;
      this.push({ type: 'host_muted', kind });
    },
    /** The server ends our session with `bye` REASON (and its close code). */
    bye(reason, message) {
      const socket = this.socket;
      socket?.deliver(message ? { type: 'bye', reason, message } : { type: 'bye', reason });
      socket?.serverClose(BYE_CODES[reason] ?? 1000);
    },
    /** Participant `from` (one of `others`) says `text` in the chat. */
    chatFrom(from, text) {
      const p = room.others.get(from);
      this.push({ type: 'chat', message: this.record(p, text) });
    },
    /** Participant `from` (one of `others`, or `me`) put `file` (`{ id, name, content_type, size }`) in the chat. */
    fileFrom(from, file) {
      const p = from === room.self.id ? room.self : room.others.get(from);
      this.push({ type: 'chat', message: this.record(p, '', file) });
    },
    /** What the server does once our own upload is kept: it announces the file from us. */
    announceFile(file) {
      this.fileFrom(room.self.id, file);
    },
    /** The active speaker changed (`speaker`): a participant id, ours (`me`) included. */
    speaker(id) {
      this.push({ type: 'speaker', participant: id });
    },
    /** The last `track_settings` accepted for each track id. */
    get lastTrackSettings() {
      const last = {};
      for (const m of this.trackSettings) last[m.track] = m;
      return last;
    },
    /** The track ids of the echoed media in the last subscriber offer, by kind. */
    get echoTracks() {
      const tracks = { audio: [], video: [] };
      for (const [id, entry] of this.socket?.echo ?? []) tracks[entry.kind].push(id);
      return tracks;
    },
    /** Someone new comes: into the waiting room if their state says so (shown to hosts only). */
    arrive(participant) {
      const p = { hand_raised: false, ...participant };
      room.others.set(p.id, p);
      if (p.state !== 'waiting' || isHost()) this.push({ type: 'participant_joined', participant: { ...p } });
    },
    /** Changes someone and tells the page as the server would. */
    update(id, changes) {
      const p = Object.assign(room.others.get(id), changes);
      if (p.state !== 'waiting' || isHost()) this.push({ type: 'participant_updated', participant: { ...p } });
    },
    record(p, text, file = undefined) {
      const message = { id: room.nextChatId++, from: p.id, name: p.name, role: p.role, text, at: Date.now() };
      if (file) message.file = { ...file };
      room.chat.push(message);
      return message;
    },
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
      /** The echoed tracks offered on the subscriber connection: track id → `{ kind, sender, track }`. */
      this.echo = new Map();
      this.queue = Promise.resolve();
      fake.connectAttempts += 1;
      fake.sockets.push(this);
      setTimeout(() => {
        if (mode === 'unreachable') {
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
      const at = performance.now();
      fake.received.push(message);
      this.queue = this.queue.then(() => this.handle(message, at)).catch((e) => console.error('fake server:', e?.name));
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
      this.closePeers();
      this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean: code !== 1006 }));
    }

    closePeers() {
      this.serverPublisher?.close();
      this.serverSubscriber?.close();
      this.serverPublisher = null;
      this.serverSubscriber = null;
    }

    error(code, fatal = false) {
      this.deliver({ type: 'error', code, message: `refused by the fake (${code})`, fatal });
    }

    /** One message from the page, sent at `at` (performance.now()). */
    async handle(message, at) {
      if (message.type === 'join') return this.join(message);
      if (HOST_ACTIONS.has(message.type)) return this.hostAction(message);
      switch (message.type) {
        case 'offer': {
          if (waiting()) return this.error('not_admitted');
          const pc = new RTCPeerConnection();
          this.serverPublisher = pc;
          await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
          // Chromium answers a simulcast offer with one layer (no a=simulcast:recv): a valid
          // answer, and the page then sends its lowest layer only.
          await pc.setLocalDescription(await pc.createAnswer());
          await gathered(pc);
          this.deliver({ type: 'answer', pc: 'publisher', sdp: pc.localDescription.sdp });
          if (mode === 'echo') await this.offerEcho(pc.getReceivers().map((r) => r.track));
          return;
        }
        case 'answer':
          if (!this.serverSubscriber) return this.error('unexpected_answer');
          await this.serverSubscriber.setRemoteDescription({ type: 'answer', sdp: message.sdp });
          return;
        case 'candidate': {
          const pc = message.pc === 'subscriber' ? this.serverSubscriber : this.serverPublisher;
          const init = toInit(message.candidate);
          if (pc) await (init ? pc.addIceCandidate(init) : pc.addIceCandidate()).catch(() => {});
          return;
        }
        case 'leave':
          fake.bye('left');
          return;
        case 'ping':
          this.deliver({ type: 'pong', id: message.id });
          return;
        case 'mute':
          room.self[message.kind === 'audio' ? 'audio_muted' : 'video_muted'] = Boolean(message.muted);
          return;
        case 'raise_hand':
          if (waiting()) return this.error('not_admitted');
          room.self.hand_raised = Boolean(message.raised);
          this.deliver({ type: 'participant_updated', participant: { ...room.self } });
          return;
        case 'track_settings':
          return this.trackSettings(message, at);
        case 'chat': {
          if (waiting()) return this.error('not_admitted');
          const text = String(message.text ?? '').trim();
          if (!text) return this.error('bad_message');
          if (text.length > 2000) return this.error('chat_too_long');
          this.deliver({ type: 'chat', message: fake.record(room.self, text) });
          return;
        }
        default:
          this.error('unknown_type');
      }
    }

    join(message) {
      if (mode.startsWith('error:')) {
        const code = mode.slice('error:'.length);
        this.error(code, true);
        this.serverClose(CLOSE_CODES[code] ?? 1008);
        return;
      }
      // A resumed participant starts unmuted on the server's side (docs/signalling.md).
      Object.assign(room.self, { audio_muted: false, video_muted: false });
      this.deliver({
        type: 'joined', v: 1, room: message.room, session_id: `fake-${fake.connectAttempts}`, kind,
        participant: { ...room.self },
        participants: waiting() ? [] : visible(),
        resumed: fake.connectAttempts > 1, ice_servers: [],
        locked: room.locked, spotlight: room.spotlight, chat: waiting() ? [] : room.chat,
      });
    }

    /** A host action (docs/signalling.md, "Host actions"): checked and answered as the server does. */
    hostAction(message) {
      if (!isHost()) return this.error('forbidden');
      const target = room.others.get(message.participant);
      const admitted = (p) => p && p.state !== 'waiting';
      const moderated = (p) => p && p.role !== 'clinician';
      const tell = (p) => this.deliver({ type: 'participant_updated', participant: { ...p } });
      const roomUpdated = () => this.deliver({ type: 'room_updated', locked: room.locked, spotlight: room.spotlight });
      switch (message.type) {
        case 'admit':
        case 'admit_all': {
          if (room.locked) return this.error('forbidden');
          const ids = message.type === 'admit_all'
            ? [...room.others.values()].filter((p) => p.state === 'waiting').map((p) => p.id)
            : message.participants ?? [];
          if (ids.some((id) => room.others.get(id)?.state !== 'waiting')) return this.error('unknown_participant');
          for (const id of ids) tell(Object.assign(room.others.get(id), { state: 'active' }));
          return undefined;
        }
        case 'deny':
          if (target?.state !== 'waiting') return this.error('unknown_participant');
          if (message.message != null && String(message.message).length > 200) return this.error('bad_message');
          room.others.delete(target.id);
          return this.deliver({ type: 'participant_left', participant_id: target.id, reason: 'denied' });
        case 'mute_participant':
          if (!admitted(target)) return this.error('unknown_participant');
          if (!moderated(target)) return this.error('forbidden');
          target[message.kind === 'audio' ? 'audio_muted' : 'video_muted'] = true;
          return tell(target);
        case 'lower_hand':
          if (!admitted(target)) return this.error('unknown_participant');
          target.hand_raised = false;
          return tell(target);
        case 'move_to_waiting_room':
          if (!admitted(target)) return this.error('unknown_participant');
          if (!moderated(target)) return this.error('forbidden');
          target.state = 'waiting';
          target.hand_raised = false;
          this.deliver({ type: 'participant_left', participant_id: target.id, reason: 'waiting_room' });
          // A host still sees them, now in the waiting room.
          return this.deliver({ type: 'participant_joined', participant: { ...target } });
        case 'remove_participant':
          if (!target) return this.error('unknown_participant');
          if (!moderated(target)) return this.error('forbidden');
          room.others.delete(target.id);
          return this.deliver({ type: 'participant_left', participant_id: target.id, reason: 'removed' });
        case 'lock':
          room.locked = Boolean(message.locked);
          return roomUpdated();
        case 'spotlight': {
          const id = message.participant ?? null;
          if (id !== null && id !== room.self.id && !admitted(room.others.get(id))) return this.error('unknown_participant');
          room.spotlight = id;
          return roomUpdated();
        }
        case 'end_visit':
          room.chat = [];
          return fake.bye('ended');
        case 'invite_guest': {
          const name = String(message.name ?? '');
          if (name.length < 1 || name.length > 128) return this.error('bad_message');
          const url = `${location.origin}/call/${encodeURIComponent(location.pathname.split('/')[2] ?? '')}#token=fake-guest-token`;
          return this.deliver({ type: 'guest_link', url, expires_at: Math.floor(Date.now() / 1000) + 7200 });
        }
        default:
          return this.error('unknown_type');
      }
    }

    /**
     * `track_settings` (docs/signalling.md): the track must be one we offered, the sender in the
     * visit. The field types are checked as the server's parser does. A hidden video is paused
     * (its sender sends nothing) until it is shown again; audio is never paused.
     */
    async trackSettings(message, at) {
      const { track, visible } = message;
      const size = (n) => n === undefined || (Number.isInteger(n) && n >= 0 && n <= 0xffffffff);
      if (typeof track !== 'string' || typeof visible !== 'boolean' || !size(message.width) || !size(message.height)) {
        return this.error('bad_message');
      }
      if (waiting()) return this.error('not_admitted');
      const echoed = this.echo.get(track);
      if (!echoed) return this.error('bad_message');
      fake.trackSettings.push({ ...message, at });
      if (echoed.kind === 'video') await echoed.sender.replaceTrack(visible ? echoed.track : null);
      return undefined;
    }

    /** Sends the page its own tracks back as if "p-echo" published them. */
    async offerEcho(tracks) {
      const pc = new RTCPeerConnection();
      this.serverSubscriber = pc;
      const stream = new MediaStream();
      this.echo.clear();
      for (const track of tracks) {
        const { sender } = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        this.echo.set(track.id, { kind: track.kind, sender, track });
      }
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      // The real server names the participant id as the stream id (a=msid).
      const sdp = pc.localDescription.sdp.split(stream.id).join(ECHO.id);
      this.deliver({ type: 'offer', pc: 'subscriber', sdp });
    }
  }

  window.WebSocket = FakeSocket;
})();
