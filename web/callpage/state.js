// The call's state as the server described it (ourselves, everyone else, the room, the chat) and the page's screen and status; views subscribe to its changes.
//
// Everything about a person here is a participant object or chat message exactly as the server
// sent it: the page never invents, completes or keeps a name from elsewhere (docs/signalling.md,
// "Who sees which name").

/** Status keys that mean "in the call" (the call controls are usable). */
const IN_CALL = new Set([
  'connecting', 'waiting', 'connected', 'reconnecting', 'server_shutdown', 'unreachable', 'waiting_room',
]);

/** The newest chat messages kept, as many as the server keeps for late joiners. */
const CHAT_KEPT = 500;

export function isInCall(status) {
  return IN_CALL.has(status);
}

export class CallState {
  constructor() {
    this.room = null;
    this.token = null;
    /** The room's kind: `visit` (1:1) or `group`; from the token until `joined` says. */
    this.kind = 'visit';
    /**
     * Which screen shows: `start`, `prejoin` (device check), `joining` (a group visit until
     * `joined`), `waiting` (waiting room), `call` or `ended`.
     */
    this.screen = 'start';
    /** Our own participant object from `joined` (or a later `participant_updated` about us). */
    this.self = null;
    /** Everyone else by participant id, as the server last described them. */
    this.participants = new Map();
    this.locked = false;
    /** The participant id shown large on every page, or null. */
    this.spotlight = null;
    /** The active speaker: the participant id the last `speaker` message named, or null. */
    this.speaker = null;
    /** Chat messages as the server sent them, oldest first. */
    this.chat = [];
    /** The status key (`window.vardrum.state`); its text is `status_KEY` in i18n.js. */
    this.status = 'starting';
    /** Why the call stopped for good (`left`, `ended`, an error code, ...); no reconnects then. */
    this.stopped = null;
    this.listeners = new Map();
  }

  /** Whether we are a host (any clinician is): only then the host panel shows. */
  get isHost() {
    return this.self?.role === 'clinician';
  }

  get isGroup() {
    return this.kind === 'group';
  }

  /** Calls `listener(detail)` on every change of `type` (see the `emit` calls below). */
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
  }

  emit(type, detail) {
    for (const listener of this.listeners.get(type) ?? []) listener(detail);
  }

  setStatus(key) {
    this.status = key;
    this.emit('status', key);
  }

  setScreen(screen) {
    if (this.screen === screen) return;
    this.screen = screen;
    this.emit('screen', screen);
  }

  setKind(kind) {
    this.kind = kind === 'group' ? 'group' : 'visit';
    this.emit('kind', this.kind);
  }

  setSelf(participant) {
    const before = this.self;
    this.self = participant;
    this.emit('self', { participant, before });
  }

  /**
   * Someone joined or changed; about ourselves it updates `self`. `bulk` marks a whole roster
   * arriving at once (joined, admitted), which views need not announce person by person.
   */
  upsert(participant, { bulk = false } = {}) {
    if (!participant?.id) return;
    if (participant.id === this.self?.id) {
      this.setSelf(participant);
      return;
    }
    const before = this.participants.get(participant.id) ?? null;
    this.participants.set(participant.id, participant);
    this.emit('participant', participant);
    this.emit('roster', { participant, before, bulk });
  }

  /** Someone is gone. `reason` is the `participant_left` reason, or null when we noticed it ourselves. */
  remove(id, reason = null) {
    this.participants.delete(id);
    if (this.speaker === id) this.setSpeaker(null);
    this.emit('left', { id, reason });
    this.emit('roster', { participant: null, id });
  }

  /** The server's roster replaces ours: anyone missing from it left while we were away. */
  replaceRoster(participants = []) {
    const present = new Set(participants.map((p) => p.id));
    for (const id of [...this.participants.keys()]) if (!present.has(id)) this.remove(id);
    for (const participant of participants) this.upsert(participant, { bulk: true });
  }

  /** Forgets everyone else (the call stopped, or we went back to the waiting room). */
  clearRemote() {
    for (const id of [...this.participants.keys()]) this.remove(id);
    this.setSpeaker(null);
    this.emit('cleared');
  }

  /** The active speaker changed (`speaker`): a participant id (possibly our own), or null. */
  setSpeaker(id) {
    const speaker = id ?? null;
    if (speaker === this.speaker) return;
    const before = this.speaker;
    this.speaker = speaker;
    this.emit('speaker', { before });
  }

  /** `locked` and `spotlight` from `joined`, `admitted` or `room_updated`. */
  setRoom({ locked = false, spotlight = null } = {}) {
    const before = { locked: this.locked, spotlight: this.spotlight };
    this.locked = Boolean(locked);
    this.spotlight = spotlight ?? null;
    this.emit('room', { before });
  }

  /** The whole chat so far (from `joined` or `admitted`). */
  setChat(messages = []) {
    this.chat = messages.slice(-CHAT_KEPT);
    this.emit('chat', { reset: true });
  }

  addChat(message) {
    if (!message || this.chat.some((m) => m.id === message.id)) return;
    this.chat.push(message);
    if (this.chat.length > CHAT_KEPT) this.chat.splice(0, this.chat.length - CHAT_KEPT);
    this.emit('chat', { message });
  }
}
