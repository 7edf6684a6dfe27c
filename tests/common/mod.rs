//! Test harness: a server on ephemeral ports in a temp directory, and participants that join it
//! with real WebRTC (the async `webrtc` crate, a code path of its own) through real signalling.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability,
    RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use vardrum::config::Config;
use vardrum::server::Server;
use vardrum_signalling::client::{Incoming, SignallingClient};
use vardrum_signalling::token::{Grant, TokenIssuer};
use vardrum_signalling::{
    ByeReason, CandidateInit, ClientMessage, PROTOCOL_VERSION, ParticipantInfo, PcKind, Role,
    RoomKind, ServerMessage,
};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionIceEvent,
};

/// RFC 6464: the level of each audio packet, which the SFU's speaker detection reads.
const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// Generous upper bound for things that happen in well under a second on an idle machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct TestServer {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub secret: Vec<u8>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(tweak, Arc::new(vardrum::clock::SystemClock)).await
    }

    /// A server whose every clock (tokens, sessions, the test IdP, records) is `clock`.
    pub async fn start_with_clock(
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn vardrum::clock::Clock>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        config.media.udp_listen = "127.0.0.1:0".parse().unwrap();
        tweak(&mut config);
        let server = Server::start_with_clock(config, clock)
            .await
            .expect("server starts");
        let secret = std::fs::read(dir.path().join("token-secret")).expect("dev secret");
        Self {
            server: Some(server),
            dir,
            secret,
        }
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.server().http_addr)
    }

    pub fn token(&self, room: &str, identity: &str, role: Role) -> String {
        self.token_at(room, identity, role, now_unix(), 3600)
    }

    /// A token for a group visit, with a real-looking name and an optional booking, issued
    /// `issued_later` seconds from now (a token issued after a visit ended opens a new one).
    pub fn group_token(
        &self,
        room: &str,
        identity: &str,
        name: &str,
        role: Role,
        booking: Option<&str>,
        issued_later: u64,
    ) -> String {
        let grant = Grant {
            identity: identity.into(),
            name: name.into(),
            room: room.into(),
            role,
            kind: RoomKind::Group,
            booking: booking.map(str::to_owned),
        };
        mint_grant(&self.secret, &grant, now_unix() + issued_later, 600)
    }

    pub fn token_at(&self, room: &str, identity: &str, role: Role, now: u64, ttl: u64) -> String {
        mint_token(&self.secret, room, identity, role, now, ttl)
    }

    pub async fn stop(self) {
        drop(self.stop_keeping_files().await);
    }

    /// Stops the server and hands over its data directory for inspection.
    pub async fn stop_keeping_files(mut self) -> tempfile::TempDir {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.dir
    }
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until `cond` holds for the value in `rx`, failing the test after [`PATIENCE`].
pub async fn wait_until<T: Clone>(
    rx: &mut watch::Receiver<T>,
    what: &str,
    cond: impl Fn(&T) -> bool,
) -> T {
    match tokio::time::timeout(PATIENCE, rx.wait_for(|v| cond(v))).await {
        Ok(Ok(v)) => v.clone(),
        Ok(Err(_)) => panic!("gave up waiting for {what}: the source is gone"),
        Err(_) => panic!("gave up waiting for {what} after {PATIENCE:?}"),
    }
}

/// A join token signed with `secret`, for a server the test did not start in-process.
pub fn mint_token(
    secret: &[u8],
    room: &str,
    identity: &str,
    role: Role,
    now: u64,
    ttl: u64,
) -> String {
    let grant = Grant::visit(identity, &format!("Name of {identity}"), room, role);
    mint_grant(secret, &grant, now, ttl)
}

/// Mints a token for any grant (group visits, bookings).
pub fn mint_grant(secret: &[u8], grant: &Grant, now: u64, ttl: u64) -> String {
    TokenIssuer::new(secret)
        .mint(grant, now, ttl)
        .expect("mint")
}

/// Connects to `ws_url` and sends `join`; the answer is left for the caller to read.
pub async fn send_join(ws_url: &str, room: &str, token: String) -> SignallingClient {
    let mut client = SignallingClient::connect(ws_url).await.expect("connect");
    client
        .send(&ClientMessage::Join {
            v: PROTOCOL_VERSION,
            room: room.into(),
            token,
        })
        .await
        .expect("send join");
    client
}

