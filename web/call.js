// The call page: joins a video visit over vardrum signalling v1 (docs/signalling.md) with a publisher and a subscriber peer connection.

import { t, has, translatePage, setUpLanguageSwitch, onLanguageChange } from '/i18n.js';

/** Waits before the 1st, 2nd, ... reconnect attempt, in milliseconds (then stays at the last). */
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
/** Application-level keep-alive, for proxies that do not pass WebSocket pings on. */
const PING_EVERY_MS = 25000;
/** Error codes after which joining again with the same link cannot help. */
const FATAL_CODES = new Set([
  'token_invalid', 'token_expired', 'token_not_yet_valid', 'token_wrong_room',
  'room_full', 'unsupported_version', 'flood',
]);
/** Status keys that mean "in the call" (controls enabled). */
const IN_CALL = new Set(['connecting', 'waiting', 'connected', 'reconnecting', 'server_shutdown', 'unreachable']);

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  notice: $('notice'),
  retryMedia: $('retry-media'),
  audioOnly: $('audio-only'),
  watchOnly: $('watch-only'),
  rejoin: $('rejoin'),
  enableSound: $('enable-sound'),
  tiles: $('tiles'),
  tileTemplate: $('tile-template'),
  mic: $('mic'),
  camera: $('camera'),
  leave: $('leave'),
  controls: $('controls'),
  language: $('language'),
};

// ---------------------------------------------------------------------------------------------
// Page state

const call = {
  room: null,
  token: null,
  /** 'av' (camera + microphone), 'audio' or 'none' (watch and listen only). */
  mediaMode: 'av',
  /** @type {MediaStream | null} */
  localStream: null,
  audioMuted: false,
  videoMuted: false,
  /** The current signalling session (one WebSocket and its two peer connections), or null. */
  session: null,
  /** Our own participant object from `joined`. */
  self: null,
  /** Remote participants by id: the participant objects the server sent. */
  participants: new Map(),
  /** Remote tiles by participant id. */
  tiles: new Map(),
  /** Remote tracks of someone not (or no longer) in the roster, by participant id: a tile is
   * made only for a known participant, so a late track of someone who left raises no ghost. */
  pendingTracks: new Map(),
  state: 'starting',
  /** Why the call stopped for good (`left`, `replaced` or an error code); no reconnects then. */
  stopped: null,
  /** Whether any session got as far as `joined` (changes what a failed connect means). */
  everJoined: false,
  reconnectAttempt: 0,
  reconnectTimer: null,
  /** Counts `participant_left` messages received (the browser tests check for none). */
  leftEvents: 0,
  /** The state in every participant object received, oldest first: `{id, state}`. */
  stateLog: [],
};

/**
 * Timing marks for tests/e2e/bench-join.mjs, in `performance.now()` milliseconds: when the first
 * signalling WebSocket was created, and when each remote video track's first frame was decoded
 * (`wall` is the same instant as `Date.now()`, to compare with other pages). The page never
 * reads them itself.
 */
const timing = { wsOpenStart: null, wsOpenStartWall: null, firstRemoteFrame: null, remoteFrames: [] };

function markFirstFrame(tile, track, receiver) {
  const mark = (at) => {
    timing.firstRemoteFrame ??= at;
    timing.remoteFrames.push({ participant: tile.id, track: track.id, at, wall: Date.now() - (performance.now() - at) });
  };
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    tile.video.requestVideoFrameCallback((now, frame) => mark(frame.presentationTime ?? now));
    return;
  }
  let done = false;
  const poll = setInterval(async () => {
    if (track.readyState === 'ended') return clearInterval(poll);
    const report = await receiver.getStats().catch(() => null);
    report?.forEach((s) => {
      if (!done && s.type === 'inbound-rtp' && s.framesDecoded > 0) {
        done = true;
        clearInterval(poll);
        mark(performance.now());
      }
    });
  }, 20);
}

