// The call's state as the server described it (ourselves, everyone else, the room) and the page's status; views subscribe to its changes.
//
// Everything about a person here is a participant object exactly as the server sent it: the
// page never invents, completes or keeps a name from elsewhere (docs/signalling.md, "Who sees
// which name").

/** Status keys that mean "in the call" (the call controls are usable). */
const IN_CALL = new Set(['connecting', 'waiting', 'connected', 'reconnecting', 'server_shutdown', 'unreachable']);

export function isInCall(status) {
  return IN_CALL.has(status);
}

export class CallState {
  constructor() {
    this.room = null;
    this.token = null;
    /** The room's kind from `joined`: `visit` (1:1) or `group`. */
    this.kind = 'visit';
    /** Our own participant object from `joined` (or a later `participant_updated` about us). */
    this.self = null;
    /** Everyone else by participant id, as the server last described them. */
    this.participants = new Map();
    /** The status key (`window.vardrum.state`); its text is `status_KEY` in i18n.js. */
    this.status = 'starting';
    /** Why the call stopped for good (`left`, `replaced` or an error code); no reconnects then. */
    this.stopped = null;
    this.listeners = new Map();
  }

  /** Calls `listener(detail)` on every change of `type` (see `emit` calls below). */
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

  setSelf(participant) {
    this.self = participant;
    this.emit('self', participant);
  }

  /** Someone joined or changed; about ourselves it updates `self`. */
  upsert(participant) {
    if (!participant?.id) return;
    if (participant.id === this.self?.id) {
      this.setSelf(participant);
      return;
    }
    this.participants.set(participant.id, participant);
    this.emit('participant', participant);
  }

  /** Someone is gone. `reason` is the `participant_left` reason, or null when we noticed it ourselves. */
  remove(id, reason = null) {
    this.participants.delete(id);
    this.emit('left', { id, reason });
  }

  /** The server's roster replaces ours: anyone missing from it left while we were away. */
  replaceRoster(participants = []) {
    const present = new Set(participants.map((p) => p.id));
    for (const id of [...this.participants.keys()]) if (!present.has(id)) this.remove(id);
    for (const participant of participants) this.upsert(participant);
  }

  /** Forgets everyone else (the call stopped). */
  clearRemote() {
    for (const id of [...this.participants.keys()]) this.remove(id);
    this.emit('cleared');
  }
}