/// Connects, sends `join`, and returns the client with the `joined` message.
pub async fn join(
    server: &TestServer,
    room: &str,
    identity: &str,
    role: Role,
) -> (SignallingClient, ServerMessage) {
    let token = server.token(room, identity, role);
    let mut client = send_join(&server.ws_url(), room, token).await;
    let joined = client.recv().await.expect("joined");
    assert!(matches!(joined, ServerMessage::Joined { .. }), "{joined:?}");
    (client, joined)
}

/// The next frame closes the connection with `code`.
pub async fn expect_close(client: &mut SignallingClient, code: u16) {
    match client.next().await.expect("close") {
        Incoming::Closed { code: got, .. } => assert_eq!(got, code),
        other => panic!("expected close {code}, got {other:?}"),
    }
}

/// The server says `bye` with `reason`, then closes with `code`.
pub async fn expect_bye(client: &mut SignallingClient, reason: ByeReason, code: u16) {
    let got = client.recv().await.expect("bye");
    assert!(
        matches!(&got, ServerMessage::Bye { reason: r, .. } if *r == reason),
        "expected bye {reason:?}, got {got:?}"
    );
    expect_close(client, code).await;
}

/// What a participant has received, per remote publisher and kind.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// (publisher id, "audio"/"video") → packets whose payload was intact.
    pub packets: HashMap<(String, String), u64>,
    /// (publisher id, kind) → the distinct packet numbers that arrived, to measure loss.
    pub numbers: HashMap<(String, String), std::collections::BTreeSet<u32>>,
    /// Packets whose payload did not match what the publisher wrote.
    pub corrupt: u64,
    /// (publisher id, "audio"/"video") → the track id of the subscriber offer (the publication
    /// id), which `set_quality` names.
    pub tracks: HashMap<(String, String), String>,
    /// Stream id of each incoming track (the publisher's participant id) → the sender named in
    /// its payloads (the publisher's token identity).
    pub streams: HashMap<String, String>,
    pub roster: Vec<ServerMessage>,
    pub publisher_state: Option<RTCPeerConnectionState>,
    pub subscriber_state: Option<RTCPeerConnectionState>,
    pub errors: Vec<ServerMessage>,
    /// Every subscriber offer, in order.
    pub offers: Vec<String>,
    /// The participant ids of `speaker` messages, in order.
    pub speakers: Vec<String>,
    pub closed: Option<(u16, String)>,
}

impl Received {
    /// Fraction of packets that never arrived, between the first one seen and the newest but
    /// `settle` (the newest may still be on their way back after a NACK).
    pub fn loss(&self, publisher: &str, kind: &str, settle: u32) -> f64 {
        let Some(seen) = self.numbers.get(&(publisher.to_owned(), kind.to_owned())) else {
            return 1.0;
        };
        let (Some(&first), Some(&last)) = (seen.first(), seen.last()) else {
            return 1.0;
        };
        let end = last.saturating_sub(settle);
        if end <= first {
            return 1.0;
        }
        let arrived = seen.range(first..=end).count();
        1.0 - arrived as f64 / f64::from(end - first + 1)
    }

