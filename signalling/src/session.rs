//! The per-connection state machine and rate limiter, free of I/O: the server feeds it each
//! frame with the current time and acts on the answer.

use std::time::{Duration, Instant};

use crate::message::{ClientMessage, ErrorCode};

/// How long a client has after connecting to send `join`.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Average messages per second a session may send.
pub const RATE_PER_SEC: f64 = 20.0;
/// Burst a session may send at once.
pub const RATE_BURST: f64 = 60.0;
/// Dropped messages after which the session is closed as a flood.
pub const FLOOD_AFTER_DROPS: u32 = 300;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPhase {
    /// Connected; only `join` and `ping` are accepted.
    Connecting,
    /// The join succeeded.
    Joined,
    /// Closed; nothing more is processed.
    Closed,
}

/// The rate limiter's verdict on one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Process the frame.
    Accept,
    /// Drop the frame; when `notify` is true, tell the client (`rate_limited`).
    Drop { notify: bool },
    /// The client keeps flooding: close the session.
    Flood,
}

/// A token bucket: `RATE_PER_SEC` on average, `RATE_BURST` at once.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    tokens: f64,
    last: Instant,
    dropped: u32,
    last_notice: Option<Instant>,
    rate: f64,
    burst: f64,
}

impl RateLimiter {
    pub fn new(now: Instant) -> Self {
        Self::with_limits(now, RATE_PER_SEC, RATE_BURST)
    }

    pub fn with_limits(now: Instant, rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            last: now,
            dropped: 0,
            last_notice: None,
            rate,
            burst,
        }
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Accept;
        }
        self.dropped += 1;
        if self.dropped > FLOOD_AFTER_DROPS {
            return Admit::Flood;
        }
        // At most one notice per second, so that the answer to a flood is not a flood.
        let notify = self
            .last_notice
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if notify {
            self.last_notice = Some(now);
        }
        Admit::Drop { notify }
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

/// One WebSocket connection's protocol state.
#[derive(Debug, Clone)]
pub struct Session {
    phase: SessionPhase,
    connected_at: Instant,
    limiter: RateLimiter,
}

impl Session {
    pub fn new(now: Instant) -> Self {
        Self {
            phase: SessionPhase::Connecting,
            connected_at: now,
            limiter: RateLimiter::new(now),
        }
    }

    pub fn phase(&self) -> SessionPhase {
        self.phase
    }

    /// When the session is closed with `join_timeout` unless it has joined.
    pub fn join_deadline(&self) -> Instant {
        self.connected_at + JOIN_TIMEOUT
    }

    /// Rate-limits one incoming frame (of any kind, valid or not).
    pub fn admit(&mut self, now: Instant) -> Admit {
        self.limiter.admit(now)
    }

    /// Checks that `message` is allowed in the current phase.
    pub fn check(&self, message: &ClientMessage) -> Result<(), ErrorCode> {
        match (self.phase, message) {
            (SessionPhase::Closed, _) => Err(ErrorCode::NotJoined),
            (SessionPhase::Connecting, ClientMessage::Join { .. } | ClientMessage::Ping { .. }) => {
                Ok(())
            }
            (SessionPhase::Connecting, _) => Err(ErrorCode::NotJoined),
            (SessionPhase::Joined, ClientMessage::Join { .. }) => Err(ErrorCode::AlreadyJoined),
            (SessionPhase::Joined, _) => Ok(()),
        }
    }

    pub fn set_joined(&mut self) {
        if self.phase == SessionPhase::Connecting {
            self.phase = SessionPhase::Joined;
        }
    }

    pub fn set_closed(&mut self) {
        self.phase = SessionPhase::Closed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MediaKind, PROTOCOL_VERSION};

    fn join() -> ClientMessage {
        ClientMessage::Join {
            v: PROTOCOL_VERSION,
            room: "r".into(),
            token: "t".into(),
        }
    }

    #[test]
    fn only_join_and_ping_before_joining() {
        let now = Instant::now();
        let mut s = Session::new(now);
        assert_eq!(s.check(&join()), Ok(()));
        assert_eq!(s.check(&ClientMessage::Ping { id: 1 }), Ok(()));
        assert_eq!(s.check(&ClientMessage::Leave), Err(ErrorCode::NotJoined));
        let mute = ClientMessage::Mute {
            kind: MediaKind::Audio,
            muted: true,
        };
        assert_eq!(s.check(&mute), Err(ErrorCode::NotJoined));
        s.set_joined();
        assert_eq!(s.check(&mute), Ok(()));
        assert_eq!(s.check(&join()), Err(ErrorCode::AlreadyJoined));
        s.set_closed();
        assert_eq!(s.phase(), SessionPhase::Closed);
        assert_eq!(s.join_deadline(), now + JOIN_TIMEOUT);
    }

    #[test]
    fn rate_limiter_allows_bursts_then_the_average_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(t0);
        for _ in 0..60 {
            assert_eq!(r.admit(t0), Admit::Accept);
        }
        assert_eq!(r.admit(t0), Admit::Drop { notify: true });
        assert_eq!(r.admit(t0), Admit::Drop { notify: false });
        // 100 ms later two more tokens have arrived.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(r.admit(t1), Admit::Accept);
        assert_eq!(r.admit(t1), Admit::Accept);
        assert_eq!(r.admit(t1), Admit::Drop { notify: false });
        // A second after the first notice, the next drop is announced again.
        let t2 = t0 + Duration::from_millis(1100);
        for _ in 0..20 {
            assert_eq!(r.admit(t2), Admit::Accept);
        }
        assert_eq!(r.admit(t2), Admit::Drop { notify: true });
    }

    #[test]
    fn a_sustained_flood_is_detected() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(t0);
        let mut verdict = Admit::Accept;
        for _ in 0..(60 + FLOOD_AFTER_DROPS + 1) {
            verdict = r.admit(t0);
        }
        assert_eq!(verdict, Admit::Flood);
        assert_eq!(r.dropped(), FLOOD_AFTER_DROPS + 1);
    }
}
