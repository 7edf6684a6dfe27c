// The course of a call: our camera and microphone, joining over signalling, the waiting room, what each server message changes, reconnecting after a loss, and the end.

import { has, t } from '/i18n.js';
import { Peers } from './peers.js';
import { Signalling } from './signalling.js';

/** Error codes after which joining again with the same link cannot help. */
const FATAL_CODES = new Set([
  'token_invalid', 'token_expired', 'token_not_yet_valid', 'token_wrong_room', 'wrong_room_kind',
  'room_full', 'unsupported_version', 'flood', 'visit_ended', 'room_locked',
]);
/** Error codes shown with another code's text. */
const SAME_TEXT = { token_wrong_room: 'token_invalid', wrong_room_kind: 'token_invalid', flood: 'token_invalid' };
/** Errors that change nothing but that the user should hear of (`flash_CODE`). */
const TOLD_CODES = new Set(['forbidden', 'unknown_participant', 'not_admitted', 'chat_too_long', 'rate_limited']);
/** Close codes that end the call even if their `error` or `bye` was not seen. */
const FATAL_CLOSE = new Map([
  [4000, 'unsupported_version'], [4001, 'token_invalid'], [4004, 'room_full'],
  [4005, 'denied'], [4006, 'removed'], [4007, 'ended'], [4009, 'room_locked'],
]);
/** `bye` reasons after which a client must not reconnect on its own (docs/signalling.md, `bye`). */
const FINAL_BYES = new Set(['denied', 'removed', 'ended']);
/** Stops after which the user may try again with the same link. */
const REJOINABLE = new Set(['left', 'replaced', 'room_locked']);

export class Call {
  /** `views`: `{ notices, grid, controls, panels, chat, hostPanel, dialog }`. */
  constructor({ state, media, views }) {
    this.state = state;
    this.media = media;
    this.views = views;
    /** Whether any session got as far as `joined` (changes what a failed connect means). */
    this.everJoined = false;
    /** The hand state we last asked for, to tell a host's "lower hand" from our own. */
    this.handAsked = false;
    this.signalling = new Signalling({
      room: state.room,
      token: state.token,
      handlers: {
        on: {
          joined: (session, m) => this.onJoined(session, m),
          admitted: (session, m) => this.onAdmitted(session, m),
          moved_to_waiting_room: (session) => this.onMoved(session),
          answer: (session, m) => (m.pc === 'publisher' ? session.peers?.acceptAnswer(m.sdp) : undefined),
          offer: (session, m) => (m.pc === 'subscriber' ? session.peers?.acceptOffer(m.sdp) : undefined),
          candidate: (session, m) => session.peers?.addRemoteCandidate(m),
          participant_joined: (session, m) => this.onParticipant(m.participant),
          participant_updated: (session, m) => this.onParticipant(m.participant),
          participant_left: (session, m) => this.onParticipantLeft(m),
          room_updated: (session, m) => this.onRoomUpdated(m),
          chat: (session, m) => this.state.addChat(m.message),
          speaker: (session, m) => this.state.setSpeaker(typeof m.participant === 'string' ? m.participant : null),
          host_muted: (session, m) => this.onHostMuted(m),
          guest_link: (session, m) => this.views.hostPanel.showGuestLink(m),
          pong: () => {},
        },
        error: (session, m) => this.onError(session, m),
        bye: (session, m) => this.onBye(session, m),
        lost: (session, info) => this.onLost(session, info),
        connecting: (attempt) => {
          // Later attempts keep saying why we are trying again (reconnecting, unreachable, ...).
          if (attempt === 0) this.setStatus('connecting');
        },
      },
    });
  }

  setStatus(key) {
    this.state.setStatus(key);
  }

  send(message) {
    this.signalling.send(message);
  }

  /** Stops the call for good with a status the user has to act on, and the actions offered. */
  stop(key, actions = REJOINABLE.has(key) ? ['rejoin'] : []) {
    this.state.stopped = key;
    this.signalling.stop();
    this.views.dialog.cancel();
    this.views.panels.close();
    this.state.clearRemote();
    this.state.setChat([]);
    this.media.stop();
    this.views.hostPanel.reset();
    this.state.setScreen('ended');
    this.views.grid.renderSelf();
    this.setStatus(key);
    this.views.notices.showActions(actions);
  }

  // -------------------------------------------------------------------------------------------
  // Local media and joining

