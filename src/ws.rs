//! The signalling endpoint `/ws`: one task per WebSocket that checks each frame with the
//! protocol's session state machine, authenticates the join, and relays between the client and
//! its room in the SFU.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use vardrum_sfu::{HostAction, JoinError, JoinRequest, Outbound, ParticipantHandle, Signal};
use vardrum_signalling::token::Grant;
use vardrum_signalling::{
    Admit, ByeReason, ClientMessage, ErrorCode, JoinClaims, MAX_FRAME_BYTES, PROTOCOL_VERSION,
    Role, ServerMessage, Session,
};

use crate::server::AppState;

/// How often the server pings an idle client.
const PING_EVERY: Duration = Duration::from_secs(15);
/// How long a client may stay silent (no frame, no pong) before it is dropped.
const IDLE_LIMIT: Duration = Duration::from_secs(45);

pub async fn upgrade(ws: WebSocketUpgrade, State(app): State<Arc<AppState>>) -> Response {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            app.signalling.sessions.fetch_add(1, Relaxed);
            app.signalling.sessions_total.fetch_add(1, Relaxed);
            run(socket, &app).await;
            app.signalling.sessions.fetch_sub(1, Relaxed);
        })
}

/// What the loop does after one step.
enum Flow {
    Continue,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
    /// The peer is gone; just stop.
    Stop,
}

struct Conn<'a> {
    app: &'a AppState,
    session: Session,
    joined: Option<ParticipantHandle>,
    /// The joined session's token claims: its role decides what it may ask for.
    claims: Option<JoinClaims>,
    outbound: Option<mpsc::UnboundedReceiver<Outbound>>,
    /// Frames to the client; sent by the loop in order.
    sink: futures_util::stream::SplitSink<WebSocket, Message>,
}

