// One person's tile in the grid: their video (which also plays their audio), initials when there is no picture, name and role, and badges; cloned from <template id="tile-template">.

import { t, has } from '/i18n.js';

/** Up to two initials of a name as the server sent it ("A. B." gives "AB"), for the avatar. */
export function initials(name) {
  return String(name || '?').trim().split(/\s+/).slice(0, 2).map((part) => part[0]?.toUpperCase() ?? '').join('');
}

export function roleText(role) {
  return role && has(`role_${role}`) ? t(`role_${role}`) : '';
}

export class Tile {
  /** `id` is the participant id, or null for our own tile. */
  constructor(template, id = null) {
    const element = template.content.firstElementChild.cloneNode(true);
    this.id = id;
    this.element = element;
    this.video = element.querySelector('.tile-video');
    this.placeholder = element.querySelector('.tile-placeholder');
    this.overlay = element.querySelector('.tile-overlay');
    this.overlayText = element.querySelector('.tile-overlay-text');
    this.name = element.querySelector('.tile-name');
    this.micBadge = element.querySelector('.badge-mic');
    this.cameraBadge = element.querySelector('.badge-camera');
    this.handBadge = element.querySelector('.badge-hand');
    this.speakingBadge = element.querySelector('.badge-speaking');
    /** Remote tracks shown here. */
    this.tracks = { audio: null, video: null };
    /** The browser refused to play this tile's sound without a click first. */
    this.soundBlocked = false;
    if (id) element.dataset.participant = id;
  }

  /**
   * Draws the tile from what is known: `label` (the caption), `avatar` (the name the initials
   * come from), and flags.
   */
  draw({ label, avatar, noVideo, micOff, cameraOff, cameraText = t('camera_off'), reconnecting = false, handRaised = false }) {
    this.name.textContent = label;
    this.placeholder.textContent = initials(avatar);
    this.element.classList.toggle('is-reconnecting', reconnecting);
    this.overlay.hidden = !reconnecting;
    this.overlayText.textContent = t('reconnecting_overlay');
    this.element.classList.toggle('no-video', noVideo);
    this.micBadge.hidden = !micOff;
    this.micBadge.querySelector('.badge-text').textContent = t('mic_off');
    this.cameraBadge.hidden = !cameraOff;
    this.cameraBadge.querySelector('.badge-text').textContent = cameraText;
    this.handBadge.hidden = !handRaised;
    this.handBadge.querySelector('.badge-text').textContent = t('hand_raised');
  }

  /**
   * Marks the tile as the active speaker's: an outline, and a badge whose text screen readers
   * read with the tile (no announcement: speakers change too often to say each one aloud).
   */
  setSpeaking(speaking) {
    this.element.classList.toggle('is-speaking', speaking);
    this.speakingBadge.hidden = !speaking;
    this.speakingBadge.querySelector('.badge-text').textContent = t('speaking');
  }

  /** Draws a remote participant (a participant object as the server sent it). */
  drawParticipant(p) {
    const name = p?.name || t('unknown_person');
    const role = roleText(p?.role);
    this.draw({
      label: role ? `${name} (${role})` : name,
      avatar: name,
      noVideo: Boolean(p?.video_muted) || !this.tracks.video,
      micOff: Boolean(p?.audio_muted),
      cameraOff: Boolean(p?.video_muted),
      reconnecting: p?.state === 'reconnecting',
      handRaised: Boolean(p?.hand_raised),
    });
  }

  /**
   * Plays the tile's tracks. Autoplay with sound may be refused before the user has clicked
   * anything: then it plays muted, `soundBlocked` is set and `onSoundChange()` is called, so the
   * page can offer a button.
   */
  attach(onSoundChange) {
    const tracks = [this.tracks.audio, this.tracks.video].filter(Boolean);
    this.video.srcObject = tracks.length ? new MediaStream(tracks) : null;
    if (!tracks.length) return;
    this.video.muted = false;
    this.video.play().then(() => {
      this.soundBlocked = false;
      onSoundChange();
    }).catch((error) => {
      // A newer srcObject interrupted this play(): that one's own play() call takes over.
      if (error?.name !== 'NotAllowedError') return;
      this.video.muted = true;
      this.soundBlocked = true;
      this.video.play().catch((e) => console.warn('remote video does not play', e));
      onSoundChange();
    });
  }

  /** Tries sound again after a click (the user gesture that autoplay wanted). */
  unblockSound(onSoundChange) {
    if (!this.soundBlocked) return;
    this.video.muted = false;
    this.video.play().then(() => { this.soundBlocked = false; onSoundChange(); })
      .catch((error) => console.warn('sound still blocked', error));
  }

  detach() {
    this.video.srcObject = null;
    this.element.remove();
  }
}
