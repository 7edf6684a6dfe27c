//! vardrum's selective forwarding unit: rooms of participants whose media it forwards, never
//! stores.
//!
//! ```text
//!                 media worker: one thread, one UDP socket (ICE mux), its rooms
//!   datagrams ──▶ mux: route by address, or by the ufrag in a STUN binding request
//!                  │
//!                  ▼  one task per room on the worker's thread (owns the room's peer connections)
//!   signalling ─▶ Room ── publisher PC (client offers) ─▶ Publication ─┐
//!   (ParticipantHandle)     subscriber PC (server offers) ◀─ Subscription ◀┘ forwarded RTP
//!                  │
//!   Outbound ◀─────┘  joined, offers/answers, roster changes, errors, bye
//! ```
//!
//! Each participant has two peer connections (see `docs/signalling.md`): on the publisher the
//! client offers its camera and microphone; on the subscriber the server offers everyone else's
//! tracks. Peer connections are the sans-I/O `rtc` core driven by the room task, so forwarding a
//! packet is a function call inside one task: no locks, no channel per packet. The rooms of one
//! media worker share its UDP socket; a server has one worker per core but one by default, on
//! consecutive ports, so a firewall needs one rule for that small range (see `worker`).
//!
//! The crate knows nothing of HTTP, SQL or tokens: the server authenticates a participant and
//! then calls [`Sfu::join`].

mod batch_send;
mod dtls_resend;
mod keyframe;
mod mux;
mod peer;
mod rate;
mod room;
mod simulcast;
mod stats;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{mpsc, oneshot, watch};
use vardrum_signalling::message::IceServer;
use vardrum_signalling::token::MAX_TOKEN_LIFETIME_SECS;
use vardrum_signalling::{ByeReason, ChatFile, MediaKind, Role, RoomKind, ServerMessage};

pub use keyframe::KEYFRAME_REQUEST_INTERVAL;
pub use room::Signal;
pub use room::lens::{NamePolicy, initials};
pub use stats::{SfuStats, StatsSnapshot};
pub use worker::{WorkerLoad, default_workers};

use room::{Room, RoomEnd, RoomInput, RoomParts, RoomSettings};
use worker::Worker;

/// How many inputs may wait for a room before datagrams are dropped.
const ROOM_INBOX: usize = 8192;

/// Settings of the media plane.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Where the first media worker's socket binds, e.g. `0.0.0.0:3478` or `127.0.0.1:0` in
    /// tests; worker `i` binds the port `i` above it (or any free port when this one is 0).
    pub udp_bind: SocketAddr,
    /// Media workers: threads, each with its own socket and rooms. At least 1.
    pub workers: usize,
    /// The address clients send media to when it differs from the bound one (1:1 NAT).
    pub public_ip: Option<IpAddr>,
    /// Largest number of participants in a 1:1 visit.
    pub max_participants: usize,
    /// Largest number of participants in a group visit, the waiting room included.
    pub max_group_participants: usize,
    /// Whether patients and guests of 1:1 visits wait to be admitted (group visits always do).
    pub waiting_room_in_visits: bool,
    /// The region's rule for clinicians' names as patients see them.
    pub names: NamePolicy,
    /// How long a participant whose connection dropped is kept as `reconnecting`.
    pub reconnect_grace: Duration,
    /// STUN/TURN servers handed to clients.
    pub ice_servers: Vec<IceServer>,
    /// Where rooms report that they opened and closed (the server records visit times).
    pub lifecycle: Option<mpsc::UnboundedSender<RoomLifecycle>>,
}

/// A room opening or closing. Carries no media and no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomLifecycle {
    Opened {
        call_id: String,
        room: String,
    },
    Closed {
        call_id: String,
        room: String,
        peak_participants: usize,
    },
}

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            udp_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            public_ip: None,
            max_participants: 2,
            max_group_participants: DEFAULT_MAX_GROUP_PARTICIPANTS,
            waiting_room_in_visits: false,
            names: NamePolicy::default(),
            reconnect_grace: Duration::from_secs(30),
            ice_servers: Vec::new(),
            lifecycle: None,
        }
    }
}