impl Conn<'_> {
    async fn send(&mut self, message: &ServerMessage) -> bool {
        self.sink
            .send(Message::Text(Utf8Bytes::from(message.to_json())))
            .await
            .is_ok()
    }

    async fn error(&mut self, code: ErrorCode, message: impl Into<String>) -> Flow {
        self.app.signalling.error(code);
        let ok = self.send(&ServerMessage::error(code, message)).await;
        match code.close_code() {
            Some(close) => Flow::Close(close, code.as_str()),
            None if ok => Flow::Continue,
            None => Flow::Stop,
        }
    }

    /// Sends the close frame. The caller then waits for the client's (see [`finish_close`]).
    async fn close(&mut self, code: u16, reason: &'static str) {
        let _ = self
            .sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        self.app.signalling.messages_in.fetch_add(1, Relaxed);
        let message = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => return self.error(e.code, e.detail).await,
        };
        if let Err(code) = self.session.check(&message) {
            let text = match code {
                ErrorCode::AlreadyJoined => "this session has already joined",
                _ => "send `join` first",
            };
            return self.error(code, text).await;
        }
        match message {
            ClientMessage::Join { v, room, token } => self.on_join(v, room, token).await,
            ClientMessage::Ping { id } => {
                if self.send(&ServerMessage::Pong { id }).await {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
            ClientMessage::Offer { sdp, .. } => self.signal(Signal::PublisherOffer { sdp }).await,
            ClientMessage::Answer { sdp, .. } => {
                self.signal(Signal::SubscriberAnswer { sdp }).await
            }
            ClientMessage::Candidate { pc, candidate } => {
                self.signal(Signal::Candidate { pc, candidate }).await
            }
            ClientMessage::Mute { kind, muted } => self.signal(Signal::Mute { kind, muted }).await,
            ClientMessage::SetQuality { track, quality } => {
                self.signal(Signal::SetQuality { track, quality }).await
            }
            ClientMessage::Leave => {
                if let Some(handle) = &self.joined {
                    handle.leave().await;
                }
                // The room answers with Outbound::Close(Left), which ends the loop.
                Flow::Continue
            }
            ClientMessage::TrackSettings {
                track,
                visible,
                width,
                height,
            } => {
                self.signal(Signal::TrackSettings {
                    track,
                    visible,
                    width,
                    height,
                })
                .await
            }
            ClientMessage::RaiseHand { raised } => self.signal(Signal::RaiseHand { raised }).await,
            ClientMessage::Chat { text } => self.signal(Signal::Chat { text }).await,
            ClientMessage::InviteGuest { name } => self.invite_guest(name).await,
            ClientMessage::Admit { participants } => {
                self.host(HostAction::Admit(participants)).await
            }
            ClientMessage::AdmitAll => self.host(HostAction::AdmitAll).await,
            ClientMessage::Deny {
                participant,
                message,
            } => {
                self.host(HostAction::Deny {
                    participant,
                    message,
                })
                .await
            }
            ClientMessage::MuteParticipant { participant, kind } => {
                self.host(HostAction::Mute { participant, kind }).await
            }
            ClientMessage::LowerHand { participant } => {
                self.host(HostAction::LowerHand(participant)).await
            }
            ClientMessage::MoveToWaitingRoom { participant } => {
                self.host(HostAction::MoveToWaitingRoom(participant)).await
            }
            ClientMessage::RemoveParticipant { participant } => {
                self.host(HostAction::Remove(participant)).await
            }
            ClientMessage::Lock { locked } => self.host(HostAction::Lock(locked)).await,
            ClientMessage::Spotlight { participant } => {
                self.host(HostAction::Spotlight(participant)).await
            }
            ClientMessage::EndVisit => self.host(HostAction::End).await,
        }
    }

    /// A host action goes to the room, which checks the sender's role (from its token).
    async fn host(&mut self, action: HostAction) -> Flow {
        self.signal(Signal::Host(action)).await
    }

    /// Mints a guest link for the host's room: role guest, the room's kind, no booking.
    async fn invite_guest(&mut self, name: String) -> Flow {
        let Some(claims) = &self.claims else {
            return Flow::Continue;
        };
        if claims.role != Role::Clinician {
            return self
                .error(ErrorCode::Forbidden, "only a clinician (host) may do that")
                .await;
        }
        let grant = Grant {
            identity: format!("g-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            name: name.trim().to_owned(),
            room: claims.room.clone(),
            role: Role::Guest,
            kind: claims.kind,
            booking: None,
        };
        let now = self.app.clock.now_unix();
        match self.app.issuer.mint(&grant, now, self.app.guest_ttl_secs) {
            Ok(token) => {
                let url = format!("{}call/{}#token={token}", self.app.base_url, grant.room);
                let answer = ServerMessage::GuestLink {
                    url,
                    expires_at: now + self.app.guest_ttl_secs,
                };
                if self.send(&answer).await {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
            Err(_) => {
                self.error(
                    ErrorCode::BadMessage,
                    "invite_guest: the name must have 1 to 128 characters and no control characters",
                )
                .await
            }
        }
    }

    async fn signal(&mut self, signal: Signal) -> Flow {
        if let Signal::PublisherOffer { sdp } | Signal::SubscriberAnswer { sdp } = &signal
            && !sdp.starts_with("v=0")
        {
            return self
                .error(ErrorCode::BadSdp, "an SDP description starts with `v=0`")
                .await;
        }
        if let Some(handle) = &self.joined {
            handle.signal(signal).await;
        }
        Flow::Continue
    }

    async fn on_join(&mut self, v: u32, room: String, token: String) -> Flow {
        if v != PROTOCOL_VERSION {
            return self
                .error(
                    ErrorCode::UnsupportedVersion,
                    format!("this server speaks protocol version {PROTOCOL_VERSION}, not {v}"),
                )
                .await;
        }
        let claims = match self
            .app
            .verifier
            .verify(&token, &room, self.app.clock.now_unix())
        {
            Ok(c) => c,
            Err(e) => return self.error(e.code(), e.to_string()).await,
        };
        let request = JoinRequest {
            room,
            identity: claims.sub.clone(),
            name: claims.name.clone(),
            role: claims.role,
            kind: claims.kind,
            booking: claims.booking.clone(),
            issued_at: claims.iat,
        };
        match self.app.sfu.join(request).await {
            Ok(joined) => {
                self.app.signalling.joins_total.fetch_add(1, Relaxed);
                self.session.set_joined();
                self.joined = Some(joined.handle);
                self.claims = Some(claims);
                self.outbound = Some(joined.outbound);
                Flow::Continue
            }
            Err(JoinError::WrongKind) => {
                self.error(
                    ErrorCode::WrongRoomKind,
                    "this room is of the other kind (1:1 visit or group visit) than the token",
                )
                .await
            }
            Err(JoinError::Locked) => {
                self.error(
                    ErrorCode::RoomLocked,
                    "the host has locked the visit: nobody new can come in",
                )
                .await
            }
            Err(JoinError::Ended) => {
                self.error(ErrorCode::VisitEnded, "this visit has ended")
                    .await
            }
            Err(JoinError::RoomFull) => {
                self.error(
                    ErrorCode::RoomFull,
                    "the visit already has its maximum number of participants",
                )
                .await
            }
            // A draining node opens no room: the client is told as at shutdown and reconnects
            // with back-off, by then to another node or to this one restarted.
            Err(JoinError::ShuttingDown | JoinError::Draining) => {
                self.send(&ServerMessage::bye(ByeReason::ServerShutdown))
                    .await;
                Flow::Close(ByeReason::ServerShutdown.close_code(), "server_shutdown")
            }
            Err(JoinError::Retry) => {
                self.error(
                    ErrorCode::Internal,
                    "the room could not be opened; try again",
                )
                .await
            }
        }
    }

    async fn on_outbound(&mut self, out: Option<Outbound>) -> Flow {
        match out {
            Some(Outbound::Message(m)) => {
                if self.send(&m).await {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
            Some(Outbound::Close { reason, message }) => {
                self.send(&ServerMessage::Bye { reason, message }).await;
                self.joined = None; // the room has already let go of this session
                Flow::Close(reason.close_code(), reason.as_str())
            }
            None => Flow::Close(1011, "room closed"),
        }
    }
}

async fn run(socket: WebSocket, app: &AppState) {
    let (sink, mut stream) = socket.split();
    let now = Instant::now();
    let mut conn = Conn {
        app,
        session: Session::new(now),
        joined: None,
        claims: None,
        outbound: None,
        sink,
    };
    let join_deadline = tokio::time::sleep_until(conn.session.join_deadline().into());
    tokio::pin!(join_deadline);
    let mut ping = tokio::time::interval_at((now + PING_EVERY).into(), PING_EVERY);
    let mut last_heard = now;
    let mut shutdown = app.shutdown.clone();

    loop {
        let flow = tokio::select! {
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    None => Flow::Stop,
                    // The client closes: answer with a close frame (RFC 6455 5.5.1) before
                    // the TCP connection goes.
                    Some(Ok(Message::Close(_))) => {
                        let _ = conn.sink.close().await;
                        Flow::Stop
                    }
                    Some(Err(e)) => {
                        if is_too_big(e) {
                            conn.app.signalling.error(ErrorCode::BadMessage);
                            Flow::Close(1009, "message too big")
                        } else {
                            Flow::Stop
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                    Some(Ok(frame)) => match conn.session.admit(last_heard) {
                        Admit::Accept => match frame {
                            Message::Text(text) => conn.on_text(text.as_str()).await,
                            _ => conn.error(ErrorCode::BadMessage, "frames must be text (JSON)").await,
                        },
                        Admit::Drop { notify: true } => {
                            conn.error(ErrorCode::RateLimited, "too many messages; some were dropped").await
                        }
                        Admit::Drop { notify: false } => Flow::Continue,
                        Admit::Flood => {
                            conn.error(ErrorCode::Flood, "far too many messages").await
                        }
                    },
                }
            }
            out = recv_outbound(&mut conn.outbound) => conn.on_outbound(out).await,
            _ = &mut join_deadline, if conn.joined.is_none() => {
                conn.error(ErrorCode::JoinTimeout, "no `join` within 10 seconds").await
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_LIMIT {
                    Flow::Close(1001, "idle")
                } else if conn.sink.send(Message::Ping(Default::default())).await.is_err() {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            }
            _ = stopping(&mut shutdown), if conn.joined.is_none() => {
                // Joined sessions hear of the shutdown from their room.
                conn.send(&ServerMessage::bye(ByeReason::ServerShutdown)).await;
                Flow::Close(ByeReason::ServerShutdown.close_code(), "server_shutdown")
            }
        };
        match flow {
            Flow::Continue => {}
            Flow::Close(code, reason) => {
                conn.close(code, reason).await;
                finish_close(&mut stream).await;
                let _ = conn.sink.close().await;
                break;
            }
            Flow::Stop => break,
        }
    }
    conn.session.set_closed();
    // Lost without `leave`: the room keeps the participant as reconnecting. (If the session was
    // replaced or left, the room ignores this, since the session is no longer current.)
    if let Some(handle) = conn.joined.take() {
        handle.disconnected().await;
    }
}

/// Completes the closing handshake: reads (and drops) what the client still sends until its
/// close frame, for at most two seconds. Closing the TCP connection with unread data in it would
/// make the kernel send a reset, and the client would see "connection reset" instead of our close
/// code (a flooding client always has unread data in flight).
async fn finish_close(stream: &mut futures_util::stream::SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

async fn stopping(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stopping| *stopping).await;
}

async fn recv_outbound(out: &mut Option<mpsc::UnboundedReceiver<Outbound>>) -> Option<Outbound> {
    match out {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn is_too_big(error: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match error.into_inner().downcast::<WsError>() {
        Ok(e) => matches!(*e, WsError::Capacity(_)),
        Err(_) => false,
    }
}
