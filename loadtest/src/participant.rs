//! One simulated participant on a vardrum server: real signalling (the documented protocol,
//! through `vardrum_signalling::client`), real WebRTC (the async `webrtc` crate, with ICE, DTLS
//! and SRTP; see [`crate::webrtc_client`], shared with the Janus driver), synthetic stamped
//! media out, measured media in.
//!
//! In a group visit ([`crate::group_visit`]) a patient waits in the waiting room after `joined`
//! and publishes only once `admitted`; the host (a clinician, the room's first participant)
//! admits with `admit_all`, as patients arrive or every `--admit-interval` seconds. Every
//! subscriber then behaves like a page in speaker view: on each received video track it sends
//! `track_settings` with a tile's size (320x180), and the size of the large view (1280x720) for
//! the participant the last `speaker` message named, mapping tracks to people by their stream
//! id, the publisher's participant id. It sends the chat messages the room orders and counts
//! those it receives.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rtc::peer_connection::sdp::RTCSessionDescription;
use tokio::sync::{mpsc, watch};
use vardrum_signalling::client::{Incoming, SignallingClient};
use vardrum_signalling::{
    ClientMessage, ParticipantInfo, ParticipantState, PcKind, Role, RoomKind, ServerMessage,
};
use webrtc::peer_connection::PeerConnection;

use crate::collector::Collector;
use crate::group_visit::{ChatOrder, VisitRoom, Voice, chat_sent_us, chat_text};
use crate::media::now_us;
use crate::scenario::{SPEAKER_SIZE, SimulcastQuality, TILE_SIZE, Video};
use crate::tokens::TokenSource;
use crate::webrtc_client::{
    Handler, NOBODY, PcEvent, PcOptions, answer_offer, build_pc, start_publishing,
};

/// Who this participant is and what it sends.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: u32,
    pub identity: String,
    pub room: String,
    pub publish: bool,
    pub audio: bool,
    pub video: Option<Video>,
    /// With simulcast: publish video as three layers, and receive this one of others' video.
    pub simulcast: Option<SimulcastQuality>,
    /// Which room of the run (0-based); the Janus driver numbers its rooms with it.
    pub room_index: usize,
    /// The first participant planned for its room (the Janus driver creates the room).
    pub first_in_room: bool,
    /// Group visit: the room this participant shares with the others of its visit.
    pub visit: Option<Arc<VisitRoom>>,
    /// Group visit: the host (a clinician: enters directly and admits the patients).
    pub host: bool,
    /// Group visit: seconds between the host's looks at the waiting room (0: as they arrive).
    pub admit_interval: Duration,
}

impl Plan {
    /// How its subscriber connection is set up: simulcast extensions when layers are in use
    /// (the server may forward them).
    pub fn subscriber_options(&self) -> PcOptions {
        PcOptions {
            simulcast: self.simulcast.is_some(),
            keyframe_requests: false,
            audio_level: false,
        }
    }

    /// Group visit: the level its audio carries.
    pub fn voice(&self) -> Option<Arc<Voice>> {
        self.visit.as_ref()?.voice(self.index)
    }

    /// The role and room kind its join token grants.
    pub fn grant(&self) -> (Role, RoomKind) {
        match (&self.visit, self.host) {
            (None, _) => (Role::Patient, RoomKind::Visit),
            (Some(_), false) => (Role::Patient, RoomKind::Group),
            (Some(_), true) => (Role::Clinician, RoomKind::Group),
        }
    }
}

