//! One server-side peer connection: the sans-I/O `rtc` core, its route in the UDP mux, and the
//! plumbing that moves its output onto the socket.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::distr::{Alphanumeric, SampleString};
use rtc::interceptor::{
    Attribute, Interceptor, NackGeneratorBuilder, NackResponderBuilder, Packet,
    ReceiverReportBuilder, Registry, SenderReportBuilder, Slot, StreamInfo, TaggedPacket,
    TwccReceiverBuilder,
};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error as RtcError;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::mpsc;
use vardrum_signalling::{CandidateInit, PcKind};

use crate::batch_send::SendBatch;
use crate::dtls_resend::FlightResend;
use crate::mux::{PeerKey, RouteGuard, Routes};
use crate::room::RoomInput;

/// The RTP header extension that carries an audio packet's level (RFC 6464).
pub(crate) const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// The id a session description gives a header extension (its `a=extmap:ID URI` line).
pub(crate) fn extmap_id(sdp: &str, uri: &str) -> Option<u8> {
    sdp.lines().find_map(|line| {
        let rest = line.strip_prefix("a=extmap:")?;
        let (id, rest) = rest.split_once(' ')?;
        let id = id.split('/').next()?;
        (rest.split_whitespace().next()? == uri)
            .then(|| id.parse().ok())
            .flatten()
    })
}

/// The codecs the SFU negotiates. It forwards what a publisher sends unchanged, so these are the
/// codecs every browser can decode: Opus, VP8 and H.264 constrained baseline.
fn media_engine() -> Result<MediaEngine, RtcError> {
    let mut engine = MediaEngine::default();
    let video_feedback = || {
        vec![
            RTCPFeedback {
                typ: "goog-remb".into(),
                parameter: String::new(),
            },
            RTCPFeedback {
                typ: "ccm".into(),
                parameter: "fir".into(),
            },
            RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            },
            RTCPFeedback {
                typ: "nack".into(),
                parameter: "pli".into(),
            },
        ]
    };
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.into(),
                clock_rate: 48000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                rtcp_feedback: vec![],
            },
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    let video = [
        (MIME_TYPE_VP8, "", 96),
        (
            MIME_TYPE_H264,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            102,
        ),
        (
            MIME_TYPE_H264,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
            108,
        ),
    ];
    // Simulcast: the layers of one video track are told apart by these RTP header extensions.
    for uri in [
        "urn:ietf:params:rtp-hdrext:sdes:mid",
        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    ] {
        engine.register_header_extension(
            RTCRtpHeaderExtensionCapability { uri: uri.into() },
            RtpCodecKind::Video,
            None,
        )?;
    }
    // The level of each audio packet (RFC 6464), for active speaker detection.
    engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.into(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    for (mime, fmtp, pt) in video {
        engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: mime.into(),
                    clock_rate: 90000,
                    channels: 0,
                    sdp_fmtp_line: fmtp.into(),
                    rtcp_feedback: video_feedback(),
                },
                payload_type: pt,
            },
            RtpCodecKind::Video,
        )?;
    }
    Ok(engine)
}

/// Lets keyframe requests (PLI, FIR) from a subscriber reach the SFU, which relays them to the
/// publisher, and what tells the SFU the subscriber's bandwidth (receiver reports, REMB). The
/// interceptors still see it all.
#[derive(Default)]
struct KeyframeRequestTap {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

/// A subscriber asking for a keyframe (PLI or FIR).
pub(crate) fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.downcast_ref::<PictureLossIndication>().is_some()
        || any.downcast_ref::<FullIntraRequest>().is_some()
}

