// `window.vardrum`: read-only views of the call for the browser tests (tests/e2e) and the join benchmark; the page itself never reads them.

/**
 * Installs `window.vardrum`. Besides live views of the state it keeps:
 *   - `leftEvents`: how many `participant_left` messages came (the tests check for none);
 *   - `stateLog`: the state in every participant object received, oldest first (`{id, state}`);
 *   - `timing`: marks for tests/e2e/bench-join.mjs in `performance.now()` milliseconds: when the
 *     first signalling WebSocket was created, and when each remote video track's first frame was
 *     decoded (`wall` is the same instant as `Date.now()`, to compare with other pages).
 */
export function installTestHooks({ state, signalling, grid }) {
  let leftEvents = 0;
  const stateLog = [];
  const timing = { wsOpenStart: null, wsOpenStartWall: null, firstRemoteFrame: null, remoteFrames: [] };

  state.on('participant', (p) => stateLog.push({ id: p.id, state: p.state }));
  state.on('left', ({ id, reason }) => {
    if (reason === null) return; // not a participant_left: the roster was replaced on a rejoin
    leftEvents += 1;
    stateLog.push({ id, state: 'left', reason });
  });
  signalling.onConnecting = () => {
    if (timing.wsOpenStart !== null) return;
    timing.wsOpenStart = performance.now();
    timing.wsOpenStartWall = Date.now();
  };
  grid.onRemoteVideo((tile, track, receiver) => markFirstFrame(timing, tile, track, receiver));

  const peers = () => signalling.session?.peers ?? null;
  window.vardrum = {
    get publisher() { return peers()?.publisher ?? null; },
    get subscriber() { return peers()?.subscriber ?? null; },
    get state() { return state.status; },
    /** `start`, `prejoin`, `joining`, `waiting` (the waiting room), `call` or `ended`. */
    get screen() { return state.screen; },
    get kind() { return state.kind; },
    get room() { return { locked: state.locked, spotlight: state.spotlight }; },
    /** The active speaker's participant id (the last `speaker` message), or null. */
    get speaker() { return state.speaker; },
    /** `grid` or `speaker` view. */
    get view() { return grid.view; },
    get participants() { return [...state.participants.values()].map((p) => ({ ...p })); },
    get self() { return state.self ? { ...state.self } : null; },
    get leftEvents() { return leftEvents; },
    get stateLog() { return stateLog.map((entry) => ({ ...entry })); },
    get timing() { return { ...timing, remoteFrames: timing.remoteFrames.map((entry) => ({ ...entry })) }; },
  };
}

function markFirstFrame(timing, tile, track, receiver) {
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
