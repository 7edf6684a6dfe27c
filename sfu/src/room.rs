//! A room: one task that owns every participant and peer connection of one visit, so that
//! forwarding a packet is a function call, not a chain of channels and locks.
//!
//! Inputs (datagrams from the mux, signalling from the participants' WebSocket tasks) arrive on
//! one channel. After each input the room drains what the touched peer connections produced:
//! state events, received RTP/RTCP (forwarded at once), and datagrams to send (written straight
//! to the shared UDP socket without awaiting).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use vardrum_signalling::message::IceServer;
use vardrum_signalling::{
    ByeReason, CandidateInit, ErrorCode, LeftReason, MediaKind, PROTOCOL_VERSION, ParticipantInfo,
    ParticipantState, PcKind, Quality, ServerMessage,
};

use crate::batch_send::SendBatch;
use crate::keyframe::KeyframeThrottle;
use crate::mux::{PeerKey, Routes};
use crate::peer::{Peer, PeerContext};
use crate::roster;
use crate::simulcast::{self, Layer, Rewriter};
use crate::stats::SfuStats;
use crate::worker::WorkerCounters;
use crate::{JoinError, JoinRequest, Outbound};

/// How many inputs a room handles before it looks at its timers again.
const BATCH: usize = 64;

/// Signalling from a participant's session, already parsed and checked by the server.
#[derive(Debug, Clone)]
pub enum Signal {
    PublisherOffer {
        sdp: String,
    },
    SubscriberAnswer {
        sdp: String,
    },
    Candidate {
        pc: PcKind,
        candidate: Option<CandidateInit>,
    },
    Mute {
        kind: MediaKind,
        muted: bool,
    },
    /// The simulcast layer a subscriber wants of one of its tracks (by the publication id).
    SetQuality {
        track: String,
        quality: Quality,
    },
}

/// Everything a room task reacts to.
#[derive(Debug)]
pub(crate) enum RoomInput {
    Datagram {
        key: PeerKey,
        from: SocketAddr,
        at: Instant,
        data: BytesMut,
    },
    Join {
        request: JoinRequest,
        session: u64,
        out: mpsc::UnboundedSender<Outbound>,
        reply: oneshot::Sender<Result<bool, JoinError>>,
    },
    Signal {
        participant: Arc<str>,
        session: u64,
        signal: Signal,
    },
    Leave {
        participant: Arc<str>,
        session: u64,
    },
    Disconnected {
        participant: Arc<str>,
        session: u64,
    },
    Shutdown,
}

/// Settings a room takes from the SFU.
#[derive(Debug, Clone)]
pub(crate) struct RoomSettings {
    pub max_participants: usize,
    pub reconnect_grace: Duration,
    pub ice_servers: Vec<IceServer>,
    pub lifecycle: Option<mpsc::UnboundedSender<crate::RoomLifecycle>>,
}

/// A track a participant publishes.
struct Publication {
    id: Arc<str>,
    /// The track's id inside the publisher's peer connection.
    track_id: String,
    receiver_id: RTCRtpReceiverId,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    /// Its RTP streams: one, or one per simulcast layer, added as their packets arrive.
    layers: Vec<Layer>,
    /// Whether the track came with rids (simulcast): then layers are switched at keyframes.
    simulcast: bool,
}

impl Publication {
    fn layer_mut(&mut self, ssrc: u32) -> Option<&mut Layer> {
        self.layers.iter_mut().find(|l| l.ssrc == ssrc)
    }
}

/// A publication forwarded to one subscriber.
struct Subscription {
    publisher: Arc<str>,
    publication: Arc<str>,
    sender_id: RTCRtpSenderId,
    ssrc: u32,
    kind: RtpCodecKind,
    mime_type: String,
    /// The payload type the subscriber negotiated for the codec; known once it answered.
    payload_type: Option<u8>,
    /// The simulcast layer it asked for (high unless it said otherwise).
    quality: Quality,
    /// Which layer it is on and how its packets are renumbered.
    rewriter: Rewriter,
}

struct Participant {
    id: Arc<str>,
    info: ParticipantInfo,
    session: u64,
    out: Option<mpsc::UnboundedSender<Outbound>>,
    publisher: Option<Peer>,
    subscriber: Option<Peer>,
    offer_outstanding: bool,
    renegotiate: bool,
    /// Tracks that opened on the publisher connection but have sent no packet yet.
    opened_tracks: Vec<(String, RTCRtpReceiverId)>,
    publications: Vec<Publication>,
    subscriptions: Vec<Subscription>,
    reconnect_deadline: Option<Instant>,
}

impl Participant {
    fn peer_mut(&mut self, pc: PcKind) -> Option<&mut Peer> {
        match pc {
            PcKind::Publisher => self.publisher.as_mut(),
            PcKind::Subscriber => self.subscriber.as_mut(),
        }
    }

    fn send(&self, message: ServerMessage) {
        if let Some(out) = &self.out {
            let _ = out.send(Outbound::Message(message));
        }
    }
}