    pub fn from(&self, publisher: &str, kind: &str) -> u64 {
        self.packets
            .get(&(publisher.to_owned(), kind.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// The participant id of the publisher whose payloads name `identity` (others know a
    /// participant only by that opaque id); `identity` itself when no media of it came yet.
    pub fn id_of(&self, identity: &str) -> String {
        self.streams
            .iter()
            .find(|(_, sender)| *sender == identity)
            .map_or_else(|| identity.to_owned(), |(stream, _)| stream.clone())
    }

    /// Whether the participant whose media names `identity` has left.
    pub fn left(&self, identity: &str) -> bool {
        let id = self.id_of(identity);
        self.roster.iter().any(|m| {
            matches!(m, ServerMessage::ParticipantLeft { participant_id, .. } if *participant_id == id)
        })
    }

    pub fn last_update_of(&self, identity: &str) -> Option<ParticipantInfo> {
        let id = self.id_of(identity);
        self.roster.iter().rev().find_map(|m| match m {
            ServerMessage::ParticipantUpdated { participant } if participant.id == id => {
                Some(participant.clone())
            }
            _ => None,
        })
    }
}

/// The payload every synthetic packet carries: who sent it, what kind, and its number, followed
/// by filler derived from the number, so a receiver can tell intact payloads from damaged ones.
pub fn payload(sender: &str, kind: &str, seq: u32, len: usize) -> Bytes {
    let mut p = format!("{sender}|{kind}|{seq}|").into_bytes();
    while p.len() < len {
        p.push((seq as usize + p.len()) as u8);
    }
    Bytes::from(p)
}

/// A simulcast layer's payload: the 2-byte VP8 payload descriptor and header an SFU reads to
/// find keyframes (S=1, partition 0; P=0 on keyframes), then the usual payload with the kind
/// `video.RID`, so a receiver can tell which layer arrived.
pub fn layer_payload(sender: &str, rid: &str, seq: u32, keyframe: bool, len: usize) -> Bytes {
    let mut p = vec![0x10, if keyframe { 0x50 } else { 0x51 }];
    p.extend_from_slice(&payload(sender, &format!("video.{rid}"), seq, len - 2));
    Bytes::from(p)
}

/// The sender, kind and packet number of an intact payload (`video.RID` for simulcast layers),
/// or `None` if it is damaged. The sender comes from the payload: others know a participant
/// only by an opaque id (the stream id), never by its token's `sub`.
fn parse_payload(data: &[u8], kind: &str) -> Option<(String, String, u32)> {
    let data = match data.first() {
        Some(0x10 | 0x00) if kind == "video" => data.get(2..)?,
        _ => data,
    };
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '|');
    let (Some(s), Some(k), Some(seq)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let seq = seq.parse::<u32>().ok()?;
    let kind_ok = k == kind || k.strip_prefix("video.").is_some() && kind == "video";
    (kind_ok && payload(s, k, seq, data.len()).as_ref() == data)
        .then(|| (s.to_owned(), k.to_owned(), seq))
}

enum PcEvent {
    Candidate(PcKind, RTCIceCandidateInit),
}

struct Handler {
    pc: PcKind,
    events: mpsc::UnboundedSender<PcEvent>,
    received: watch::Sender<Received>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.events.send(PcEvent::Candidate(self.pc, init));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let pc = self.pc;
        self.received.send_modify(|r| match pc {
            PcKind::Publisher => r.publisher_state = Some(state),
            PcKind::Subscriber => r.subscriber_state = Some(state),
        });
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = self.received.clone();
        tokio::spawn(async move {
            // The stream id is the publisher's opaque participant id (docs/signalling.md); who
            // sent it is read from the payloads.
            let stream = track.stream_id().await.to_string();
            let kind = match track.kind().await {
                RtpCodecKind::Audio => "audio",
                _ => "video",
            };
            let track_id = track.track_id().await.to_string();
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    let intact = parse_payload(&packet.payload, kind);
                    received.send_modify(|r| match intact {
                        Some((sender, layer, number)) => {
                            r.streams.insert(stream.clone(), sender.clone());
                            r.tracks
                                .entry((sender.clone(), kind.to_owned()))
                                .or_insert_with(|| track_id.clone());
                            let key = (sender, layer);
                            *r.packets.entry(key.clone()).or_default() += 1;
                            r.numbers.entry(key).or_default().insert(number);
                        }
                        None => r.corrupt += 1,
                    });
                }
            }
        });
    }
}

fn client_pc_parts() -> (
    MediaEngine,
    Registry,
    rtc::peer_connection::configuration::setting_engine::SettingEngine,
) {
    let mut engine = MediaEngine::default();
    engine.register_default_codecs().expect("codecs");
    engine
        .register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: AUDIO_LEVEL_URI.into(),
            },
            RtpCodecKind::Audio,
            None,
        )
        .expect("audio level extension");
    rtc::peer_connection::configuration::interceptor_registry::configure_simulcast_extension_headers(
        &mut engine,
    )
    .expect("simulcast header extensions");
    let registry =
        register_default_interceptors(Registry::new(), &mut engine).expect("interceptors");
    let settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    (engine, registry, settings)
}