  /** Gets media in `mode`, explains any failure with the fallbacks, else joins the call (1:1). */
  async prepareAndJoin(mode) {
    this.views.notices.showActions(null);
    this.views.notices.setHostMessage(null);
    this.setStatus('media_prompt');
    const failure = await this.media.acquire(mode);
    if (failure) {
      if (mode === 'audio') {
        this.setStatus('audio_denied');
        this.views.notices.showActions(['watchOnly', 'retryMedia']);
      } else {
        const denied = failure === 'NotAllowedError' || failure === 'SecurityError';
        this.setStatus(denied ? 'media_denied' : 'media_unavailable');
        this.views.notices.showActions(['audioOnly', 'watchOnly', 'retryMedia']);
      }
      return;
    }
    this.join();
  }

  /** Joins with the media we have (`this.media`). */
  join() {
    this.views.notices.showActions(null);
    this.views.notices.setHostMessage(null);
    this.watchTracks();
    this.state.stopped = null;
    // A group visit may start in the waiting room: show nothing of the call until `joined` says.
    this.state.setScreen(this.state.isGroup ? 'joining' : 'call');
    this.signalling.resetBackoff();
    this.views.grid.renderSelf();
    this.views.controls.render();
    this.signalling.connect();
  }

  /** A device unplugged mid-call: show it as muted to the others. */
  watchTracks() {
    for (const track of this.media.stream?.getTracks() ?? []) {
      track.addEventListener('ended', () => this.send({ type: 'mute', kind: track.kind, muted: true }));
    }
  }

  /** Gets our media back if it was let go in the waiting room (as chosen on the device check). */
  async ensureMedia() {
    if (this.media.stream || this.media.mode === 'none') return;
    await this.media.acquireBest(this.media.mode);
    this.watchTracks();
  }

  makePeers(session) {
    return new Peers({
      iceServers: session.iceServers,
      send: (m) => session.send(m),
      onTrack: (event) => this.views.grid.addTrack(event),
      onFailed: (name) => this.signalling.lost(session, { pcFailed: name, opened: true }),
    });
  }

  async onJoined(session, message) {
    session.joined = true;
    session.iceServers = message.ice_servers ?? [];
    this.everJoined = true;
    this.signalling.resetBackoff();
    this.state.setKind(message.kind);
    session.peers = this.makePeers(session);
    this.state.setSelf(message.participant);
    this.state.setRoom(message);
    if (message.participant?.state === 'waiting') {
      this.enterWaitingRoom();
      return;
    }
    this.state.replaceRoster(message.participants ?? []);
    this.state.setChat(message.chat ?? []);
    await this.enterVisit(session);
  }

  /** In the visit (after `joined` as active, or `admitted`): tell what we send, and publish. */
  async enterVisit(session) {
    await this.ensureMedia();
    if (!this.signalling.isCurrent(session)) return;
    this.state.setScreen('call');
    this.updateConnectedStatus();
    this.views.grid.renderSelf();
    this.views.controls.render();
    // Tell the others what we are not sending (muted, or no such device).
    this.syncMute('audio', this.state.self?.audio_muted);
    this.syncMute('video', this.state.self?.video_muted);
    if (this.media.hasTracks) await session.peers.publish(this.media.stream, { simulcast: this.state.isGroup });
  }

  /**
   * The waiting room: nobody sees or hears us, so the camera and microphone are let go (the
   * camera light goes off) until a host lets us in.
   */
  enterWaitingRoom() {
    this.views.panels.close();
    this.views.dialog.cancel();
    this.state.clearRemote();
    this.state.setChat([]);
    this.media.stop();
    this.state.setScreen('waiting');
    this.setStatus('waiting_room');
    this.views.grid.renderSelf();
    this.views.controls.render();
  }

  async onAdmitted(session, message) {
    this.state.setRoom(message);
    this.state.replaceRoster(message.participants ?? []);
    this.state.setChat(message.chat ?? []);
    this.views.notices.flash('flash_admitted');
    await this.enterVisit(session);
  }

  onMoved(session) {
    // The server has closed both peer connections; new ones are made when we are let in again.
    session.peers?.close();
    session.peers = this.makePeers(session);
    this.enterWaitingRoom();
    this.views.notices.flash('flash_moved');
  }

  updateConnectedStatus() {
    if (!this.signalling.session?.joined || this.state.stopped || this.state.screen !== 'call') return;
    const others = [...this.state.participants.values()].some((p) => p.state !== 'waiting');
    this.setStatus(others ? 'connected' : 'waiting');
  }

  // -------------------------------------------------------------------------------------------
  // The others and the room

