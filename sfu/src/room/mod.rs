//! A room: one task that owns every participant and peer connection of one visit, so that
//! forwarding a packet is a function call, not a chain of channels and locks.
//!
//! ```text
//!   inputs (datagrams, joins, signals, leaves; each with the time it is handled)
//!      │
//!      ├─▶ membership  (sans-I/O: waiting room, presence, host actions, chat, the per-viewer
//!      │                lens; sends protocol messages, returns Effects)
//!      │        │ Effect::MediaUp / MediaDown / Block / Ended
//!      │        ▼
//!      └─▶ media: negotiation (offers, answers, candidates) · subscriptions (who receives
//!                 what, layer wanted) · forwarding (RTP to subscribers, layers, keyframes)
//! ```
//!
//! The files of this folder are named for those parts: `membership` (and the `lens` and `chat`
//! it uses) decides who is where and who sees what, without a clock or a socket, and is
//! unit-tested on its own; `media`, `negotiation`, `subscriptions` and `forwarding` drive the
//! peer connections of the participants in the visit. This file is the shell: the task's loop,
//! the clock, the socket, and the dispatch between the two.
//!
//! Inputs arrive on one channel. After each input the room drains what the touched peer
//! connections produced: state events, received RTP/RTCP (forwarded at once), and datagrams to
//! send (written to the shared UDP socket, batched, without awaiting).

mod bandwidth;
mod chat;
mod forwarding;
pub mod lens;
mod media;
pub(crate) mod membership;
mod negotiation;
mod speaker;
mod subscriptions;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use vardrum_signalling::message::IceServer;
use vardrum_signalling::{
    CandidateInit, ChatFile, ErrorCode, MediaKind, PcKind, Quality, RoomKind, ServerMessage,
};

use crate::batch_send::SendBatch;
use crate::mux::{PeerKey, Routes};
use crate::stats::SfuStats;
use crate::worker::WorkerCounters;
use crate::{Admission, HostAction, JoinError, JoinRequest, Outbound};
use lens::NamePolicy;
use media::Media;
use membership::{Effect, Members, Now, RoomPolicy};
use speaker::SpeakerDetector;

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
    /// Whether the subscriber's page shows one of its tracks, and the tile's size.
    TrackSettings {
        track: String,
        visible: bool,
        width: u32,
        height: u32,
    },
    RaiseHand {
        raised: bool,
    },
    Chat {
        text: String,
    },
    /// A host action; the room checks the sender's role.
    Host(HostAction),
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
    /// Whether this participant is in the visit now (for uploads and downloads).
    Admission {
        participant: String,
        reply: oneshot::Sender<Option<Admission>>,
    },
    /// A file the participant uploaded, to announce in the chat.
    File {
        participant: String,
        file: ChatFile,
        reply: oneshot::Sender<bool>,
    },
    Shutdown,
}

/// Settings a room takes from the SFU.
#[derive(Debug, Clone)]
pub(crate) struct RoomSettings {
    pub max_participants: usize,
    pub max_group_participants: usize,
    pub waiting_room_in_visits: bool,
    pub names: NamePolicy,
    pub reconnect_grace: Duration,
    pub ice_servers: Vec<IceServer>,
    pub lifecycle: Option<mpsc::UnboundedSender<crate::RoomLifecycle>>,
}

impl RoomSettings {
    fn policy(&self, kind: RoomKind) -> RoomPolicy {
        RoomPolicy {
            kind,
            max_participants: match kind {
                RoomKind::Visit => self.max_participants,
                RoomKind::Group => self.max_group_participants,
            },
            reconnect_grace: self.reconnect_grace,
            waiting_room: kind == RoomKind::Group || self.waiting_room_in_visits,
            names: self.names,
            ice_servers: self.ice_servers.clone(),
        }
    }
}

/// How a room ended, for the SFU's memory of ended visits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomEnd {
    /// When, in seconds since the epoch, if the end is to be remembered (a host ended it, or a
    /// clinician had been in it).
    pub remembered_at: Option<u64>,
}

pub(crate) struct Room {
    id: String,
    settings: RoomSettings,
    members: Members,
    /// The media of the participants in the visit, by key.
    media: Vec<Media>,
    /// Who receives each publication, for forwarding.
    fanout: forwarding::Fanout,
    speaker: SpeakerDetector,
    socket: Arc<UdpSocket>,
    advertised: SocketAddr,
    routes: Arc<Routes>,
    tx: mpsc::Sender<RoomInput>,
    stats: Arc<SfuStats>,
    /// The counters of this room's media worker (for placing new rooms).
    worker: Arc<WorkerCounters>,
    /// Peer connections that were written to and need their output flushed.
    dirty: Vec<(Arc<str>, PcKind)>,
    /// Subscribers waiting for a new offer, made one per round of inputs (see
    /// `negotiate_subscriber`).
    offers_due: VecDeque<Arc<str>>,
    /// Datagrams produced and not yet sent: flushed after each batch of inputs.
    outgoing: SendBatch,
    call_id: String,
    peak_participants: usize,
    /// Participants counted into the gauges (kept equal to the membership's count).
    counted: usize,
    /// The time of the last input, for the end's timestamp.
    last_unix_ms: u64,
}