// ---------------------------------------------------------------------------------------------
// Status line and notices

function setStatus(key) {
  call.state = key;
  ui.status.dataset.state = key;
  // Only touch the live region when the text changes, so screen readers do not repeat it.
  const text = t(`status_${key}`);
  if (ui.status.textContent !== text) ui.status.textContent = text;
  const inCall = IN_CALL.has(key);
  ui.controls.hidden = !inCall;
  ui.leave.disabled = !inCall;
  ui.mic.disabled = !inCall || !localTrack('audio');
  ui.camera.disabled = !inCall || !localTrack('video');
}

/**
 * Shows the action buttons named in `buttons` below the status line (which says why), or hides
 * them all when `buttons` is null or empty.
 */
function showNotice(buttons) {
  const all = { retryMedia: ui.retryMedia, audioOnly: ui.audioOnly, watchOnly: ui.watchOnly, rejoin: ui.rejoin };
  if (!buttons?.length) {
    ui.notice.hidden = true;
    return;
  }
  for (const [name, button] of Object.entries(all)) button.hidden = !buttons.includes(name);
  ui.notice.hidden = false;
  const first = buttons.length ? all[buttons[0]] : null;
  if (first) first.focus();
}

/** Stops the call for good with a status the user has to act on. */
function stop(key, buttons = []) {
  call.stopped = key;
  clearTimeout(call.reconnectTimer);
  closeSession();
  clearRemote();
  stopLocalMedia();
  renderSelfTile();
  setStatus(key);
  showNotice(buttons);
}

// ---------------------------------------------------------------------------------------------
// Local media

function localTrack(kind) {
  return call.localStream?.getTracks().find((track) => track.kind === kind) ?? null;
}

/** Asks for camera and microphone (or only the microphone); returns the error name on failure. */
async function acquireMedia(mode) {
  call.mediaMode = mode;
  if (mode === 'none') {
    call.localStream = null;
    return null;
  }
  if (!navigator.mediaDevices?.getUserMedia) return 'NotSupportedError';
  try {
    call.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: mode === 'av' });
    return null;
  } catch (error) {
    console.warn('getUserMedia failed', error);
    call.localStream = null;
    return error?.name || 'Error';
  }
}

function stopLocalMedia() {
  for (const track of call.localStream?.getTracks() ?? []) track.stop();
  call.localStream = null;
  selfTile.video.srcObject = null;
}

/** Gets media in `mode`, explains any failure with the fallbacks, else joins the call. */
async function prepareAndJoin(mode) {
  showNotice(null);
  setStatus('media_prompt');
  const failure = await acquireMedia(mode);
  if (failure) {
    if (mode === 'audio') {
      setStatus('audio_denied');
      showNotice(['watchOnly', 'retryMedia']);
    } else {
      const denied = failure === 'NotAllowedError' || failure === 'SecurityError';
      setStatus(denied ? 'media_denied' : 'media_unavailable');
      showNotice(['audioOnly', 'watchOnly', 'retryMedia']);
    }
    return;
  }
  call.audioMuted = false;
  call.videoMuted = false;
  for (const track of call.localStream?.getTracks() ?? []) {
    // A device unplugged mid-call: show it as muted to the others.
    track.addEventListener('ended', () => announceMute(track.kind, true));
  }
  call.stopped = null;
  call.reconnectAttempt = 0;
  renderSelfTile();
  renderControls();
  connect();
}

// ---------------------------------------------------------------------------------------------
// Signalling session

