//! Group-visit test clients: a signalling client that keeps every raw frame it received, with
//! the waits the group tests share.
#![allow(dead_code)]

use crate::common::{self, TestServer, expect_close, send_join};
use vardrum_signalling::client::SignallingClient;
use vardrum_signalling::{ByeReason, ClientMessage, ErrorCode, ServerMessage};

/// A signalling client that keeps every raw frame it received.
pub struct Person {
    pub client: SignallingClient,
    pub frames: Vec<String>,
}

impl Person {
    pub async fn join(server: &TestServer, room: &str, token: String) -> (Self, ServerMessage) {
        let client = send_join(&server.ws_url(), room, token).await;
        let mut me = Self {
            client,
            frames: Vec::new(),
        };
        let joined = me.recv().await;
        (me, joined)
    }

    pub async fn recv(&mut self) -> ServerMessage {
        let text = tokio::time::timeout(common::PATIENCE, self.client.recv_text())
            .await
            .expect("a frame in time")
            .expect("a frame");
        self.frames.push(text.clone());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Reads until a message matches, keeping (and returning) what came before it.
    pub async fn until(&mut self, what: &str, f: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        for _ in 0..200 {
            let m = self.recv().await;
            if f(&m) {
                return m;
            }
        }
        panic!("no {what} in 200 frames: {:?}", self.frames);
    }

    pub async fn send(&mut self, m: ClientMessage) {
        self.client.send(&m).await.expect("send");
    }

    /// A round trip through the room (a `set_quality` for no track, refused by the room itself,
    /// unlike `ping`, which the WebSocket task answers): returns what the room sent before the
    /// refusal, which is everything it sent this person for inputs it handled earlier.
    pub async fn settle(&mut self) -> Vec<ServerMessage> {
        self.send(ClientMessage::SetQuality {
            track: "no-such-track".into(),
            quality: vardrum_signalling::Quality::Low,
        })
        .await;
        let mut seen = Vec::new();
        loop {
            match self.recv().await {
                ServerMessage::Error {
                    code: ErrorCode::BadMessage | ErrorCode::NotAdmitted,
                    ..
                } => return seen,
                other => seen.push(other),
            }
        }
    }

    pub async fn expect_error(&mut self, code: ErrorCode) {
        match self.recv().await {
            ServerMessage::Error { code: got, .. } => assert_eq!(got, code),
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Reads up to a `bye` (news of the room may come first), which must have `reason`.
    pub async fn expect_bye(&mut self, reason: ByeReason, code: u16) -> Option<String> {
        let bye = self
            .until("bye", |m| matches!(m, ServerMessage::Bye { .. }))
            .await;
        let message = match bye {
            ServerMessage::Bye {
                reason: got,
                message,
            } => {
                assert_eq!(got, reason);
                message
            }
            other => panic!("expected bye {reason:?}, got {other:?}"),
        };
        expect_close(&mut self.client, code).await;
        message
    }

    pub fn all_frames(&self) -> String {
        self.frames.join("\n")
    }
}
