//! The WebRTC side of a simulated participant, shared by the vardrum and the Janus drivers: the
//! peer connections (the async `webrtc` crate, with ICE, DTLS and SRTP), the synthetic stamped
//! media they send (with `--simulcast`, video as three rid layers `q`, `h`, `f` on one track),
//! keyframes on request, and the reader that measures every track they receive, per layer.
//! Only the signalling differs between the two servers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability,
    RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error as RtcError;
use rtc::shared::marshal::{Marshal, MarshalSize};
use tokio::sync::mpsc;
use vardrum_signalling::{CandidateInit, PcKind};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionIceEvent,
};

use crate::collector::Collector;
use crate::group_visit::{SILENT, Voice};
use crate::media::{
    AUDIO_PACKETS_PER_SEC, AUDIO_PAYLOAD_LEN, Kind, Layer, Stamp, VideoPacing, Vp8, now_us,
    video_payload,
};
use crate::participant::Plan;
use crate::stats::{FREEZE_US, TrackStats};

/// The header extensions a rid-based simulcast sender needs (the receiver learns each layer's
/// SSRC from them: the SDP carries no `a=ssrc` for rid encodings).
const SDES_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
const SDES_RTP_STREAM_ID: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
const SDES_REPAIRED_RTP_STREAM_ID: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
/// RFC 6464: the speaker's loudness in every audio packet (group visit), which the server's
/// active-speaker detection reads.
const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// "Nobody" in a receiver's [`Handler::speaker_view`].
pub const NOBODY: u32 = u32::MAX;
/// A keyframe at least this often, whether or not anyone asks.
const KEYFRAME_EVERY: Duration = Duration::from_secs(2);

/// What a peer connection tells its participant's signalling loop.
pub enum PcEvent {
    /// A local ICE candidate to trickle to the server.
    Candidate(PcKind, CandidateInit),
    /// Gathering is over: no more candidates on this connection.
    GatheringComplete(PcKind),
    /// A remote track arrived; `track_id` and `stream_id` are its ids in the offer (`a=msid`:
    /// on vardrum the publication id and the publisher's participant id).
    RemoteTrack {
        pc: PcKind,
        track_id: String,
        stream_id: String,
        video: bool,
    },
}

