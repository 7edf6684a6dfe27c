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
    /// Segmented (group visit): packets expected and µs spanned by the segments before this one,
    /// and whether the receiver saw the server switch away from this layer since its last packet.
    segmented: bool,
    switched_away: bool,
    expected_before: u64,
    span_before_us: u64,
    segment_start_us: u64,
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
            segmented: false,
            switched_away: false,
            expected_before: 0,
            span_before_us: 0,
            segment_start_us: 0,
            first_arrival_us: None,
            last_arrival_us: 0,
            last_transit_us: None,
            jitter_us: 0.0,
            freezes: 0,
            // 1 µs .. 60 s at 3 significant digits.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
        }
    }

    /// A layer that comes and goes: in a group visit a subscriber's layer of a video track
    /// changes with the speaker. Loss and bitrate are measured over the stretches the layer
    /// arrived in, each ended by [`TrackStats::switched_away`], and freezes are left to the
    /// receiver, which sees every layer of the track ([`TrackStats::freeze`]).
    pub fn segmented(mut self) -> Self {
        self.segmented = true;
        self
    }

    /// The receiver got another layer of the track after this one's last packet: the server
    /// switched it, and this layer's next packet starts a new stretch (the packets between were
    /// not forwarded, not lost).
    pub fn switched_away(&mut self) {
        if self.segmented {
            self.switched_away = true;
        }
    }

    /// The receiver saw a freeze on this track that ended with this layer's packet.
    pub fn freeze(&mut self) {
        self.freezes += 1;
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
                self.segment_start_us = arrival_us;
            }
            Some(first) => {
                if std::mem::take(&mut self.switched_away) && stamp.packet > self.highest_packet {
                    self.expected_before += u64::from(self.highest_packet - first) + 1;
                    self.span_before_us += self.last_arrival_us - self.segment_start_us;
                    self.first_packet = Some(stamp.packet);
                    self.highest_packet = stamp.packet;
                    self.segment_start_us = arrival_us;
                } else {
                    self.highest_packet = self.highest_packet.max(stamp.packet);
                }
                let gap = arrival_us.saturating_sub(self.last_arrival_us);
                if !self.segmented && self.kind == Kind::Video && gap > FREEZE_US {
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
            Some(first) => self.expected_before + u64::from(self.highest_packet - first) + 1,
            None => 0,
        }
    }

    /// Microseconds from the first to the last arrival (what a bitrate is measured over);
    /// segmented, the sum of the segments'.
    pub fn span_us(&self) -> u64 {
        match self.first_arrival_us {
            None => 0,
            Some(_) => {
                self.span_before_us + self.last_arrival_us.saturating_sub(self.segment_start_us)
            }
        }
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
    fn a_layer_that_comes_back_starts_a_new_segment_instead_of_counting_loss() {
        let mut t = TrackStats::new(1, Kind::Video, None).segmented();
        // Packets 0..50 every 10 ms, then the subscriber is switched to another layer for 3 s
        // (packets 50..350 not forwarded), then 350..400 with packet 360 lost.
        let start = 1_000_000;
        for p in (0..50u32).chain((350..400).filter(|p| *p != 360)) {
            let sent = start + u64::from(p) * 10_000;
            if p == 350 {
                t.switched_away();
            }
            t.record(&stamp(p, sent), 1000, true, sent + 1_000);
        }
        assert_eq!(t.expected(), 100);
        assert_eq!(t.received, 99);
        assert!((t.loss() - 0.01).abs() < 1e-9);
        // Two stretches of 49 gaps of 10 ms each.
        assert_eq!(t.span_us(), 2 * 490_000);
        // The receiver, not the layer, judges freezes.
        assert_eq!(t.freezes, 0);
        t.freeze();
        assert_eq!(t.freezes, 1);
        // A gap without a switch is loss, however long.
        let mut lost = TrackStats::new(1, Kind::Video, None).segmented();
        for p in (0..50u32).chain(350..400) {
            let sent = start + u64::from(p) * 10_000;
            lost.record(&stamp(p, sent), 1000, true, sent + 1_000);
        }
        assert_eq!(lost.expected(), 400);
        // Not segmented, a switch means nothing: loss and a freeze.
        let mut plain = TrackStats::new(1, Kind::Video, None);
        for p in (0..50u32).chain(350..400) {
            let sent = start + u64::from(p) * 10_000;
            plain.switched_away();
            plain.record(&stamp(p, sent), 1000, true, sent + 1_000);
        }
        assert_eq!(plain.expected(), 400);
        assert_eq!(plain.freezes, 1);
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
