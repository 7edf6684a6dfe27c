//! One simulated participant on a vardrum server: real signalling (the documented protocol,
//! through `vardrum_signalling::client`), real WebRTC (the async `webrtc` crate, with ICE, DTLS
//! and SRTP; see [`crate::webrtc_client`], shared with the Janus driver), synthetic stamped
//! media out, measured media in.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use rtc::peer_connection::sdp::RTCSessionDescription;
use tokio::sync::{mpsc, watch};
use vardrum_signalling::client::{Incoming, SignallingClient};
use vardrum_signalling::{ClientMessage, PcKind, ServerMessage};
use webrtc::peer_connection::PeerConnection;

use crate::collector::Collector;
use crate::scenario::{SimulcastQuality, Video};
use crate::tokens::TokenSource;
use crate::webrtc_client::{Handler, PcEvent, PcOptions, answer_offer, build_pc, start_publishing};

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
}

impl Plan {
    /// How its subscriber connection is set up: simulcast extensions when layers are in use
    /// (the server may forward them).
    pub fn subscriber_options(&self) -> PcOptions {
        PcOptions {
            simulcast: self.simulcast.is_some(),
            keyframe_requests: false,
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
                        None => match build_pc(handler(PcKind::Subscriber), plan.subscriber_options()).await {
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
            Some(event) = events.recv() => match event {
                PcEvent::Candidate(pc, candidate) => {
                    let _ = client.send(&ClientMessage::Candidate { pc, candidate: Some(candidate) }).await;
                }
                // The server forwards the top layer unless told otherwise: ask for the chosen one
                // as soon as a video track is there.
                PcEvent::RemoteTrack { pc: PcKind::Subscriber, track_id, video: true } => {
                    if let Some(quality) = plan.simulcast.filter(|q| *q != SimulcastQuality::High) {
                        let _ = client.send(&ClientMessage::SetQuality { track: track_id, quality: quality.signalling() }).await;
                    }
                }
                _ => {}
            },
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

pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