pub(crate) struct Room {
    id: String,
    settings: RoomSettings,
    participants: Vec<Participant>,
    socket: Arc<UdpSocket>,
    advertised: SocketAddr,
    routes: Arc<Routes>,
    tx: mpsc::Sender<RoomInput>,
    stats: Arc<SfuStats>,
    /// The counters of this room's media worker (for placing new rooms).
    worker: Arc<WorkerCounters>,
    /// Peer connections that were written to and need their output flushed.
    dirty: Vec<(Arc<str>, PcKind)>,
    /// Datagrams produced and not yet sent: flushed after each batch of inputs.
    outgoing: SendBatch,
    call_id: String,
    peak_participants: usize,
}

pub(crate) struct RoomParts {
    pub id: String,
    pub settings: RoomSettings,
    pub socket: Arc<UdpSocket>,
    pub advertised: SocketAddr,
    pub routes: Arc<Routes>,
    pub tx: mpsc::Sender<RoomInput>,
    pub stats: Arc<SfuStats>,
    pub worker: Arc<WorkerCounters>,
}

impl Room {
    pub fn new(parts: RoomParts) -> Self {
        parts.stats.rooms.fetch_add(1, Relaxed);
        parts.worker.rooms.fetch_add(1, Relaxed);
        let call_id = uuid::Uuid::new_v4().to_string();
        if let Some(l) = &parts.settings.lifecycle {
            let _ = l.send(crate::RoomLifecycle::Opened {
                call_id: call_id.clone(),
                room: parts.id.clone(),
            });
        }
        Self {
            id: parts.id,
            settings: parts.settings,
            participants: Vec::new(),
            socket: parts.socket,
            advertised: parts.advertised,
            routes: parts.routes,
            tx: parts.tx,
            stats: parts.stats,
            worker: parts.worker,
            dirty: Vec::new(),
            outgoing: SendBatch::default(),
            call_id,
            peak_participants: 0,
        }
    }

    /// Runs until the room is empty or shut down. `on_empty` is called when the last participant
    /// has gone; it must make sure no new join reaches this room (it removes the room from the
    /// directory) before the task drains its inbox and ends.
    pub async fn run(mut self, mut rx: mpsc::Receiver<RoomInput>, on_empty: impl FnOnce()) {
        tracing::debug!(room = %self.id, "room opened");
        loop {
            let wake = self.next_wake();
            let input = match wake {
                Some(at) => {
                    tokio::select! {
                        input = rx.recv() => input,
                        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {
                            self.on_timeout(Instant::now());
                            continue;
                        }
                    }
                }
                None => rx.recv().await,
            };
            let Some(input) = input else { break };
            if matches!(input, RoomInput::Shutdown) {
                self.shutdown();
                break;
            }
            self.handle(input);
            for _ in 0..BATCH {
                match rx.try_recv() {
                    Ok(RoomInput::Shutdown) => {
                        self.shutdown();
                        return self.finish(rx, on_empty);
                    }
                    Ok(input) => self.handle(input),
                    Err(_) => break,
                }
            }
            // What the batch's datagrams produced goes out together; waiting at most for the
            // rest of a batch that is already here.
            self.flush_dirty();
            if self.participants.is_empty() {
                break;
            }
        }
        self.finish(rx, on_empty)
    }

    fn finish(self, mut rx: mpsc::Receiver<RoomInput>, on_empty: impl FnOnce()) {
        on_empty();
        // Joins that raced with the room's end are told to try again; they will open a new room.
        rx.close();
        while let Ok(input) = rx.try_recv() {
            if let RoomInput::Join { reply, .. } = input {
                let _ = reply.send(Err(JoinError::Retry));
            }
        }
        tracing::debug!(room = %self.id, "room closed");
        self.stats.rooms.fetch_sub(1, Relaxed);
        self.worker.rooms.fetch_sub(1, Relaxed);
        if let Some(l) = &self.settings.lifecycle {
            let _ = l.send(crate::RoomLifecycle::Closed {
                call_id: self.call_id.clone(),
                room: self.id.clone(),
                peak_participants: self.peak_participants,
            });
        }
    }