/** One WebSocket from `join` to close, and the two peer connections negotiated over it. */
class Session {
  constructor() {
    this.ws = null;
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    this.opened = false;
    this.joined = false;
    this.closed = false;
    /** Set by `bye`: 'left', 'replaced' or 'server_shutdown'. */
    this.byeReason = null;
    /** Messages are handled one after another, so each SDP step sees the previous one done. */
    this.queue = Promise.resolve();
    /** Remote candidates that arrived before the description of their connection. */
    this.pendingCandidates = { publisher: [], subscriber: [] };
    this.pingTimer = null;
    this.pingId = 0;
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    for (const pc of [this.publisher, this.subscriber]) pc?.close();
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}

function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

function connect() {
  clearTimeout(call.reconnectTimer);
  closeSession();
  const session = new Session();
  call.session = session;
  // Later attempts keep saying why we are trying again (reconnecting, unreachable, ...).
  if (call.reconnectAttempt === 0) setStatus('connecting');

  let ws;
  if (timing.wsOpenStart === null) {
    timing.wsOpenStart = performance.now();
    timing.wsOpenStartWall = Date.now();
  }
  try {
    ws = new WebSocket(wsUrl());
  } catch (error) {
    console.error('WebSocket could not be created', error);
    setStatus('unreachable');
    scheduleReconnect();
    return;
  }
  session.ws = ws;
  ws.addEventListener('open', () => {
    if (call.session !== session) return;
    session.opened = true;
    session.send({ type: 'join', v: 1, room: call.room, token: call.token });
    session.pingTimer = setInterval(() => session.send({ type: 'ping', id: ++session.pingId }), PING_EVERY_MS);
  });
  ws.addEventListener('message', (event) => {
    if (call.session !== session || typeof event.data !== 'string') return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      console.warn('ignoring a frame that is not JSON');
      return;
    }
    // `error` and `bye` are handled at once: they must be known when the close event comes,
    // which may be before queued SDP work has finished.
    if (message?.type === 'error') return onError(session, message);
    if (message?.type === 'bye') return onBye(session, message);
    session.queue = session.queue
      .then(() => (call.session === session ? handleMessage(session, message) : undefined))
      .catch((error) => console.error(`handling "${message?.type}" failed`, error));
  });
  ws.addEventListener('close', (event) => {
    if (call.session !== session) return;
    onSessionLost(session, { wsClose: event.code, opened: session.opened });
  });
}

function closeSession() {
  const session = call.session;
  call.session = null;
  session?.close();
}

/** Close codes that end the call even if their `error` message was not seen. */
const FATAL_CLOSE = new Map([[4000, 'unsupported_version'], [4001, 'token_invalid'], [4004, 'room_full']]);

