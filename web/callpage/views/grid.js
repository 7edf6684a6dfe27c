// The tiles of everyone in the visit: our own self-view, one tile per participant the server told us of with their remote tracks, the spotlighted one shown large, pages of at most nine tiles in a group visit, and the "turn on sound" button.

import { t } from '/i18n.js';
import { Tile } from './tile.js';

/** Tiles on one page of a group visit (a 3 × 3 grid); more people get more pages. */
export const TILES_PER_PAGE = 9;

export class Grid {
  /**
   * `ui`: `{ layout, list, template, soundButton, pages, prev, next, pageInfo }` (`layout` holds
   * the stage and the side panels); `state` (state.js) and
   * `media` (media.js) are read to draw the tiles.
   */
  constructor({ ui, state, media }) {
    this.ui = ui;
    this.state = state;
    this.media = media;
    /** Remote tiles by participant id, in the order people came. */
    this.tiles = new Map();
    /** Remote tracks of someone not (or no longer) in the roster, by participant id: a tile is
     * made only for a known participant, so a late track of someone who left raises no ghost. */
    this.pendingTracks = new Map();
    this.remoteVideoListeners = new Set();
    this.layoutListeners = new Set();
    this.page = 0;
    this.selfTile = new Tile(ui.template);
    this.selfTile.element.classList.add('tile-self');
    this.selfTile.video.muted = true;
    this.selfTile.video.setAttribute('muted', '');

    state.on('participant', (p) => this.upsert(p));
    state.on('left', ({ id }) => this.remove(id));
    state.on('self', () => this.renderSelf());
    state.on('room', () => this.layout());
    state.on('cleared', () => this.pendingTracks.clear());
    state.on('screen', (screen) => {
      ui.layout.hidden = screen !== 'start' && screen !== 'call';
      this.renderSelf();
    });
    state.on('kind', () => this.layout());
    ui.soundButton.addEventListener('click', () => {
      for (const tile of this.tiles.values()) tile.unblockSound(() => this.updateSoundButton());
    });
    ui.prev.addEventListener('click', () => this.turn(-1));
    ui.next.addEventListener('click', () => this.turn(1));
  }

  /** Calls `listener(tile, track, receiver)` for each remote video track shown (test hooks). */
  onRemoteVideo(listener) {
    this.remoteVideoListeners.add(listener);
  }

  /**
   * Calls `listener(shown)` after every layout with the participant ids whose tiles are on
   * screen, so that what is not shown need not be sent (tile-size reporting builds on this).
   */
  onLayout(listener) {
    this.layoutListeners.add(listener);
  }

  /** Whether a participant gets a tile: people in the waiting room are only in the host panel. */
  static shows(p) {
    return Boolean(p) && p.state !== 'waiting';
  }

  upsert(p) {
    if (!Grid.shows(p)) {
      this.remove(p.id);
      return;
    }
    this.ensure(p.id).drawParticipant(p);
    const pending = this.pendingTracks.get(p.id);
    if (pending) {
      this.pendingTracks.delete(p.id);
      for (const event of pending) this.addTrack(event);
    }
  }

  ensure(id) {
    let tile = this.tiles.get(id);
    if (!tile) {
      tile = new Tile(this.ui.template, id);
      this.tiles.set(id, tile);
      this.ui.list.append(tile.element);
      tile.drawParticipant(this.state.participants.get(id));
      this.layout();
    }
    return tile;
  }

  remove(id) {
    this.pendingTracks.delete(id);
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.detach();
    this.tiles.delete(id);
    this.updateSoundButton();
    this.layout();
  }

  /** A remote track: its stream id is the participant id (docs/signalling.md, subscriber offer). */
  addTrack(event) {
    const stream = event.streams[0];
    const id = stream?.id;
    if (!id) {
      console.warn('remote track without a stream id: cannot tell whose it is');
      return;
    }
    if (!Grid.shows(this.state.participants.get(id))) {
      const pending = this.pendingTracks.get(id) ?? [];
      pending.push(event);
      this.pendingTracks.set(id, pending);
      return;
    }
    const tile = this.ensure(id);
    const track = event.track;
    tile.tracks[track.kind] = track;
    const forget = () => {
      if (tile.tracks[track.kind] !== track) return;
      tile.tracks[track.kind] = null;
      this.play(tile);
    };
    track.addEventListener('ended', forget);
    stream.addEventListener('removetrack', (e) => { if (e.track === track) forget(); });
    this.play(tile);
    if (track.kind === 'video') for (const listener of this.remoteVideoListeners) listener(tile, track, event.receiver);
  }

