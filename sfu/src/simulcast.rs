//! Simulcast: a publisher sends one video track as several layers (RTP streams told apart by
//! their `rid`), and each subscriber gets one of them, chosen by the quality it asked for and by
//! which layers are arriving. Switching layers happens only at a keyframe of the new layer, and
//! sequence numbers and timestamps are rewritten so the subscriber sees one continuous stream.
//!
//! A track without simulcast is the one-layer case of the same code: its only layer is chosen at
//! once, and its packets go out with their own sequence numbers and timestamps.

use std::time::{Duration, Instant};

use vardrum_signalling::Quality;

use crate::keyframe::KeyframeThrottle;
use crate::rate::RateMeter;

/// A layer that has sent nothing for this long is treated as stopped (the publisher's encoder
/// drops high layers when its uplink or CPU is short), and subscribers move to another.
pub const LAYER_TIMEOUT: Duration = Duration::from_millis(1500);

/// One RTP stream of a publication.
#[derive(Debug)]
pub struct Layer {
    pub ssrc: u32,
    /// Lower is smaller: `q` < `h` < `f`, then other rids in the order they appeared.
    pub rank: u8,
    pub last_packet: Instant,
    pub keyframes: KeyframeThrottle,
    /// What the layer costs a subscriber.
    pub rate: RateMeter,
}

/// The rank of a rid. Browsers and SDKs name their simulcast encodings `q`, `h`, `f` (quarter,
/// half, full) by convention; vardrum documents that publishers do (docs/signalling.md).
pub fn rank_of(rid: Option<&str>, order_seen: usize) -> u8 {
    match rid {
        None | Some("q") => 0,
        Some("h") => 1,
        Some("f") => 2,
        Some(_) => u8::try_from(3 + order_seen).unwrap_or(u8::MAX),
    }
}

/// The rank a quality asks for.
pub fn wanted_rank(quality: Quality) -> u8 {
    match quality {
        Quality::Low => 0,
        Quality::Medium => 1,
        Quality::High => u8::MAX,
    }
}

/// The layers that are arriving now, lowest first.
pub fn live(layers: &[Layer], now: Instant) -> Vec<&Layer> {
    let mut live: Vec<&Layer> = layers
        .iter()
        .filter(|l| now.saturating_duration_since(l.last_packet) < LAYER_TIMEOUT)
        .collect();
    live.sort_by_key(|l| l.rank);
    live
}

/// The quality that asks for a layer of this rank.
pub fn quality_of_rank(rank: u8) -> Quality {
    match rank {
        0 => Quality::Low,
        1 => Quality::Medium,
        _ => Quality::High,
    }
}

/// The layer a subscriber who wants `quality` should get now: the highest live layer at or
/// below the wish, else the lowest live one above it. `None` while no layer is live.
pub fn choose(layers: &[Layer], quality: Quality, now: Instant) -> Option<u32> {
    let want = wanted_rank(quality);
    let live = || {
        layers
            .iter()
            .filter(move |l| now.saturating_duration_since(l.last_packet) < LAYER_TIMEOUT)
    };
    live()
        .filter(|l| l.rank <= want)
        .max_by_key(|l| l.rank)
        .or_else(|| live().min_by_key(|l| l.rank))
        .map(|l| l.ssrc)
}

/// Per subscription: which layer it is on, and how its packets are renumbered.
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    /// The layer being forwarded; `None` before the first packet.
    pub current: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    last_seq: u16,
    last_ts: u32,
    last_at: Option<Instant>,
}

impl Rewriter {
    /// Starts forwarding `ssrc` from a packet with `seq` and `ts` (a keyframe, unless the track
    /// has one layer). The first layer keeps its numbering; a later one continues where the
    /// previous stopped, the timestamp advanced by the time that passed (`clock_rate` Hz).
    pub fn switch_to(&mut self, ssrc: u32, seq: u16, ts: u32, now: Instant, clock_rate: u32) {
        if let Some(last_at) = self.last_at {
            let elapsed = now.saturating_duration_since(last_at);
            let ticks = (elapsed.as_micros() as u64 * u64::from(clock_rate) / 1_000_000)
                .clamp(1, u64::from(u32::MAX)) as u32;
            self.seq_offset = self.last_seq.wrapping_add(1).wrapping_sub(seq);
            self.ts_offset = self.last_ts.wrapping_add(ticks).wrapping_sub(ts);
        }
        self.current = Some(ssrc);
    }

    /// The outgoing sequence number and timestamp of a packet of the current layer.
    pub fn rewrite(&mut self, seq: u16, ts: u32, now: Instant) -> (u16, u32) {
        let out = (
            seq.wrapping_add(self.seq_offset),
            ts.wrapping_add(self.ts_offset),
        );
        // Retransmitted or reordered packets must not move "last" backwards.
        let newer = self.last_at.is_none() || out.0.wrapping_sub(self.last_seq) < 0x8000;
        if newer {
            self.last_seq = out.0;
            self.last_ts = out.1;
            self.last_at = Some(now);
        }
        out
    }
}

/// Whether an RTP payload starts a keyframe, for the codecs the SFU negotiates. Unknown codecs
/// answer `true`: better a glitch at a switch than a subscriber that never gets a picture.
pub fn starts_keyframe(mime_type: &str, payload: &[u8]) -> bool {
    if mime_type.eq_ignore_ascii_case("video/vp8") {
        vp8_starts_keyframe(payload)
    } else if mime_type.eq_ignore_ascii_case("video/h264") {
        h264_starts_keyframe(payload)
    } else {
        true
    }
}