    fn next_wake(&mut self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        };
        for p in &mut self.participants {
            earliest(p.reconnect_deadline);
            if let Some(peer) = p.publisher.as_mut() {
                earliest(peer.pc.poll_timeout());
            }
            if let Some(peer) = p.subscriber.as_mut() {
                earliest(peer.pc.poll_timeout());
            }
        }
        wake
    }

    fn on_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut due = Vec::new();
        for p in &mut self.participants {
            if p.reconnect_deadline.is_some_and(|d| d <= now) {
                expired.push(p.id.clone());
                continue;
            }
            for kind in [PcKind::Publisher, PcKind::Subscriber] {
                if let Some(peer) = p.peer_mut(kind)
                    && peer.pc.poll_timeout().is_some_and(|t| t <= now)
                {
                    if let Err(e) = peer.pc.handle_timeout(now) {
                        tracing::debug!(error = %e, "peer connection timeout handling failed");
                    }
                    due.push((p.id.clone(), kind));
                }
            }
        }
        for (id, kind) in due {
            self.pump(&id, kind, now);
        }
        for id in expired {
            tracing::info!(room = %self.id, "participant did not come back in time");
            self.remove(&id, LeftReason::Timeout, None);
        }
        self.flush_dirty();
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.participants.iter().position(|p| &*p.id == id)
    }

    /// The participant with this id, if `session` is its current session.
    fn current(&self, id: &str, session: u64) -> Option<usize> {
        self.index(id)
            .filter(|&i| self.participants[i].session == session)
    }

    fn handle(&mut self, input: RoomInput) {
        match input {
            RoomInput::Datagram {
                key,
                from,
                at,
                data,
            } => {
                let Some(i) = self.current(&key.participant, key.session) else {
                    return;
                };
                let Some(peer) = self.participants[i].peer_mut(key.pc) else {
                    return;
                };
                peer.handle_datagram(at, from, data);
                self.pump(&key.participant, key.pc, at);
                // Sent with the rest of the batch (see `run`): one system call for many.
            }
            RoomInput::Join {
                request,
                session,
                out,
                reply,
            } => {
                let result = self.join(request, session, out);
                let _ = reply.send(result);
                self.flush_dirty();
            }
            RoomInput::Signal {
                participant,
                session,
                signal,
            } => {
                if self.current(&participant, session).is_some() {
                    self.signal(&participant, signal);
                    self.flush_dirty();
                }
            }
            RoomInput::Leave {
                participant,
                session,
            } => {
                if self.current(&participant, session).is_some() {
                    self.remove(&participant, LeftReason::Left, Some(ByeReason::Left));
                    self.flush_dirty();
                }
            }
            RoomInput::Disconnected {
                participant,
                session,
            } => {
                if let Some(i) = self.current(&participant, session) {
                    self.drop_media(i);
                    let grace = self.settings.reconnect_grace;
                    let p = &mut self.participants[i];
                    p.out = None;
                    p.info.state = ParticipantState::Reconnecting;
                    p.reconnect_deadline = Some(Instant::now() + grace);
                    let info = p.info.clone();
                    self.announce(&info, true);
                    self.flush_dirty();
                }
            }
            RoomInput::Shutdown => {}
        }
    }

    fn join(
        &mut self,
        request: JoinRequest,
        session: u64,
        out: mpsc::UnboundedSender<Outbound>,
    ) -> Result<bool, JoinError> {
        let resumed = if let Some(i) = self.index(&request.identity) {
            // The same person again (reload, new network, second tab): the newest session wins.
            self.drop_media(i);
            let p = &mut self.participants[i];
            if let Some(old) = p.out.take() {
                let _ = old.send(Outbound::Close(ByeReason::Replaced));
            }
            p.session = session;
            p.out = Some(out);
            p.info.name = request.name.clone();
            p.info.role = request.role;
            p.info.state = ParticipantState::Active;
            p.info.audio_muted = false;
            p.info.video_muted = false;
            p.reconnect_deadline = None;
            true
        } else {
            if self.participants.len() >= self.settings.max_participants {
                return Err(JoinError::RoomFull);
            }
            let id: Arc<str> = request.identity.as_str().into();
            self.participants.push(Participant {
                id: id.clone(),
                info: ParticipantInfo {
                    id: request.identity.clone(),
                    name: request.name.clone(),
                    role: request.role,
                    state: ParticipantState::Active,
                    audio_muted: false,
                    video_muted: false,
                },
                session,
                out: Some(out),
                publisher: None,
                subscriber: None,
                offer_outstanding: false,
                renegotiate: false,
                opened_tracks: Vec::new(),
                publications: Vec::new(),
                subscriptions: Vec::new(),
                reconnect_deadline: None,
            });
            self.stats.participants.fetch_add(1, Relaxed);
            self.worker.participants.fetch_add(1, Relaxed);
            self.peak_participants = self.peak_participants.max(self.participants.len());
            false
        };
        let i = self.index(&request.identity).ok_or(JoinError::Retry)?;
        let me = self.participants[i].info.clone();
        let others: Vec<ParticipantInfo> = self
            .participants
            .iter()
            .filter(|p| p.id != self.participants[i].id)
            .map(|p| roster::as_seen_by(me.role, &p.info))
            .collect();
        self.participants[i].send(ServerMessage::Joined {
            v: PROTOCOL_VERSION,
            room: self.id.clone(),
            session_id: format!("{session:x}"),
            participant: me.clone(),
            participants: others,
            resumed,
            ice_servers: self.settings.ice_servers.clone(),
        });
        self.announce(&me, resumed);
        let id = self.participants[i].id.clone();
        tracing::info!(room = %self.id, resumed, participants = self.participants.len(), "participant joined");

        // Subscribe the newcomer to everything already published.
        let existing: Vec<(Arc<str>, Arc<str>)> = self
            .participants
            .iter()
            .filter(|p| p.id != id)
            .flat_map(|p| {
                p.publications
                    .iter()
                    .map(|publ| (p.id.clone(), publ.id.clone()))
            })
            .collect();
        let mut added = false;
        for (publisher, publication) in existing {
            added |= self.subscribe(&id, &publisher, &publication);
        }
        if added {
            self.negotiate_subscriber(&id);
        }
        Ok(resumed)
    }

    fn signal(&mut self, id: &Arc<str>, signal: Signal) {
        let now = Instant::now();
        match signal {
            Signal::PublisherOffer { sdp } => self.publisher_offer(id, sdp, now),
            Signal::SubscriberAnswer { sdp } => self.subscriber_answer(id, sdp, now),
            Signal::Candidate { pc, candidate } => {
                let Some(i) = self.index(id) else { return };
                let result = match self.participants[i].peer_mut(pc) {
                    Some(peer) => peer.add_remote_candidate(candidate),
                    None => {
                        Err(format!("there is no {pc:?} connection to add it to").to_lowercase())
                    }
                };
                if let Err(message) = result {
                    self.participants[i]
                        .send(ServerMessage::error(ErrorCode::BadCandidate, message));
                }
                self.pump(id, pc, now);
            }
            Signal::Mute { kind, muted } => {
                let Some(i) = self.index(id) else { return };
                let p = &mut self.participants[i];
                match kind {
                    MediaKind::Audio => p.info.audio_muted = muted,
                    MediaKind::Video => p.info.video_muted = muted,
                }
                let info = p.info.clone();
                self.announce(&info, true);
            }
            Signal::SetQuality { track, quality } => self.set_quality(id, &track, quality, now),
        }
    }

    /// A subscriber picks the simulcast layer of one of its tracks. The switch happens at the
    /// next keyframe of the new layer, which is asked for at once.
    fn set_quality(&mut self, id: &Arc<str>, track: &str, quality: Quality, now: Instant) {
        let Some(i) = self.index(id) else { return };
        let Some(sub) = self.participants[i]
            .subscriptions
            .iter_mut()
            .find(|s| *s.publication == *track)
        else {
            self.participants[i].send(ServerMessage::error(
                ErrorCode::BadMessage,
                "set_quality: no such track among your subscriptions",
            ));
            return;
        };
        sub.quality = quality;
        let (publisher, publication) = (sub.publisher.clone(), sub.publication.clone());
        if let Some(target) = self.target_layer(&publisher, &publication, quality, now) {
            self.request_keyframe(&publisher, &publication, Some(target), now);
        }
    }

    /// The layer of `publication` a subscriber wanting `quality` should be on now.
    fn target_layer(
        &self,
        publisher: &Arc<str>,
        publication: &Arc<str>,
        quality: Quality,
        now: Instant,
    ) -> Option<u32> {
        let pi = self.index(publisher)?;
        let publ = self.participants[pi]
            .publications
            .iter()
            .find(|p| &p.id == publication)?;
        simulcast::choose(&publ.layers, quality, now)
    }

    fn publisher_offer(&mut self, id: &Arc<str>, sdp: String, now: Instant) {
        let Some(i) = self.index(id) else { return };
        if self.participants[i].publisher.is_none() {
            let key = PeerKey {
                participant: id.clone(),
                session: self.participants[i].session,
                pc: PcKind::Publisher,
            };
            match Peer::new(&self.peer_context(), key, now) {
                Ok(peer) => self.participants[i].publisher = Some(peer),
                Err(e) => {
                    tracing::error!(error = %e, "could not create a peer connection");
                    self.participants[i].send(ServerMessage::error(
                        ErrorCode::Internal,
                        "the server could not create a peer connection",
                    ));
                    return;
                }
            }
        }
        let p = &mut self.participants[i];
        let Some(peer) = p.publisher.as_mut() else {
            return;
        };
        let result = (|| {
            let offer = RTCSessionDescription::offer(sdp)?;
            peer.pc.set_remote_description(now, offer)?;
            let answer = peer.pc.create_answer(None)?;
            peer.pc.set_local_description(now, answer)?;
            Ok::<_, rtc::shared::error::Error>(())
        })();
        match result {
            Ok(()) => {
                peer.apply_early_arrivals();
                let sdp = peer
                    .pc
                    .local_description()
                    .map(|d| d.sdp)
                    .unwrap_or_default();
                p.send(ServerMessage::Answer {
                    pc: PcKind::Publisher,
                    sdp,
                });
            }
            Err(e) => {
                // A failed first offer leaves no half-made connection behind.
                if peer.pc.current_remote_description().is_none() {
                    p.publisher = None;
                }
                p.send(ServerMessage::error(
                    ErrorCode::BadSdp,
                    format!("the offer could not be applied: {e}"),
                ));
            }
        }
        self.pump(id, PcKind::Publisher, now);
    }

    fn subscriber_answer(&mut self, id: &Arc<str>, sdp: String, now: Instant) {
        let Some(i) = self.index(id) else { return };
        let p = &mut self.participants[i];
        if !p.offer_outstanding {
            p.send(ServerMessage::error(
                ErrorCode::UnexpectedAnswer,
                "no subscriber offer is waiting for an answer",
            ));
            return;
        }
        let Some(peer) = p.subscriber.as_mut() else {
            return;
        };
        let result = RTCSessionDescription::answer(sdp)
            .and_then(|answer| peer.pc.set_remote_description(now, answer));
        if let Err(e) = result {
            p.send(ServerMessage::error(
                ErrorCode::BadSdp,
                format!("the answer could not be applied: {e}"),
            ));
            return;
        }
        peer.apply_early_arrivals();
        p.offer_outstanding = false;
        // Learn the payload type each subscription goes out with on this connection.
        let mut newly_bound = Vec::new();
        for sub in p
            .subscriptions
            .iter_mut()
            .filter(|s| s.payload_type.is_none())
        {
            let Some(mut sender) = peer.pc.rtp_sender(sub.sender_id) else {
                continue;
            };
            sub.payload_type = sender
                .get_parameters()
                .rtp_parameters
                .codecs
                .iter()
                .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(&sub.mime_type))
                .map(|c| c.payload_type);
            if sub.payload_type.is_some() && sub.kind == RtpCodecKind::Video {
                newly_bound.push((sub.publisher.clone(), sub.publication.clone(), sub.quality));
            }
        }
        let connected = peer.connected;
        let again = std::mem::take(&mut p.renegotiate);
        if connected {
            for (publisher, publication, quality) in newly_bound {
                let target = self.target_layer(&publisher, &publication, quality, now);
                self.request_keyframe(&publisher, &publication, target, now);
            }
        }
        if again {
            self.negotiate_subscriber(id);
        }
        self.pump(id, PcKind::Subscriber, now);
    }

    fn peer_context(&self) -> PeerContext<'_> {
        PeerContext {
            advertised: self.advertised,
            routes: &self.routes,
            room_tx: &self.tx,
        }
    }

    /// Adds `publication` of `publisher` to `subscriber`'s downstream connection (creating it if
    /// needed). Returns whether anything was added; the caller renegotiates.
    fn subscribe(
        &mut self,
        subscriber: &Arc<str>,
        publisher: &Arc<str>,
        publication: &Arc<str>,
    ) -> bool {
        let (Some(si), Some(pi)) = (self.index(subscriber), self.index(publisher)) else {
            return false;
        };
        let Some(publ) = self.participants[pi]
            .publications
            .iter()
            .find(|p| &p.id == publication)
        else {
            return false;
        };
        let (kind, codec) = (publ.kind, publ.codec.clone());
        if self.participants[si].out.is_none() {
            return false; // reconnecting: subscribed afresh when they are back
        }
        if self.participants[si].subscriber.is_none() {
            let key = PeerKey {
                participant: subscriber.clone(),
                session: self.participants[si].session,
                pc: PcKind::Subscriber,
            };
            match Peer::new(&self.peer_context(), key, Instant::now()) {
                Ok(peer) => self.participants[si].subscriber = Some(peer),
                Err(e) => {
                    tracing::error!(error = %e, "could not create a subscriber connection");
                    return false;
                }
            }
        }
        let s = &mut self.participants[si];
        let Some(peer) = s.subscriber.as_mut() else {
            return false;
        };
        let ssrc = rand::random::<u32>();
        let mime_type = codec.mime_type.clone();
        // The stream id is the publisher's participant id: that is how a client knows whose
        // track it is (docs/signalling.md, "offer (subscriber)").
        let track = MediaStreamTrack::new(
            publisher.to_string(),
            publication.to_string(),
            format!("{publisher}-{kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        );
        match peer.pc.add_track(track) {
            Ok(sender_id) => {
                s.subscriptions.push(Subscription {
                    publisher: publisher.clone(),
                    publication: publication.clone(),
                    sender_id,
                    ssrc,
                    kind,
                    mime_type,
                    payload_type: None,
                    quality: Quality::High,
                    rewriter: Rewriter::default(),
                });
                self.stats.subscriptions.fetch_add(1, Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not add a track for a subscriber");
                false
            }
        }
    }

    /// Sends a subscriber offer now, or as soon as the outstanding one is answered.
    fn negotiate_subscriber(&mut self, id: &Arc<str>) {
        let Some(i) = self.index(id) else { return };
        let now = Instant::now();
        let p = &mut self.participants[i];
        if p.out.is_none() {
            return;
        }
        if p.offer_outstanding {
            p.renegotiate = true;
            return;
        }
        let Some(peer) = p.subscriber.as_mut() else {
            return;
        };
        let result = peer
            .pc
            .create_offer(None)
            .and_then(|offer| peer.pc.set_local_description(now, offer));
        match result {
            Ok(()) => {
                let sdp = peer
                    .pc
                    .local_description()
                    .map(|d| d.sdp)
                    .unwrap_or_default();
                p.offer_outstanding = true;
                p.send(ServerMessage::Offer {
                    pc: PcKind::Subscriber,
                    sdp,
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "could not create a subscriber offer");
                p.send(ServerMessage::error(
                    ErrorCode::Internal,
                    "the server could not update the incoming media",
                ));
            }
        }
        self.mark_dirty(id, PcKind::Subscriber);
    }

    /// Asks the publisher of `publication` for a keyframe on one layer (by SSRC; `None`: its
    /// first), at most once per throttle interval and layer.
    fn request_keyframe(
        &mut self,
        publisher: &Arc<str>,
        publication: &Arc<str>,
        layer: Option<u32>,
        now: Instant,
    ) {
        let Some(pi) = self.index(publisher) else {
            return;
        };
        let p = &mut self.participants[pi];
        let Some(publ) = p.publications.iter_mut().find(|x| &x.id == publication) else {
            return;
        };
        if publ.kind != RtpCodecKind::Video {
            return;
        }
        let receiver_id = publ.receiver_id;
        let target = match layer {
            Some(ssrc) => publ.layer_mut(ssrc),
            None => publ.layers.first_mut(),
        };
        let Some(target) = target else {
            return;
        };
        if !target.keyframes.allow(now) {
            return;
        }
        let ssrc = target.ssrc;
        let Some(peer) = p.publisher.as_mut() else {
            return;
        };
        if let Some(mut receiver) = peer.pc.rtp_receiver(receiver_id) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            if receiver.write_rtcp(now, vec![Box::new(pli)]).is_ok() {
                self.stats.keyframe_requests.fetch_add(1, Relaxed);
            }
        }
        self.mark_dirty(publisher, PcKind::Publisher);
    }

    fn mark_dirty(&mut self, id: &Arc<str>, pc: PcKind) {
        if !self.dirty.iter().any(|(d, k)| d == id && *k == pc) {
            self.dirty.push((id.clone(), pc));
        }
    }

    fn flush_dirty(&mut self) {
        for (id, pc) in std::mem::take(&mut self.dirty) {
            if let Some(i) = self.index(&id)
                && let Some(peer) = self.participants[i].peer_mut(pc)
            {
                peer.drain_into(&mut self.outgoing);
            }
        }
        if !self.outgoing.is_empty() {
            self.outgoing.send(&self.socket, &self.stats);
        }
    }

    /// Processes everything one peer connection has produced: events, received media, and
    /// datagrams to send.
    fn pump(&mut self, id: &Arc<str>, pc: PcKind, now: Instant) {
        loop {
            let Some(i) = self.index(id) else { return };
            let Some(peer) = self.participants[i].peer_mut(pc) else {
                return;
            };
            let mut events = Vec::new();
            while let Some(event) = peer.pc.poll_event() {
                events.push(event);
            }
            let mut reads = Vec::new();
            while let Some(message) = peer.pc.poll_read() {
                reads.push(message.message);
            }
            if events.is_empty() && reads.is_empty() {
                break;
            }
            for event in events {
                self.on_event(id, pc, event, now);
            }
            for message in reads {
                self.on_message(id, pc, message, now);
            }
        }
        self.mark_dirty(id, pc);
    }

    fn on_event(&mut self, id: &Arc<str>, pc: PcKind, event: RTCPeerConnectionEvent, now: Instant) {
        let Some(i) = self.index(id) else { return };
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                tracing::debug!(room = %self.id, ?pc, %state, "peer connection state");
                let connected = state == RTCPeerConnectionState::Connected;
                if let Some(peer) = self.participants[i].peer_mut(pc) {
                    peer.connected = connected;
                }
                if connected && pc == PcKind::Subscriber {
                    // A subscriber's video starts with a keyframe, or it shows nothing.
                    let wanted: Vec<_> = self.participants[i]
                        .subscriptions
                        .iter()
                        .filter(|s| s.kind == RtpCodecKind::Video)
                        .map(|s| (s.publisher.clone(), s.publication.clone(), s.quality))
                        .collect();
                    for (publisher, publication, quality) in wanted {
                        let target = self.target_layer(&publisher, &publication, quality, now);
                        self.request_keyframe(&publisher, &publication, target, now);
                    }
                }
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init))
                if pc == PcKind::Publisher =>
            {
                // A simulcast track opens once per rid, with the same track id.
                let opened = &mut self.participants[i].opened_tracks;
                if !opened.iter().any(|(t, _)| *t == init.track_id) {
                    opened.push((init.track_id, init.receiver_id));
                }
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnClose(track_id))
                if pc == PcKind::Publisher =>
            {
                let p = &mut self.participants[i];
                p.opened_tracks.retain(|(t, _)| *t != track_id);
                if let Some(pos) = p.publications.iter().position(|x| x.track_id == track_id) {
                    let publ = p.publications.remove(pos);
                    self.stats.publications.fetch_sub(1, Relaxed);
                    self.unsubscribe_all(&publ.id);
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, id: &Arc<str>, pc: PcKind, message: RTCMessage, now: Instant) {
        match (pc, message) {
            (PcKind::Publisher, RTCMessage::RtpPacket(track_id, packet)) => {
                self.stats.rtp_packets_in.fetch_add(1, Relaxed);
                self.forward(id, &track_id, packet, now);
            }
            (PcKind::Subscriber, RTCMessage::RtcpPacket(track_id, _packets)) => {
                // Only keyframe requests are let through (see peer::KeyframeRequestTap).
                let Some(i) = self.index(id) else { return };
                let wanted = self.participants[i]
                    .subscriptions
                    .iter()
                    .find(|s| *s.publication == *track_id)
                    .map(|s| {
                        (
                            s.publisher.clone(),
                            s.publication.clone(),
                            s.rewriter.current,
                        )
                    });
                // The keyframe is wanted from the layer this subscriber is on.
                if let Some((publisher, publication, layer)) = wanted {
                    self.request_keyframe(&publisher, &publication, layer, now);
                }
            }
            _ => {}
        }
    }

    /// Sends one received RTP packet to every subscriber of its publication that is on the
    /// packet's layer, switching subscribers to it at a keyframe when it is the layer they
    /// should be on.
    fn forward(
        &mut self,
        publisher: &Arc<str>,
        track_id: &str,
        packet: rtc::rtp::Packet,
        now: Instant,
    ) {
        let Some(pi) = self.index(publisher) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let pos = match self.participants[pi]
            .publications
            .iter()
            .position(|p| p.track_id == track_id)
        {
            Some(pos) => pos,
            None => match self.publish(pi, track_id, &packet) {
                Some(pos) => pos,
                None => return,
            },
        };
        if self.participants[pi].publications[pos]
            .layer_mut(ssrc)
            .is_none()
        {
            self.add_layer(pi, pos, ssrc, now);
        }
        let publ = &mut self.participants[pi].publications[pos];
        if let Some(layer) = publ.layer_mut(ssrc) {
            layer.last_packet = now;
        }
        let publication = publ.id.clone();
        let simulcast = publ.simulcast;
        let clock_rate = publ.codec.clock_rate;
        // Each subscriber's layer, decided before the loop borrows the participants mutably.
        // An array, not a Vec: this runs for every packet.
        let targets: [(u8, Option<u32>); 3] =
            [Quality::Low, Quality::Medium, Quality::High].map(|q| {
                (
                    simulcast::wanted_rank(q),
                    simulcast::choose(&publ.layers, q, now),
                )
            });
        let target_of = |q: Quality| {
            let rank = simulcast::wanted_rank(q);
            targets
                .iter()
                .find(|(r, _)| *r == rank)
                .and_then(|(_, t)| *t)
        };
        // Only a simulcast switch looks into the payload for a keyframe; no copy otherwise.
        let mime_type = if simulcast {
            publ.codec.mime_type.clone()
        } else {
            String::new()
        };
        let mut keyframe: Option<bool> = None;
        let mut wants_keyframe: Vec<u32> = Vec::new();
        for s in &mut self.participants {
            if Arc::ptr_eq(&s.id, publisher) || s.out.is_none() {
                continue;
            }
            // Until DTLS is up there are no SRTP keys to send with.
            let Some(peer) = s.subscriber.as_mut().filter(|p| p.connected) else {
                continue;
            };
            for sub in s
                .subscriptions
                .iter_mut()
                .filter(|x| x.publication == publication)
            {
                let Some(pt) = sub.payload_type else { continue };
                let target = target_of(sub.quality);
                if sub.rewriter.current != Some(ssrc) {
                    // Not this subscriber's layer: switch to it only if it should be, and
                    // (simulcast) only where a picture can start.
                    if target != Some(ssrc) {
                        continue;
                    }
                    let at_keyframe = !simulcast
                        || *keyframe.get_or_insert_with(|| {
                            simulcast::starts_keyframe(&mime_type, &packet.payload)
                        });
                    if !at_keyframe {
                        wants_keyframe.push(ssrc);
                        continue;
                    }
                    sub.rewriter.switch_to(
                        ssrc,
                        packet.header.sequence_number,
                        packet.header.timestamp,
                        now,
                        clock_rate,
                    );
                } else if simulcast && target.is_some_and(|t| t != ssrc) {
                    // On a layer it should leave: keep it until the other starts a keyframe.
                    if let Some(t) = target {
                        wants_keyframe.push(t);
                    }
                }
                let (seq, ts) = sub.rewriter.rewrite(
                    packet.header.sequence_number,
                    packet.header.timestamp,
                    now,
                );
                // Header extension ids are negotiated per connection; the publisher's ids mean
                // nothing on the subscriber's, so they are not forwarded. The header is built
                // anew rather than cloned, so the extension list is not copied per subscriber;
                // the payload is shared, not copied.
                let out = rtc::rtp::Packet {
                    header: rtc::rtp::header::Header {
                        version: packet.header.version,
                        padding: packet.header.padding,
                        marker: packet.header.marker,
                        payload_type: pt,
                        sequence_number: seq,
                        timestamp: ts,
                        ssrc: sub.ssrc,
                        csrc: packet.header.csrc.clone(),
                        ..Default::default()
                    },
                    payload: packet.payload.clone(),
                };
                let Some(mut sender) = peer.pc.rtp_sender(sub.sender_id) else {
                    continue;
                };
                match sender.write_rtp(now, out) {
                    Ok(()) => {
                        self.stats.rtp_packets_forwarded.fetch_add(1, Relaxed);
                    }
                    Err(e) => {
                        self.stats.forward_errors.fetch_add(1, Relaxed);
                        tracing::trace!(error = %e, "forwarding failed");
                    }
                }
            }
            let sid = s.id.clone();
            if !self
                .dirty
                .iter()
                .any(|(d, k)| *d == sid && *k == PcKind::Subscriber)
            {
                self.dirty.push((sid, PcKind::Subscriber));
            }
        }
        wants_keyframe.sort_unstable();
        wants_keyframe.dedup();
        for layer in wants_keyframe {
            self.request_keyframe(publisher, &publication, Some(layer), now);
        }
    }

    /// A packet on an SSRC the publication has not had: a new simulcast layer (or the first
    /// stream of the track).
    fn add_layer(&mut self, pi: usize, pos: usize, ssrc: u32, now: Instant) {
        let p = &mut self.participants[pi];
        let receiver_id = p.publications[pos].receiver_id;
        let rid = p
            .publisher
            .as_mut()
            .and_then(|peer| peer.pc.rtp_receiver(receiver_id))
            .and_then(|r| r.track().rid(ssrc).map(|rid| rid.to_string()))
            .filter(|rid| !rid.is_empty());
        let publ = &mut p.publications[pos];
        let rank = simulcast::rank_of(rid.as_deref(), publ.layers.len());
        if rid.is_some() {
            publ.simulcast = true;
        }
        tracing::debug!(room = %self.id, rid = rid.as_deref().unwrap_or("-"), "layer started");
        publ.layers.push(Layer {
            ssrc,
            rank,
            last_packet: now,
            keyframes: KeyframeThrottle::default(),
        });
    }

    /// Turns a track's first packet into a publication and offers it to everyone else.
    fn publish(&mut self, pi: usize, track_id: &str, packet: &rtc::rtp::Packet) -> Option<usize> {
        let p = &mut self.participants[pi];
        let pos = p.opened_tracks.iter().position(|(t, _)| t == track_id)?;
        let receiver_id = p.opened_tracks[pos].1;
        let peer = p.publisher.as_mut()?;
        let mut receiver = peer.pc.rtp_receiver(receiver_id)?;
        let kind = receiver.track().kind();
        let codec = receiver
            .get_parameters()
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.payload_type == packet.header.payload_type)?
            .rtp_codec
            .clone();
        p.opened_tracks.retain(|(t, _)| t != track_id);
        let id: Arc<str> = format!(
            "{}-{}",
            kind,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
        .into();
        p.publications.push(Publication {
            id: id.clone(),
            track_id: track_id.to_owned(),
            receiver_id,
            kind,
            codec,
            layers: Vec::new(),
            simulcast: false,
        });
        let position = p.publications.len() - 1;
        self.stats.publications.fetch_add(1, Relaxed);
        let publisher = p.id.clone();
        tracing::debug!(room = %self.id, %kind, "publication started");
        let others: Vec<Arc<str>> = self
            .participants
            .iter()
            .filter(|x| x.id != publisher)
            .map(|x| x.id.clone())
            .collect();
        for other in others {
            if self.subscribe(&other, &publisher, &id) {
                self.negotiate_subscriber(&other);
            }
        }
        Some(position)
    }

    /// Removes every subscription to `publication` and renegotiates the subscribers.
    fn unsubscribe_all(&mut self, publication: &Arc<str>) {
        let mut touched = Vec::new();
        for s in &mut self.participants {
            let before = s.subscriptions.len();
            let mut removed = Vec::new();
            s.subscriptions.retain(|x| {
                let keep = x.publication != *publication;
                if !keep {
                    removed.push(x.sender_id);
                }
                keep
            });
            if let Some(peer) = s.subscriber.as_mut() {
                for sender_id in removed {
                    let _ = peer.pc.remove_track(sender_id);
                }
            }
            let n = before - s.subscriptions.len();
            if n > 0 {
                self.stats.subscriptions.fetch_sub(n as i64, Relaxed);
                touched.push(s.id.clone());
            }
        }
        for id in touched {
            self.negotiate_subscriber(&id);
        }
    }

    /// Ends a participant's media: closes both connections, withdraws its publications from
    /// everyone and drops its subscriptions. The participant itself stays.
    fn drop_media(&mut self, i: usize) {
        let p = &mut self.participants[i];
        for peer in [p.publisher.take(), p.subscriber.take()]
            .into_iter()
            .flatten()
        {
            let mut peer = peer;
            peer.close();
            // Its goodbyes (DTLS close) go out before the connection is dropped.
            peer.drain_into(&mut self.outgoing);
        }
        self.outgoing.send(&self.socket, &self.stats);
        let n_subs = p.subscriptions.len() as i64;
        p.subscriptions.clear();
        p.opened_tracks.clear();
        p.offer_outstanding = false;
        p.renegotiate = false;
        self.stats.subscriptions.fetch_sub(n_subs, Relaxed);
        let publications: Vec<Arc<str>> = p.publications.drain(..).map(|x| x.id).collect();
        self.stats
            .publications
            .fetch_sub(publications.len() as i64, Relaxed);
        for publication in publications {
            self.unsubscribe_all(&publication);
        }
    }

    fn remove(&mut self, id: &Arc<str>, reason: LeftReason, bye: Option<ByeReason>) {
        let Some(i) = self.index(id) else { return };
        self.drop_media(i);
        let p = self.participants.remove(i);
        self.stats.participants.fetch_sub(1, Relaxed);
        self.worker.participants.fetch_sub(1, Relaxed);
        if let (Some(out), Some(bye)) = (p.out, bye) {
            let _ = out.send(Outbound::Close(bye));
        }
        self.broadcast_except(
            id,
            ServerMessage::ParticipantLeft {
                participant_id: p.info.id,
                reason,
            },
        );
        tracing::info!(room = %self.id, ?reason, participants = self.participants.len(), "participant left");
    }

    /// Tells everyone else that `subject` joined (or changed), each as they may see it.
    fn announce(&self, subject: &ParticipantInfo, updated: bool) {
        for p in self.participants.iter().filter(|p| *p.id != *subject.id) {
            let participant = roster::as_seen_by(p.info.role, subject);
            p.send(if updated {
                ServerMessage::ParticipantUpdated { participant }
            } else {
                ServerMessage::ParticipantJoined { participant }
            });
        }
    }

    fn broadcast_except(&self, id: &Arc<str>, message: ServerMessage) {
        for p in self.participants.iter().filter(|p| p.id != *id) {
            p.send(message.clone());
        }
    }

    fn shutdown(&mut self) {
        for i in 0..self.participants.len() {
            self.drop_media(i);
        }
        for p in self.participants.drain(..) {
            if let Some(out) = p.out {
                let _ = out.send(Outbound::Close(ByeReason::ServerShutdown));
            }
            self.stats.participants.fetch_sub(1, Relaxed);
            self.worker.participants.fetch_sub(1, Relaxed);
        }
        self.flush_dirty();
    }
}
