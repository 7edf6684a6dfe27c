// The call page's entry module (loaded by call.html): finds the page's elements, builds the state, the views and the call, and starts with the device check (group visit) or by joining at once (1:1 visit).

import { setUpLanguageSwitch, onLanguageChange, translatePage } from '/i18n.js';
import { Call } from './call.js';
import { CallFiles } from './files.js';
import { readLink, tokenHasBooking, tokenKind } from './link.js';
import { LocalMedia } from './media.js';
import { CallState } from './state.js';
import { installTestHooks } from './test-hooks.js';
import { TrackSettings } from './tracksettings.js';
import { ChatView } from './views/chat.js';
import { Controls } from './views/controls.js';
import { ConfirmDialog } from './views/dialog.js';
import { Grid } from './views/grid.js';
import { HostPanel } from './views/hostpanel.js';
import { Notices } from './views/notices.js';
import { Panels } from './views/panels.js';
import { Prejoin } from './views/prejoin.js';
import { WaitingRoom } from './views/waiting.js';

const $ = (id) => document.getElementById(id);

function start() {
  translatePage();
  setUpLanguageSwitch($('language'));

  const state = new CallState();
  const media = new LocalMedia();
  const { room, token } = readLink();
  state.room = room;
  state.token = token;
  // Sends through the call, which is made after the views that need it.
  let call = null;
  const send = (message) => call.send(message);

  const notices = new Notices({
    state,
    ui: {
      status: $('status'),
      notice: $('notice'),
      buttons: { retryMedia: $('retry-media'), audioOnly: $('audio-only'), watchOnly: $('watch-only'), rejoin: $('rejoin') },
      flash: $('flash'),
      flashText: $('flash-text'),
      flashClose: $('flash-close'),
      announcer: $('announcer'),
      hostMessage: $('host-message'),
    },
  });
  const grid = new Grid({
    state,
    media,
    ui: {
      layout: $('call-layout'),
      list: $('tiles'),
      template: $('tile-template'),
      soundButton: $('enable-sound'),
      pages: $('pages'),
      prev: $('page-prev'),
      next: $('page-next'),
      pageInfo: $('page-info'),
      stageBar: $('stage-bar'),
      viewToggle: $('view-toggle'),
      speakerNow: $('speaker-now'),
    },
  });
  const controls = new Controls({
    state,
    media,
    ui: {
      bar: $('controls'),
      mic: $('mic'),
      camera: $('camera'),
      hand: $('hand'),
      chat: $('chat-toggle'),
      chatUnread: $('chat-unread'),
      host: $('host-toggle'),
      hostWaiting: $('host-waiting'),
      leave: $('leave'),
    },
    on: {
      toggle: (kind) => call.toggle(kind),
      raiseHand: (raised) => call.raiseHand(raised),
      leave: () => call.leave(),
    },
  });
  const panels = new Panels();
  const dialog = new ConfirmDialog({
    dialog: $('confirm'),
    title: $('confirm-title'),
    text: $('confirm-text'),
    messageField: $('confirm-message-field'),
    message: $('confirm-message'),
    ok: $('confirm-ok'),
  });
  const chat = new ChatView({
    state,
    notices,
    send,
    files: new CallFiles({ room, token }),
    canAttach: tokenHasBooking(token) !== false,
    ui: {
      log: $('chat-log'),
      list: $('chat-list'),
      empty: $('chat-empty'),
      form: $('chat-form'),
      input: $('chat-input'),
      attach: $('chat-attach'),
      attachHint: $('chat-attach-hint'),
      fileInput: $('chat-file'),
      upload: $('upload-status'),
      uploadText: $('upload-text'),
      progress: $('upload-progress'),
      uploadCancel: $('upload-cancel'),
      uploadError: $('upload-error'),
    },
    isOpen: () => panels.isOpen('chat'),
    onUnread: (count) => controls.setUnread(count),
  });
  const hostPanel = new HostPanel({
    state,
    notices,
    send,
    dialog,
    ui: {
      waitingHeading: $('waiting-list-heading'),
      waitingNone: $('waiting-none'),
      waitingList: $('waiting-list'),
      admitAll: $('admit-all'),
      peopleHeading: $('people-heading'),
      peopleList: $('people-list'),
      lockNote: $('lock-note'),
      lock: $('lock'),
      inviteForm: $('invite-form'),
      guestName: $('guest-name'),
      guestBox: $('guest-link-box'),
      guestLabel: $('guest-link-label'),
      guestLink: $('guest-link'),
      copyGuestLink: $('copy-guest-link'),
      endVisit: $('end-visit'),
    },
  });
  panels.add('chat', {
    button: $('chat-toggle'), panel: $('chat-panel'), heading: $('chat-heading'), close: $('chat-close'), onOpen: () => chat.opened(),
  });
  panels.add('host', { button: $('host-toggle'), panel: $('host-panel'), heading: $('host-heading'), close: $('host-close') });
  panels.onChange(() => controls.render());
  // The panels belong to the call: they close when we are out of it (ended, waiting room).
  state.on('screen', (screen) => { if (screen !== 'call') panels.close(); });
  new WaitingRoom({ state, ui: { section: $('waiting-room'), heading: $('waiting-heading') } });

  call = new Call({ state, media, views: { notices, grid, controls, panels, chat, hostPanel, dialog } });
  new TrackSettings({
    grid,
    state,
    send,
    trackId: (receiver) => call.signalling.session?.peers?.remoteTrackId(receiver) ?? null,
  });
  const prejoin = new Prejoin({
    state,
    media,
    onJoin: () => call.join(),
    ui: {
      section: $('prejoin'),
      video: $('prejoin-video'),
      noCamera: $('prejoin-no-camera'),
      cameraSelect: $('camera-select'),
      micSelect: $('mic-select'),
      level: $('mic-level'),
      join: $('join'),
      joinAudio: $('join-audio'),
      retry: $('prejoin-retry'),
    },
  });
  installTestHooks({ state, signalling: call.signalling, grid });

  onLanguageChange(() => {
    notices.redraw();
    grid.redraw();
    controls.render();
    chat.redraw();
    hostPanel.render();
  });
  $('retry-media').addEventListener('click', () => call.prepareAndJoin('av'));
  $('audio-only').addEventListener('click', () => call.prepareAndJoin('audio'));
  $('watch-only').addEventListener('click', () => call.prepareAndJoin('none'));
  // A group visit starts again from the device check, a 1:1 visit with the media it had.
  $('rejoin').addEventListener('click', () => (state.isGroup ? prejoin.open() : call.prepareAndJoin(media.mode)));

  // A new link for the same visit differs only in its fragment, and opening it in this tab would
  // not load the page again: do that ourselves, so the new token is used.
  window.addEventListener('hashchange', () => {
    if (readLink().token !== state.token) location.reload();
  });

  if (!room) return call.stop('no_room');
  if (!token) return call.stop('no_token');
  if (typeof RTCPeerConnection !== 'function' || typeof WebSocket !== 'function') return call.stop('no_webrtc');
  call.setStatus('starting');
  if (tokenKind(token) === 'group') {
    state.setKind('group');
    return prejoin.open();
  }
  return call.prepareAndJoin('av');
}

start();