fn is_for_the_room(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    is_keyframe_request(packet)
        || any.downcast_ref::<ReceiverReport>().is_some()
        || any
            .downcast_ref::<ReceiverEstimatedMaximumBitrate>()
            .is_some()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = RtcError;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| is_for_the_room(p.as_ref()))
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.writes.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl Interceptor for KeyframeRequestTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// One peer connection of a participant, as the room task owns it.
pub(crate) struct Peer {
    pub pc: RTCPeerConnection,
    pub connected: bool,
    /// Our address as our ICE candidate names it; the core matches packets to it.
    local: SocketAddr,
    pending_candidates: Vec<RTCIceCandidateInit>,
    /// DTLS records that arrived before the remote description (see `handle_datagram`).
    early_dtls: Vec<(Instant, SocketAddr, BytesMut)>,
    /// Our last handshake flight, sent again when the peer repeats its own.
    flight_resend: FlightResend,
    _route: RouteGuard,
}

/// How many early DTLS records are kept per connection; a handshake flight is a few records.
const MAX_EARLY_DTLS: usize = 16;

/// RFC 7983: a first byte in 20..=63 is DTLS.
fn is_dtls(data: &[u8]) -> bool {
    matches!(data.first(), Some(20..=63))
}

/// How often the ICE agent sends a connectivity check while connecting. The core's default,
/// 200 ms, made every subscriber connection (where the server is the controlling agent and
/// checks, then nominates, on its ticks) take 200-400 ms on loopback; libnice and browsers pace
/// checks at 20-50 ms (RFC 8445 §14.2 suggests Ta = 50 ms for one media stream's data).
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(25);
/// Checks per candidate pair before it counts as failed: 60 × 25 ms keeps the default's ~1.5 s
/// of trying, for networks with long round trips or loss.
const ICE_MAX_CHECKS: u16 = 60;

/// The interceptors one peer connection runs, by what flows on it. Every packet walks the whole
/// chain (each interceptor queues and dequeues it), so a connection carries only those that act
/// on its direction of media: a publisher connection only receives RTP, a subscriber connection
/// only sends it. The media engine still gets everything the defaults register (NACK, PLI and
/// transport-cc feedback, the simulcast header extensions), so the SDP is the same on both.
fn interceptors(kind: PcKind, engine: &mut MediaEngine) -> Result<Registry, RtcError> {
    register_default_interceptors(Registry::new(), engine)?;
    Ok(match kind {
        // Asks the publisher to resend what was lost, reports reception, and feeds its
        // congestion control (transport-wide feedback).
        PcKind::Publisher => Registry::new()
            .with(Slot::NackGenerator, NackGeneratorBuilder::new().build())
            .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build())
            .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build()),
        // Resends what a subscriber lost, sends sender reports (lip sync), and lets the
        // subscriber's keyframe requests through to the room.
        PcKind::Subscriber => Registry::new()
            .with(Slot::NackResponder, NackResponderBuilder::new().build())
            .with(Slot::SenderReport, SenderReportBuilder::new().build())
            .with(Slot::from(14_000), KeyframeRequestTap::default()),
    })
}

pub(crate) struct PeerContext<'a> {
    pub advertised: SocketAddr,
    pub routes: &'a Arc<Routes>,
    pub room_tx: &'a mpsc::Sender<RoomInput>,
}