/// RFC 7741: the payload descriptor, then (at the start of a partition 0) the VP8 payload
/// header, whose first bit P is 0 for a keyframe.
fn vp8_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x0f;
    if !start || partition != 0 {
        return false;
    }
    let mut i = 1;
    if extended {
        let Some(&x) = payload.get(i) else {
            return false;
        };
        i += 1;
        if x & 0x80 != 0 {
            // PictureID: one byte, or two when its M bit is set.
            let Some(&pid) = payload.get(i) else {
                return false;
            };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID / KEYIDX
        }
    }
    payload.get(i).is_some_and(|header| header & 0x01 == 0)
}

/// RFC 6184: an IDR slice or a sequence parameter set (which precedes one) at the start of the
/// payload: as a single NAL unit, inside a STAP-A, or as the first fragment of an FU-A.
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let is_key = |nal_type: u8| nal_type == 5 || nal_type == 7;
    match first & 0x1f {
        24 => {
            // STAP-A: 2-byte sizes, each followed by a NAL unit.
            let mut i = 1;
            while i + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[i], payload[i + 1]]));
                if is_key(payload[i + 2] & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && is_key(fu & 0x1f)),
        nal => is_key(nal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(ssrc: u32, rank: u8, last: Instant) -> Layer {
        Layer {
            rate: RateMeter::default(),
            ssrc,
            rank,
            last_packet: last,
            keyframes: KeyframeThrottle::default(),
        }
    }

    #[test]
    fn the_best_live_layer_at_or_below_the_wish_is_chosen() {
        let now = Instant::now();
        let layers = vec![layer(1, 0, now), layer(2, 1, now), layer(3, 2, now)];
        assert_eq!(choose(&layers, Quality::High, now), Some(3));
        assert_eq!(choose(&layers, Quality::Medium, now), Some(2));
        assert_eq!(choose(&layers, Quality::Low, now), Some(1));
        // The high layer stopped: high falls back to medium.
        let later = now + LAYER_TIMEOUT;
        let layers = vec![layer(1, 0, later), layer(2, 1, later), layer(3, 2, now)];
        assert_eq!(choose(&layers, Quality::High, later), Some(2));
        // Only a layer above the wish is live: take it rather than nothing.
        let layers = vec![layer(1, 0, now), layer(3, 2, later)];
        assert_eq!(choose(&layers, Quality::Low, later), Some(3));
        assert_eq!(choose(&[], Quality::Low, later), None);
    }

    #[test]
    fn rids_rank_by_convention() {
        assert!(rank_of(Some("q"), 0) < rank_of(Some("h"), 1));
        assert!(rank_of(Some("h"), 1) < rank_of(Some("f"), 2));
        assert!(rank_of(Some("f"), 0) < rank_of(Some("x"), 0));
        assert_eq!(rank_of(None, 5), 0);
    }

    #[test]
    fn a_switch_continues_the_numbering() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        r.switch_to(10, 1000, 90_000, t0, 90_000);
        assert_eq!(r.rewrite(1000, 90_000, t0), (1000, 90_000));
        assert_eq!(r.rewrite(1001, 93_000, t0), (1001, 93_000));
        // A retransmission of an older packet keeps its number and does not move "last".
        assert_eq!(r.rewrite(999, 87_000, t0), (999, 87_000));
        // Another layer with its own numbering, 40 ms later.
        let t1 = t0 + Duration::from_millis(40);
        r.switch_to(20, 50_000, 7_000_000, t1, 90_000);
        assert_eq!(r.rewrite(50_000, 7_000_000, t1), (1002, 93_000 + 3_600));
        assert_eq!(r.rewrite(50_001, 7_003_000, t1), (1003, 96_600 + 3_000));
        // Wrapping sequence numbers.
        let mut r = Rewriter::default();
        r.switch_to(1, 65_535, 0, t0, 90_000);
        r.rewrite(65_535, 0, t0);
        r.switch_to(2, 7, 0, t1, 90_000);
        assert_eq!(r.rewrite(7, 0, t1).0, 0);
    }

    #[test]
    fn vp8_keyframes_are_found_behind_any_descriptor() {
        // S=1, PID 0, no extension; payload header P=0 (keyframe) / P=1 (interframe).
        assert!(starts_keyframe("video/VP8", &[0x10, 0x50, 0x01, 0x00]));
        assert!(!starts_keyframe("video/VP8", &[0x10, 0x51, 0x01, 0x00]));
        // Not the start of the frame.
        assert!(!starts_keyframe("video/VP8", &[0x00, 0x50]));
        // Extended: I with a 2-byte PictureID, L, T/K.
        assert!(starts_keyframe(
            "video/VP8",
            &[0x90, 0xf0, 0x81, 0x23, 0x05, 0x20, 0x50]
        ));
        assert!(!starts_keyframe(
            "video/VP8",
            &[0x90, 0xf0, 0x81, 0x23, 0x05, 0x20, 0x51]
        ));
        assert!(!starts_keyframe("video/VP8", &[0x90, 0x80]));
        assert!(!starts_keyframe("video/VP8", &[]));
    }

    #[test]
    fn h264_keyframes_are_found_in_each_packetisation() {
        assert!(starts_keyframe("video/H264", &[0x65, 0x88])); // IDR
        assert!(!starts_keyframe("video/H264", &[0x41, 0x9a])); // non-IDR slice
        // STAP-A with SPS first.
        assert!(starts_keyframe(
            "video/H264",
            &[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68]
        ));
        // FU-A start of an IDR; a middle fragment is not a start.
        assert!(starts_keyframe("video/H264", &[0x7c, 0x85, 0x00]));
        assert!(!starts_keyframe("video/H264", &[0x7c, 0x05, 0x00]));
        assert!(starts_keyframe("audio/opus", &[0x00]));
    }
}
