// The course of a call: our camera and microphone, joining over signalling, what each server message changes, reconnecting after a loss, and the end.

import { has } from '/i18n.js';
import { Peers } from './peers.js';
import { Signalling } from './signalling.js';

/** Error codes after which joining again with the same link cannot help. */
const FATAL_CODES = new Set([
  'token_invalid', 'token_expired', 'token_not_yet_valid', 'token_wrong_room',
  'room_full', 'unsupported_version', 'flood',
]);
/** Error codes shown with another code's text. */
const SAME_TEXT = { token_wrong_room: 'token_invalid', flood: 'token_invalid' };
/** Close codes that end the call even if their `error` message was not seen. */
const FATAL_CLOSE = new Map([[4000, 'unsupported_version'], [4001, 'token_invalid'], [4004, 'room_full']]);

export class Call {
  /** `views`: `{ notices, grid, controls }`. */
  constructor({ state, media, views }) {
    this.state = state;
    this.media = media;
    this.views = views;
    /** Whether any session got as far as `joined` (changes what a failed connect means). */
    this.everJoined = false;
    this.signalling = new Signalling({
      room: state.room,
      token: state.token,
      handlers: {
        on: {
          joined: (session, m) => this.onJoined(session, m),
          answer: (session, m) => (m.pc === 'publisher' ? session.peers?.acceptAnswer(m.sdp) : undefined),
          offer: (session, m) => (m.pc === 'subscriber' ? session.peers?.acceptOffer(m.sdp) : undefined),
          candidate: (session, m) => session.peers?.addRemoteCandidate(m),
          participant_joined: (session, m) => this.onParticipant(m.participant),
          participant_updated: (session, m) => this.onParticipant(m.participant),
          participant_left: (session, m) => this.onParticipantLeft(m),
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

  /** Stops the call for good with a status the user has to act on, and the actions offered. */
  stop(key, actions = []) {
    this.state.stopped = key;
    this.signalling.stop();
    this.state.clearRemote();
    this.media.stop();
    this.views.grid.renderSelf();
    this.setStatus(key);
    this.views.notices.showActions(actions);
  }

  // -------------------------------------------------------------------------------------------
  // Local media and joining

  /** Gets media in `mode`, explains any failure with the fallbacks, else joins the call. */
  async prepareAndJoin(mode) {
    this.views.notices.showActions(null);
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
    for (const track of this.media.stream?.getTracks() ?? []) {
      // A device unplugged mid-call: show it as muted to the others.
      track.addEventListener('ended', () => this.signalling.send({ type: 'mute', kind: track.kind, muted: true }));
    }
    this.state.stopped = null;
    this.signalling.resetBackoff();
    this.views.grid.renderSelf();
    this.views.controls.render();
    this.signalling.connect();
  }

  async onJoined(session, message) {
    session.joined = true;
    this.everJoined = true;
    this.signalling.resetBackoff();
    session.peers = new Peers({
      iceServers: message.ice_servers ?? [],
      send: (m) => session.send(m),
      onTrack: (event) => this.views.grid.addTrack(event),
      onFailed: (name) => this.signalling.lost(session, { pcFailed: name, opened: true }),
    });
    this.state.setSelf(message.participant);
    this.state.replaceRoster(message.participants ?? []);
    this.updateConnectedStatus();

    // Tell the others what we are not sending (muted, or no such device).
    this.syncMute('audio', message.participant?.audio_muted);
    this.syncMute('video', message.participant?.video_muted);

    if (this.media.hasTracks) await session.peers.publish(this.media.stream);
  }

  updateConnectedStatus() {
    if (!this.signalling.session?.joined || this.state.stopped) return;
    this.setStatus(this.state.participants.size > 0 ? 'connected' : 'waiting');
  }

  // -------------------------------------------------------------------------------------------
  // The others

  onParticipant(participant) {
    this.state.upsert(participant);
    this.updateConnectedStatus();
  }

  onParticipantLeft(message) {
    this.state.remove(message.participant_id, message.reason ?? 'left');
    this.updateConnectedStatus();
  }

  // -------------------------------------------------------------------------------------------
  // Errors, bye and losses

  onError(session, message) {
    console.warn('server error', message.code, message.message);
    if (FATAL_CODES.has(message.code)) {
      const key = SAME_TEXT[message.code] ?? message.code;
      this.stop(has(`status_${key}`) ? key : 'error');
    }
    // join_timeout and the like end the socket; the close handler reconnects.
  }

  onBye(session, message) {
    session.byeReason = message.reason;
    if (message.reason === 'server_shutdown') this.setStatus('server_shutdown');
  }

  /** The WebSocket closed or a peer connection failed: decide between giving up and rejoining. */
  onLost(session, { wsClose, opened, pcFailed } = {}) {
    if (this.state.stopped || session.byeReason === 'left') return;
    if (session.byeReason === 'replaced' || wsClose === 4003) {
      this.stop('replaced', ['rejoin']);
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
    if (Boolean(serverMuted) !== muted) this.signalling.send({ type: 'mute', kind, muted });
  }

  toggle(kind) {
    const muted = this.media.setMuted(kind, kind === 'audio' ? !this.media.audioMuted : !this.media.videoMuted);
    if (muted === null) return;
    this.signalling.send({ type: 'mute', kind, muted });
    this.views.controls.render();
    this.views.grid.renderSelf();
  }

  leave() {
    this.signalling.leave();
    this.state.stopped = 'left';
    this.media.stop();
    this.views.grid.renderSelf();
    this.state.clearRemote();
    this.setStatus('left');
    this.views.notices.showActions(['rejoin']);
  }
}
