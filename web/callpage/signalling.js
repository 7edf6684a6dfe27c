// The signalling connection of docs/signalling.md: one WebSocket per session, `join`, keep-alive, messages handled in order, and reconnecting with back-off.

/** Waits before the 1st, 2nd, ... reconnect attempt, in milliseconds (then stays at the last). */
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
/** Application-level keep-alive, for proxies that do not pass WebSocket pings on. */
const PING_EVERY_MS = 25000;

export function wsUrl(loc = location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

/** One WebSocket from `join` to close, and what was negotiated over it (`peers`). */
export class Session {
  constructor() {
    this.ws = null;
    /** The session's peer connections (peers.js), made after `joined`. */
    this.peers = null;
    this.opened = false;
    this.joined = false;
    this.closed = false;
    /** Set by `bye`: its `reason`. */
    this.byeReason = null;
    /** Messages are handled one after another, so each SDP step sees the previous one done. */
    this.queue = Promise.resolve();
    this.pingTimer = null;
    this.pingId = 0;
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    this.peers?.close();
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }

  /** Sends `leave` and lets the socket go a moment later, after the server's `bye`. */
  leave() {
    this.byeReason = 'left';
    this.send({ type: 'leave' });
    const ws = this.ws;
    setTimeout(() => { if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000); }, 1000);
    this.peers?.close();
    clearInterval(this.pingTimer);
    this.closed = true;
  }
}

/**
 * Keeps one session at a time to the server for `room` with `token`. `handlers` decide what the
 * messages mean:
 *   - `handlers.on[type](session, message)`, async, for every message but `error` and `bye`, one
 *     at a time in arrival order;
 *   - `handlers.error(session, message)` and `handlers.bye(session, message)`, at once: they must
 *     be known when the close event comes, which may be before queued SDP work has finished;
 *   - `handlers.lost(session, { wsClose, opened, pcFailed })` when the socket closed or a peer
 *     connection failed, to give up (`stop()`) or try again (`scheduleReconnect()`);
 *   - `handlers.connecting(attempt)` right before each new WebSocket.
 */
export class Signalling {
  constructor({ room, token, handlers }) {
    this.room = room;
    this.token = token;
    this.handlers = handlers;
    /** @type {Session | null} */
    this.session = null;
    this.attempt = 0;
    this.timer = null;
    /** Called right before each new WebSocket is created (the test hooks time the first). */
    this.onConnecting = null;
  }

  send(message) {
    this.session?.send(message);
  }

  /** Whether `session` is still the live one (events of replaced sessions are ignored). */
  isCurrent(session) {
    return this.session === session && session !== null;
  }

  connect() {
    clearTimeout(this.timer);
    this.closeSession();
    const session = new Session();
    this.session = session;
    this.handlers.connecting?.(this.attempt);
    this.onConnecting?.();

    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (error) {
      console.error('WebSocket could not be created', error);
      this.handlers.lost(session, { opened: false });
      return;
    }
    session.ws = ws;
    ws.addEventListener('open', () => {
      if (!this.isCurrent(session)) return;
      session.opened = true;
      session.send({ type: 'join', v: 1, room: this.room, token: this.token });
      session.pingTimer = setInterval(() => session.send({ type: 'ping', id: ++session.pingId }), PING_EVERY_MS);
    });
    ws.addEventListener('message', (event) => {
      if (!this.isCurrent(session) || typeof event.data !== 'string') return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn('ignoring a frame that is not JSON');
        return;
      }
      if (message?.type === 'error') return this.handlers.error(session, message);
      if (message?.type === 'bye') return this.handlers.bye(session, message);
      session.queue = session.queue
        .then(() => (this.isCurrent(session) ? this.dispatch(session, message) : undefined))
        // The type only: a message's content (chat text, names) is never logged.
        .catch((error) => console.error(`handling "${message?.type}" failed`, error));
    });
    ws.addEventListener('close', (event) => {
      if (!this.isCurrent(session)) return;
      this.lost(session, { wsClose: event.code, opened: session.opened });
    });
  }

  dispatch(session, message) {
    const handler = Object.hasOwn(this.handlers.on, message?.type) ? this.handlers.on[message.type] : null;
    if (!handler) {
      console.warn('ignoring unknown message', message?.type);
      return undefined;
    }
    return handler(session, message);
  }

  /** The session's socket closed or one of its peer connections failed. */
  lost(session, info) {
    if (!this.isCurrent(session)) return;
    this.handlers.lost(session, info);
  }

  /** Tries again after the next back-off step. */
  scheduleReconnect() {
    this.closeSession();
    clearTimeout(this.timer);
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** A join succeeded: the next loss starts the back-off from the beginning. */
  resetBackoff() {
    this.attempt = 0;
  }

  closeSession() {
    const session = this.session;
    this.session = null;
    session?.close();
  }

  /** No more sessions until `connect()` is called again. */
  stop() {
    clearTimeout(this.timer);
    this.closeSession();
  }

  /** Leaves the visit for good (`leave`), then stops. */
  leave() {
    clearTimeout(this.timer);
    const session = this.session;
    this.session = null;
    session?.leave();
  }
}
