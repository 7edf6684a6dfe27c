//! A participant's media while it is in the visit: its two peer connections, what it publishes
//! and what it receives. It exists only while the participant is admitted and connected (the
//! membership side says when, with `Effect::MediaUp` and `Effect::MediaDown`).

use std::sync::Arc;

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use vardrum_signalling::{MediaKind, PcKind, Quality, ServerMessage};

use super::bandwidth::Estimate;
use super::membership::Outbox;
use crate::Outbound;
use crate::peer::Peer;
use crate::rate::RateMeter;
use crate::simulcast::{Layer, Rewriter};

/// A track a participant publishes.
pub(super) struct Publication {
    pub id: Arc<str>,
    /// The track's id inside the publisher's peer connection.
    pub track_id: String,
    pub receiver_id: RTCRtpReceiverId,
    pub kind: RtpCodecKind,
    pub codec: RTCRtpCodec,
    /// Its RTP streams: one, or one per simulcast layer, added as their packets arrive.
    pub layers: Vec<Layer>,
    /// Whether the track came with rids (simulcast): then layers are switched at keyframes.
    pub simulcast: bool,
}

impl Publication {
    pub fn layer_mut(&mut self, ssrc: u32) -> Option<&mut Layer> {
        self.layers.iter_mut().find(|l| l.ssrc == ssrc)
    }
}

/// A publication forwarded to one subscriber.
pub(super) struct Subscription {
    /// The publisher's key (see [`Media::key`]).
    pub publisher: Arc<str>,
    pub publication: Arc<str>,
    pub sender_id: RTCRtpSenderId,
    pub ssrc: u32,
    pub kind: RtpCodecKind,
    pub mime_type: String,
    /// The payload type the subscriber negotiated for the codec; known once it answered.
    pub payload_type: Option<u8>,
    /// The simulcast layer it asked for with `set_quality` (high unless it said otherwise).
    pub quality: Quality,
    /// The layer that fits the tile the page shows it in (`track_settings`; high until told).
    pub fit: Quality,
    /// The page does not show it: nothing is forwarded (video only).
    pub paused: bool,
    /// The most the bandwidth toward the subscriber allows now (`None`: no limit).
    pub cap: Option<Quality>,
    /// Not even the lowest layer fits the bandwidth now: paused until it does.
    pub starved: bool,
    /// Which layer it is on and how its packets are renumbered.
    pub rewriter: Rewriter,
}

impl Subscription {
    /// The layer the subscriber wants: what was asked for, no more than the tile shows.
    pub fn wanted(&self) -> Quality {
        lower(self.quality, self.fit)
    }

    /// The layer to forward: what it wants, no more than its bandwidth allows.
    pub fn target(&self) -> Quality {
        match self.cap {
            Some(cap) => lower(self.wanted(), cap),
            None => self.wanted(),
        }
    }
}

/// The lower of two qualities.
pub(super) fn lower(a: Quality, b: Quality) -> Quality {
    let rank = |q| match q {
        Quality::Low => 0,
        Quality::Medium => 1,
        Quality::High => 2,
    };
    if rank(a) <= rank(b) { a } else { b }
}

/// The layer that fits a tile of `width` × `height` CSS pixels: simulcast layers are a quarter,
/// half and all of the camera's resolution (typically 180p, 360p and 720p), and a layer is
/// enough while the tile has at most one and a half times its pixels.
pub(super) fn fit_for(width: u32, height: u32) -> Quality {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        Quality::High
    } else if pixels <= 320 * 180 * 3 / 2 {
        Quality::Low
    } else if pixels <= 640 * 360 * 3 / 2 {
        Quality::Medium
    } else {
        Quality::High
    }
}

pub(super) struct Media {
    /// The participant's key (its token's `sub`): routes datagrams, never sent to anyone.
    pub key: Arc<str>,
    /// The opaque participant id: the stream id of its tracks in others' subscriber offers.
    pub id: Arc<str>,
    pub session: u64,
    pub out: Outbox,
    pub publisher: Option<Peer>,
    pub subscriber: Option<Peer>,
    pub offer_outstanding: bool,
    pub renegotiate: bool,
    /// Tracks that opened on the publisher connection but have sent no packet yet.
    pub opened_tracks: Vec<(String, RTCRtpReceiverId)>,
    pub publications: Vec<Publication>,
    pub subscriptions: Vec<Subscription>,
    /// A host muted this kind: its packets are not forwarded until the participant unmutes.
    pub blocked_audio: bool,
    pub blocked_video: bool,
    /// The id of the audio level header extension on its publisher connection, once known.
    pub audio_level_ext: Option<u8>,
    /// The bandwidth toward it, as its side reports it.
    pub estimate: Estimate,
    /// What it is being sent.
    pub sent: RateMeter,
    /// Send-only transceivers on its subscriber connection whose publication went: used again
    /// for the next of their kind, so the session description does not grow with every arrival.
    pub idle_audio: usize,
    pub idle_video: usize,
}

impl Media {
    pub fn new(key: Arc<str>, id: Arc<str>, session: u64, out: Outbox) -> Self {
        Self {
            key,
            id,
            session,
            out,
            publisher: None,
            subscriber: None,
            offer_outstanding: false,
            renegotiate: false,
            opened_tracks: Vec::new(),
            publications: Vec::new(),
            subscriptions: Vec::new(),
            blocked_audio: false,
            blocked_video: false,
            audio_level_ext: None,
            estimate: Estimate::default(),
            sent: RateMeter::default(),
            idle_audio: 0,
            idle_video: 0,
        }
    }

    pub fn peer_mut(&mut self, pc: PcKind) -> Option<&mut Peer> {
        match pc {
            PcKind::Publisher => self.publisher.as_mut(),
            PcKind::Subscriber => self.subscriber.as_mut(),
        }
    }

    pub fn send(&self, message: ServerMessage) {
        let _ = self.out.send(Outbound::Message(message));
    }

    pub fn block(&mut self, kind: MediaKind, blocked: bool) {
        match kind {
            MediaKind::Audio => self.blocked_audio = blocked,
            MediaKind::Video => self.blocked_video = blocked,
        }
    }

    /// Whether packets of this kind from this participant may be forwarded.
    pub fn forwards(&self, kind: RtpCodecKind) -> bool {
        match kind {
            RtpCodecKind::Audio => !self.blocked_audio,
            RtpCodecKind::Video => !self.blocked_video,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_get_the_layer_that_fills_them() {
        assert_eq!(fit_for(160, 90), Quality::Low);
        assert_eq!(fit_for(320, 180), Quality::Low);
        assert_eq!(fit_for(480, 270), Quality::Medium);
        assert_eq!(fit_for(640, 360), Quality::Medium);
        assert_eq!(fit_for(1280, 720), Quality::High);
        assert_eq!(fit_for(0, 0), Quality::High, "size unknown: as asked");
        assert_eq!(lower(Quality::High, Quality::Low), Quality::Low);
        assert_eq!(lower(Quality::Medium, Quality::High), Quality::Medium);
    }
}