/// A group visit's default size: 30 patients, 4 staff, and room for guests (interpreters,
/// relatives).
pub const DEFAULT_MAX_GROUP_PARTICIPANTS: usize = 40;

/// Who wants to join which room; the server has checked their token.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub room: String,
    pub identity: String,
    pub name: String,
    pub role: Role,
    pub kind: RoomKind,
    /// The participant's own booking, if the token names one.
    pub booking: Option<String>,
    /// When the token was issued (seconds since the epoch): a token issued before a visit
    /// ended cannot reopen it.
    pub issued_at: u64,
}

/// A participant who is in a visit right now (admitted and connected), as uploads need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The opaque participant id others know them by.
    pub participant_id: String,
    pub role: Role,
    /// The booking their token names.
    pub booking: Option<String>,
}

/// What a host may do in a room. The room checks that the sender is a clinician.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    /// Lets these waiting participants (by participant id) in; all or none.
    Admit(Vec<String>),
    AdmitAll,
    Deny {
        participant: String,
        message: Option<String>,
    },
    Mute {
        participant: String,
        kind: MediaKind,
    },
    LowerHand(String),
    MoveToWaitingRoom(String),
    Remove(String),
    Lock(bool),
    Spotlight(Option<String>),
    End,
}

/// What the room tells a participant's session.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// Send this message.
    Message(ServerMessage),
    /// Send `bye` with this reason (and a host's message) and close the connection.
    Close {
        reason: ByeReason,
        message: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the room is full")]
    RoomFull,
    #[error("the room is of the other kind (1:1 visit or group visit)")]
    WrongKind,
    #[error("a host has locked the room")]
    Locked,
    #[error("this visit has ended")]
    Ended,
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The server is draining: rooms already open take joins, no new room opens.
    #[error("the server is draining and opens no new rooms")]
    Draining,
    /// The room closed while the join was under way; internal, retried by [`Sfu::join`].
    #[error("the room closed during the join")]
    Retry,
}

/// A joined participant's way to talk to its room.
#[derive(Debug, Clone)]
pub struct ParticipantHandle {
    room_tx: mpsc::Sender<RoomInput>,
    participant: Arc<str>,
    session: u64,
    resumed: bool,
}

impl ParticipantHandle {
    /// Whether this join replaced an earlier session of the same participant.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    pub async fn signal(&self, signal: Signal) {
        let _ = self
            .room_tx
            .send(RoomInput::Signal {
                participant: self.participant.clone(),
                session: self.session,
                signal,
            })
            .await;
    }

    /// The participant leaves for good.
    pub async fn leave(&self) {
        let _ = self
            .room_tx
            .send(RoomInput::Leave {
                participant: self.participant.clone(),
                session: self.session,
            })
            .await;
    }

    /// The session's connection was lost without `leave`: keep the participant as
    /// reconnecting for the grace period.
    pub async fn disconnected(&self) {
        let _ = self
            .room_tx
            .send(RoomInput::Disconnected {
                participant: self.participant.clone(),
                session: self.session,
            })
            .await;
    }
}

/// A participant's entry into a room.
pub struct Joined {
    pub handle: ParticipantHandle,
    /// Messages for the participant, starting with `joined`.
    pub outbound: mpsc::UnboundedReceiver<Outbound>,
}

struct RoomEntry {
    tx: mpsc::Sender<RoomInput>,
    generation: u64,
}

struct Inner {
    config: SfuConfig,
    workers: Vec<Worker>,
    rooms: DashMap<String, RoomEntry>,
    /// Rooms whose visit ended, with when (seconds since the epoch): no token issued before
    /// then reopens them. Kept for the longest a token can be valid.
    ended: DashMap<String, u64>,
    stats: Arc<SfuStats>,
    next_id: AtomicU64,
    /// Set by [`Sfu::shutdown`]: joins are refused.
    shutting_down: AtomicBool,
    /// Ends the workers' threads: fired once the rooms are closed, or dropped with the SFU.
    stop_workers: watch::Sender<bool>,
    /// Set by [`Sfu::drain`]: no new room opens.
    draining: AtomicBool,
    /// Woken whenever a room closes (for [`Sfu::rooms_closed`]).
    room_closed: tokio::sync::Notify,
    room_tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
}

