//! Synthetic media: RTP payloads that carry who sent them, which packet they are and when they
//! left, so that a receiver measures loss, latency and jitter without decoding anything. Video
//! payloads are framed as VP8 (RFC 7741), so that an SFU looking for keyframes (to start or
//! switch a simulcast layer) finds them.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

/// Marks a load-test payload.
pub const MAGIC: [u8; 4] = *b"VDLT";
/// Bytes of the stamp: magic, sender, kind, layer, frame, packet, send time.
pub const HEADER_LEN: usize = 4 + 4 + 1 + 1 + 4 + 4 + 8;
/// The VP8 payload descriptor of every video packet: X=1 with a 15-bit PictureID (4 bytes), the
/// form browsers send (an SFU rewriting PictureIDs across layer switches finds one to rewrite;
/// Janus 1.1.2 also finds keyframes behind the 1-byte form, tried).
pub const VP8_DESCRIPTOR_LEN: usize = 4;
/// The VP8 payload header at the start of a keyframe: frame tag, start code, width, height.
pub const VP8_KEYFRAME_HEADER_LEN: usize = 10;
/// The VP8 payload header at the start of an interframe: the frame tag alone.
pub const VP8_FRAME_TAG_LEN: usize = 3;
/// The smallest video payload: the longest VP8 framing and the stamp.
pub const MIN_VIDEO_PAYLOAD: usize = VP8_DESCRIPTOR_LEN + VP8_KEYFRAME_HEADER_LEN + HEADER_LEN;
/// Audio: an Opus-sized payload every 20 ms.
pub const AUDIO_PAYLOAD_LEN: usize = 100;
pub const AUDIO_PACKETS_PER_SEC: u32 = 50;
/// What one audio track sends, kbit/s of RTP payload.
pub const AUDIO_KBPS: f64 = (AUDIO_PAYLOAD_LEN as u32 * 8 * AUDIO_PACKETS_PER_SEC) as f64 / 1000.0;
/// How far into a payload a receiver looks for the stamp when the framing is not the expected
/// one (an SFU that rewrote the descriptor).
const SCAN_LIMIT: usize = 32;
/// The stamp's layer byte for media that is not simulcast.
const NO_LAYER: u8 = 0xff;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Audio,
    Video,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Audio => 1,
            Kind::Video => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Kind::Audio),
            2 => Some(Kind::Video),
            _ => None,
        }
    }
}

/// A simulcast layer, named by its rid, lowest first (the order vardrum ranks rids in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Layer {
    /// Quarter of the video bitrate, 160x90.
    #[serde(rename = "q")]
    Q,
    /// Half, 320x180.
    #[serde(rename = "h")]
    H,
    /// Full, 640x360.
    #[serde(rename = "f")]
    F,
}

impl Layer {
    pub const ALL: [Layer; 3] = [Layer::Q, Layer::H, Layer::F];

    pub fn rid(self) -> &'static str {
        match self {
            Layer::Q => "q",
            Layer::H => "h",
            Layer::F => "f",
        }
    }

    /// 0 for the lowest layer; also Janus' substream number (with `rid_order: lmh`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// This layer's bitrate out of the full video bitrate.
    pub fn bitrate(self, full_bps: u64) -> u64 {
        match self {
            Layer::Q => full_bps / 4,
            Layer::H => full_bps / 2,
            Layer::F => full_bps,
        }
    }

    /// The picture size its keyframes announce.
    pub fn resolution(self) -> (u16, u16) {
        match self {
            Layer::Q => (160, 90),
            Layer::H => (320, 180),
            Layer::F => (640, 360),
        }
    }

    fn code(layer: Option<Self>) -> u8 {
        layer.map_or(NO_LAYER, |l| l.index() as u8)
    }

    fn from_code(code: u8) -> Option<Option<Self>> {
        match code {
            NO_LAYER => Some(None),
            i => Layer::ALL.get(usize::from(i)).map(|l| Some(*l)),
        }
    }
}