  onParticipant(participant) {
    const wasHandUp = this.state.self?.hand_raised;
    this.state.upsert(participant);
    if (participant?.id === this.state.self?.id && wasHandUp && !participant.hand_raised && this.handAsked) {
      // We did not lower it ourselves: a host did.
      this.views.notices.flash('flash_hand_lowered');
    }
    if (participant?.id === this.state.self?.id) this.handAsked = Boolean(participant.hand_raised);
    this.updateConnectedStatus();
  }

  onParticipantLeft(message) {
    this.state.remove(message.participant_id, message.reason ?? 'left');
    this.updateConnectedStatus();
  }

  onRoomUpdated(message) {
    const wasLocked = this.state.locked;
    this.state.setRoom(message);
    if (this.state.isHost && wasLocked !== this.state.locked) {
      this.views.notices.announce(t(this.state.locked ? 'flash_locked' : 'flash_unlocked'));
    }
  }

  onHostMuted(message) {
    const kind = message.kind === 'video' ? 'video' : 'audio';
    this.media.setMuted(kind, true);
    this.views.controls.render();
    this.views.grid.renderSelf();
    this.views.notices.flash(`flash_host_muted_${kind}`);
  }

  // -------------------------------------------------------------------------------------------
  // Errors, bye and losses

  onError(session, message) {
    // The code only: a message may quote what we sent.
    console.warn('server error', message.code);
    if (FATAL_CODES.has(message.code)) {
      const key = SAME_TEXT[message.code] ?? message.code;
      this.stop(has(`status_${key}`) ? key : 'error');
      return;
    }
    if (TOLD_CODES.has(message.code)) {
      if (message.code === 'chat_too_long' || message.code === 'rate_limited') this.views.chat.refused();
      this.views.notices.flash(`flash_${message.code}`);
    }
    // join_timeout and the like end the socket; the close handler reconnects.
  }

  onBye(session, message) {
    session.byeReason = message.reason;
    if (message.reason === 'server_shutdown') this.setStatus('server_shutdown');
    if (FINAL_BYES.has(message.reason)) {
      this.stop(message.reason);
      if (message.reason === 'denied') this.views.notices.setHostMessage(message.message);
    }
  }

  /** The WebSocket closed or a peer connection failed: decide between giving up and rejoining. */
  onLost(session, { wsClose, opened, pcFailed } = {}) {
    if (this.state.stopped || session.byeReason === 'left') return;
    if (session.byeReason === 'replaced' || wsClose === 4003) {
      this.stop('replaced');
      return;
    }
    if (FATAL_CLOSE.has(wsClose)) {
      this.stop(FATAL_CLOSE.get(wsClose));
      return;
    }
    console.warn('session lost', { wsClose, opened, pcFailed });
    if (session.byeReason === 'server_shutdown' || wsClose === 1001) {
      this.setStatus('server_shutdown');
    } else if (!opened) {
      // Could not even connect: before the first join say the service is unreachable; later
      // keep saying "reconnecting" or "restarting".
      if (!this.everJoined) this.setStatus('unreachable');
    } else {
      this.setStatus('reconnecting');
    }
    this.signalling.scheduleReconnect();
  }

  // -------------------------------------------------------------------------------------------
  // Our own controls

  /** Sends `mute` if the server's idea of our `kind` differs from what we actually send. */
  syncMute(kind, serverMuted) {
    const muted = this.media.isOff(kind);
    if (Boolean(serverMuted) !== muted) this.send({ type: 'mute', kind, muted });
  }

  toggle(kind) {
    const muted = this.media.setMuted(kind, kind === 'audio' ? !this.media.audioMuted : !this.media.videoMuted);
    if (muted === null) return;
    this.send({ type: 'mute', kind, muted });
    this.views.controls.render();
    this.views.grid.renderSelf();
  }

  raiseHand(raised) {
    this.handAsked = raised;
    this.send({ type: 'raise_hand', raised });
    // Our own hand shows at once; the server's participant_updated about us confirms it.
    if (this.state.self) this.state.setSelf({ ...this.state.self, hand_raised: raised });
  }

  leave() {
    this.signalling.leave();
    this.state.stopped = 'left';
    this.views.dialog.cancel();
    this.views.panels.close();
    this.media.stop();
    this.state.clearRemote();
    this.state.setChat([]);
    this.state.setScreen('ended');
    this.views.grid.renderSelf();
    this.setStatus('left');
    this.views.notices.showActions(['rejoin']);
  }
}