/// The media plane of one server. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

impl Sfu {
    /// Binds the media workers' sockets and starts their threads.
    pub async fn start(config: SfuConfig) -> std::io::Result<Self> {
        let stats = Arc::new(SfuStats::default());
        let (stop_workers, stop_rx) = watch::channel(false);
        let workers = worker::bind_addresses(config.udp_bind, config.workers.max(1))?
            .into_iter()
            .enumerate()
            .map(|(i, bind)| {
                Worker::start(i, bind, config.public_ip, stats.clone(), stop_rx.clone())
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        for (i, w) in workers.iter().enumerate() {
            tracing::info!(worker = i, media = %w.mux.advertised, "media worker listening");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                workers,
                rooms: DashMap::new(),
                ended: DashMap::new(),
                stats,
                next_id: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
                stop_workers,
                draining: AtomicBool::new(false),
                room_closed: tokio::sync::Notify::new(),
                room_tasks: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
            }),
        })
    }

    /// The first media worker's address, as our ICE candidates name it.
    pub fn media_addr(&self) -> SocketAddr {
        self.inner.workers[0].mux.advertised
    }

    /// What each media worker carries right now, in worker order.
    pub fn worker_loads(&self) -> Vec<WorkerLoad> {
        self.inner.workers.iter().map(Worker::load).collect()
    }

    /// Every media worker's address, in worker order: the UDP ports a firewall must let in.
    pub fn media_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .workers
            .iter()
            .map(|w| w.mux.advertised)
            .collect()
    }

    pub fn stats(&self) -> &Arc<SfuStats> {
        &self.inner.stats
    }

    /// Rooms open right now.
    pub fn room_count(&self) -> usize {
        self.inner.rooms.len()
    }

    /// Stops opening rooms, for a node about to restart: the rooms already open go on and take
    /// joins (the other party of a visit, someone reconnecting), a join that would open a room
    /// gets [`JoinError::Draining`].
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    /// Whether [`Sfu::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    /// Resolves once no room is open.
    pub async fn rooms_closed(&self) {
        loop {
            let closed = self.inner.room_closed.notified();
            tokio::pin!(closed);
            // Registered before the check, so a room closing in between is not missed.
            closed.as_mut().enable();
            if self.room_count() == 0 {
                return;
            }
            closed.await;
        }
    }

    /// Whether the visit in `room` ended at or after `issued_at`: then a token issued then
    /// may not join it (nor upload or download in it).
    pub fn ended_since(&self, room: &str, issued_at: u64) -> bool {
        self.inner
            .ended
            .get(room)
            .is_some_and(|ended_at| issued_at <= *ended_at)
    }

    /// Puts a participant into a room, opening the room if needed.
    pub async fn join(&self, request: JoinRequest) -> Result<Joined, JoinError> {
        for _ in 0..8 {
            if self.inner.shutting_down.load(Ordering::Relaxed) {
                return Err(JoinError::ShuttingDown);
            }
            if self.ended_since(&request.room, request.issued_at) {
                return Err(JoinError::Ended);
            }
            let Some(room_tx) = self.room_sender(&request.room, request.kind).await else {
                return Err(JoinError::Draining);
            };
            let session = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let (out_tx, out_rx) = mpsc::unbounded_channel();
            let (reply_tx, reply_rx) = oneshot::channel();
            let input = RoomInput::Join {
                request: request.clone(),
                session,
                out: out_tx,
                reply: reply_tx,
            };
            if room_tx.send(input).await.is_err() {
                continue;
            }
            match reply_rx.await {
                Ok(Ok(resumed)) => {
                    return Ok(Joined {
                        handle: ParticipantHandle {
                            room_tx,
                            participant: request.identity.as_str().into(),
                            session,
                            resumed,
                        },
                        outbound: out_rx,
                    });
                }
                Ok(Err(JoinError::Retry)) | Err(_) => continue,
                Ok(Err(e)) => return Err(e),
            }
        }
        Err(JoinError::Retry)
    }

    /// Whether `identity` is in the visit in `room` right now (admitted and connected), with
    /// its participant id and booking; `None` for the waiting room, someone away, or a room
    /// that is not open (an ended visit).
    pub async fn admission(&self, room: &str, identity: &str) -> Option<Admission> {
        let tx = self.inner.rooms.get(room)?.tx.clone();
        let (reply, rx) = oneshot::channel();
        tx.send(RoomInput::Admission {
            participant: identity.to_owned(),
            reply,
        })
        .await
        .ok()?;
        rx.await.ok().flatten()
    }

    /// Announces a file `identity` uploaded in the chat of `room`. False when the participant
    /// is no longer in the visit (or sends too fast; it is told so).
    pub async fn post_file(&self, room: &str, identity: &str, file: ChatFile) -> bool {
        let Some(tx) = self.inner.rooms.get(room).map(|e| e.tx.clone()) else {
            return false;
        };
        let (reply, rx) = oneshot::channel();
        let input = RoomInput::File {
            participant: identity.to_owned(),
            file,
            reply,
        };
        if tx.send(input).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// The inbox of the room, opened if needed; `None` when it would have to open while the
    /// server is draining.
    async fn room_sender(&self, room: &str, kind: RoomKind) -> Option<mpsc::Sender<RoomInput>> {
        if let Some(entry) = self.inner.rooms.get(room) {
            return Some(entry.tx.clone());
        }
        if self.is_draining() {
            return None;
        }
        let inner = &self.inner;
        let mut spawn = None;
        let tx = inner
            .rooms
            .entry(room.to_owned())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(ROOM_INBOX);
                let generation = inner.next_id.fetch_add(1, Ordering::Relaxed);
                spawn = Some((tx.clone(), rx, generation));
                RoomEntry { tx, generation }
            })
            .tx
            .clone();
        if let Some((tx, rx, generation)) = spawn {
            let worker = &inner.workers[worker::least_loaded(&inner.workers)];
            let actor = Room::new(RoomParts {
                id: room.to_owned(),
                kind,
                settings: RoomSettings {
                    max_participants: inner.config.max_participants,
                    max_group_participants: inner.config.max_group_participants,
                    waiting_room_in_visits: inner.config.waiting_room_in_visits,
                    names: inner.config.names,
                    reconnect_grace: inner.config.reconnect_grace,
                    ice_servers: inner.config.ice_servers.clone(),
                    lifecycle: inner.config.lifecycle.clone(),
                },
                socket: worker.mux.socket.clone(),
                advertised: worker.mux.advertised,
                routes: worker.mux.routes.clone(),
                tx,
                stats: inner.stats.clone(),
                worker: worker.counters.clone(),
            });
            let weak = Arc::downgrade(&self.inner);
            let name = room.to_owned();
            let handle = worker.handle.clone();
            let on_empty = move |end: RoomEnd| {
                if let Some(inner) = weak.upgrade() {
                    if let Some(at) = end.remembered_at {
                        // Before the room leaves the directory, so no join slips in between.
                        inner
                            .ended
                            .retain(|_, t| t.saturating_add(MAX_TOKEN_LIFETIME_SECS) > at);
                        inner.ended.insert(name.clone(), at);
                    }
                    inner
                        .rooms
                        .remove_if(&name, |_, entry| entry.generation == generation);
                    inner.room_closed.notify_waiters();
                }
            };
            let mut tasks = self.inner.room_tasks.lock().await;
            // Reap finished rooms so the set does not grow with every visit ever held.
            while tasks.try_join_next().is_some() {}
            tasks.spawn_on(actor.run(rx, on_empty), &handle);
        }
        Some(tx)
    }

    /// Tells every participant the server is stopping, closes every room and the media socket.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
        let senders: Vec<_> = self.inner.rooms.iter().map(|e| e.tx.clone()).collect();
        for tx in senders {
            let _ = tx.send(RoomInput::Shutdown).await;
        }
        let mut tasks = self.inner.room_tasks.lock().await;
        while tasks.join_next().await.is_some() {}
        self.inner.stop_workers.send_replace(true);
    }
}
