//! A rate meter: bytes counted over one-second windows, read as bits per second. Used per
//! simulcast layer (what each layer costs a subscriber) and per subscriber (what it is sent).

use std::time::{Duration, Instant};

/// Bytes counted over one-second windows, read as bits/s.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    bps: f64,
}

impl RateMeter {
    pub fn add(&mut self, bytes: usize, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= Duration::from_secs(1) {
            self.bps = self.bytes as f64 * 8.0 / elapsed.as_secs_f64();
            self.bytes = 0;
            self.window_start = Some(now);
        }
        self.bytes += bytes as u64;
    }

    /// The rate over the last full window; 0 until one has passed.
    pub fn bps(&self) -> f64 {
        self.bps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_reads_bits_per_second_over_a_window() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        for i in 0..=100 {
            m.add(1000, t0 + Duration::from_millis(10 * i));
        }
        assert!((m.bps() - 800_000.0).abs() < 10_000.0, "{}", m.bps());
    }
}
