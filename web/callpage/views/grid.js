// The tiles of everyone in the visit: our own self-view, one tile per participant the server told us of with their remote tracks, the spotlighted one shown large, the active speaker highlighted, grid or speaker view with pages of at most nine tiles in a group visit, and the "turn on sound" button.

import { t } from '/i18n.js';
import { Tile } from './tile.js';

/** Tiles on one page of a group visit (a 3 × 3 grid); more people get more pages. */
export const TILES_PER_PAGE = 9;

/** The views of a group visit: everyone alike, or one person large (see `mainTile`). */
export const VIEWS = Object.freeze(['grid', 'speaker']);

export class Grid {
  /**
   * `ui`: `{ layout, list, template, soundButton, pages, prev, next, pageInfo, stageBar,
   * viewToggle, speakerNow }` (`layout` holds the stage and the side panels); `state`
   * (state.js) and `media` (media.js) are read to draw the tiles.
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
    /** `grid` or `speaker` (group visits only; a 1:1 visit is always a grid of two). */
    this.view = 'grid';
    /**
     * The last active speaker other than ourselves: speaker view keeps them large while we
     * talk, rather than showing our own self-view large.
     */
    this.lastRemoteSpeaker = null;
    this.selfTile = new Tile(ui.template);
    this.selfTile.element.classList.add('tile-self');
    this.selfTile.video.muted = true;
    this.selfTile.video.setAttribute('muted', '');