  play(tile) {
    tile.attach(() => this.updateSoundButton());
    tile.drawParticipant(this.state.participants.get(tile.id));
  }

  updateSoundButton() {
    this.ui.soundButton.hidden = ![...this.tiles.values()].some((tile) => tile.soundBlocked);
  }

  /** Our own tile: the muted, mirrored self-view; gone when we have stopped or wait outside. */
  renderSelf() {
    const { media, state } = this;
    const tile = this.selfTile;
    if (state.stopped || state.screen === 'waiting' || (!media.stream && media.mode !== 'none')) {
      tile.video.srcObject = null;
      if (tile.element.isConnected) {
        tile.element.remove();
        this.layout();
      }
      return;
    }
    if (!tile.element.isConnected) {
      this.ui.list.prepend(tile.element);
      this.layout();
    }
    if (tile.video.srcObject !== media.stream) {
      tile.video.srcObject = media.stream;
      if (media.stream) tile.video.play().catch(() => {});
    }
    const hasVideo = Boolean(media.track('video'));
    const name = state.self?.name;
    tile.draw({
      label: name ? t('you_named', { name }) : t('you'),
      avatar: name || t('you'),
      noVideo: !hasVideo || media.videoMuted,
      micOff: media.audioMuted || !media.track('audio'),
      cameraOff: media.videoMuted || !hasVideo,
      cameraText: hasVideo ? t('camera_off') : t('no_camera'),
      handRaised: Boolean(state.self?.hand_raised),
    });
  }

  /**
   * The tiles in showing order: the spotlighted person first (large), then ourselves, then the
   * others in the order they came.
   */
  ordered() {
    const all = [];
    if (this.selfTile.element.isConnected) all.push(this.selfTile);
    all.push(...this.tiles.values());
    const spot = this.state.spotlight;
    const first = all.find((tile) => (tile === this.selfTile ? this.state.self?.id === spot : tile.id === spot));
    return first ? [first, ...all.filter((tile) => tile !== first)] : all;
  }

  /** Puts the tiles in order (CSS `order`, so playing videos are not moved) and shows one page. */
  layout() {
    const ordered = this.ordered();
    const paged = this.state.isGroup;
    const pages = paged ? Math.max(1, Math.ceil(ordered.length / TILES_PER_PAGE)) : 1;
    this.page = Math.min(this.page, pages - 1);
    const shown = [];
    ordered.forEach((tile, index) => {
      const onPage = !paged || Math.floor(index / TILES_PER_PAGE) === this.page;
      // A 1:1 visit keeps the stylesheet's order (on a phone the other person comes first).
      tile.element.style.order = paged || this.state.spotlight ? String(index) : '';
      tile.element.hidden = !onPage;
      tile.element.classList.toggle('is-spotlight', Boolean(this.state.spotlight)
        && (tile === this.selfTile ? this.state.self?.id : tile.id) === this.state.spotlight);
      if (onPage && tile.id) shown.push(tile.id);
    });
    this.ui.list.classList.toggle('has-spotlight', ordered.some((tile) => tile.element.classList.contains('is-spotlight')));
    this.ui.list.dataset.count = String(Math.min(ordered.length, paged ? TILES_PER_PAGE : ordered.length));
    this.ui.pages.hidden = pages <= 1;
    this.ui.prev.disabled = this.page === 0;
    this.ui.next.disabled = this.page >= pages - 1;
    this.ui.pageInfo.textContent = t('page_info', { page: this.page + 1, pages });
    for (const listener of this.layoutListeners) listener(shown);
  }

  turn(step) {
    this.page = Math.max(0, this.page + step);
    this.layout();
  }

  /** Draws every tile again (after a language switch). */
  redraw() {
    for (const tile of this.tiles.values()) tile.drawParticipant(this.state.participants.get(tile.id));
    this.renderSelf();
    this.layout();
  }
}