async fn build_pc(
    pc: PcKind,
    events: mpsc::UnboundedSender<PcEvent>,
    received: watch::Sender<Received>,
) -> Arc<dyn PeerConnection> {
    let (engine, registry, settings) = client_pc_parts();
    let handler = Arc::new(Handler {
        pc,
        events,
        received,
    });
    Arc::new(
        PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(engine)
            .with_setting_engine(settings)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_udp_addrs(vec!["127.0.0.1:0"])
            .build()
            .await
            .expect("peer connection"),
    )
}

/// A participant with a real publisher and subscriber peer connection.
pub struct MediaParticipant {
    pub id: String,
    /// The audio level (RFC 6464) its packets carry.
    level: Arc<std::sync::atomic::AtomicU8>,
    pub received: watch::Receiver<Received>,
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

enum Command {
    Send(ClientMessage),
    Drop,
}

impl MediaParticipant {
    /// Joins and starts publishing synthetic Opus (50 packets/s) and VP8 (100 packets/s).
    pub async fn join(server: &TestServer, room: &str, id: &str, role: Role) -> Self {
        let (client, _joined) = join(server, room, id, role).await;
        Self::from_client(client, id).await
    }

    /// Joins and publishes Opus and a simulcast VP8 track with layers `q`, `h` and `f`
    /// (100 packets/s each, a keyframe every 25 packets of a layer).
    pub async fn join_simulcast(server: &TestServer, room: &str, id: &str, role: Role) -> Self {
        let (client, _joined) = join(server, room, id, role).await;
        Self::start(client, id, true).await
    }

    /// Starts media on an already joined session.
    pub async fn from_client(client: SignallingClient, id: &str) -> Self {
        Self::start(client, id, false).await
    }

    /// Joins and publishes audio only (a participant with the camera off).
    pub async fn join_audio_only(server: &TestServer, room: &str, id: &str, role: Role) -> Self {
        let (client, _joined) = join(server, room, id, role).await;
        Self::start_with(client, id, false, 1, false).await
    }

    /// Starts media on an already joined (or admitted) session at a tenth of the usual packet
    /// rate (audio 5, video 10 packets/s), for rooms with many participants.
    pub async fn from_client_slow(client: SignallingClient, id: &str) -> Self {
        Self::start_with(client, id, false, 10, true).await
    }

    async fn start(client: SignallingClient, id: &str, simulcast: bool) -> Self {
        Self::start_with(client, id, simulcast, 1, true).await
    }