/// What the run shares with every participant.
pub struct Shared {
    pub ws_url: String,
    pub tokens: TokenSource,
    pub collector: Arc<Collector>,
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
    let (role, kind) = plan.grant();
    let token = match shared
        .tokens
        .token(&plan.room, &plan.identity, role, kind)
        .await
    {
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
    let join_sent = Instant::now();
    if let Err(e) = client.send(&join).await {
        return collector.join_failed(format!("send join: {e}"));
    }
    let (me, others) = match client.next().await {
        Ok(Incoming::Message(ServerMessage::Joined {
            participant,
            participants,
            ..
        })) => (participant, participants),
        Ok(Incoming::Message(ServerMessage::Error { code, .. })) => {
            return collector.join_failed(code.as_str().to_owned());
        }
        Ok(other) => return collector.join_failed(format!("unexpected answer to join: {other:?}")),
        Err(e) => return collector.join_failed(format!("join: {e}")),
    };
    collector.joined(started.elapsed());

    let mut visit = plan
        .visit
        .clone()
        .map(|room| InVisit::new(room, &plan, join_sent));
    let joined = Joined {
        started,
        me,
        others,
    };
    let outcome = session(
        &plan,
        &collector,
        &mut client,
        &mut visit,
        joined,
        &mut stop,
    )
    .await;
    if let Some(v) = &visit {
        v.room.left(plan.index);
    }
    if let Outcome::Dropped(reason) = &outcome {
        collector.dropped(reason);
    }
    outcome
}

/// What `joined` said, and when the participant started connecting.
struct Joined {
    started: Instant,
    me: ParticipantInfo,
    others: Vec<ParticipantInfo>,
}

/// From `joined` to the end: publishing (at once, or once admitted), subscribing, and in a
/// group visit the host's, the speaker view's and the chat's part.
async fn session(
    plan: &Plan,
    collector: &Arc<Collector>,
    client: &mut SignallingClient,
    visit: &mut Option<InVisit>,
    joined: Joined,
    stop: &mut watch::Receiver<bool>,
) -> Outcome {
    let Joined {
        started,
        me,
        others,
    } = joined;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let speaker_view = visit.as_ref().map(|v| v.speaker_view.clone());
    let handler = |pc| Handler {
        receiver: plan.index,
        pc,
        events: events_tx.clone(),
        collector: collector.clone(),
        joined_at: started,
        speaker_view: speaker_view.clone(),
    };
    let (chat_tx, mut chat_rx) = mpsc::unbounded_channel::<ChatOrder>();
    let mut admitted = me.state != ParticipantState::Waiting;
    if let Some(v) = visit.as_mut() {
        v.room.joined(plan.index, &me.id);
        if admitted {
            v.admitted_us = Some(v.room.admitted(plan.index, Some(chat_tx.clone())));
        } else {
            collector.visit.waiting();
        }
        if plan.host {
            for p in others
                .iter()
                .filter(|p| p.state == ParticipantState::Waiting)
            {
                v.waiting.insert(p.id.clone());
            }
            v.admit_arrivals(client).await;
        }
    }
    let mut media = Media::default();
    if admitted
        && plan.publish
        && let Err(outcome) = media
            .publish(plan, handler(PcKind::Publisher), collector, client)
            .await
    {
        return outcome;
    }
    let mut admit_tick = visit
        .as_ref()
        .filter(|_| plan.host && !plan.admit_interval.is_zero())
        .map(|_| tokio::time::interval(plan.admit_interval));

    let outcome = loop {
        tokio::select! {
            incoming = client.next() => match incoming {
                Ok(Incoming::Message(ServerMessage::Answer { sdp, .. })) => {
                    if let (Some(pc), Ok(answer)) = (&media.publisher, RTCSessionDescription::answer(sdp))
                        && let Err(e) = pc.set_remote_description(answer).await
                    {
                        break Outcome::Dropped(format!("publisher answer: {e}"));
                    }
                }
                Ok(Incoming::Message(ServerMessage::Offer { sdp, .. })) => {
                    let pc = match &media.subscriber {
                        Some(pc) => pc.clone(),
                        None => match build_pc(handler(PcKind::Subscriber), plan.subscriber_options()).await {
                            Ok(pc) => {
                                media.subscriber = Some(pc.clone());
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
                Ok(Incoming::Message(ServerMessage::Admitted { .. })) if !admitted => {
                    admitted = true;
                    if let Some(v) = visit.as_mut() {
                        collector.visit.admitted(v.join_sent.elapsed());
                        v.admitted_us = Some(v.room.admitted(plan.index, Some(chat_tx.clone())));
                    }
                    if plan.publish
                        && let Err(outcome) = media.publish(plan, handler(PcKind::Publisher), collector, client).await
                    {
                        break outcome;
                    }
                }
                Ok(Incoming::Message(ServerMessage::Error { code, .. })) => {
                    collector.server_error(code.as_str());
                }
                Ok(Incoming::Message(message)) => {
                    if let Some(v) = visit.as_mut() {
                        v.on_message(plan, collector, client, message).await;
                    }
                }
                Ok(Incoming::Closed { code, reason }) => break Outcome::Dropped(format!("closed {code} {reason}")),
                Err(e) => break Outcome::Dropped(e.to_string()),
            },
            Some(event) = events.recv() => match event {
                PcEvent::Candidate(pc, candidate) => {
                    let _ = client.send(&ClientMessage::Candidate { pc, candidate: Some(candidate) }).await;
                }
                PcEvent::RemoteTrack { pc: PcKind::Subscriber, track_id, stream_id, video: true } => {
                    match visit.as_mut() {
                        // Speaker view: the tile's size, or the large view's for the speaker.
                        Some(v) => v.shown(client, stream_id, track_id).await,
                        // The server forwards the top layer unless told otherwise: ask for the
                        // chosen one as soon as a video track is there.
                        None => {
                            if let Some(quality) = plan.simulcast.filter(|q| *q != SimulcastQuality::High) {
                                let _ = client.send(&ClientMessage::SetQuality { track: track_id, quality: quality.signalling() }).await;
                            }
                        }
                    }
                }
                _ => {}
            },
            Some(order) = chat_rx.recv() => {
                if let Some(v) = visit.as_ref() {
                    let (sent_us, audience) = v.room.chat_audience();
                    collector.visit.chat_sent(audience);
                    let _ = client.send(&ClientMessage::Chat { text: chat_text(order.seq, sent_us) }).await;
                }
            },
            _ = tick(&mut admit_tick) => {
                if let Some(v) = visit.as_mut() {
                    v.admit_waiting(client).await;
                }
            },
            _ = stopped(stop) => {
                let _ = client.send(&ClientMessage::Leave).await;
                // Wait briefly for the server's goodbye, so the room is left cleanly.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Ok(Incoming::Message(_)) = client.next().await {}
                }).await;
                break Outcome::Completed;
            }
        }
    };
    media.close().await;
    outcome
}

/// A participant's peer connections and the tasks writing its media.
#[derive(Default)]
struct Media {
    publisher: Option<Arc<dyn PeerConnection>>,
    subscriber: Option<Arc<dyn PeerConnection>>,
    senders: Vec<tokio::task::JoinHandle<()>>,
}

impl Media {
    /// Builds the publisher connection and sends its offer.
    async fn publish(
        &mut self,
        plan: &Plan,
        handler: Handler,
        collector: &Arc<Collector>,
        client: &mut SignallingClient,
    ) -> Result<(), Outcome> {
        let (pc, offer, tasks) = start_publishing(plan, handler, collector)
            .await
            .map_err(|e| Outcome::Dropped(format!("publisher connection: {e}")))?;
        self.publisher = Some(pc);
        self.senders = tasks;
        client
            .send(&ClientMessage::Offer {
                pc: PcKind::Publisher,
                sdp: offer,
            })
            .await
            .map_err(|_| Outcome::Dropped("send offer".into()))
    }

    async fn close(self) {
        for task in self.senders {
            task.abort();
        }
        for pc in [self.publisher, self.subscriber].into_iter().flatten() {
            let _ = pc.close().await;
        }
    }
}

/// One participant's part of a group visit.
struct InVisit {
    room: Arc<VisitRoom>,
    host: bool,
    admit_at_once: bool,
    join_sent: Instant,
    /// When this participant was admitted (µs since the epoch): chat sent before does not
    /// count as delivered to it.
    admitted_us: Option<u64>,
    /// The host: patients in the waiting room, by participant id.
    waiting: BTreeSet<String>,
    /// The run index of the participant shown large (the last `speaker`), for the receivers.
    speaker_view: Arc<AtomicU32>,
    /// The participant id the last `speaker` named.
    speaker: Option<String>,
    /// Received video tracks: publisher's participant id (the stream id) → track id.
    videos: HashMap<String, String>,
}

impl InVisit {
    fn new(room: Arc<VisitRoom>, plan: &Plan, join_sent: Instant) -> Self {
        Self {
            room,
            host: plan.host,
            admit_at_once: plan.admit_interval.is_zero(),
            join_sent,
            admitted_us: None,
            waiting: BTreeSet::new(),
            speaker_view: Arc::new(AtomicU32::new(NOBODY)),
            speaker: None,
            videos: HashMap::new(),
        }
    }

    /// Everything but media negotiation, admission and errors.
    async fn on_message(
        &mut self,
        plan: &Plan,
        collector: &Collector,
        client: &mut SignallingClient,
        message: ServerMessage,
    ) {
        match message {
            ServerMessage::ParticipantJoined { participant }
            | ServerMessage::ParticipantUpdated { participant }
                if self.host =>
            {
                if participant.state == ParticipantState::Waiting {
                    self.waiting.insert(participant.id);
                    self.admit_arrivals(client).await;
                } else {
                    self.waiting.remove(&participant.id);
                }
            }
            ServerMessage::ParticipantLeft { participant_id, .. } => {
                self.waiting.remove(&participant_id);
                self.videos.remove(&participant_id);
            }
            ServerMessage::Speaker { participant } => {
                self.room.heard_speaker(plan.index, &participant, now_us());
                let index = self.room.index_of(&participant).unwrap_or(NOBODY);
                self.speaker_view.store(index, Relaxed);
                let before = self.speaker.replace(participant.clone());
                if before.as_deref() != Some(participant.as_str()) {
                    if let Some(old) = before {
                        self.resize(client, &old, TILE_SIZE).await;
                    }
                    self.resize(client, &participant, SPEAKER_SIZE).await;
                }
            }
            ServerMessage::Chat { message } => {
                if let (Some(sent), Some(admitted)) =
                    (chat_sent_us(&message.text), self.admitted_us)
                    && admitted <= sent
                {
                    collector.visit.chat_received(now_us().saturating_sub(sent));
                }
            }
            _ => {}
        }
    }

    /// A video track of `stream` (a participant id) arrived: shown as a tile or large.
    async fn shown(&mut self, client: &mut SignallingClient, stream: String, track: String) {
        let size = if self.speaker.as_deref() == Some(stream.as_str()) {
            SPEAKER_SIZE
        } else {
            TILE_SIZE
        };
        self.videos.insert(stream.clone(), track);
        self.resize(client, &stream, size).await;
    }

    /// Tells the server the size `participant`'s video is shown at, if it is received.
    async fn resize(&self, client: &mut SignallingClient, participant: &str, size: (u32, u32)) {
        if let Some(track) = self.videos.get(participant) {
            let _ = client
                .send(&ClientMessage::TrackSettings {
                    track: track.clone(),
                    visible: true,
                    width: size.0,
                    height: size.1,
                })
                .await;
        }
    }

    /// The host, admitting as patients arrive: lets in whoever waits now.
    async fn admit_arrivals(&mut self, client: &mut SignallingClient) {
        if self.host && self.admit_at_once {
            self.admit_waiting(client).await;
        }
    }

    /// The host lets in everyone waiting (`admit_all`); their updates take them off the list.
    async fn admit_waiting(&mut self, client: &mut SignallingClient) {
        if !self.waiting.is_empty() {
            let _ = client.send(&ClientMessage::AdmitAll).await;
        }
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
