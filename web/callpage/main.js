// The call page's entry module (loaded by call.html): finds the page's elements, builds the state, the views and the call, and starts.

import { setUpLanguageSwitch, onLanguageChange, translatePage } from '/i18n.js';
import { Call } from './call.js';
import { readLink } from './link.js';
import { LocalMedia } from './media.js';
import { CallState } from './state.js';
import { installTestHooks } from './test-hooks.js';
import { Controls } from './views/controls.js';
import { Grid } from './views/grid.js';
import { Notices } from './views/notices.js';

const $ = (id) => document.getElementById(id);

function start() {
  translatePage();
  setUpLanguageSwitch($('language'));

  const state = new CallState();
  const media = new LocalMedia();
  const { room, token } = readLink();
  state.room = room;
  state.token = token;

  const notices = new Notices({
    state,
    ui: {
      status: $('status'),
      notice: $('notice'),
      buttons: { retryMedia: $('retry-media'), audioOnly: $('audio-only'), watchOnly: $('watch-only'), rejoin: $('rejoin') },
    },
  });
  const grid = new Grid({ state, media, ui: { list: $('tiles'), template: $('tile-template'), soundButton: $('enable-sound') } });
  let call = null;
  const controls = new Controls({
    state,
    media,
    ui: { bar: $('controls'), mic: $('mic'), camera: $('camera'), leave: $('leave') },
    on: { toggle: (kind) => call.toggle(kind), leave: () => call.leave() },
  });
  call = new Call({ state, media, views: { notices, grid, controls } });
  installTestHooks({ state, signalling: call.signalling, grid });

  onLanguageChange(() => {
    notices.setStatus(state.status);
    grid.redraw();
  });
  $('retry-media').addEventListener('click', () => call.prepareAndJoin('av'));
  $('audio-only').addEventListener('click', () => call.prepareAndJoin('audio'));
  $('watch-only').addEventListener('click', () => call.prepareAndJoin('none'));
  $('rejoin').addEventListener('click', () => call.prepareAndJoin(media.mode));

  // A new link for the same visit differs only in its fragment, and opening it in this tab would
  // not load the page again: do that ourselves, so the new token is used.
  window.addEventListener('hashchange', () => {
    if (readLink().token !== state.token) location.reload();
  });

  if (!room) return call.stop('no_room');
  if (!token) return call.stop('no_token');
  if (typeof RTCPeerConnection !== 'function' || typeof WebSocket !== 'function') return call.stop('no_webrtc');
  call.setStatus('starting');
  return call.prepareAndJoin('av');
}

start();
