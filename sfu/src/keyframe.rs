//! Keyframe requests are cheap to send and expensive to honour (a keyframe is many times the
//! size of other frames), so each publication asks its publisher at most once per interval.

use std::time::{Duration, Instant};

/// The shortest time between two keyframe requests for one track.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default, Clone)]
pub struct KeyframeThrottle {
    last: Option<Instant>,
}

impl KeyframeThrottle {
    /// Whether a request may go out now; records it if so.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < KEYFRAME_REQUEST_INTERVAL => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_interval() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        assert!(k.allow(t0));
        assert!(!k.allow(t0));
        assert!(!k.allow(t0 + Duration::from_millis(499)));
        assert!(k.allow(t0 + Duration::from_millis(500)));
        assert!(!k.allow(t0 + Duration::from_millis(600)));
    }
}
