//! One simulated participant on a **Janus** VideoRoom (Janus 1.x, its WebSocket transport), so
//! that the same scenarios run against Janus with the same WebRTC client, synthetic media and
//! measurements as against vardrum ([`crate::webrtc_client`]); only the signalling differs.
//!
//! Per participant, as observed from a real Janus 1.1.2 (`loadtest/janus/README.md`): one
//! WebSocket (subprotocol `janus-protocol`) and one session with two VideoRoom handles.
//!
//! ```text
//!   create ─▶ attach (publisher handle) ─▶ [create room, 427 is fine] ─▶ join ptype publisher
//!     ├─ publishing: configure + offer ─▶ event with the answer; trickle candidates + completed
//!     └─ attach (subscriber handle): join ptype subscriber {streams: [{feed}..]} ─▶ offer
//!          ─▶ start + answer; later feeds: subscribe ─▶ updated + offer ─▶ start + answer
//! ```
//!
//! Webinar viewers join as publishers that never publish ("listeners"): that way they get the
//! room's `publishers` notifications, which subscriber-only handles do not. Feeds are
//! subscribed to once Janus announces them; a subscription that comes too early (error 428,
//! the publisher not yet `webrtcup`) is retried after that feed's next announcement or a short
//! back-off. A keepalive goes out every 15 s (Janus drops a session after 60 s of silence).
//!
//! With `--simulcast`, the publisher's `configure` jsep says `rid_order: lmh` (our rids are
//! listed low to high), and after each `start` the subscriber `configure`s the chosen
//! substream on its new video mids (`loadtest/janus/README.md`, section 12).
//!
//! The group-visit scenario runs here as its closest equivalent: VideoRoom has no waiting room,
//! no speaker messages and no chat, so everyone joins at once (the host is just the first) and
//! nothing is chatted; the room's conductor still makes one voice loud at a time, and each
//! subscriber shows the conductor's speaker large (substream 2) and everyone else as a tile
//! (substream 0), recognising feeds by their `display`, the participant's identity. The media
//! load is the same as on vardrum; what could not be measured the report says.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rtc::peer_connection::sdp::RTCSessionDescription;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use vardrum_signalling::PcKind;
use webrtc::peer_connection::PeerConnection;

use crate::collector::Collector;
use crate::media::Layer;
use crate::participant::{Outcome, Plan, stopped};
use crate::scenario::SimulcastQuality;
use crate::webrtc_client::{Handler, NOBODY, PcEvent, answer_offer, build_pc, start_publishing};

/// Janus' WebSocket subprotocol.
pub const SUBPROTOCOL: &str = "janus-protocol";
/// Janus drops a session after 60 s without a request; keep it alive well within that.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long a request may wait for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// First and longest wait before subscribing again to a feed Janus said was not there (428).
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What the run shares with every Janus participant.
pub struct JanusShared {
    /// The WebSocket URL, e.g. `ws://127.0.0.1:8188`.
    pub url: String,
    pub collector: Arc<Collector>,
    /// Janus room number of the run's first room; room `r` is `room_base + r`.
    pub room_base: u64,
    /// The `publishers` limit rooms are created with (everyone joins as a publisher).
    pub room_publishers: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("{0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the connection is closed")]
    Closed,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("not a Janus message: {0}")]
    Protocol(String),
    /// A core error (`"janus": "error"`).
    #[error("janus {code}: {}", generic(reason))]
    Core { code: i64, reason: String },
    /// A VideoRoom error (`error_code` in the plugin data).
    #[error("videoroom {code}: {}", generic(reason))]
    Plugin { code: i64, reason: String },
}