/// What each synthetic packet says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the sending participant in the run.
    pub sender: u32,
    pub kind: Kind,
    /// The simulcast layer it was sent on; `None` when not simulcast.
    pub layer: Option<Layer>,
    /// Frame number (video) or packet number (audio), per layer.
    pub frame: u32,
    /// Packet number on this track and layer, from 0, without gaps.
    pub packet: u32,
    /// Wall-clock send time, microseconds since the Unix epoch. Sender and receiver run in the
    /// same process (or on the same machine), so the clocks agree.
    pub sent_us: u64,
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Stamp {
    fn put(&self, b: &mut BytesMut) {
        b.put_slice(&MAGIC);
        b.put_u32(self.sender);
        b.put_u8(self.kind.code());
        b.put_u8(Layer::code(self.layer));
        b.put_u32(self.frame);
        b.put_u32(self.packet);
        b.put_u64(self.sent_us);
    }

    /// A payload of `len` bytes (at least [`HEADER_LEN`]) starting with this stamp (audio).
    pub fn payload(&self, len: usize) -> Bytes {
        let mut b = BytesMut::with_capacity(len.max(HEADER_LEN));
        self.put(&mut b);
        b.resize(len.max(HEADER_LEN), 0);
        b.freeze()
    }

    /// Reads the stamp at the start of `payload`; `None` for anything else.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        if payload.len() < HEADER_LEN || payload[..4] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| {
            u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]])
        };
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&payload[18..26]);
        Some(Self {
            sender: u32_at(4),
            kind: Kind::from_code(payload[8])?,
            layer: Layer::from_code(payload[9])?,
            frame: u32_at(10),
            packet: u32_at(14),
            sent_us: u64::from_be_bytes(sent),
        })
    }

    /// Finds the stamp of an audio payload or, after its VP8 framing, of a video payload.
    pub fn find(payload: &[u8]) -> Option<Self> {
        Self::parse(payload.get(stamp_offset(payload)?..)?)
    }
}

/// Where the stamp starts: at 0 (audio), after the VP8 descriptor and payload header the
/// descriptor announces, or, if an SFU changed the framing, wherever the magic is near the start.
fn stamp_offset(p: &[u8]) -> Option<usize> {
    if p.starts_with(&MAGIC) {
        return Some(0);
    }
    let expected = vp8_framing_len(p);
    if let Some(at) = expected
        && p.get(at..at + MAGIC.len()) == Some(&MAGIC)
    {
        return Some(at);
    }
    let window = &p[..p.len().min(SCAN_LIMIT + MAGIC.len())];
    window.windows(MAGIC.len()).position(|w| w == MAGIC)
}

/// The length of the VP8 payload descriptor (RFC 7741 4.2) and, on a partition's first packet,
/// of the payload header (RFC 6386 9.1: 10 bytes on a keyframe, 3 otherwise).
fn vp8_framing_len(p: &[u8]) -> Option<usize> {
    let first = *p.first()?;
    let mut at = 1;
    if first & 0x80 != 0 {
        let x = *p.get(1)?;
        at = 2;
        if x & 0x80 != 0 {
            // PictureID: 15 bits when its M bit is set, else 7.
            at += if p.get(2)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // TID / KEYIDX
        }
    }
    let starts_frame = first & 0x10 != 0 && first & 0x07 == 0;
    if starts_frame {
        at += if p.get(at)? & 0x01 == 0 {
            VP8_KEYFRAME_HEADER_LEN
        } else {
            VP8_FRAME_TAG_LEN
        };
    }
    Some(at)
}

/// The VP8 framing of one video packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8 {
    /// 15 bits, one per frame.
    pub picture_id: u16,
    /// The first packet of a frame (S=1, partition 0): carries the payload header.
    pub starts_frame: bool,
    pub keyframe: bool,
    pub width: u16,
    pub height: u16,
}

impl Vp8 {
    /// Bytes before the stamp.
    pub fn framing_len(&self) -> usize {
        VP8_DESCRIPTOR_LEN
            + match (self.starts_frame, self.keyframe) {
                (false, _) => 0,
                (true, true) => VP8_KEYFRAME_HEADER_LEN,
                (true, false) => VP8_FRAME_TAG_LEN,
            }
    }

