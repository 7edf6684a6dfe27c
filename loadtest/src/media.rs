//! Synthetic media: RTP payloads that carry who sent them, which packet they are and when they
//! left, so that a receiver measures loss, latency and jitter without decoding anything.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

/// Marks a load-test payload.
pub const MAGIC: [u8; 4] = *b"VDLT";
/// Bytes of the header at the start of every payload.
pub const HEADER_LEN: usize = 4 + 4 + 1 + 4 + 4 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
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

/// What each synthetic packet says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the sending participant in the run.
    pub sender: u32,
    pub kind: Kind,
    /// Frame number (video) or packet number (audio).
    pub frame: u32,
    /// Packet number on this track, from 0, without gaps.
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
    /// A payload of `len` bytes (at least [`HEADER_LEN`]) starting with this stamp.
    pub fn payload(&self, len: usize) -> Bytes {
        let mut b = BytesMut::with_capacity(len.max(HEADER_LEN));
        b.put_slice(&MAGIC);
        b.put_u32(self.sender);
        b.put_u8(self.kind.code());
        b.put_u32(self.frame);
        b.put_u32(self.packet);
        b.put_u64(self.sent_us);
        b.resize(len.max(HEADER_LEN), 0);
        b.freeze()
    }

    /// Reads the stamp back; `None` for anything that is not a load-test payload.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        if payload.len() < HEADER_LEN || payload[..4] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| {
            u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]])
        };
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&payload[17..25]);
        Some(Self {
            sender: u32_at(4),
            kind: Kind::from_code(payload[8])?,
            frame: u32_at(9),
            packet: u32_at(13),
            sent_us: u64::from_be_bytes(sent),
        })
    }
}

/// How one video frame is cut into packets for a target bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPacing {
    pub packets_per_frame: usize,
    pub packet_size: usize,
}

impl VideoPacing {
    pub fn new(bitrate_bps: u64, fps: u32, max_packet: usize) -> Self {
        let frame_bytes = (bitrate_bps / 8 / u64::from(fps.max(1))).max(HEADER_LEN as u64) as usize;
        let packets = frame_bytes.div_ceil(max_packet).max(1);
        Self {
            packets_per_frame: packets,
            packet_size: frame_bytes.div_ceil(packets).max(HEADER_LEN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_the_trip() {
        let s = Stamp {
            sender: 7,
            kind: Kind::Video,
            frame: 123,
            packet: 456_789,
            sent_us: 1_800_000_000_123_456,
        };
        let p = s.payload(1000);
        assert_eq!(p.len(), 1000);
        assert_eq!(Stamp::parse(&p), Some(s));
        assert_eq!(Stamp::parse(&p[..HEADER_LEN - 1]), None);
        assert_eq!(Stamp::parse(b"not a load test payload at all"), None);
    }

    #[test]
    fn pacing_splits_frames_into_packets_under_the_limit() {
        // 500 kbit/s at 25 fps = 2500 bytes per frame = 3 packets of 834 bytes under 1200.
        let p = VideoPacing::new(500_000, 25, 1200);
        assert_eq!(p.packets_per_frame, 3);
        assert!(p.packet_size <= 1200);
        assert!(p.packets_per_frame * p.packet_size >= 2500);
        let tiny = VideoPacing::new(4_000, 30, 1200);
        assert_eq!(tiny.packets_per_frame, 1);
        assert_eq!(tiny.packet_size, HEADER_LEN);
    }
}