/// The event handler of one peer connection: trickles candidates to the signalling loop and
/// measures every received track.
pub struct Handler {
    /// Index of the participant receiving, for the per-track statistics.
    pub receiver: u32,
    pub pc: PcKind,
    pub events: mpsc::UnboundedSender<PcEvent>,
    pub collector: Arc<Collector>,
    /// When the participant started connecting (for connect → first video).
    pub joined_at: Instant,
    /// Group visit: the run index of the publisher this receiver shows large ([`NOBODY`]
    /// before anyone spoke). Its video should arrive on the top layer and everyone else's on
    /// the bottom one; and since layers then come and go, loss is measured per stretch and
    /// freezes over the whole track ([`TrackStats::segmented`]).
    pub speaker_view: Option<Arc<AtomicU32>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.events.send(PcEvent::Candidate(
                self.pc,
                CandidateInit {
                    candidate: init.candidate,
                    sdp_mid: init.sdp_mid,
                    sdp_mline_index: init.sdp_mline_index,
                    username_fragment: init.username_fragment,
                },
            ));
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.events.send(PcEvent::GatheringComplete(self.pc));
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PcEvent::RemoteTrack {
            pc: self.pc,
            track_id: track.track_id().await,
            stream_id: track.stream_id().await,
            video: track.kind().await == RtpCodecKind::Video,
        });
        let collector = self.collector.clone();
        let joined_at = self.joined_at;
        let receiver = self.receiver;
        let speaker_view = self.speaker_view.clone();
        tokio::spawn(async move {
            // One entry per (sender, kind, layer) seen on this track: packet numbers count per
            // layer, and a server may reuse a track for another publisher.
            let mut entries: Vec<(u32, Kind, Option<Layer>, Arc<std::sync::Mutex<TrackStats>>)> =
                Vec::new();
            let mut seen_video = false;
            // Group visit: per sender, the last video arrival over all layers (for freezes) and
            // the layer it came on (a change is the server switching this subscriber).
            let mut last_video: Vec<(u32, u64, Option<Layer>)> = Vec::new();
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                    continue;
                };
                let Some(stamp) = Stamp::find(&packet.payload) else {
                    continue;
                };
                let arrival = now_us();
                let key = (stamp.sender, stamp.kind, stamp.layer);
                let found = entries.iter().position(|(s, k, l, _)| (*s, *k, *l) == key);
                let i = match found {
                    Some(i) => i,
                    None => {
                        if stamp.kind == Kind::Video && !seen_video {
                            seen_video = true;
                            collector.first_video(joined_at.elapsed());
                        }
                        let mut stats = TrackStats::new(stamp.sender, stamp.kind, stamp.layer);
                        if speaker_view.is_some() {
                            stats = stats.segmented();
                        }
                        let entry = collector.register_track(receiver, stats);
                        entries.push((stamp.sender, stamp.kind, stamp.layer, entry));
                        entries.len() - 1
                    }
                };
                let mut froze = false;
                if let Some(view) = &speaker_view
                    && stamp.kind == Kind::Video
                {
                    match last_video.iter_mut().find(|(s, _, _)| *s == stamp.sender) {
                        Some((_, last, layer)) => {
                            froze = arrival.saturating_sub(*last) > FREEZE_US;
                            *last = (*last).max(arrival);
                            if *layer != stamp.layer {
                                let before = (stamp.sender, Kind::Video, *layer);
                                if let Some((.., e)) =
                                    entries.iter().find(|(s, k, l, _)| (*s, *k, *l) == before)
                                    && let Ok(mut e) = e.lock()
                                {
                                    e.switched_away();
                                }
                                *layer = stamp.layer;
                            }
                        }
                        None => last_video.push((stamp.sender, arrival, stamp.layer)),
                    }
                    if let Some(layer) = stamp.layer.filter(|_| packet.header.marker) {
                        let large = view.load(Relaxed) == stamp.sender;
                        collector
                            .visit
                            .video_layer(large, layer == Layer::F, layer == Layer::Q);
                    }
                }
                if let Ok(mut s) = entries[i].3.lock() {
                    s.record(&stamp, packet.payload.len(), packet.header.marker, arrival);
                    if froze {
                        s.freeze();
                    }
                }
            }
        });
    }
}

/// Lets keyframe requests (PLI, FIR) from the server reach the publisher's video track
/// ([`TrackLocal::poll`]); all other inbound RTCP stays with the interceptors that act on it.
#[derive(Default)]
struct KeyframeRequestTap {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// The SSRCs a keyframe request asks a keyframe for.
fn requested_ssrcs(packet: &dyn rtc::rtcp::Packet) -> Vec<u32> {
    let any = packet.as_any();
    if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
        vec![pli.media_ssrc]
    } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
        fir.fir.iter().map(|e| e.ssrc).collect()
    } else {
        Vec::new()
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = RtcError;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
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

/// What a peer connection is for, as far as its set-up differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcOptions {
    /// Negotiate the rid/mid header extensions simulcast needs (video).
    pub simulcast: bool,
    /// Hand keyframe requests to the application (the publisher connection).
    pub keyframe_requests: bool,
    /// Negotiate the RFC 6464 audio level extension (a group visit's publisher connection).
    pub audio_level: bool,
}

fn media_parts(
    options: PcOptions,
) -> anyhow::Result<(
    MediaEngine,
    Registry,
    rtc::peer_connection::configuration::setting_engine::SettingEngine,
)> {
    let mut engine = MediaEngine::default();
    engine.register_default_codecs()?;
    if options.simulcast {
        for uri in [SDES_MID, SDES_RTP_STREAM_ID, SDES_REPAIRED_RTP_STREAM_ID] {
            engine.register_header_extension(
                RTCRtpHeaderExtensionCapability {
                    uri: uri.to_owned(),
                },
                RtpCodecKind::Video,
                None,
            )?;
        }
    }
    if options.audio_level {
        engine.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: AUDIO_LEVEL.to_owned(),
            },
            RtpCodecKind::Audio,
            None,
        )?;
    }
    let registry = if options.keyframe_requests {
        // The slot the SFU gives its own tap: after the interceptors that read RTCP.
        Registry::new().with(Slot::from(14_000), KeyframeRequestTap::default())
    } else {
        Registry::new()
    };
    let registry = register_default_interceptors(registry, &mut engine)?;
    let settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    Ok((engine, registry, settings))
}

