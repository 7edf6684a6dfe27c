//! The WebRTC side of a simulated participant, shared by the vardrum and the Janus drivers: the
//! peer connections (the async `webrtc` crate, with ICE, DTLS and SRTP), the synthetic stamped
//! media they send, and the reader that measures every track they receive. Only the signalling
//! differs between the two servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use vardrum_signalling::{CandidateInit, PcKind};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionIceEvent,
};

use crate::collector::Collector;
use crate::media::{Kind, Stamp, VideoPacing, now_us};
use crate::participant::Plan;
use crate::stats::TrackStats;

/// What a peer connection tells its participant's signalling loop.
pub enum PcEvent {
    /// A local ICE candidate to trickle to the server.
    Candidate(PcKind, CandidateInit),
    /// Gathering is over: no more candidates on this connection.
    GatheringComplete(PcKind),
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
        let collector = self.collector.clone();
        let joined_at = self.joined_at;
        let receiver = self.receiver;
        tokio::spawn(async move {
            let mut stats: Option<Arc<std::sync::Mutex<TrackStats>>> = None;
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                    continue;
                };
                let Some(stamp) = Stamp::parse(&packet.payload) else {
                    continue;
                };
                let arrival = now_us();
                let entry = stats.get_or_insert_with(|| {
                    if stamp.kind == Kind::Video {
                        collector.first_video(joined_at.elapsed());
                    }
                    collector.register_track(receiver, TrackStats::new(stamp.sender, stamp.kind))
                });
                if let Ok(mut s) = entry.lock() {
                    s.record(&stamp, packet.payload.len(), packet.header.marker, arrival);
                }
            }
        });
    }
}

fn media_parts() -> anyhow::Result<(
    MediaEngine,
    Registry,
    rtc::peer_connection::configuration::setting_engine::SettingEngine,
)> {
    let mut engine = MediaEngine::default();
    engine.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)?;
    let settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    Ok((engine, registry, settings))
}

/// A peer connection with one UDP socket on 127.0.0.1 (binding the wildcard would skip
/// loopback addresses).
pub async fn build_pc(handler: Handler) -> anyhow::Result<Arc<dyn PeerConnection>> {
    let (engine, registry, settings) = media_parts()?;
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

/// The publisher connection, its offer's SDP, and the tasks writing its media.
pub type Publishing = (
    Arc<dyn PeerConnection>,
    String,
    Vec<tokio::task::JoinHandle<()>>,
);

/// Builds the publisher connection with the plan's tracks (Opus audio, VP8 video), makes the
/// offer, and starts the synthetic senders (they write nothing until negotiation completes).
pub async fn start_publishing(
    plan: &Plan,
    handler: Handler,
    collector: &Arc<Collector>,
) -> anyhow::Result<Publishing> {
    let pc = build_pc(handler).await?;
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
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            plan.identity.clone(),
            format!("{}-{codec_kind}", plan.identity),
            format!("{}-{codec_kind}", plan.identity),
            codec_kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: RTCRtpCodec {
                    mime_type: mime.to_owned(),
                    clock_rate,
                    channels,
                    ..Default::default()
                },
                ..Default::default()
            }],
        )));
        pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        tracks.push((kind, track, ssrc, pt));
    }
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer.clone()).await?;
    let tasks = tracks
        .into_iter()
        .map(|(kind, track, ssrc, pt)| {
            let sender = Sender {
                index: plan.index,
                kind,
                track,
                ssrc,
                pt,
                video: plan.video,
                collector: collector.clone(),
            };
            tokio::spawn(sender.run())
        })
        .collect();
    Ok((pc, offer.sdp, tasks))
}

/// Writes stamped packets for one track at the scenario's rate.
struct Sender {
    index: u32,
    kind: Kind,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    pt: u8,
    video: Option<crate::scenario::Video>,
    collector: Arc<Collector>,
}

impl Sender {
    async fn run(self) {
        // Audio: one 20 ms Opus-sized packet at a time. Video: frames at the frame rate, each cut
        // into packets sent back to back, as an encoder's packetizer does.
        let (interval, pacing, clock_step) = match (self.kind, self.video) {
            (Kind::Video, Some(v)) => (
                Duration::from_secs_f64(1.0 / f64::from(v.fps)),
                VideoPacing::new(v.bitrate_bps, v.fps, v.packet_size),
                90_000 / v.fps,
            ),
            _ => (
                Duration::from_millis(20),
                VideoPacing {
                    packets_per_frame: 1,
                    packet_size: 100,
                },
                960,
            ),
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut frame, mut packet) = (0u32, 0u32);
        let mut seq: u16 = rand::random();
        loop {
            tick.tick().await;
            let mut written = 0;
            for i in 0..pacing.packets_per_frame {
                let stamp = Stamp {
                    sender: self.index,
                    kind: self.kind,
                    frame,
                    packet,
                    sent_us: now_us(),
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
                    payload: stamp.payload(pacing.packet_size),
                };
                // Until negotiation completes the track is unbound and writes fail; nothing is
                // counted as sent then, so loss is measured from the first packet that went out.
                if self.track.write_rtp(rtp).await.is_ok() {
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
                frame += 1;
            }
        }
    }
}