pub(crate) struct RoomParts {
    pub id: String,
    pub kind: RoomKind,
    pub settings: RoomSettings,
    pub socket: Arc<UdpSocket>,
    pub advertised: SocketAddr,
    pub routes: Arc<Routes>,
    pub tx: mpsc::Sender<RoomInput>,
    pub stats: Arc<SfuStats>,
    pub worker: Arc<WorkerCounters>,
}

/// The wall clock, read once per input by the shell (the membership never reads it).
fn now() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Now {
        at: Instant::now(),
        unix_ms,
    }
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
        let members = Members::new(parts.id.clone(), parts.settings.policy(parts.kind));
        Self {
            id: parts.id,
            settings: parts.settings,
            members,
            media: Vec::new(),
            fanout: forwarding::Fanout::default(),
            speaker: SpeakerDetector::default(),
            socket: parts.socket,
            advertised: parts.advertised,
            routes: parts.routes,
            tx: parts.tx,
            stats: parts.stats,
            worker: parts.worker,
            dirty: Vec::new(),
            offers_due: VecDeque::new(),
            outgoing: SendBatch::default(),
            call_id,
            peak_participants: 0,
            counted: 0,
            last_unix_ms: 0,
        }
    }

    /// Runs until the room is empty, ended or shut down. `on_empty` is called when the last
    /// participant has gone; it must make sure no new join reaches this room (it removes the
    /// room from the directory) before the task drains its inbox and ends.
    pub async fn run(mut self, mut rx: mpsc::Receiver<RoomInput>, on_empty: impl FnOnce(RoomEnd)) {
        tracing::debug!(room = %self.id, kind = self.members.kind().as_str(), "room opened");
        loop {
            let input = if self.offers_due.is_empty() {
                match self.next_wake() {
                    Some(at) => {
                        tokio::select! {
                            input = rx.recv() => input,
                            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {
                                self.on_timeout(now());
                                if self.members.is_empty() {
                                    break;
                                }
                                continue;
                            }
                        }
                    }
                    None => rx.recv().await,
                }
            } else {
                // Offers are due: one is made whenever the inbox is empty (and one per round
                // below when it is not), so the room does not sleep on its inbox meanwhile.
                match rx.try_recv() {
                    Ok(input) => Some(input),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        let now = now();
                        if self.next_wake().is_some_and(|at| at <= now.at) {
                            self.on_timeout(now);
                        }
                        if self.members.is_empty() {
                            break;
                        }
                        self.offer_next();
                        self.flush_dirty();
                        // Let the worker's socket task run between offers.
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
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
            self.decide_speaker(Instant::now());
            // What the batch's datagrams produced goes out together; waiting at most for the
            // rest of a batch that is already here.
            self.flush_dirty();
            if self.offer_next() {
                self.flush_dirty();
            }
            if self.members.is_empty() {
                break;
            }
        }
        self.finish(rx, on_empty)
    }

    fn finish(mut self, mut rx: mpsc::Receiver<RoomInput>, on_empty: impl FnOnce(RoomEnd)) {
        self.members.shutdown();
        self.sync_gauges();
        let remembered_at = self
            .members
            .remember_end()
            .then(|| self.last_unix_ms.max(now().unix_ms) / 1000);
        on_empty(RoomEnd { remembered_at });
        // Joins that raced with the room's end are told to try again; they will open a new
        // room, or hear that the visit ended.
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
        let mut wake = self.members.next_deadline();
        if let Some(t) = self.speaker.next_decision() {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        };
        for p in &mut self.media {
            if let Some(peer) = p.publisher.as_mut() {
                earliest(peer.pc.poll_timeout());
            }
            if let Some(peer) = p.subscriber.as_mut() {
                earliest(peer.pc.poll_timeout());
            }
        }
        wake
    }

    fn on_timeout(&mut self, now: Now) {
        self.last_unix_ms = now.unix_ms;
        let mut due = Vec::new();
        for p in &mut self.media {
            for kind in [PcKind::Publisher, PcKind::Subscriber] {
                if let Some(peer) = p.peer_mut(kind)
                    && peer.pc.poll_timeout().is_some_and(|t| t <= now.at)
                {
                    if let Err(e) = peer.pc.handle_timeout(now.at) {
                        tracing::debug!(error = %e, "peer connection timeout handling failed");
                    }
                    due.push((p.key.clone(), kind));
                }
            }
        }
        for (key, kind) in due {
            self.pump(&key, kind, now.at);
        }
        self.decide_speaker(now.at);
        let before = self.members.len();
        self.members.on_timeout(now);
        if self.members.len() < before {
            tracing::info!(room = %self.id, "participant did not come back in time");
        }
        self.apply_effects(now.at);
        self.flush_dirty();
    }

    /// The media of the participant with this key.
    fn index(&self, key: &str) -> Option<usize> {
        self.media.iter().position(|p| &*p.key == key)
    }

    /// The media of the participant with this key, if `session` is its current session.
    fn current(&self, key: &str, session: u64) -> Option<usize> {
        self.index(key)
            .filter(|&i| self.media[i].session == session)
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
                let Some(peer) = self.media[i].peer_mut(key.pc) else {
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
                let now = now();
                self.last_unix_ms = now.unix_ms;
                let result = self.members.join(&request, session, out);
                let _ = reply.send(result);
                if let Ok(resumed) = result {
                    tracing::info!(room = %self.id, resumed, participants = self.members.len(), "participant joined");
                }
                self.apply_effects(now.at);
                self.flush_dirty();
            }
            RoomInput::Signal {
                participant,
                session,
                signal,
            } => {
                if self.members.current(&participant, session).is_some() {
                    let now = now();
                    self.last_unix_ms = now.unix_ms;
                    self.signal(&participant, session, signal, now);
                    self.apply_effects(now.at);
                    self.flush_dirty();
                }
            }
            RoomInput::Leave {
                participant,
                session,
            } => {
                let now = now();
                self.last_unix_ms = now.unix_ms;
                self.members.leave(&participant, session);
                self.apply_effects(now.at);
                self.flush_dirty();
            }
            RoomInput::Disconnected {
                participant,
                session,
            } => {
                let now = now();
                self.last_unix_ms = now.unix_ms;
                self.members.disconnected(&participant, session, now);
                self.apply_effects(now.at);
                self.flush_dirty();
            }
            RoomInput::Admission { participant, reply } => {
                let _ = reply.send(self.members.admission(&participant));
            }
            RoomInput::File {
                participant,
                file,
                reply,
            } => {
                let now = now();
                let posted = self.members.post_file(&participant, file, now);
                if let Err((code, message)) = &posted {
                    self.members
                        .send_to(&participant, ServerMessage::error(*code, message.clone()));
                }
                let _ = reply.send(posted.is_ok());
            }
            RoomInput::Shutdown => {}
        }
    }

    fn signal(&mut self, key: &Arc<str>, session: u64, signal: Signal, now: Now) {
        let refused = match signal {
            Signal::PublisherOffer { .. }
            | Signal::SubscriberAnswer { .. }
            | Signal::Candidate { .. }
            | Signal::SetQuality { .. }
            | Signal::TrackSettings { .. }
                if !self.members.is_active(key, session) =>
            {
                Err((
                    ErrorCode::NotAdmitted,
                    "you are in the waiting room: a host has not let you in yet".to_owned(),
                ))
            }
            Signal::PublisherOffer { sdp } => {
                self.publisher_offer(key, sdp, now.at);
                Ok(())
            }
            Signal::SubscriberAnswer { sdp } => {
                self.subscriber_answer(key, sdp, now.at);
                Ok(())
            }
            Signal::Candidate { pc, candidate } => {
                self.candidate(key, pc, candidate, now.at);
                Ok(())
            }
            Signal::SetQuality { track, quality } => {
                self.set_quality(key, &track, quality, now.at);
                Ok(())
            }
            Signal::TrackSettings {
                track,
                visible,
                width,
                height,
            } => {
                self.track_settings(key, &track, visible, (width, height), now.at);
                Ok(())
            }
            Signal::Mute { kind, muted } => {
                self.members.mute(key, kind, muted);
                Ok(())
            }
            Signal::RaiseHand { raised } => self.members.raise_hand(key, raised),
            Signal::Chat { text } => self.members.chat(key, &text, now),
            Signal::Host(action) => self.members.host_action(key, action),
        };
        if let Err((code, message)) = refused {
            self.members
                .send_to(key, ServerMessage::error(code, message));
        }
    }

    /// Carries out what the membership decided: media up or down, blocks, the end.
    fn apply_effects(&mut self, now: Instant) {
        for effect in self.members.take_effects() {
            match effect {
                Effect::MediaUp {
                    key,
                    id,
                    session,
                    out,
                } => {
                    if let Some(i) = self.index(&key) {
                        self.drop_media(i);
                    }
                    self.media.push(Media::new(key.clone(), id, session, out));
                    self.subscriptions_changed();
                    self.subscribe_to_everything(&key, now);
                }
                Effect::MediaDown { key } => {
                    if let Some(i) = self.index(&key) {
                        self.drop_media(i);
                    }
                    self.speaker.forget(&key);
                }
                Effect::Block { key, kind, blocked } => {
                    if let Some(i) = self.index(&key) {
                        self.media[i].block(kind, blocked);
                    }
                }
                Effect::Ended => {
                    tracing::info!(room = %self.id, "visit ended by a host");
                    while !self.media.is_empty() {
                        self.drop_media(0);
                    }
                }
            }
        }
        self.sync_gauges();
    }

    /// Tells everyone in the visit when the active speaker changed.
    fn decide_speaker(&mut self, now: Instant) {
        if let Some(key) = self.speaker.decide(now) {
            self.members.announce_speaker(&key);
        }
    }

    /// Keeps the participant gauges equal to the membership's count.
    fn sync_gauges(&mut self) {
        let n = self.members.len();
        if n > self.counted {
            let d = n - self.counted;
            self.stats.participants.fetch_add(d as i64, Relaxed);
            self.worker.participants.fetch_add(d, Relaxed);
        } else if n < self.counted {
            let d = self.counted - n;
            self.stats.participants.fetch_sub(d as i64, Relaxed);
            self.worker.participants.fetch_sub(d, Relaxed);
        }
        self.counted = n;
        self.peak_participants = self.peak_participants.max(n);
    }

    fn mark_dirty(&mut self, key: &Arc<str>, pc: PcKind) {
        if !self.dirty.iter().any(|(d, k)| d == key && *k == pc) {
            self.dirty.push((key.clone(), pc));
        }
    }

    fn flush_dirty(&mut self) {
        for (key, pc) in std::mem::take(&mut self.dirty) {
            if let Some(i) = self.index(&key)
                && let Some(peer) = self.media[i].peer_mut(pc)
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
    fn pump(&mut self, key: &Arc<str>, pc: PcKind, now: Instant) {
        loop {
            let Some(i) = self.index(key) else { return };
            let Some(peer) = self.media[i].peer_mut(pc) else {
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
                self.on_event(key, pc, event, now);
            }
            for message in reads {
                self.on_message(key, pc, message, now);
            }
        }
        self.mark_dirty(key, pc);
    }

    fn on_event(
        &mut self,
        key: &Arc<str>,
        pc: PcKind,
        event: RTCPeerConnectionEvent,
        now: Instant,
    ) {
        let Some(i) = self.index(key) else { return };
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                tracing::debug!(room = %self.id, ?pc, %state, "peer connection state");
                let connected = state == RTCPeerConnectionState::Connected;
                if let Some(peer) = self.media[i].peer_mut(pc) {
                    peer.connected = connected;
                }
                if connected && pc == PcKind::Subscriber {
                    // A subscriber's video starts with a keyframe, or it shows nothing.
                    let wanted: Vec<_> = self.media[i]
                        .subscriptions
                        .iter()
                        .filter(|s| s.kind == RtpCodecKind::Video)
                        .map(|s| (s.publisher.clone(), s.publication.clone(), s.target()))
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
                let opened = &mut self.media[i].opened_tracks;
                if !opened.iter().any(|(t, _)| *t == init.track_id) {
                    opened.push((init.track_id, init.receiver_id));
                }
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnClose(track_id))
                if pc == PcKind::Publisher =>
            {
                let p = &mut self.media[i];
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

    fn on_message(&mut self, key: &Arc<str>, pc: PcKind, message: RTCMessage, now: Instant) {
        match (pc, message) {
            (PcKind::Publisher, RTCMessage::RtpPacket(track_id, packet)) => {
                self.stats.rtp_packets_in.fetch_add(1, Relaxed);
                self.forward(key, &track_id, packet, now);
            }
            (PcKind::Subscriber, RTCMessage::RtcpPacket(track_id, packets)) => {
                // What the tap lets through (peer::KeyframeRequestTap): keyframe requests, and
                // the reports that tell the subscriber's bandwidth.
                let mut keyframe = false;
                let mut reported = false;
                for packet in &packets {
                    let any = packet.as_any();
                    if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                        reported |= self.on_receiver_report(key, rr, now);
                    } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>()
                    {
                        if let Some(i) = self.index(key) {
                            let sending = self.media[i].sent.bps();
                            self.media[i]
                                .estimate
                                .on_remb(f64::from(remb.bitrate), sending, now);
                            reported = true;
                        }
                    } else if crate::peer::is_keyframe_request(packet.as_ref()) {
                        // Not the SDES and other packets that share a compound with a report.
                        keyframe = true;
                    }
                }
                if reported {
                    self.allocate(key, now);
                }
                if !keyframe {
                    return;
                }
                let Some(i) = self.index(key) else { return };
                let wanted = self.media[i]
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

    fn shutdown(&mut self) {
        while !self.media.is_empty() {
            self.drop_media(0);
        }
        self.members.shutdown();
        self.sync_gauges();
        self.flush_dirty();
    }
}