impl Peer {
    pub fn new(ctx: &PeerContext<'_>, key: PeerKey, now: Instant) -> Result<Self, RtcError> {
        let mut rng = rand::rng();
        let ufrag = Alphanumeric.sample_string(&mut rng, 16);
        let pwd = Alphanumeric.sample_string(&mut rng, 32);
        let mut engine = media_engine()?;
        let registry = interceptors(key.pc, &mut engine)?;
        // The server has one candidate and nothing better to wait for: a pair is nominated as
        // soon as it works. The default waits a second for a peer-reflexive pair, which is what
        // a browser's pair looks like when its checks arrive before its trickled candidate, and
        // that second showed up as join time (docs/benchmarks.md).
        let settings = SettingEngineBuilder::new()
            .with_ice_credentials(ufrag.clone(), pwd)
            .with_host_acceptance_min_wait(Some(Duration::ZERO))
            .with_srflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_relay_acceptance_min_wait(Some(Duration::ZERO))
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_CHECKS))
            .build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(settings)
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .build(now)?;
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: ctx.advertised.ip().to_string(),
                port: ctx.advertised.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()?;
        pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
        let route = ctx.routes.register(ufrag, ctx.room_tx.clone(), key);
        Ok(Self {
            pc,
            connected: false,
            local: ctx.advertised,
            pending_candidates: Vec::new(),
            early_dtls: Vec::new(),
            flight_resend: FlightResend::default(),
            _route: route,
        })
    }

    /// Feeds one datagram from the network into the core.
    ///
    /// On the subscriber connection the browser answers and is the DTLS client: its first
    /// handshake record can arrive over UDP before its answer arrives over the WebSocket. The
    /// core would drop it and the browser would resend only after about a second, so such
    /// records are kept and replayed once the answer is applied.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: BytesMut) {
        if is_dtls(&data) && self.pc.remote_description().is_none() {
            if self.early_dtls.len() < MAX_EARLY_DTLS {
                self.early_dtls.push((now, from, data));
            }
            return;
        }
        if !self.connected && is_dtls(&data) {
            self.flight_resend.on_received(&data);
        }
        let msg = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.local,
                peer_addr: from,
                transport_protocol: TransportProtocol::UDP,
                ecn: None,
            },
            message: data,
        };
        if let Err(e) = self.pc.handle_read(msg) {
            // Garbage or a late packet of a closed DTLS session; not the room's problem.
            tracing::trace!(error = %e, "datagram rejected by peer connection");
        }
    }

    /// Moves everything the core has queued for the network into `batch`.
    pub fn drain_into(&mut self, batch: &mut SendBatch) {
        if self.connected {
            self.flight_resend.finish();
        }
        let mut answered = false;
        while let Some(out) = self.pc.poll_write() {
            answered |= self
                .flight_resend
                .on_sent(&out.message, out.transport.peer_addr);
            batch.push(out.message, out.transport.peer_addr);
        }
        for (data, to) in self.flight_resend.resend(answered) {
            tracing::debug!(%to, "peer repeated its DTLS flight: sending ours again");
            batch.push(data, to);
        }
    }

    /// Adds a trickled candidate of the client, or keeps it until a remote description exists.
    pub fn add_remote_candidate(&mut self, candidate: Option<CandidateInit>) -> Result<(), String> {
        let Some(c) = candidate else {
            return Ok(()); // end of candidates: nothing to do for a full ICE agent here
        };
        let init = RTCIceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_mline_index,
            username_fragment: c.username_fragment,
            ..Default::default()
        };
        let value = init.candidate.trim();
        let value = value.strip_prefix("candidate:").unwrap_or(value);
        if value.is_empty() {
            return Ok(());
        }
        // Parse now, so that garbage is refused when it arrives, not when it is applied later.
        rtc::ice::candidate::unmarshal_candidate(value)
            .map_err(|e| format!("the candidate could not be parsed: {e}"))?;
        if self.pc.remote_description().is_none() {
            if self.pending_candidates.len() >= 64 {
                return Err("too many candidates before the description".into());
            }
            self.pending_candidates.push(init);
            return Ok(());
        }
        self.pc
            .add_remote_candidate(init)
            .map_err(|e| format!("the candidate could not be applied: {e}"))
    }

    /// Applies what arrived before the remote description: candidates and DTLS records.
    pub fn apply_early_arrivals(&mut self) {
        for init in std::mem::take(&mut self.pending_candidates) {
            if let Err(e) = self.pc.add_remote_candidate(init) {
                tracing::debug!(error = %e, "early candidate could not be applied");
            }
        }
        for (now, from, data) in std::mem::take(&mut self.early_dtls) {
            self.handle_datagram(now, from, data);
        }
    }

    pub fn close(&mut self) {
        let _ = self.pc.close();
    }
}
