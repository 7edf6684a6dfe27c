//! What a receiver learns from the stamped packets of one subscribed track: loss, latency,
//! jitter, freezes and throughput. Plain code over arrival times, so tests can feed it.

use hdrhistogram::Histogram;

use crate::media::{Kind, Layer, Stamp};

/// A video gap longer than this is a freeze a person would notice.
pub const FREEZE_US: u64 = 500_000;

#[derive(Debug, Clone)]
pub struct TrackStats {
    pub publisher: u32,
    pub kind: Kind,
    /// The simulcast layer these packets came on (`None`: not simulcast). A subscribed track
    /// has one `TrackStats` per layer that arrived, since packet numbers count per layer.
    pub layer: Option<Layer>,
    pub received: u64,
    pub bytes: u64,
    pub frames: u64,
    first_packet: Option<u32>,
    highest_packet: u32,
    pub first_arrival_us: Option<u64>,
    pub last_arrival_us: u64,
    last_transit_us: Option<i64>,
    /// RFC 3550 interarrival jitter, in microseconds.
    pub jitter_us: f64,
    pub freezes: u64,
    /// Latency (send → receive) in microseconds.
    pub latency: Histogram<u64>,
}

impl TrackStats {
    pub fn new(publisher: u32, kind: Kind, layer: Option<Layer>) -> Self {
        Self {
            publisher,
            kind,
            layer,
            received: 0,
            bytes: 0,
            frames: 0,
            first_packet: None,
            highest_packet: 0,
            first_arrival_us: None,
            last_arrival_us: 0,
            last_transit_us: None,
            jitter_us: 0.0,
            freezes: 0,
            // 1 µs .. 60 s at 3 significant digits.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
        }
    }

    /// Records one packet that arrived at `arrival_us`.
    pub fn record(&mut self, stamp: &Stamp, len: usize, marker: bool, arrival_us: u64) {
        self.received += 1;
        self.bytes += len as u64;
        if marker {
            self.frames += 1;
        }
        match self.first_packet {
            None => {
                self.first_packet = Some(stamp.packet);
                self.highest_packet = stamp.packet;
                self.first_arrival_us = Some(arrival_us);
            }
            Some(_) => {
                self.highest_packet = self.highest_packet.max(stamp.packet);
                if self.kind == Kind::Video
                    && arrival_us.saturating_sub(self.last_arrival_us) > FREEZE_US
                {
                    self.freezes += 1;
                }
            }
        }
        self.last_arrival_us = self.last_arrival_us.max(arrival_us);
        let latency = arrival_us.saturating_sub(stamp.sent_us).max(1);
        let _ = self.latency.record(latency.min(60_000_000));
        let transit = arrival_us as i64 - stamp.sent_us as i64;
        if let Some(last) = self.last_transit_us {
            let d = (transit - last).abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit_us = Some(transit);
    }

    /// Packets the publisher sent between the first and the highest one seen.
    pub fn expected(&self) -> u64 {
        match self.first_packet {
            Some(first) => u64::from(self.highest_packet - first) + 1,
            None => 0,
        }
    }

    /// Microseconds from the first to the last arrival (what a bitrate is measured over).
    pub fn span_us(&self) -> u64 {
        self.first_arrival_us
            .map_or(0, |first| self.last_arrival_us.saturating_sub(first))
    }

    /// Fraction of packets lost after retransmission (duplicates can make `received` exceed
    /// `expected`; that counts as no loss).
    pub fn loss(&self) -> f64 {
        let expected = self.expected();
        if expected == 0 {
            return 0.0;
        }
        (1.0 - self.received as f64 / expected as f64).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(packet: u32, sent_us: u64) -> Stamp {
        Stamp {
            sender: 1,
            kind: Kind::Video,
            layer: None,
            frame: packet,
            packet,
            sent_us,
        }
    }

    #[test]
    fn loss_latency_jitter_and_freezes_from_arrivals() {
        let mut t = TrackStats::new(1, Kind::Video, None);
        // Packets 0..10 sent every 10 ms, each arriving 2 ms later; packet 5 lost.
        for p in (0..10u32).filter(|p| *p != 5) {
            let sent = 1_000_000 + u64::from(p) * 10_000;
            t.record(&stamp(p, sent), 1000, true, sent + 2_000);
        }
        assert_eq!(t.received, 9);
        assert_eq!(t.expected(), 10);
        assert!((t.loss() - 0.1).abs() < 1e-9);
        assert_eq!(t.latency.value_at_quantile(0.5) / 100, 20); // ~2000 µs
        assert!(t.jitter_us < 1.0, "constant transit time means no jitter");
        assert_eq!(t.freezes, 0);
        // A 600 ms silence, then the stream resumes: one freeze.
        t.record(&stamp(10, 1_700_000), 1000, true, 1_702_000);
        assert_eq!(t.freezes, 1);
        assert_eq!(t.frames, 10);
    }

    #[test]
    fn variable_transit_time_shows_as_jitter() {
        let mut t = TrackStats::new(1, Kind::Audio, None);
        for p in 0..100u32 {
            let sent = u64::from(p) * 20_000;
            let extra = if p % 2 == 0 { 0 } else { 8_000 };
            t.record(&stamp(p, sent), 100, false, sent + 1_000 + extra);
        }
        assert!(t.jitter_us > 5_000.0, "{}", t.jitter_us);
        assert_eq!(t.loss(), 0.0);
    }
}