/// A peer connection with one UDP socket on 127.0.0.1 (binding the wildcard would skip
/// loopback addresses).
pub async fn build_pc(
    handler: Handler,
    options: PcOptions,
) -> anyhow::Result<Arc<dyn PeerConnection>> {
    let (engine, registry, settings) = media_parts(options)?;
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(handler))
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// Applies the server's offer and returns the answer's SDP.
pub async fn answer_offer(pc: &Arc<dyn PeerConnection>, sdp: String) -> anyhow::Result<String> {
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer.clone()).await?;
    Ok(answer.sdp)
}

/// The `a=mid` of the first video m-section of an SDP.
fn video_mid(sdp: &str) -> Option<String> {
    let mut in_video = false;
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            in_video = media.starts_with("video");
        } else if in_video && let Some(mid) = line.strip_prefix("a=mid:") {
            return Some(mid.trim().to_owned());
        }
    }
    None
}

/// The publisher connection, its offer's SDP, and the tasks writing its media.
pub type Publishing = (
    Arc<dyn PeerConnection>,
    String,
    Vec<tokio::task::JoinHandle<()>>,
);

/// One encoding of a local track: its SSRC, layer and the flag a keyframe request sets.
struct Encoding {
    ssrc: u32,
    layer: Option<Layer>,
    keyframe_wanted: Arc<AtomicBool>,
}

/// Builds the publisher connection with the plan's tracks (Opus audio, VP8 video; with
/// simulcast, video as three rid encodings on one track), makes the offer, and starts the
/// synthetic senders (they write nothing until negotiation completes) and the reader of
/// keyframe requests.
pub async fn start_publishing(
    plan: &Plan,
    handler: Handler,
    collector: &Arc<Collector>,
) -> anyhow::Result<Publishing> {
    let simulcast = plan.simulcast.is_some();
    let pc = build_pc(
        handler,
        PcOptions {
            simulcast,
            keyframe_requests: true,
            audio_level: plan.visit.is_some(),
        },
    )
    .await?;
    let mut tracks = Vec::new();
    let mut wanted = Vec::new();
    if plan.audio {
        wanted.push((
            Kind::Audio,
            RtpCodecKind::Audio,
            MIME_TYPE_OPUS,
            48000,
            2,
            111u8,
        ));
    }
    if plan.video.is_some() {
        wanted.push((
            Kind::Video,
            RtpCodecKind::Video,
            MIME_TYPE_VP8,
            90000,
            0,
            96u8,
        ));
    }
    for (kind, codec_kind, mime, clock_rate, channels, pt) in wanted {
        let layers: Vec<Option<Layer>> = if kind == Kind::Video && simulcast {
            Layer::ALL.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        let encodings: Vec<Encoding> = layers
            .into_iter()
            .map(|layer| Encoding {
                ssrc: rand::random::<u32>(),
                layer,
                keyframe_wanted: Arc::new(AtomicBool::new(false)),
            })
            .collect();
        let codec = RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate,
            channels,
            ..Default::default()
        };
        let codings = encodings
            .iter()
            .map(|e| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: e.layer.map(|l| l.rid().to_owned()).unwrap_or_default(),
                    ssrc: Some(e.ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                ..Default::default()
            })
            .collect();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            plan.identity.clone(),
            format!("{}-{codec_kind}", plan.identity),
            format!("{}-{codec_kind}", plan.identity),
            codec_kind,
            codings,
        )));
        pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        tracks.push((kind, track, encodings, pt));
    }
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer.clone()).await?;
    // Simulcast packets name their m-section and layer in header extensions.
    let mid = video_mid(&offer.sdp).map(Bytes::from);
    let mut tasks = Vec::new();
    for (kind, track, encodings, pt) in tracks {
        if kind == Kind::Video {
            let flags = encodings
                .iter()
                .map(|e| (e.ssrc, e.keyframe_wanted.clone()))
                .collect();
            tasks.push(tokio::spawn(read_keyframe_requests(
                track.clone(),
                flags,
                collector.clone(),
            )));
        }
        for e in encodings {
            let sender = Sender {
                index: plan.index,
                kind,
                track: track.clone(),
                ssrc: e.ssrc,
                pt,
                layer: e.layer,
                mid: mid.clone().filter(|_| e.layer.is_some()),
                keyframe_wanted: e.keyframe_wanted,
                video: plan.video,
                voice: plan.voice().filter(|_| kind == Kind::Audio),
                collector: collector.clone(),
            };
            tasks.push(tokio::spawn(sender.run()));
        }
    }
    Ok((pc, offer.sdp, tasks))
}