    async fn start_with(
        mut client: SignallingClient,
        id: &str,
        simulcast: bool,
        slower: u32,
        video: bool,
    ) -> Self {
        let level = Arc::new(std::sync::atomic::AtomicU8::new(127));
        let (received_tx, received) = watch::channel(Received::default());
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let (commands, mut command_rx) = mpsc::unbounded_channel();

        let publisher = build_pc(PcKind::Publisher, events_tx.clone(), received_tx.clone()).await;
        let mut writers = Vec::new();
        for (kind, mime, clock, channels, pt) in [
            (RtpCodecKind::Audio, MIME_TYPE_OPUS, 48000, 2, 111u8),
            (RtpCodecKind::Video, MIME_TYPE_VP8, 90000, 0, 96u8),
        ] {
            if kind == RtpCodecKind::Video && !video {
                continue;
            }
            let codec = RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate: clock,
                channels,
                ..Default::default()
            };
            // One encoding, or (simulcast video) one per layer, each with its own SSRC.
            let rids: &[&str] = if simulcast && kind == RtpCodecKind::Video {
                &["q", "h", "f"]
            } else {
                &[""]
            };
            let layers: Vec<(String, u32)> = rids
                .iter()
                .map(|rid| (rid.to_string(), rand::random::<u32>()))
                .collect();
            let encodings = layers
                .iter()
                .map(|(rid, ssrc)| RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        rid: rid.clone(),
                        ssrc: Some(*ssrc),
                        ..Default::default()
                    },
                    codec: codec.clone(),
                    ..Default::default()
                })
                .collect();
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                id.to_owned(),
                format!("{id}-{kind}"),
                format!("{id}-{kind}"),
                kind,
                encodings,
            )));
            publisher
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .expect("add track");
            for (rid, ssrc) in layers {
                writers.push((track.clone(), kind, rid, ssrc, pt));
            }
        }
        let offer = publisher.create_offer(None).await.expect("offer");
        if std::env::var("VARDRUM_TEST_SDP").is_ok() {
            eprintln!("--- publisher offer of {id}\n{}", offer.sdp);
        }
        // The sender does not tag simulcast packets itself: each carries its `rid` (and the
        // video `mid`) in the header extensions our offer numbered.
        let extmap_id = |uri: &str| {
            offer.sdp.lines().find_map(|l| {
                let rest = l.strip_prefix("a=extmap:")?;
                let (id, u) = rest.split_once(' ')?;
                (u.trim() == uri).then(|| id.parse::<u8>().ok()).flatten()
            })
        };
        let video_mid = offer
            .sdp
            .split("m=video")
            .nth(1)
            .and_then(|v| v.lines().find_map(|l| l.strip_prefix("a=mid:")))
            .map(str::to_owned);
        let tags = Arc::new((
            extmap_id("urn:ietf:params:rtp-hdrext:sdes:mid"),
            extmap_id("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
            video_mid,
        ));
        let audio_level_ext = extmap_id(AUDIO_LEVEL_URI);
        publisher
            .set_local_description(offer.clone())
            .await
            .expect("set local");
        client
            .send(&ClientMessage::Offer {
                pc: PcKind::Publisher,
                sdp: offer.sdp,
            })
            .await
            .expect("send offer");

        for (track, kind, rid, ssrc, pt) in writers {
            let sender_id = id.to_owned();
            let tags = tags.clone();
            let level = level.clone();
            tokio::spawn(async move {
                let (kind_name, interval, size) = match kind {
                    RtpCodecKind::Audio => ("audio", Duration::from_millis(20), 120),
                    _ => ("video", Duration::from_millis(10), 900),
                };
                let interval = interval * slower;
                let mut tick = tokio::time::interval(interval);
                let mut seq: u32 = 0;
                loop {
                    tick.tick().await;
                    let mut packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            payload_type: pt,
                            sequence_number: seq as u16,
                            timestamp: seq.wrapping_mul(960),
                            ssrc,
                            marker: kind_name == "video",
                            ..Default::default()
                        },
                        payload: if rid.is_empty() {
                            payload(&sender_id, kind_name, seq, size)
                        } else {
                            // Layers cost what their resolution would: a quarter, half, all.
                            let size = match rid.as_str() {
                                "q" => size / 4,
                                "h" => size / 2,
                                _ => size,
                            };
                            layer_payload(&sender_id, &rid, seq, seq.is_multiple_of(25), size)
                        },
                    };
                    if kind_name == "audio"
                        && let Some(ext) = audio_level_ext
                    {
                        // RFC 6464: voice activity bit, then the level in -dBov.
                        let l = level.load(std::sync::atomic::Ordering::Relaxed).min(127);
                        let byte = if l < 127 { 0x80 | l } else { l };
                        let _ = packet.header.set_extension(ext, Bytes::from(vec![byte]));
                    }
                    if let (false, (Some(mid_id), Some(rid_id), Some(mid))) =
                        (rid.is_empty(), tags.as_ref())
                    {
                        let header = &mut packet.header;
                        let _ = header.set_extension(*mid_id, Bytes::from(mid.clone()));
                        let _ = header.set_extension(*rid_id, Bytes::from(rid.clone()));
                    }
                    // Before negotiation completes the track is unbound and writes fail; later
                    // failures mean the connection is gone.
                    if track.write_rtp(packet).await.is_err() && seq > 3000 {
                        break;
                    }
                    seq += 1;
                }
            });
        }

        let received_for_task = received_tx.clone();
        let task = tokio::spawn(async move {
            let mut subscriber: Option<Arc<dyn PeerConnection>> = None;
            loop {
                tokio::select! {
                    incoming = client.next() => {
                        let message = match incoming {
                            Ok(Incoming::Message(m)) => m,
                            Ok(Incoming::Closed { code, reason }) => {
                                received_for_task.send_modify(|r| r.closed = Some((code, reason)));
                                break;
                            }
                            Err(e) => {
                                received_for_task.send_modify(|r| r.closed = Some((1006, e.to_string())));
                                break;
                            }
                        };
                        match message {
                            ServerMessage::Answer { sdp, .. } => {
                                if std::env::var("VARDRUM_TEST_SDP").is_ok() {
                                    eprintln!("--- answer\n{sdp}");
                                }
                                let answer = RTCSessionDescription::answer(sdp).expect("answer sdp");
                                publisher.set_remote_description(answer).await.expect("apply answer");
                            }
                            ServerMessage::Offer { sdp, .. } => {
                                received_for_task.send_modify(|r| r.offers.push(sdp.clone()));
                                let pc = match &subscriber {
                                    Some(pc) => pc.clone(),
                                    None => {
                                        let pc = build_pc(PcKind::Subscriber, events_tx.clone(), received_for_task.clone()).await;
                                        subscriber = Some(pc.clone());
                                        pc
                                    }
                                };
                                let offer = RTCSessionDescription::offer(sdp).expect("offer sdp");
                                pc.set_remote_description(offer).await.expect("apply offer");
                                let answer = pc.create_answer(None).await.expect("answer");
                                pc.set_local_description(answer.clone()).await.expect("set local answer");
                                let _ = client.send(&ClientMessage::Answer { pc: PcKind::Subscriber, sdp: answer.sdp }).await;
                            }
                            m @ (ServerMessage::ParticipantJoined { .. }
                                | ServerMessage::ParticipantLeft { .. }
                                | ServerMessage::ParticipantUpdated { .. }) => {
                                received_for_task.send_modify(|r| r.roster.push(m));
                            }
                            m @ ServerMessage::Error { .. } => {
                                received_for_task.send_modify(|r| r.errors.push(m));
                            }
                            ServerMessage::Speaker { participant } => {
                                received_for_task.send_modify(|r| r.speakers.push(participant));
                            }
                            _ => {}
                        }
                    }
                    Some(PcEvent::Candidate(pc, init)) = events.recv() => {
                        let _ = client.send(&ClientMessage::Candidate {
                            pc,
                            candidate: Some(CandidateInit {
                                candidate: init.candidate,
                                sdp_mid: init.sdp_mid,
                                sdp_mline_index: init.sdp_mline_index,
                                username_fragment: init.username_fragment,
                            }),
                        }).await;
                    }
                    command = command_rx.recv() => match command {
                        Some(Command::Send(m)) => { let _ = client.send(&m).await; }
                        Some(Command::Drop) | None => {
                            client.drop_connection().await;
                            break;
                        }
                    }
                }
            }
            let _ = publisher.close().await;
            if let Some(pc) = subscriber {
                let _ = pc.close().await;
            }
        });

        Self {
            id: id.to_owned(),
            received,
            commands,
            task,
            level,
        }
    }

    /// Sets the audio level its packets carry from now on: 0 loudest, 127 silence.
    pub fn speak_at(&self, level: u8) {
        self.level
            .store(level, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn send(&self, message: ClientMessage) {
        let _ = self.commands.send(Command::Send(message));
    }

    /// Leaves properly and waits for the server to close the session.
    pub async fn leave(mut self) -> Received {
        self.send(ClientMessage::Leave);
        wait_until(&mut self.received, "the server to close after leave", |r| {
            r.closed.is_some()
        })
        .await;
        let _ = self.task.await;
        self.received.borrow().clone()
    }

    /// Drops the WebSocket and both peer connections without `leave`, like a crashed tab.
    pub async fn vanish(self) {
        let _ = self.commands.send(Command::Drop);
        let _ = self.task.await;
    }

    pub async fn wait_media_from(&mut self, publisher: &str, packets: u64) -> Received {
        let what = format!(
            "{} to receive {packets} audio and video packets from {publisher}",
            self.id
        );
        wait_until(&mut self.received, &what, |r| {
            r.from(publisher, "audio") >= packets && r.from(publisher, "video") >= packets
        })
        .await
    }
}
