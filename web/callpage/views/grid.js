// The tiles of everyone in the visit: our own self-view first, then one tile per participant the server told us of, with their remote tracks; and the "turn on sound" button.

import { t } from '/i18n.js';
import { Tile } from './tile.js';

export class Grid {
  /**
   * `ui`: `{ list, template, soundButton }`; `state` (state.js) and `media` (media.js) are read
   * to draw the tiles.
   */
  constructor({ ui, state, media }) {
    this.ui = ui;
    this.state = state;
    this.media = media;
    /** Remote tiles by participant id. */
    this.tiles = new Map();
    /** Remote tracks of someone not (or no longer) in the roster, by participant id: a tile is
     * made only for a known participant, so a late track of someone who left raises no ghost. */
    this.pendingTracks = new Map();
    this.remoteVideoListeners = new Set();
    this.selfTile = new Tile(ui.template);
    this.selfTile.element.classList.add('tile-self');
    this.selfTile.video.muted = true;
    this.selfTile.video.setAttribute('muted', '');

    state.on('participant', (p) => this.upsert(p));
    state.on('left', ({ id }) => this.remove(id));
    state.on('self', () => this.renderSelf());
    state.on('cleared', () => this.pendingTracks.clear());
    ui.soundButton.addEventListener('click', () => {
      for (const tile of this.tiles.values()) tile.unblockSound(() => this.updateSoundButton());
    });
  }

  /** Calls `listener(tile, track, receiver)` for each remote video track shown (test hooks). */
  onRemoteVideo(listener) {
    this.remoteVideoListeners.add(listener);
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

  /** Our own tile: the muted, mirrored self-view, always first; gone when we have stopped. */
  renderSelf() {
    const { media, state } = this;
    const tile = this.selfTile;
    if (state.stopped || (!media.stream && media.mode !== 'none')) {
      tile.video.srcObject = null;
      tile.element.remove();
      return;
    }
    if (!tile.element.isConnected) this.ui.list.prepend(tile.element);
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
    });
  }

  /** Draws every tile again (after a language switch). */
  redraw() {
    for (const tile of this.tiles.values()) tile.drawParticipant(this.state.participants.get(tile.id));
    this.renderSelf();
  }
}