/// An error text without the ids in it, so that equal failures count together in the report.
fn generic(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_number = false;
    for c in reason.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The final answer of a request, or the error it carries (core or plugin).
fn check(m: Value) -> Result<Value, JanusError> {
    if m["janus"] == "error" {
        return Err(JanusError::Core {
            code: m["error"]["code"].as_i64().unwrap_or(0),
            reason: m["error"]["reason"].as_str().unwrap_or("").to_owned(),
        });
    }
    if let Some(e) = plugin_error(&m) {
        return Err(e);
    }
    Ok(m)
}

/// The feed named by error 428, `No such feed (ID)`.
fn missing_feed(reason: &str) -> Option<u64> {
    let (_, id) = reason.rsplit_once('(')?;
    id.trim_end_matches(')').parse().ok()
}

fn plugin_error(m: &Value) -> Option<JanusError> {
    let data = &m["plugindata"]["data"];
    data["error_code"].as_i64().map(|code| JanusError::Plugin {
        code,
        reason: data["error"].as_str().unwrap_or("").to_owned(),
    })
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One WebSocket to Janus: numbered transactions, and messages that arrived while waiting for
/// an answer kept in order for later.
struct Conn {
    ws: Ws,
    next: u64,
    session: Option<u64>,
    backlog: VecDeque<Value>,
}

impl Conn {
    async fn connect(url: &str) -> Result<Self, JanusError> {
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        let (ws, _response) = tokio::time::timeout(CALL_TIMEOUT, connect_async(request))
            .await
            .map_err(|_| JanusError::Timeout(CALL_TIMEOUT))??;
        Ok(Self {
            ws,
            next: 0,
            session: None,
            backlog: VecDeque::new(),
        })
    }

    /// Sends a request with a new transaction (and the session, once there is one).
    async fn send(&mut self, mut message: Value) -> Result<String, JanusError> {
        self.next += 1;
        let transaction = format!("lt-{}", self.next);
        if let Some(object) = message.as_object_mut() {
            object.insert("transaction".into(), transaction.clone().into());
            if let Some(session) = self.session {
                object.entry("session_id").or_insert(session.into());
            }
        }
        self.ws.send(Message::text(message.to_string())).await?;
        Ok(transaction)
    }

    async fn read(&mut self) -> Result<Value, JanusError> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Message::Close(_))) => return Err(JanusError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| JanusError::Protocol(format!("{e}: {text}")));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next message from Janus: first those kept while waiting for an answer.
    async fn recv(&mut self) -> Result<Value, JanusError> {
        match self.backlog.pop_front() {
            Some(m) => Ok(m),
            None => self.read().await,
        }
    }

    /// Sends a request and waits for its final answer: `success`, `server_info`, `error`, or
    /// for an asynchronous plugin request its `event` (the `ack` may come before or after it
    /// and is skipped). Everything else that arrives meanwhile is kept for [`Conn::recv`].
    async fn call(&mut self, message: Value) -> Result<Value, JanusError> {
        let transaction = self.send(message).await?;
        tokio::time::timeout(CALL_TIMEOUT, async {
            loop {
                let m = self.read().await?;
                if m["transaction"] == transaction.as_str() {
                    if m["janus"] != "ack" {
                        return check(m);
                    }
                } else {
                    self.backlog.push_back(m);
                }
            }
        })
        .await
        .map_err(|_| JanusError::Timeout(CALL_TIMEOUT))?
    }

    async fn attach(&mut self) -> Result<u64, JanusError> {
        let m = self
            .call(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}))
            .await?;
        m["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Protocol(format!("attach answered without an id: {m}")))
    }
}

fn message(handle: u64, body: Value) -> Value {
    json!({"janus": "message", "handle_id": handle, "body": body})
}

fn message_with_sdp(handle: u64, body: Value, kind: &str, sdp: String) -> Value {
    json!({"janus": "message", "handle_id": handle, "body": body, "jsep": {"type": kind, "sdp": sdp}})
}

/// The video streams of a subscription, as (subscriber mid, feed), from the `streams` of an
/// `attached` or `updated` event: the ones still active.
fn video_streams(streams: &Value) -> BTreeSet<(String, u64)> {
    streams
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "video" && s["active"] != false)
        .filter_map(|s| Some((s["mid"].as_str()?.to_owned(), s["feed_id"].as_u64()?)))
        .collect()
}

/// Asks a Janus server who it is: the WebSocket `info` request. Returns its version, or why it
/// cannot be used (not reachable, not Janus, no VideoRoom plugin).
pub async fn server_info(url: &str) -> Result<String, String> {
    let mut conn = Conn::connect(url).await.map_err(|e| match e {
        JanusError::WebSocket(tokio_tungstenite::tungstenite::Error::Io(_))
        | JanusError::Timeout(_) => e.to_string(),
        // It answered, but not as Janus' WebSocket transport (no `janus-protocol`, plain HTTP).
        e => format!("no Janus WebSocket transport there ({e})"),
    })?;
    let info = conn
        .call(json!({"janus": "info"}))
        .await
        .map_err(|e| format!("info: {e}"))?;
    let _ = conn.ws.close(None).await;
    if info["janus"] != "server_info" {
        return Err(format!("not a Janus server (answer to info: {info})"));
    }
    if info["plugins"]["janus.plugin.videoroom"].is_null() {
        return Err("this Janus has no VideoRoom plugin (janus.plugin.videoroom)".into());
    }
    Ok(info["version_string"]
        .as_str()
        .unwrap_or("unknown version")
        .to_owned())
}