    state.on('participant', (p) => {
      this.upsert(p);
      if (p.id === state.speaker) this.drawSpeaker();
    });
    state.on('left', ({ id }) => this.remove(id));
    state.on('self', () => this.renderSelf());
    state.on('room', () => this.layout());
    state.on('cleared', () => {
      this.pendingTracks.clear();
      this.lastRemoteSpeaker = null;
    });
    state.on('screen', (screen) => {
      ui.layout.hidden = screen !== 'start' && screen !== 'call';
      this.renderSelf();
    });
    state.on('kind', () => this.layout());
    state.on('speaker', () => {
      const { speaker } = this.state;
      if (speaker && speaker !== this.state.self?.id) this.lastRemoteSpeaker = speaker;
      this.drawSpeaker();
      if (this.view === 'speaker') this.layout();
    });
    ui.viewToggle.addEventListener('click', () => this.setView(this.view === 'grid' ? 'speaker' : 'grid'));
    ui.soundButton.addEventListener('click', () => {
      for (const tile of this.tiles.values()) tile.unblockSound(() => this.updateSoundButton());
    });
    ui.prev.addEventListener('click', () => this.turn(-1));
    ui.next.addEventListener('click', () => this.turn(1));
  }

  /** Calls `listener(tile, track, receiver)` for each remote video track shown (track settings, test hooks). */
  onRemoteVideo(listener) {
    this.remoteVideoListeners.add(listener);
  }

  /**
   * Calls `listener(shown)` after every layout with the participant ids whose tiles are on
   * screen, so that what is not shown need not be sent (tracksettings.js builds on this).
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
      tile.setSpeaking(id === this.state.speaker);
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
      tile.setSpeaking(Boolean(state.self) && state.self.id === state.speaker);
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

  /** The participant id a tile shows (ours for the self-view), or null. */
  idOf(tile) {
    return tile === this.selfTile ? this.state.self?.id ?? null : tile.id;
  }

  /** Every tile on the page: ours first (when shown), then the others in the order they came. */
  allTiles() {
    const all = [];
    if (this.selfTile.element.isConnected) all.push(this.selfTile);
    all.push(...this.tiles.values());
    return all;
  }

  /**
   * The tiles in showing order: the spotlighted person first (large), then ourselves, then the
   * others in the order they came.
   */
  ordered() {
    const all = this.allTiles();
    const spot = this.state.spotlight;
    const first = spot ? all.find((tile) => this.idOf(tile) === spot) : null;
    return first ? [first, ...all.filter((tile) => tile !== first)] : all;
  }

  /**
   * The large tile of speaker view: the spotlight when a host set one (it wins over the
   * voice), else the active speaker (the last other one while we talk ourselves), else the
   * first other person, else ourselves.
   */
  mainTile() {
    const all = this.allTiles();
    const find = (id) => (id ? all.find((tile) => this.idOf(tile) === id) ?? null : null);
    const self = this.state.self?.id ?? null;
    const speaker = this.state.speaker && this.state.speaker !== self ? this.state.speaker : this.lastRemoteSpeaker;
    return find(this.state.spotlight) ?? find(speaker) ?? all.find((tile) => tile !== this.selfTile) ?? all[0] ?? null;
  }

  /** Whether speaker view is on (it is only offered in a group visit). */
  get speakerView() {
    return this.view === 'speaker' && this.state.isGroup;
  }

  /** Switches between `grid` and `speaker` view. */
  setView(view) {
    if (!VIEWS.includes(view) || view === this.view) return;
    this.view = view;
    this.page = 0;
    this.layout();
  }

  /**
   * Puts the tiles in order (CSS `order`, so playing videos are not moved) and shows one page.
   * In speaker view the large tile is on every page, and the pages hold the others.
   */
  layout() {
    const speakerView = this.speakerView;
    const main = speakerView ? this.mainTile() : null;
    const ordered = main ? [main, ...this.allTiles().filter((tile) => tile !== main)] : this.ordered();
    const paged = this.state.isGroup;
    const fixed = main ? 1 : 0;
    const perPage = TILES_PER_PAGE - fixed;
    const pages = paged ? Math.max(1, Math.ceil((ordered.length - fixed) / perPage)) : 1;
    this.page = Math.min(this.page, pages - 1);
    const shown = [];
    ordered.forEach((tile, index) => {
      const onPage = !paged || index < fixed || Math.floor((index - fixed) / perPage) === this.page;
      // A 1:1 visit keeps the stylesheet's order (on a phone the other person comes first).
      tile.element.style.order = paged || this.state.spotlight ? String(index) : '';
      tile.element.hidden = !onPage;
      tile.element.classList.toggle('is-spotlight', Boolean(this.state.spotlight) && this.idOf(tile) === this.state.spotlight);
      tile.element.classList.toggle('is-main', tile === main);
      if (onPage && tile.id) shown.push(tile.id);
    });
    this.ui.list.classList.toggle('has-spotlight', ordered.some((tile) => tile.element.classList.contains('is-spotlight')));
    this.ui.list.classList.toggle('is-speaker-view', speakerView);
    this.ui.list.dataset.count = String(Math.min(ordered.length, paged ? TILES_PER_PAGE : ordered.length));
    this.ui.pages.hidden = pages <= 1;
    this.ui.prev.disabled = this.page === 0;
    this.ui.next.disabled = this.page >= pages - 1;
    this.ui.pageInfo.textContent = t('page_info', { page: this.page + 1, pages });
    this.ui.stageBar.hidden = !this.state.isGroup;
    this.ui.viewToggle.setAttribute('aria-pressed', String(speakerView));
    for (const listener of this.layoutListeners) listener(shown);
  }

  /**
   * Highlights the active speaker's tile, and names them above the tiles: their tile may be on
   * another page. Not a live region, so a screen reader is not interrupted at every change.
   */
  drawSpeaker() {
    const id = this.state.speaker;
    for (const tile of this.allTiles()) tile.setSpeaking(id !== null && this.idOf(tile) === id);
    const isSelf = id !== null && id === this.state.self?.id;
    const name = isSelf ? null : this.state.participants.get(id ?? '')?.name;
    const text = isSelf ? t('speaker_now_you') : name ? t('speaker_now', { name }) : '';
    this.ui.speakerNow.hidden = !text;
    this.ui.speakerNow.textContent = text;
  }

  turn(step) {
    this.page = Math.max(0, this.page + step);
    this.layout();
  }

  /** Draws every tile again (after a language switch). */
  redraw() {
    for (const tile of this.tiles.values()) tile.drawParticipant(this.state.participants.get(tile.id));
    this.renderSelf();
    this.drawSpeaker();
    this.layout();
  }
}