    /// Writes the framing; `after` is the number of payload bytes that follow it in this packet.
    fn put(&self, b: &mut BytesMut, after: usize) {
        // X=1, N=0, S, PID=0; then I=1; then M=1 and the 15-bit PictureID.
        b.put_u8(0x80 | if self.starts_frame { 0x10 } else { 0 });
        b.put_u8(0x80);
        b.put_u16(0x8000 | (self.picture_id & 0x7fff));
        if !self.starts_frame {
            return;
        }
        // Frame tag, 24 bits little-endian: P (0 = keyframe), version 0, show_frame 1, and the
        // first partition's size, here the rest of this packet (the partition fits in it).
        let tag = ((after as u32 & 0x7_ffff) << 5) | (1 << 4) | u32::from(!self.keyframe);
        b.put_slice(&tag.to_le_bytes()[..3]);
        if self.keyframe {
            b.put_slice(&[0x9d, 0x01, 0x2a]);
            // 14-bit sizes, no scaling.
            b.put_u16_le(self.width & 0x3fff);
            b.put_u16_le(self.height & 0x3fff);
        }
    }
}

/// A video payload of `len` bytes (at least [`MIN_VIDEO_PAYLOAD`]): VP8 framing, the stamp,
/// zeros.
pub fn video_payload(vp8: &Vp8, stamp: &Stamp, len: usize) -> Bytes {
    let len = len.max(vp8.framing_len() + HEADER_LEN);
    let mut b = BytesMut::with_capacity(len);
    vp8.put(&mut b, len - vp8.framing_len());
    stamp.put(&mut b);
    b.resize(len, 0);
    b.freeze()
}

/// How one video frame is cut into packets for a target bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPacing {
    pub packets_per_frame: usize,
    pub packet_size: usize,
}

impl VideoPacing {
    pub fn new(bitrate_bps: u64, fps: u32, max_packet: usize) -> Self {
        let frame_bytes =
            (bitrate_bps / 8 / u64::from(fps.max(1))).max(MIN_VIDEO_PAYLOAD as u64) as usize;
        let packets = frame_bytes.div_ceil(max_packet).max(1);
        Self {
            packets_per_frame: packets,
            packet_size: frame_bytes.div_ceil(packets).max(MIN_VIDEO_PAYLOAD),
        }
    }