async fn create_room(
    conn: &mut Conn,
    handle: u64,
    room: u64,
    publishers: usize,
) -> Result<(), JanusError> {
    let body =
        json!({"request": "create", "room": room, "publishers": publishers, "permanent": false});
    match conn.call(message(handle, body)).await {
        Ok(_) | Err(JanusError::Plugin { code: 427, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A participant that has joined its room.
struct Joined {
    conn: Conn,
    room: u64,
    publisher_handle: u64,
    subscriber_handle: u64,
    /// This participant's feed id in the room.
    feed: u64,
    /// Feeds already publishing when it joined.
    publishers: Vec<u64>,
    /// Their run indexes, from their `display`.
    indexes: Vec<(u64, u32)>,
}

fn feed_ids(list: &Value) -> impl Iterator<Item = u64> + '_ {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_u64())
}

/// (feed, run index) of the load tester's publishers in a list: the index ends the identity
/// each joins with as its `display` (`lt-<run>-<index>`).
fn feed_indexes(list: &Value) -> impl Iterator<Item = (u64, u32)> + '_ {
    list.as_array().into_iter().flatten().filter_map(|p| {
        let (_, index) = p["display"].as_str()?.rsplit_once('-')?;
        Some((p["id"].as_u64()?, index.parse().ok()?))
    })
}

async fn join(plan: &Plan, shared: &JanusShared) -> Result<Joined, String> {
    let room = shared.room_base + plan.room_index as u64;
    let mut conn = Conn::connect(&shared.url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let created = conn
        .call(json!({"janus": "create"}))
        .await
        .map_err(|e| format!("create session: {e}"))?;
    conn.session = Some(
        created["data"]["id"]
            .as_u64()
            .ok_or("create session: no session id")?,
    );
    let publisher_handle = conn.attach().await.map_err(|e| format!("attach: {e}"))?;
    if plan.first_in_room {
        create_room(&mut conn, publisher_handle, room, shared.room_publishers)
            .await
            .map_err(|e| format!("create room: {e}"))?;
    }
    let body =
        json!({"request": "join", "ptype": "publisher", "room": room, "display": plan.identity});
    let mut joined = conn.call(message(publisher_handle, body.clone())).await;
    if let Err(JanusError::Plugin { code: 426, .. }) = joined {
        // No such room: its first participant has not created it (yet, or failed to).
        create_room(&mut conn, publisher_handle, room, shared.room_publishers)
            .await
            .map_err(|e| format!("create room: {e}"))?;
        joined = conn.call(message(publisher_handle, body)).await;
    }
    let joined = joined.map_err(|e| format!("join: {e}"))?;
    let data = &joined["plugindata"]["data"];
    if data["videoroom"] != "joined" {
        return Err(format!("join: unexpected answer {joined}"));
    }
    let feed = data["id"].as_u64().ok_or("join: no participant id")?;
    let publishers = feed_ids(&data["publishers"]).collect();
    let indexes = feed_indexes(&data["publishers"]).collect();
    let subscriber_handle = conn
        .attach()
        .await
        .map_err(|e| format!("attach subscriber: {e}"))?;
    Ok(Joined {
        conn,
        room,
        publisher_handle,
        subscriber_handle,
        feed,
        publishers,
        indexes,
    })
}

/// Joins, publishes and subscribes until `stop` turns true, then leaves.
pub async fn run(plan: Plan, shared: Arc<JanusShared>, mut stop: watch::Receiver<bool>) -> Outcome {
    let collector = shared.collector.clone();
    collector.join_attempts.fetch_add(1, Relaxed);
    let started = Instant::now();
    let joined = match join(&plan, &shared).await {
        Ok(j) => j,
        Err(reason) => return collector.join_failed(reason),
    };
    collector.joined(started.elapsed());
    let Joined {
        mut conn,
        room,
        publisher_handle,
        subscriber_handle,
        feed,
        publishers,
        indexes,
    } = joined;
    // A group visit: in the room at once (no waiting room), and shown what the conductor says.
    let mut speaker = plan.visit.as_ref().map(|room| {
        room.joined(plan.index, &feed.to_string());
        room.admitted(plan.index, None);
        room.watch_speaker()
    });
    let visit = plan.visit.clone();

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut state = State {
        plan,
        collector: collector.clone(),
        started,
        events_tx,
        room,
        publisher_handle,
        subscriber_handle,
        feed,
        publisher: None,
        subscriber: None,
        senders: Vec::new(),
        configure: None,
        known: publishers.into_iter().filter(|f| *f != feed).collect(),
        subscribed: BTreeSet::new(),
        deferred: HashMap::new(),
        request: None,
        start: None,
        subscriber_joined: false,
        completed: [false; 2],
        video_streams: BTreeSet::new(),
        substream_set: BTreeMap::new(),
        substream_request: None,
        feed_index: indexes.into_iter().collect(),
        speaker_view: visit.as_ref().map(|_| Arc::new(AtomicU32::new(NOBODY))),
    };

    let outcome = 'session: {
        if state.plan.publish
            && let Err(outcome) = state.publish(&mut conn).await
        {
            break 'session outcome;
        }
        state.maybe_subscribe(&mut conn).await;
        let mut keepalive =
            tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
        loop {
            let retry = state.next_retry();
            tokio::select! {
                incoming = conn.recv() => match incoming {
                    Ok(m) => {
                        if let Err(outcome) = state.handle(&mut conn, m).await {
                            break 'session outcome;
                        }
                        state.maybe_subscribe(&mut conn).await;
                    }
                    Err(e) => break 'session Outcome::Dropped(format!("websocket: {e}")),
                },
                Some(event) = events.recv() => state.trickle(&mut conn, event).await,
                _ = keepalive.tick() => {
                    let _ = conn.send(json!({"janus": "keepalive"})).await;
                }
                _ = crate::run::sleep_until_opt(retry) => state.maybe_subscribe(&mut conn).await,
                Some(large) = changed(&mut speaker) => state.show_large(&mut conn, large).await,
                _ = stopped(&mut stop) => {
                    leave(&mut conn, publisher_handle, subscriber_handle).await;
                    break 'session Outcome::Completed;
                }
            }
        }
    };
    for task in state.senders.drain(..) {
        task.abort();
    }
    for pc in [state.publisher.take(), state.subscriber.take()]
        .into_iter()
        .flatten()
    {
        let _ = pc.close().await;
    }
    if let Some(room) = &visit {
        room.left(state.plan.index);
    }
    if let Outcome::Dropped(reason) = &outcome {
        collector.dropped(reason);
    }
    outcome
}

/// The conductor's next choice of speaker (`None` inside: nobody), when there is a conductor.
async fn changed(speaker: &mut Option<watch::Receiver<Option<u32>>>) -> Option<Option<u32>> {
    match speaker {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(*rx.borrow_and_update()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Leaves the room and ends the session; closing the WebSocket would do as much, this is the
/// polite form (others see the participant leave at once).
async fn leave(conn: &mut Conn, publisher_handle: u64, subscriber_handle: u64) {
    let _ = conn
        .send(message(publisher_handle, json!({"request": "leave"})))
        .await;
    for handle in [subscriber_handle, publisher_handle] {
        let _ = conn
            .send(json!({"janus": "detach", "handle_id": handle}))
            .await;
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        conn.call(json!({"janus": "destroy"})),
    )
    .await;
    let _ = conn.ws.close(None).await;
}

/// A subscription request (`join` as subscriber, or `subscribe`) waiting for Janus' offer.
struct Pending {
    transaction: String,
    feeds: Vec<u64>,
}

/// One participant's side of its Janus session once it has joined.
struct State {
    plan: Plan,
    collector: Arc<Collector>,
    started: Instant,
    events_tx: mpsc::UnboundedSender<PcEvent>,
    room: u64,
    publisher_handle: u64,
    subscriber_handle: u64,
    feed: u64,
    publisher: Option<Arc<dyn PeerConnection>>,
    subscriber: Option<Arc<dyn PeerConnection>>,
    senders: Vec<tokio::task::JoinHandle<()>>,
    /// The transaction of `configure`, until its answer arrives.
    configure: Option<String>,
    /// Feeds of the room that are publishing (announced by Janus), other than this one.
    known: BTreeSet<u64>,
    /// Feeds in this participant's subscription.
    subscribed: BTreeSet<u64>,
    /// Feeds Janus said were not there yet (428): not before when, and the next back-off.
    deferred: HashMap<u64, (Instant, Duration)>,
    request: Option<Pending>,
    /// The transaction of `start`, until Janus confirms it: one negotiation at a time.
    start: Option<String>,
    subscriber_joined: bool,
    /// Whether the end of candidates was sent, per connection (publisher, subscriber).
    completed: [bool; 2],
    /// With simulcast: the subscription's video streams (mid, feed), and the substream each
    /// was told to forward (Janus forwards 2, the top one, until told).
    video_streams: BTreeSet<(String, u64)>,
    substream_set: BTreeMap<(String, u64), usize>,
    /// The transaction of the latest subscriber `configure` (substreams), until answered.
    substream_request: Option<String>,
    /// Group visit: feed → run index of the room's publishers, from their `display`.
    feed_index: HashMap<u64, u32>,
    /// Group visit: the run index of the publisher shown large (the conductor's speaker).
    speaker_view: Option<Arc<AtomicU32>>,
}

impl State {
    fn handler(&self, pc: PcKind) -> Handler {
        Handler {
            receiver: self.plan.index,
            pc,
            events: self.events_tx.clone(),
            collector: self.collector.clone(),
            joined_at: self.started,
            speaker_view: self.speaker_view.clone(),
        }
    }

    /// Group visit: the conductor gave the turn to `large`; show it large, the others as tiles.
    async fn show_large(&mut self, conn: &mut Conn, large: Option<u32>) {
        if let Some(view) = &self.speaker_view {
            view.store(large.unwrap_or(NOBODY), Relaxed);
        }
        // While a negotiation is under way the streams may change; its `start` chooses.
        if self.request.is_none() && self.start.is_none() {
            self.choose_substreams(conn).await;
        }
    }

    async fn publish(&mut self, conn: &mut Conn) -> Result<(), Outcome> {
        let (pc, offer, tasks) =
            start_publishing(&self.plan, self.handler(PcKind::Publisher), &self.collector)
                .await
                .map_err(|e| Outcome::Dropped(format!("publisher connection: {e}")))?;
        self.publisher = Some(pc);
        self.senders = tasks;
        let body = json!({"request": "configure", "audio": self.plan.audio, "video": self.plan.video.is_some()});
        let mut request = message_with_sdp(self.publisher_handle, body, "offer", offer);
        if self.plan.simulcast.is_some() {
            // Janus takes the first rid of the SDP for the highest substream unless told the
            // order is low to high, as ours is (q, h, f).
            request["jsep"]["rid_order"] = "lmh".into();
        }
        let transaction = conn
            .send(request)
            .await
            .map_err(|e| Outcome::Dropped(format!("send configure: {e}")))?;
        self.configure = Some(transaction);
        Ok(())
    }

    /// Handles one message from Janus; `Err` ends the participant's session.
    async fn handle(&mut self, conn: &mut Conn, m: Value) -> Result<(), Outcome> {
        let transaction = m["transaction"].as_str().map(str::to_owned);
        let is = |t: &Option<String>| transaction.is_some() && *t == transaction;
        let sender = m["sender"].as_u64();
        match m["janus"].as_str().unwrap_or("") {
            "event" => {}
            "error" => {
                let error = check(m.clone()).err().unwrap_or(JanusError::Closed);
                if is(&self.configure) {
                    return Err(Outcome::Dropped(format!("configure: {error}")));
                }
                if self.answers_request(&transaction)
                    && let Some(pending) = self.request.take()
                {
                    self.defer(&pending.feeds);
                } else if is(&self.start) {
                    self.start = None;
                } else if is(&self.substream_request) {
                    self.substream_request = None;
                }
                self.collector.server_error(&error.to_string());
                return Ok(());
            }
            "hangup" => {
                let reason = m["reason"].as_str().unwrap_or("").to_owned();
                let which = if sender == Some(self.publisher_handle) {
                    "publisher"
                } else {
                    "subscriber"
                };
                return Err(Outcome::Dropped(format!(
                    "janus hung up the {which} connection: {reason}"
                )));
            }
            "timeout" => return Err(Outcome::Dropped("janus timed the session out".into())),
            "detached" => return Err(Outcome::Dropped("janus detached a handle".into())),
            // ack, success, webrtcup, media, slowlink, ...: nothing to do.
            _ => return Ok(()),
        }

        // An event: an answer to one of the requests in flight, or a notification.
        let data = &m["plugindata"]["data"];
        let jsep = &m["jsep"];
        if is(&self.configure) {
            self.configure = None;
            if let Some(error) = plugin_error(&m) {
                return Err(Outcome::Dropped(format!("configure: {error}")));
            }
            let (Some(pc), Some(sdp)) = (&self.publisher, jsep["sdp"].as_str()) else {
                return Err(Outcome::Dropped(format!(
                    "configure answered without an SDP: {data}"
                )));
            };
            let answer = RTCSessionDescription::answer(sdp.to_owned())
                .map_err(|e| Outcome::Dropped(format!("publisher answer: {e}")))?;
            pc.set_remote_description(answer)
                .await
                .map_err(|e| Outcome::Dropped(format!("publisher answer: {e}")))?;
            return Ok(());
        }
        if self.answers_request(&transaction)
            && let Some(pending) = self.request.take()
        {
            if let Some(error) = plugin_error(&m) {
                self.collector.server_error(&error.to_string());
                let named = match &error {
                    JanusError::Plugin { code: 428, reason } => {
                        missing_feed(reason).filter(|id| pending.feeds.contains(id))
                    }
                    _ => None,
                };
                match named {
                    Some(feed) => self.defer(&[feed]),
                    None => self.defer(&pending.feeds),
                }
                return Ok(());
            }
            self.subscriber_joined = true;
            for feed in &pending.feeds {
                self.deferred.remove(feed);
            }
            self.subscribed.extend(pending.feeds);
            // The offer in this event is answered below.
        } else if is(&self.start) {
            self.start = None;
            if let Some(error) = plugin_error(&m) {
                self.collector.server_error(&error.to_string());
            }
            // Negotiated: now the new video streams can be given their substream.
            self.choose_substreams(conn).await;
            return Ok(());
        } else if is(&self.substream_request) {
            self.substream_request = None;
            if let Some(error) = plugin_error(&m) {
                self.collector.server_error(&format!("substream: {error}"));
            }
            return Ok(());
        }

        if sender == Some(self.subscriber_handle)
            && (data["videoroom"] == "attached" || data["videoroom"] == "updated")
        {
            self.video_streams = video_streams(&data["streams"]);
            let active = &self.video_streams;
            self.substream_set.retain(|s, _| active.contains(s));
        }

        if sender == Some(self.subscriber_handle) && jsep["type"] == "offer" {
            let sdp = jsep["sdp"].as_str().unwrap_or("").to_owned();
            let pc = match &self.subscriber {
                Some(pc) => pc.clone(),
                None => {
                    let pc = build_pc(
                        self.handler(PcKind::Subscriber),
                        self.plan.subscriber_options(),
                    )
                    .await
                    .map_err(|e| Outcome::Dropped(format!("subscriber connection: {e}")))?;
                    self.subscriber = Some(pc.clone());
                    pc
                }
            };
            let answer = answer_offer(&pc, sdp)
                .await
                .map_err(|e| Outcome::Dropped(format!("subscriber offer: {e}")))?;
            let transaction = conn
                .send(message_with_sdp(
                    self.subscriber_handle,
                    json!({"request": "start"}),
                    "answer",
                    answer,
                ))
                .await
                .map_err(|e| Outcome::Dropped(format!("send start: {e}")))?;
            self.start = Some(transaction);
            return Ok(());
        }

        if sender == Some(self.publisher_handle) {
            self.feed_index.extend(feed_indexes(&data["publishers"]));
            for feed in feed_ids(&data["publishers"]) {
                if feed != self.feed {
                    self.known.insert(feed);
                    // Announced (again): it is up now, subscribe without waiting.
                    self.deferred.remove(&feed);
                }
            }
            // `unpublished` may come twice; `"ok"` (not a number) answers this one's own request.
            for key in ["unpublished", "leaving", "kicked"] {
                if let Some(feed) = data[key].as_u64() {
                    self.known.remove(&feed);
                    self.subscribed.remove(&feed);
                    self.deferred.remove(&feed);
                }
            }
        }
        Ok(())
    }

    /// Whether a message with this transaction answers the subscription request in flight.
    fn answers_request(&self, transaction: &Option<String>) -> bool {
        matches!((&self.request, transaction), (Some(p), Some(t)) if p.transaction == *t)
    }

    /// Waits before asking for these feeds again, longer each time.
    fn defer(&mut self, feeds: &[u64]) {
        let now = Instant::now();
        for feed in feeds {
            let backoff = self
                .deferred
                .get(feed)
                .map(|(_, b)| (*b * 2).min(RETRY_MAX))
                .unwrap_or(RETRY_FIRST);
            self.deferred.insert(*feed, (now + backoff, backoff));
        }
    }

    fn wanted(&self, now: Instant) -> Vec<u64> {
        self.known
            .difference(&self.subscribed)
            .filter(|f| self.deferred.get(f).is_none_or(|(at, _)| *at <= now))
            .copied()
            .collect()
    }

    /// When a deferred feed may be asked for again, if one is waiting.
    fn next_retry(&self) -> Option<tokio::time::Instant> {
        if self.request.is_some() || self.start.is_some() {
            return None;
        }
        self.known
            .difference(&self.subscribed)
            .filter_map(|f| self.deferred.get(f).map(|(at, _)| *at))
            .min()
            .map(tokio::time::Instant::from_std)
    }

    /// Subscribes to the announced feeds not subscribed yet, one negotiation at a time: `join`
    /// as a subscriber the first time, `subscribe` afterwards.
    async fn maybe_subscribe(&mut self, conn: &mut Conn) {
        if self.request.is_some() || self.start.is_some() {
            return;
        }
        let feeds = self.wanted(Instant::now());
        if feeds.is_empty() {
            return;
        }
        let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
        let body = if self.subscriber_joined {
            json!({"request": "subscribe", "streams": streams})
        } else {
            json!({"request": "join", "ptype": "subscriber", "room": self.room, "streams": streams})
        };
        if let Ok(transaction) = conn.send(message(self.subscriber_handle, body)).await {
            self.request = Some(Pending { transaction, feeds });
        }
    }

    /// With simulcast: asks Janus to forward the wanted substream on the subscription's video
    /// streams that are not on it yet (`configure` with `streams: [{mid, substream}]`; Janus
    /// forwards substream 2 by default): the chosen quality's, or in a group visit the top one
    /// for the speaker and the bottom one for the tiles.
    async fn choose_substreams(&mut self, conn: &mut Conn) {
        let Some(quality) = self.plan.simulcast else {
            return;
        };
        let streams = self.substreams_to_choose(quality);
        if streams.is_empty() {
            return;
        }
        let body = json!({"request": "configure", "streams": streams});
        if let Ok(transaction) = conn.send(message(self.subscriber_handle, body)).await {
            self.substream_request = Some(transaction);
        }
    }

    /// The `streams` of that `configure`, marking them as told.
    fn substreams_to_choose(&mut self, quality: SimulcastQuality) -> Vec<Value> {
        let large = self.speaker_view.as_ref().map(|v| v.load(Relaxed));
        let mut streams = Vec::new();
        for (mid, feed) in &self.video_streams {
            let wanted = match large {
                None => quality.layer().index(),
                Some(large) if self.feed_index.get(feed) == Some(&large) => Layer::F.index(),
                Some(_) => Layer::Q.index(),
            };
            let key = (mid.clone(), *feed);
            let told = self
                .substream_set
                .get(&key)
                .copied()
                .unwrap_or(Layer::F.index());
            if wanted != told {
                self.substream_set.insert(key, wanted);
                streams.push(json!({"mid": mid, "substream": wanted}));
            }
        }
        streams
    }

    /// Trickles a local candidate, or the end of candidates, on the connection's handle.
    async fn trickle(&mut self, conn: &mut Conn, event: PcEvent) {
        let (pc, candidate) = match event {
            PcEvent::Candidate(pc, c) => {
                let mut candidate = serde_json::Map::new();
                candidate.insert("candidate".into(), c.candidate.into());
                if let Some(mid) = c.sdp_mid {
                    candidate.insert("sdpMid".into(), mid.into());
                }
                if let Some(index) = c.sdp_mline_index {
                    candidate.insert("sdpMLineIndex".into(), index.into());
                }
                if let Some(ufrag) = c.username_fragment {
                    candidate.insert("usernameFragment".into(), ufrag.into());
                }
                (pc, Value::Object(candidate))
            }
            PcEvent::GatheringComplete(pc) => {
                let sent = &mut self.completed[usize::from(pc == PcKind::Subscriber)];
                if *sent {
                    return;
                }
                *sent = true;
                (pc, json!({"completed": true}))
            }
            // Janus is told substreams per mid once negotiated (`choose_substreams`).
            PcEvent::RemoteTrack { .. } => return,
        };
        let handle = match pc {
            PcKind::Publisher => self.publisher_handle,
            PcKind::Subscriber => self.subscriber_handle,
        };
        let _ = conn
            .send(json!({"janus": "trickle", "handle_id": handle, "candidate": candidate}))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_from_core_and_plugin_answers() {
        let core = json!({"janus":"error","session_id":1,"transaction":"x","error":{"code":490,"reason":"Error setting ICE locally"}});
        assert!(matches!(
            check(core),
            Err(JanusError::Core { code: 490, .. })
        ));
        let plugin = json!({"janus":"event","plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event","error_code":428,"error":"No such feed (3470910422422694)"}}});
        let e = check(plugin).unwrap_err();
        assert!(matches!(e, JanusError::Plugin { code: 428, .. }));
        assert_eq!(e.to_string(), "videoroom 428: No such feed (N)");
        let ok =
            json!({"janus":"success","plugindata":{"data":{"videoroom":"created","room":1234}}});
        assert!(check(ok).is_ok());
    }

    fn state(known: &[u64]) -> State {
        let (events_tx, _) = mpsc::unbounded_channel();
        State {
            plan: Plan {
                index: 0,
                identity: "lt-0".into(),
                room: "r".into(),
                publish: true,
                audio: true,
                video: None,
                simulcast: None,
                room_index: 0,
                first_in_room: true,
                visit: None,
                host: false,
                admit_interval: Duration::ZERO,
            },
            collector: Arc::new(Collector::default()),
            started: Instant::now(),
            events_tx,
            room: 1,
            publisher_handle: 10,
            subscriber_handle: 11,
            feed: 100,
            publisher: None,
            subscriber: None,
            senders: Vec::new(),
            configure: None,
            known: known.iter().copied().collect(),
            subscribed: BTreeSet::new(),
            deferred: HashMap::new(),
            request: None,
            start: None,
            subscriber_joined: false,
            completed: [false; 2],
            video_streams: BTreeSet::new(),
            substream_set: BTreeMap::new(),
            substream_request: None,
            feed_index: HashMap::new(),
            speaker_view: None,
        }
    }

    #[test]
    fn a_feed_that_is_not_up_yet_is_asked_for_again_after_a_growing_back_off() {
        assert_eq!(
            missing_feed("No such feed (3470910422422694)"),
            Some(3470910422422694)
        );
        assert_eq!(missing_feed("No such room"), None);
        let mut s = state(&[1, 2]);
        let now = Instant::now();
        assert_eq!(s.wanted(now), vec![1, 2]);
        assert_eq!(s.next_retry(), None);
        // 428 for feed 2: feed 1 is asked for at once, feed 2 after the back-off.
        s.defer(&[2]);
        assert_eq!(s.wanted(now), vec![1]);
        assert_eq!(s.wanted(Instant::now() + RETRY_FIRST), vec![1, 2]);
        assert!(s.next_retry().is_some());
        s.defer(&[2]);
        assert_eq!(s.deferred[&2].1, RETRY_FIRST * 2);
        for _ in 0..10 {
            s.defer(&[2]);
        }
        assert_eq!(s.deferred[&2].1, RETRY_MAX);
        // While a negotiation is in flight nothing else is asked for.
        s.start = Some("lt-9".into());
        assert_eq!(s.next_retry(), None);
        s.start = None;
        // Subscribed or gone: nothing to wait for.
        s.subscribed.insert(1);
        s.known.remove(&2);
        assert!(s.wanted(Instant::now() + RETRY_MAX).is_empty());
        assert_eq!(s.next_retry(), None);
        assert!(!s.answers_request(&Some("lt-1".into())));
        s.request = Some(Pending {
            transaction: "lt-1".into(),
            feeds: vec![2],
        });
        assert!(s.answers_request(&Some("lt-1".into())));
        assert!(!s.answers_request(&None));
    }

    #[test]
    fn substreams_are_chosen_once_per_active_video_stream() {
        // From an `updated` event: feed 3's streams on mids 0/1, feed 4's on 2/3, feed 5 gone.
        let streams = json!([
            {"type":"audio","active":true,"mid":"0","feed_id":3},
            {"type":"video","active":true,"mid":"1","feed_id":3},
            {"type":"audio","active":true,"mid":"2","feed_id":4},
            {"type":"video","active":true,"mid":"3","feed_id":4},
            {"type":"video","active":false,"mid":"5","ready":false,"send":true}
        ]);
        let videos = video_streams(&streams);
        assert_eq!(
            videos.iter().cloned().collect::<Vec<_>>(),
            vec![("1".to_owned(), 3), ("3".to_owned(), 4)]
        );
        let mut s = state(&[]);
        s.video_streams = videos;
        assert!(s.substreams_to_choose(SimulcastQuality::High).is_empty());
        assert_eq!(
            s.substreams_to_choose(SimulcastQuality::Medium),
            vec![
                json!({"mid": "1", "substream": 1}),
                json!({"mid": "3", "substream": 1})
            ]
        );
        assert!(s.substreams_to_choose(SimulcastQuality::Medium).is_empty());
        // Janus reuses mid 3 for another feed: that one is told again.
        s.video_streams = [("1".to_owned(), 3), ("3".to_owned(), 6)].into();
        s.substream_set.retain(|k, _| k.0 != "3");
        assert_eq!(
            s.substreams_to_choose(SimulcastQuality::Medium),
            vec![json!({"mid": "3", "substream": 1})]
        );
    }

    #[test]
    fn in_a_group_visit_the_speaker_is_on_the_top_substream_and_the_tiles_on_the_bottom() {
        let mut s = state(&[]);
        s.video_streams = [("1".to_owned(), 3), ("3".to_owned(), 4)].into();
        s.feed_index = [(3, 7), (4, 8)].into();
        let view = Arc::new(AtomicU32::new(NOBODY));
        s.speaker_view = Some(view.clone());
        // Nobody speaks yet: both tiles go down from Janus' default top substream.
        assert_eq!(
            s.substreams_to_choose(SimulcastQuality::High),
            vec![
                json!({"mid": "1", "substream": 0}),
                json!({"mid": "3", "substream": 0})
            ]
        );
        // Participant 8 speaks: only its stream changes, to the top.
        view.store(8, Relaxed);
        assert_eq!(
            s.substreams_to_choose(SimulcastQuality::High),
            vec![json!({"mid": "3", "substream": 2})]
        );
        view.store(7, Relaxed);
        assert_eq!(
            s.substreams_to_choose(SimulcastQuality::High),
            vec![
                json!({"mid": "1", "substream": 2}),
                json!({"mid": "3", "substream": 0})
            ]
        );
        assert!(s.substreams_to_choose(SimulcastQuality::High).is_empty());
        let list = json!([{"id": 3, "display": "lt-ab12cd34-7"}, {"id": 5, "display": "someone"}]);
        assert_eq!(feed_indexes(&list).collect::<Vec<_>>(), vec![(3, 7)]);
    }

    #[test]
    fn feed_ids_come_from_publisher_lists() {
        let list = json!([{"id": 4242, "display": "a"}, {"id": 3470910422422694u64}, {"display": "no id"}]);
        assert_eq!(
            feed_ids(&list).collect::<Vec<_>>(),
            vec![4242, 3470910422422694]
        );
        assert_eq!(feed_ids(&Value::Null).count(), 0);
    }
}
