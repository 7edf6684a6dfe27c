// What the page tells the server about each video track it receives (`track_settings` in docs/signalling.md): whether its tile is on screen, and the tile's size in CSS pixels, so that the server forwards no video nobody sees and gives a shown one the simulcast layer that fits its tile.
//
// A tile counts as not shown when it is on another page of the grid, hidden with the rest of
// the call (waiting room, ended), has no size (a collapsed view), shows a camera that is off,
// or when the whole page is hidden (another tab, a minimised window: the Page Visibility API).
// Sizes come from a ResizeObserver on the tiles, so the large tile of speaker view reports its
// size and the small ones theirs without the grid saying which is which.
//
// Each track's settings go out only when they change, and at most every MIN_INTERVAL_MS: a
// window dragged wider sends a few messages, not hundreds, and a burst of changes in one task
// (a page turn hides nine tiles) sends each track's end result once. Audio is never reported:
// the server never pauses it.

/** The least time between two `track_settings` of one track, in milliseconds. */
export const MIN_INTERVAL_MS = 250;

/** How often a track whose server id cannot be read yet is tried again before it is given up. */
const MAX_MISSES = 40;

/** `{ visible, width, height }` of two reports, compared. */
function same(a, b) {
  return Boolean(a && b) && a.visible === b.visible && a.width === b.width && a.height === b.height;
}

export class TrackSettings {
  /**
   * `grid` (views/grid.js) tells of remote video tracks and layouts; `state` of participants
   * (a camera turned off) and the screen; `send(message)` sends on the signalling session;
   * `trackId(receiver)` gives the server's id of a received track (peers.js), or null.
   */
  constructor({ grid, state, send, trackId, doc = document }) {
    this.state = state;
    this.send = send;
    this.trackId = trackId;
    this.doc = doc;
    /** MediaStreamTrack → `{ tile, track, receiver, sent, lastAt, timer }`. */
    this.entries = new Map();
    this.resizes = new ResizeObserver((records) => {
      const resized = new Set(records.map((record) => record.target));
      for (const entry of this.entries.values()) if (resized.has(entry.tile.element)) this.schedule(entry);
    });
    grid.onRemoteVideo((tile, track, receiver) => this.add(tile, track, receiver));
    grid.onLayout(() => this.scheduleAll());
    state.on('participant', (p) => {
      for (const entry of this.entries.values()) if (entry.tile.id === p.id) this.schedule(entry);
    });
    state.on('screen', () => this.scheduleAll());
    doc.addEventListener('visibilitychange', () => this.scheduleAll());
  }

  /** A remote video track shown in `tile`. */
  add(tile, track, receiver) {
    let entry = this.entries.get(track);
    if (entry) {
      Object.assign(entry, { tile, receiver });
    } else {
      entry = { tile, track, receiver, sent: null, lastAt: -Infinity, timer: null, misses: 0 };
      this.entries.set(track, entry);
      track.addEventListener('ended', () => this.forget(track));
    }
    this.resizes.observe(tile.element);
    this.schedule(entry);
  }

  forget(track) {
    const entry = this.entries.get(track);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.entries.delete(track);
    const element = entry.tile.element;
    if (![...this.entries.values()].some((other) => other.tile.element === element)) this.resizes.unobserve(element);
  }

  scheduleAll() {
    for (const entry of this.entries.values()) this.schedule(entry);
  }

  /** Sends the track's settings soon: at once if the last ones went out long enough ago. */
  schedule(entry) {
    if (entry.timer !== null) return;
    const wait = Math.max(0, entry.lastAt + MIN_INTERVAL_MS - performance.now());
    // Even "at once" waits for the end of the task, so that one change to many tiles is judged
    // when it is complete. A timer in a hidden tab may be held back for a second; a microtask
    // is not, and hiding is what saves the most.
    const run = () => {
      entry.timer = null;
      this.flush(entry);
    };
    if (wait === 0) {
      entry.timer = -1;
      queueMicrotask(run);
    } else {
      entry.timer = setTimeout(run, wait);
    }
  }

  /** How the track is shown now, or null when it is no longer shown anywhere (gone for good). */
  measure({ tile, track }) {
    const element = tile.element;
    if (track.readyState === 'ended' || tile.tracks.video !== track || !element.isConnected) return null;
    const box = element.getBoundingClientRect();
    const width = Math.round(box.width);
    const height = Math.round(box.height);
    const participant = this.state.participants.get(tile.id);
    const rendered = typeof element.checkVisibility === 'function' ? element.checkVisibility() : element.offsetParent !== null;
    const visible = rendered && width > 0 && height > 0
      && this.doc.visibilityState !== 'hidden'
      && !participant?.video_muted;
    return { visible, width, height };
  }

  flush(entry) {
    if (this.entries.get(entry.track) !== entry) return;
    const now = this.measure(entry);
    if (!now) {
      this.forget(entry.track);
      return;
    }
    if (same(now, entry.sent)) return;
    const track = this.trackId(entry.receiver);
    if (!track) {
      // The subscriber offer is not applied yet: try again a moment later. A receiver of a
      // connection that has been replaced never gets one; its track ends soon anyway.
      entry.misses += 1;
      if (entry.misses > MAX_MISSES) {
        this.forget(entry.track);
        return;
      }
      entry.lastAt = performance.now();
      this.schedule(entry);
      return;
    }
    entry.misses = 0;
    this.send({ type: 'track_settings', track, ...now });
    entry.sent = now;
    entry.lastAt = performance.now();
  }
}