    /// The payload bitrate this pacing sends at `fps`, kbit/s (padding to the smallest packet
    /// included, so it can exceed the target at tiny bitrates).
    pub fn kbps(&self, fps: u32) -> f64 {
        (self.packets_per_frame * self.packet_size) as f64 * 8.0 * f64::from(fps) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(layer: Option<Layer>) -> Stamp {
        Stamp {
            sender: 7,
            kind: Kind::Video,
            layer,
            frame: 123,
            packet: 456_789,
            sent_us: 1_800_000_000_123_456,
        }
    }

    #[test]
    fn a_stamp_survives_the_trip() {
        for layer in [None, Some(Layer::Q), Some(Layer::H), Some(Layer::F)] {
            let s = stamp(layer);
            let p = s.payload(1000);
            assert_eq!(p.len(), 1000);
            assert_eq!(Stamp::parse(&p), Some(s));
            assert_eq!(Stamp::find(&p), Some(s));
        }
        let p = stamp(None).payload(100);
        assert_eq!(Stamp::parse(&p[..HEADER_LEN - 1]), None);
        assert_eq!(Stamp::parse(b"not a load test payload at all"), None);
        // An unknown layer byte is not a stamp.
        let mut bad = p.to_vec();
        bad[9] = 3;
        assert_eq!(Stamp::parse(&bad), None);
    }

    /// The check of `janus_vp8_is_keyframe` (Janus' utils.c), transcribed: what decides whether
    /// Janus starts or switches a simulcast layer on this packet.
    fn janus_is_keyframe(p: &[u8]) -> bool {
        if p.len() < 16 {
            return false;
        }
        let s = p[0] & 0x10 != 0;
        let mut i = 0;
        if p[0] & 0x80 != 0 {
            i += 1;
            let x = p[i];
            if x & 0x80 != 0 {
                i += 1;
                if p[i] & 0x80 != 0 {
                    i += 1;
                }
            }
            if x & 0x40 != 0 {
                i += 1;
            }
            if x & 0x30 != 0 {
                i += 1;
            }
        }
        i += 1;
        s && p[i] & 0x01 == 0 && p[i + 3..i + 6] == [0x9d, 0x01, 0x2a]
    }

    #[test]
    fn video_payloads_are_vp8_with_keyframe_headers_and_the_stamp_after_them() {
        let s = stamp(Some(Layer::H));
        let key = Vp8 {
            picture_id: 0x1234,
            starts_frame: true,
            keyframe: true,
            width: 320,
            height: 180,
        };
        let p = video_payload(&key, &s, 600);
        assert_eq!(p.len(), 600);
        // Descriptor: X=1, S=1, PID=0; I=1; M=1 + PictureID 0x1234.
        assert_eq!(&p[..4], &[0x90, 0x80, 0x92, 0x34]);
        // Frame tag: P=0 (keyframe), version 0, show_frame 1, first partition = the rest.
        let tag = u32::from_le_bytes([p[4], p[5], p[6], 0]);
        assert_eq!(tag & 0x01, 0);
        assert_eq!((tag >> 1) & 0x07, 0);
        assert_eq!((tag >> 4) & 0x01, 1);
        assert_eq!((tag >> 5) as usize, 600 - 14);
        assert_eq!(&p[7..10], &[0x9d, 0x01, 0x2a]);
        assert_eq!(u16::from_le_bytes([p[10], p[11]]), 320);
        assert_eq!(u16::from_le_bytes([p[12], p[13]]), 180);
        assert_eq!(&p[14..18], &MAGIC);
        assert_eq!(Stamp::find(&p), Some(s));
        assert!(janus_is_keyframe(&p));

        let inter = Vp8 {
            keyframe: false,
            ..key
        };
        let p = video_payload(&inter, &s, 600);
        assert_eq!(p[4] & 0x01, 1, "P=1 on an interframe");
        assert_eq!(&p[7..11], &MAGIC);
        assert_eq!(Stamp::find(&p), Some(s));
        assert!(!janus_is_keyframe(&p));

        let middle = Vp8 {
            starts_frame: false,
            ..key
        };
        let p = video_payload(&middle, &s, 600);
        assert_eq!(p[0], 0x80, "S=0 after a frame's first packet");
        assert_eq!(&p[4..8], &MAGIC);
        assert_eq!(Stamp::find(&p), Some(s));
        assert!(!janus_is_keyframe(&p));

        // Too short a length still fits framing and stamp.
        assert_eq!(video_payload(&key, &s, 1).len(), MIN_VIDEO_PAYLOAD);
    }

    #[test]
    fn the_stamp_is_found_behind_other_vp8_descriptors() {
        let s = stamp(Some(Layer::F));
        let mut b = BytesMut::new();
        // 7-bit PictureID, TL0PICIDX and TID: 5 descriptor bytes, then an interframe tag.
        b.put_slice(&[0x90, 0xe0, 0x05, 0x01, 0x40, 0x01, 0x00, 0x00]);
        s.put(&mut b);
        assert_eq!(vp8_framing_len(&b), Some(8));
        assert_eq!(Stamp::find(&b), Some(s));
        // The short form without X.
        let mut b = BytesMut::new();
        b.put_slice(&[0x00]);
        s.put(&mut b);
        assert_eq!(Stamp::find(&b), Some(s));
        // A descriptor that lies about its length: found by scanning.
        let mut b = BytesMut::new();
        b.put_slice(&[0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        s.put(&mut b);
        assert_eq!(Stamp::find(&b), Some(s));
        assert_eq!(Stamp::find(&[0x90, 0x80]), None);
        assert_eq!(Stamp::find(&[]), None);
        assert_eq!(Stamp::find(&[0u8; 200]), None);
    }

    #[test]
    fn pacing_splits_frames_into_packets_under_the_limit() {
        // 500 kbit/s at 25 fps = 2500 bytes per frame = 3 packets of 834 bytes under 1200.
        let p = VideoPacing::new(500_000, 25, 1200);
        assert_eq!(p.packets_per_frame, 3);
        assert!(p.packet_size <= 1200);
        assert!(p.packets_per_frame * p.packet_size >= 2500);
        assert!((p.kbps(25) - 500.4).abs() < 0.01, "{}", p.kbps(25));
        let tiny = VideoPacing::new(4_000, 30, 1200);
        assert_eq!(tiny.packets_per_frame, 1);
        assert_eq!(tiny.packet_size, MIN_VIDEO_PAYLOAD);
    }

    #[test]
    fn layers_are_a_quarter_a_half_and_all_of_the_bitrate() {
        assert_eq!(
            Layer::ALL.map(|l| l.bitrate(500_000)),
            [125_000, 250_000, 500_000]
        );
        assert_eq!(Layer::ALL.map(Layer::rid), ["q", "h", "f"]);
        assert_eq!(Layer::ALL.map(Layer::index), [0, 1, 2]);
        assert!(Layer::Q < Layer::H && Layer::H < Layer::F);
    }
}