/// Turns keyframe requests (PLI, FIR) for the video track into a keyframe on the layer whose
/// SSRC they name, at its next frame.
async fn read_keyframe_requests(
    track: Arc<TrackLocalStaticRTP>,
    flags: Vec<(u32, Arc<AtomicBool>)>,
    collector: Arc<Collector>,
) {
    loop {
        match track.poll().await {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                for ssrc in packets.iter().flat_map(|p| requested_ssrcs(p.as_ref())) {
                    if let Some((_, flag)) = flags.iter().find(|(s, _)| *s == ssrc) {
                        flag.store(true, Relaxed);
                        collector.keyframe_requested();
                    }
                }
            }
            Some(_) => {}
            // Not bound yet (negotiation under way), or unbound at the end: look again later.
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// An RTP header extension whose value is fixed bytes (the SDES mid and rid).
struct SdesItem(Bytes);

impl MarshalSize for SdesItem {
    fn marshal_size(&self) -> usize {
        self.0.len()
    }
}

impl Marshal for SdesItem {
    fn marshal_to(&self, buf: &mut [u8]) -> rtc::shared::error::Result<usize> {
        let n = self.0.len();
        match buf.get_mut(..n) {
            Some(out) => {
                out.copy_from_slice(&self.0);
                Ok(n)
            }
            None => Err(RtcError::ErrShortBuffer),
        }
    }
}

/// Writes stamped packets for one track (or one simulcast layer of it) at the scenario's rate.
struct Sender {
    index: u32,
    kind: Kind,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    pt: u8,
    /// The simulcast layer this sender writes; `None` for a plain track.
    layer: Option<Layer>,
    /// The video m-section's mid, sent with the rid on simulcast packets.
    mid: Option<Bytes>,
    keyframe_wanted: Arc<AtomicBool>,
    video: Option<crate::scenario::Video>,
    /// Audio in a group visit: the level each packet carries, and where to say it flows.
    voice: Option<Arc<Voice>>,
    collector: Arc<Collector>,
}

impl Sender {
    async fn run(self) {
        // Audio: one 20 ms Opus-sized packet at a time. Video: frames at the frame rate, each cut
        // into packets sent back to back, as an encoder's packetizer does.
        let (interval, pacing, clock_step, fps) = match (self.kind, self.video) {
            (Kind::Video, Some(v)) => (
                Duration::from_secs_f64(1.0 / f64::from(v.fps)),
                v.pacing(self.layer),
                90_000 / v.fps,
                v.fps,
            ),
            _ => (
                Duration::from_secs(1) / AUDIO_PACKETS_PER_SEC,
                VideoPacing {
                    packets_per_frame: 1,
                    packet_size: AUDIO_PAYLOAD_LEN,
                },
                48_000 / AUDIO_PACKETS_PER_SEC,
                AUDIO_PACKETS_PER_SEC,
            ),
        };
        let keyframe_every = (KEYFRAME_EVERY.as_secs_f64() * f64::from(fps)).round() as u32;
        let (width, height) = self.layer.unwrap_or(Layer::F).resolution();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut frame, mut packet) = (0u32, 0u32);
        let mut seq: u16 = rand::random();
        let mut picture_id: u16 = rand::random::<u16>() & 0x7fff;
        // Frames since the last keyframe went out; `None` until the first one has.
        let mut since_keyframe: Option<u32> = None;
        loop {
            tick.tick().await;
            let requested = self.keyframe_wanted.swap(false, Relaxed);
            let keyframe = self.kind == Kind::Video
                && (requested || since_keyframe.is_none_or(|n| n >= keyframe_every));
            let mut written = 0;
            for i in 0..pacing.packets_per_frame {
                let stamp = Stamp {
                    sender: self.index,
                    kind: self.kind,
                    layer: self.layer,
                    frame,
                    packet,
                    sent_us: now_us(),
                };
                let payload = match self.kind {
                    Kind::Audio => stamp.payload(pacing.packet_size),
                    Kind::Video => {
                        let vp8 = Vp8 {
                            picture_id,
                            starts_frame: i == 0,
                            keyframe,
                            width,
                            height,
                        };
                        video_payload(&vp8, &stamp, pacing.packet_size)
                    }
                };
                let rtp = rtc::rtp::Packet {
                    header: rtc::rtp::header::Header {
                        version: 2,
                        payload_type: self.pt,
                        sequence_number: seq,
                        timestamp: frame.wrapping_mul(clock_step),
                        ssrc: self.ssrc,
                        marker: i + 1 == pacing.packets_per_frame,
                        ..Default::default()
                    },
                    payload,
                };
                // Until negotiation completes the track is unbound and writes fail; nothing is
                // counted as sent then, so loss is measured from the first packet that went out.
                let result = match (&self.mid, self.layer, &self.voice) {
                    (_, _, Some(voice)) => {
                        let level = voice.level();
                        let extension = AudioLevelExtension {
                            level,
                            voice: level < SILENT,
                        };
                        let result = self
                            .track
                            .write_rtp_with_extensions(
                                rtp,
                                &[HeaderExtension::AudioLevel(extension)],
                            )
                            .await;
                        if result.is_ok() {
                            voice.flowing();
                        }
                        result
                    }
                    (Some(mid), Some(layer), None) => {
                        let extensions = [
                            HeaderExtension::Custom {
                                uri: SDES_MID.into(),
                                extension: Box::new(SdesItem(mid.clone())),
                            },
                            HeaderExtension::Custom {
                                uri: SDES_RTP_STREAM_ID.into(),
                                extension: Box::new(SdesItem(Bytes::from_static(
                                    layer.rid().as_bytes(),
                                ))),
                            },
                        ];
                        self.track.write_rtp_with_extensions(rtp, &extensions).await
                    }
                    _ => self.track.write_rtp(rtp).await,
                };
                if result.is_ok() {
                    written += 1;
                    packet += 1;
                    seq = seq.wrapping_add(1);
                } else {
                    break;
                }
            }
            if written > 0 {
                self.collector
                    .sent(self.kind, written, written * pacing.packet_size as u64);
                if keyframe {
                    since_keyframe = Some(0);
                    self.collector.keyframe_sent();
                }
                since_keyframe = since_keyframe.map(|n| n + 1);
                frame += 1;
                picture_id = (picture_id + 1) & 0x7fff;
            } else if requested {
                // Asked for but not sent: try again at the next frame.
                self.keyframe_wanted.store(true, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_video_mid_comes_from_the_video_section() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=mid:1\r\na=rid:q send\r\n";
        assert_eq!(video_mid(sdp).as_deref(), Some("1"));
        assert_eq!(video_mid("v=0\r\nm=audio 9 x 111\r\na=mid:0\r\n"), None);
    }

    #[test]
    fn keyframe_requests_name_their_ssrcs() {
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 42,
        };
        assert!(is_keyframe_request(&pli));
        assert_eq!(requested_ssrcs(&pli), vec![42]);
        let fir = FullIntraRequest {
            sender_ssrc: 1,
            media_ssrc: 0,
            fir: vec![rtc::rtcp::payload_feedbacks::full_intra_request::FirEntry {
                ssrc: 7,
                sequence_number: 1,
            }],
        };
        assert!(is_keyframe_request(&fir));
        assert_eq!(requested_ssrcs(&fir), vec![7]);
        let rr = rtc::rtcp::receiver_report::ReceiverReport::default();
        assert!(!is_keyframe_request(&rr));
        assert!(requested_ssrcs(&rr).is_empty());
    }

    #[test]
    fn an_sdes_item_marshals_its_bytes() {
        let item = SdesItem(Bytes::from_static(b"h"));
        let mut buf = [0u8; 4];
        assert_eq!(item.marshal_size(), 1);
        assert_eq!(item.marshal_to(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'h');
        assert!(item.marshal_to(&mut []).is_err());
    }
}