/** The WebSocket closed or a peer connection failed: decide between giving up and rejoining. */
function onSessionLost(session, { wsClose, opened, pcFailed } = {}) {
  if (call.session !== session || call.stopped) return;
  if (session.byeReason === 'left') return;
  if (session.byeReason === 'replaced' || wsClose === 4003) {
    stop('replaced', ['rejoin']);
    return;
  }
  if (FATAL_CLOSE.has(wsClose)) {
    stop(FATAL_CLOSE.get(wsClose));
    return;
  }
  console.warn('session lost', { wsClose, opened, pcFailed });
  closeSession();
  if (session.byeReason === 'server_shutdown' || wsClose === 1001) {
    setStatus('server_shutdown');
  } else if (!opened) {
    // Could not even connect: before the first join say the service is unreachable; later
    // keep saying "reconnecting" or "restarting".
    if (!call.everJoined) setStatus('unreachable');
  } else {
    setStatus('reconnecting');
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  clearTimeout(call.reconnectTimer);
  const delay = BACKOFF_MS[Math.min(call.reconnectAttempt, BACKOFF_MS.length - 1)];
  call.reconnectAttempt += 1;
  call.reconnectTimer = setTimeout(() => {
    if (!call.stopped) connect();
  }, delay);
}

async function handleMessage(session, message) {
  switch (message?.type) {
    case 'joined':
      return onJoined(session, message);
    case 'answer':
      if (message.pc === 'publisher' && session.publisher) {
        await session.publisher.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        await flushCandidates(session, 'publisher');
      }
      return;
    case 'offer':
      if (message.pc === 'subscriber') return onSubscriberOffer(session, message);
      return;
    case 'candidate':
      return onRemoteCandidate(session, message);
    case 'participant_joined':
    case 'participant_updated':
      upsertParticipant(message.participant);
      updateConnectedStatus();
      return;
    case 'participant_left':
      call.leftEvents += 1;
      call.stateLog.push({ id: message.participant_id, state: 'left', reason: message.reason });
      removeParticipant(message.participant_id);
      updateConnectedStatus();
      return;
    case 'pong':
      return;
    default:
      console.warn('ignoring unknown message', message?.type);
  }
}

function onError(session, message) {
  console.warn('server error', message.code, message.message);
  if (FATAL_CODES.has(message.code)) {
    const key = message.code === 'token_wrong_room' || message.code === 'flood' ? 'token_invalid' : message.code;
    stop(has(`status_${key}`) ? key : 'error');
    return;
  }
  // join_timeout and the like end the socket; the close handler reconnects.
}

function onBye(session, message) {
  session.byeReason = message.reason;
  if (message.reason === 'server_shutdown') setStatus('server_shutdown');
}

async function onJoined(session, message) {
  session.joined = true;
  session.iceServers = message.ice_servers ?? [];
  call.everJoined = true;
  call.reconnectAttempt = 0;
  call.self = message.participant;
  // The server's list replaces ours: anyone missing left while we were away.
  const present = new Set((message.participants ?? []).map((p) => p.id));
  for (const id of [...call.participants.keys()]) if (!present.has(id)) removeParticipant(id);
  for (const participant of message.participants ?? []) upsertParticipant(participant);
  renderSelfTile();
  updateConnectedStatus();

  // Tell the others what we are not sending (muted, or no such device).
  syncMute('audio', message.participant?.audio_muted);
  syncMute('video', message.participant?.video_muted);

  if (call.localStream && call.localStream.getTracks().length > 0) {
    await startPublisher(session, session.iceServers);
  }
}

function updateConnectedStatus() {
  if (!call.session?.joined || call.stopped) return;
  setStatus(call.participants.size > 0 ? 'connected' : 'waiting');
}

// ---------------------------------------------------------------------------------------------
// Peer connections

function watchPeerConnection(session, pc, name) {
  pc.addEventListener('icecandidate', (event) => {
    if (call.session !== session) return;
    const c = event.candidate;
    session.send({
      type: 'candidate',
      pc: name,
      candidate: c && c.candidate
        ? {
            candidate: c.candidate,
            sdp_mid: c.sdpMid,
            sdp_mline_index: c.sdpMLineIndex,
            username_fragment: c.usernameFragment,
          }
        : null,
    });
  });
  pc.addEventListener('connectionstatechange', () => {
    if (call.session !== session) return;
    if (pc.connectionState === 'failed') onSessionLost(session, { pcFailed: name, opened: true });
  });
}

async function startPublisher(session, iceServers) {
  const pc = new RTCPeerConnection({ iceServers });
  session.publisher = pc;
  watchPeerConnection(session, pc, 'publisher');
  for (const track of call.localStream.getTracks()) {
    pc.addTransceiver(track, { direction: 'sendonly', streams: [call.localStream] });
  }
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  session.send({ type: 'offer', pc: 'publisher', sdp: pc.localDescription.sdp });
}

async function onSubscriberOffer(session, message) {
  let pc = session.subscriber;
  if (!pc) {
    pc = new RTCPeerConnection({ iceServers: session.iceServers ?? [] });
    session.subscriber = pc;
    watchPeerConnection(session, pc, 'subscriber');
    pc.addEventListener('track', (event) => {
      if (call.session === session) onRemoteTrack(event);
    });
  }
  await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
  await flushCandidates(session, 'subscriber');
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  session.send({ type: 'answer', pc: 'subscriber', sdp: pc.localDescription.sdp });
}

async function onRemoteCandidate(session, message) {
  const name = message.pc === 'subscriber' ? 'subscriber' : 'publisher';
  const c = message.candidate;
  const init = c
    ? { candidate: c.candidate, sdpMid: c.sdp_mid ?? null, sdpMLineIndex: c.sdp_mline_index ?? null, usernameFragment: c.username_fragment ?? null }
    : null;
  const pc = session[name];
  if (!pc || !pc.remoteDescription) {
    session.pendingCandidates[name].push(init);
    return;
  }
  await addCandidate(pc, init);
}

async function flushCandidates(session, name) {
  const pc = session[name];
  const pending = session.pendingCandidates[name].splice(0);
  for (const init of pending) await addCandidate(pc, init);
}

async function addCandidate(pc, init) {
  try {
    if (init) await pc.addIceCandidate(init);
    else await pc.addIceCandidate();
  } catch (error) {
    console.warn('remote candidate not applied', error);
  }
}

/** A remote track: its stream id is the participant id (docs/signalling.md, subscriber offer). */
function onRemoteTrack(event) {
  const stream = event.streams[0];
  const id = stream?.id;
  if (!id) {
    console.warn('remote track without a stream id: cannot tell whose it is');
    return;
  }
  if (!call.participants.has(id)) {
    const pending = call.pendingTracks.get(id) ?? [];
    pending.push(event);
    call.pendingTracks.set(id, pending);
    return;
  }
  const tile = ensureTile(id);
  const track = event.track;
  tile.tracks[track.kind] = track;
  const forget = () => {
    if (tile.tracks[track.kind] === track) {
      tile.tracks[track.kind] = null;
      attachTracks(tile);
    }
  };
  track.addEventListener('ended', forget);
  stream.addEventListener('removetrack', (e) => { if (e.track === track) forget(); });
  attachTracks(tile);
  if (track.kind === 'video') markFirstFrame(tile, track, event.receiver);
}

// ---------------------------------------------------------------------------------------------
// Participants and tiles

function upsertParticipant(participant) {
  if (!participant?.id) return;
  if (participant.id === call.self?.id) {
    call.self = participant;
    renderSelfTile();
    return;
  }
  call.participants.set(participant.id, participant);
  call.stateLog.push({ id: participant.id, state: participant.state });
  renderTile(ensureTile(participant.id));
  const pending = call.pendingTracks.get(participant.id);
  if (pending) {
    call.pendingTracks.delete(participant.id);
    for (const event of pending) onRemoteTrack(event);
  }
}

function removeParticipant(id) {
  call.participants.delete(id);
  call.pendingTracks.delete(id);
  const tile = call.tiles.get(id);
  if (!tile) return;
  tile.video.srcObject = null;
  tile.element.remove();
  call.tiles.delete(id);
  updateSoundButton();
}

function clearRemote() {
  for (const id of [...call.tiles.keys()]) removeParticipant(id);
  call.participants.clear();
  call.pendingTracks.clear();
}

function makeTile() {
  const element = ui.tileTemplate.content.firstElementChild.cloneNode(true);
  return {
    element,
    video: element.querySelector('.tile-video'),
    placeholder: element.querySelector('.tile-placeholder'),
    overlay: element.querySelector('.tile-overlay'),
    overlayText: element.querySelector('.tile-overlay-text'),
    name: element.querySelector('.tile-name'),
    micBadge: element.querySelector('.badge-mic'),
    cameraBadge: element.querySelector('.badge-camera'),
    tracks: { audio: null, video: null },
    soundBlocked: false,
  };
}

function ensureTile(id) {
  let tile = call.tiles.get(id);
  if (!tile) {
    tile = makeTile();
    tile.id = id;
    tile.element.dataset.participant = id;
    call.tiles.set(id, tile);
    ui.tiles.append(tile.element);
    renderTile(tile);
  }
  return tile;
}

function initials(name) {
  return String(name || '?').trim().split(/\s+/).slice(0, 2).map((part) => part[0]?.toUpperCase() ?? '').join('');
}

function roleText(role) {
  return role && has(`role_${role}`) ? t(`role_${role}`) : '';
}

function renderTile(tile) {
  const p = call.participants.get(tile.id);
  const name = p?.name || t('unknown_person');
  const role = roleText(p?.role);
  tile.name.textContent = role ? `${name} (${role})` : name;
  tile.placeholder.textContent = initials(name);
  const reconnecting = p?.state === 'reconnecting';
  tile.element.classList.toggle('is-reconnecting', reconnecting);
  tile.overlay.hidden = !reconnecting;
  tile.overlayText.textContent = t('reconnecting_overlay');
  const noVideo = Boolean(p?.video_muted) || !tile.tracks.video;
  tile.element.classList.toggle('no-video', noVideo);
  tile.micBadge.hidden = !p?.audio_muted;
  tile.micBadge.querySelector('.badge-text').textContent = t('mic_off');
  tile.cameraBadge.hidden = !p?.video_muted;
  tile.cameraBadge.querySelector('.badge-text').textContent = t('camera_off');
}

function attachTracks(tile) {
  const tracks = [tile.tracks.audio, tile.tracks.video].filter(Boolean);
  tile.video.srcObject = tracks.length ? new MediaStream(tracks) : null;
  renderTile(tile);
  if (!tracks.length) return;
  tile.video.muted = false;
  tile.video.play().then(() => {
    tile.soundBlocked = false;
    updateSoundButton();
  }).catch((error) => {
    // A newer srcObject interrupted this play(): that one's own play() call takes over.
    if (error?.name !== 'NotAllowedError') return;
    // Autoplay with sound was refused (no user gesture yet): play muted, offer a button.
    tile.video.muted = true;
    tile.soundBlocked = true;
    tile.video.play().catch((error) => console.warn('remote video does not play', error));
    updateSoundButton();
  });
}

function updateSoundButton() {
  ui.enableSound.hidden = ![...call.tiles.values()].some((tile) => tile.soundBlocked);
}

/** Our own tile: muted self-view (mirrored), always first. */
const selfTile = (() => {
  const tile = makeTile();
  tile.element.classList.add('tile-self');
  tile.video.muted = true;
  tile.video.setAttribute('muted', '');
  return tile;
})();

function renderSelfTile() {
  const hasVideo = Boolean(localTrack('video'));
  if (call.stopped || (!call.localStream && call.mediaMode !== 'none')) {
    selfTile.element.remove();
    return;
  }
  if (!selfTile.element.isConnected) ui.tiles.prepend(selfTile.element);
  if (selfTile.video.srcObject !== call.localStream) {
    selfTile.video.srcObject = call.localStream;
    if (call.localStream) selfTile.video.play().catch(() => {});
  }
  const name = call.self?.name;
  selfTile.name.textContent = name ? t('you_named', { name }) : t('you');
  selfTile.placeholder.textContent = initials(name || t('you'));
  selfTile.element.classList.toggle('no-video', !hasVideo || call.videoMuted);
  selfTile.micBadge.hidden = !(call.audioMuted || !localTrack('audio'));
  selfTile.micBadge.querySelector('.badge-text').textContent = t('mic_off');
  selfTile.cameraBadge.hidden = !(call.videoMuted || !hasVideo);
  selfTile.cameraBadge.querySelector('.badge-text').textContent = hasVideo ? t('camera_off') : t('no_camera');
  selfTile.overlay.hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Controls

function renderControls() {
  ui.mic.setAttribute('aria-pressed', String(call.audioMuted));
  ui.camera.setAttribute('aria-pressed', String(call.videoMuted));
  setStatus(call.state);
}

/** Sends `mute` if the server's idea of our `kind` differs from what we actually send. */
function syncMute(kind, serverMuted) {
  const track = localTrack(kind);
  const muted = !track || track.readyState === 'ended' || (kind === 'audio' ? call.audioMuted : call.videoMuted);
  if (Boolean(serverMuted) !== muted) call.session?.send({ type: 'mute', kind, muted });
}

function announceMute(kind, muted) {
  call.session?.send({ type: 'mute', kind, muted });
}

function toggle(kind) {
  const track = localTrack(kind);
  if (!track) return;
  const muted = kind === 'audio' ? (call.audioMuted = !call.audioMuted) : (call.videoMuted = !call.videoMuted);
  track.enabled = !muted;
  announceMute(kind, muted);
  renderControls();
  renderSelfTile();
}

function leave() {
  const session = call.session;
  if (session) {
    session.byeReason = 'left';
    session.send({ type: 'leave' });
    // Give the server a moment to answer `bye` before the socket goes.
    const ws = session.ws;
    setTimeout(() => { if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000); }, 1000);
    for (const pc of [session.publisher, session.subscriber]) pc?.close();
    clearInterval(session.pingTimer);
    session.closed = true;
    call.session = null;
  }
  call.stopped = 'left';
  clearTimeout(call.reconnectTimer);
  stopLocalMedia();
  renderSelfTile();
  clearRemote();
  setStatus('left');
  showNotice(['rejoin']);
}

// ---------------------------------------------------------------------------------------------
// Start-up

function readLink() {
  const match = location.pathname.match(/^\/call\/([^/]+)\/?$/);
  let room = null;
  if (match) {
    try {
      room = decodeURIComponent(match[1]);
    } catch {
      room = null;
    }
  }
  const token = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
  return { room, token: token || null };
}

function start() {
  translatePage();
  setUpLanguageSwitch(ui.language);
  onLanguageChange(() => {
    setStatus(call.state);
    for (const tile of call.tiles.values()) renderTile(tile);
    renderSelfTile();
  });

  ui.mic.addEventListener('click', () => toggle('audio'));
  ui.camera.addEventListener('click', () => toggle('video'));
  ui.leave.addEventListener('click', leave);
  ui.retryMedia.addEventListener('click', () => prepareAndJoin('av'));
  ui.audioOnly.addEventListener('click', () => prepareAndJoin('audio'));
  ui.watchOnly.addEventListener('click', () => prepareAndJoin('none'));
  ui.rejoin.addEventListener('click', () => prepareAndJoin(call.mediaMode));
  ui.enableSound.addEventListener('click', () => {
    for (const tile of call.tiles.values()) {
      if (!tile.soundBlocked) continue;
      tile.video.muted = false;
      tile.video.play().then(() => { tile.soundBlocked = false; updateSoundButton(); })
        .catch((error) => console.warn('sound still blocked', error));
    }
  });

  // A new link for the same visit differs only in its fragment, and opening it in this tab would
  // not load the page again: do that ourselves, so the new token is used.
  window.addEventListener('hashchange', () => {
    if (readLink().token !== call.token) location.reload();
  });

  const { room, token } = readLink();
  call.room = room;
  call.token = token;
  if (!room) return stop('no_room');
  if (!token) return stop('no_token');
  if (typeof RTCPeerConnection !== 'function' || typeof WebSocket !== 'function') return stop('no_webrtc');
  setStatus('starting');
  prepareAndJoin('av');
}

window.vardrum = {
  get publisher() { return call.session?.publisher ?? null; },
  get subscriber() { return call.session?.subscriber ?? null; },
  get state() { return call.state; },
  get participants() { return [...call.participants.values()].map((p) => ({ ...p })); },
  get self() { return call.self ? { ...call.self } : null; },
  get leftEvents() { return call.leftEvents; },
  get stateLog() { return call.stateLog.map((entry) => ({ ...entry })); },
  get timing() { return { ...timing, remoteFrames: timing.remoteFrames.map((entry) => ({ ...entry })) }; },
};

start();
