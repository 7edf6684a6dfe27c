//! One simulated participant on a vardrum server: real signalling (the documented protocol,
//! through `vardrum_signalling::client`), real WebRTC (the async `webrtc` crate, with ICE, DTLS
//! and SRTP), synthetic stamped media out, measured media in.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
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
use tokio::sync::{mpsc, watch};
use vardrum_signalling::client::{Incoming, SignallingClient};
use vardrum_signalling::{CandidateInit, ClientMessage, PcKind, ServerMessage};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionIceEvent,
};

use crate::collector::Collector;
use crate::media::{Kind, Stamp, VideoPacing, now_us};
use crate::scenario::Video;
use crate::stats::TrackStats;
use crate::tokens::TokenSource;

/// Who this participant is and what it sends.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: u32,
    pub identity: String,
    pub room: String,
    pub publish: bool,
    pub audio: bool,
    pub video: Option<Video>,
}

/// What the run shares with every participant.
pub struct Shared {
    pub ws_url: String,
    pub tokens: TokenSource,
    pub collector: Arc<Collector>,
}

enum PcEvent {
    Candidate(PcKind, CandidateInit),
}

struct Handler {
    receiver: u32,
    pc: PcKind,
    events: mpsc::UnboundedSender<PcEvent>,
    collector: Arc<Collector>,
    joined_at: Instant,
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

async fn build_pc(handler: Handler) -> anyhow::Result<Arc<dyn PeerConnection>> {
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

/// How a participant's time in the room ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Joined and left when told to.
    Completed,
    /// The join was refused or failed; the reason names it (an error code or a transport error).
    JoinFailed(String),
    /// Joined, then the server closed the session.
    Dropped(String),
}

/// Joins, publishes and subscribes until `stop` turns true, then leaves.
pub async fn run(plan: Plan, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> Outcome {
    let collector = shared.collector.clone();
    collector.join_attempts.fetch_add(1, Relaxed);
    let started = Instant::now();
    let token = match shared.tokens.token(&plan.room, &plan.identity).await {
        Ok(t) => t,
        Err(e) => return collector.join_failed(format!("token: {e}")),
    };
    let mut client = match SignallingClient::connect(&shared.ws_url).await {
        Ok(c) => c,
        Err(e) => return collector.join_failed(format!("connect: {e}")),
    };
    let join = ClientMessage::Join {
        v: vardrum_signalling::PROTOCOL_VERSION,
        room: plan.room.clone(),
        token,
    };
    if let Err(e) = client.send(&join).await {
        return collector.join_failed(format!("send join: {e}"));
    }
    match client.next().await {
        Ok(Incoming::Message(ServerMessage::Joined { .. })) => {}
        Ok(Incoming::Message(ServerMessage::Error { code, .. })) => {
            return collector.join_failed(code.as_str().to_owned());
        }
        Ok(other) => return collector.join_failed(format!("unexpected answer to join: {other:?}")),
        Err(e) => return collector.join_failed(format!("join: {e}")),
    }
    collector.joined(started.elapsed());

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let handler = |pc| Handler {
        receiver: plan.index,
        pc,
        events: events_tx.clone(),
        collector: collector.clone(),
        joined_at: started,
    };
    let mut publisher: Option<Arc<dyn PeerConnection>> = None;
    let mut senders = Vec::new();
    if plan.publish {
        match start_publishing(&plan, handler(PcKind::Publisher), &collector).await {
            Ok((pc, offer, tasks)) => {
                if client
                    .send(&ClientMessage::Offer {
                        pc: PcKind::Publisher,
                        sdp: offer,
                    })
                    .await
                    .is_err()
                {
                    return Outcome::Dropped("send offer".into());
                }
                publisher = Some(pc);
                senders = tasks;
            }
            Err(e) => return Outcome::Dropped(format!("publisher connection: {e}")),
        }
    }

    let mut subscriber: Option<Arc<dyn PeerConnection>> = None;
    let outcome = loop {
        tokio::select! {
            incoming = client.next() => match incoming {
                Ok(Incoming::Message(ServerMessage::Answer { sdp, .. })) => {
                    if let (Some(pc), Ok(answer)) = (&publisher, RTCSessionDescription::answer(sdp))
                        && let Err(e) = pc.set_remote_description(answer).await
                    {
                        break Outcome::Dropped(format!("publisher answer: {e}"));
                    }
                }
                Ok(Incoming::Message(ServerMessage::Offer { sdp, .. })) => {
                    let pc = match &subscriber {
                        Some(pc) => pc.clone(),
                        None => match build_pc(handler(PcKind::Subscriber)).await {
                            Ok(pc) => {
                                subscriber = Some(pc.clone());
                                pc
                            }
                            Err(e) => break Outcome::Dropped(format!("subscriber connection: {e}")),
                        },
                    };
                    match answer_offer(&pc, sdp).await {
                        Ok(answer) => {
                            let _ = client.send(&ClientMessage::Answer { pc: PcKind::Subscriber, sdp: answer }).await;
                        }
                        Err(e) => break Outcome::Dropped(format!("subscriber offer: {e}")),
                    }
                }
                Ok(Incoming::Message(ServerMessage::Error { code, .. })) => {
                    collector.server_error(code.as_str());
                }
                Ok(Incoming::Message(_)) => {}
                Ok(Incoming::Closed { code, reason }) => break Outcome::Dropped(format!("closed {code} {reason}")),
                Err(e) => break Outcome::Dropped(e.to_string()),
            },
            Some(PcEvent::Candidate(pc, candidate)) = events.recv() => {
                let _ = client.send(&ClientMessage::Candidate { pc, candidate: Some(candidate) }).await;
            }
            _ = stopped(&mut stop) => {
                let _ = client.send(&ClientMessage::Leave).await;
                // Wait briefly for the server's goodbye, so the room is left cleanly.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Ok(Incoming::Message(_)) = client.next().await {}
                }).await;
                break Outcome::Completed;
            }
        }
    };
    for task in senders {
        task.abort();
    }
    for pc in [publisher, subscriber].into_iter().flatten() {
        let _ = pc.close().await;
    }
    if let Outcome::Dropped(reason) = &outcome {
        collector.dropped(reason);
    }
    outcome
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn answer_offer(pc: &Arc<dyn PeerConnection>, sdp: String) -> anyhow::Result<String> {
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer.clone()).await?;
    Ok(answer.sdp)
}

type Publishing = (
    Arc<dyn PeerConnection>,
    String,
    Vec<tokio::task::JoinHandle<()>>,
);

async fn start_publishing(
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
    video: Option<Video>,
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
