//! A typed WebSocket client of the signalling protocol, for tests and the load tester.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::message::{ClientMessage, ServerMessage};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the server sent a frame that is not a protocol message: {0}")]
    Protocol(String),
    #[error("the connection is closed")]
    Closed,
}

/// What arrives from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Message(ServerMessage),
    /// The server closed the connection with this code and reason (code 1005 when it gave none).
    Closed {
        code: u16,
        reason: String,
    },
}

pub struct SignallingClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl SignallingClient {
    /// Connects to a `ws://` URL such as `ws://127.0.0.1:8080/ws`.
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        let (ws, _response) = connect_async(url).await?;
        Ok(Self { ws })
    }

    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        self.send_text(&message.to_json()).await
    }

    /// Sends any text, valid or not; for tests of bad input.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a binary frame; for tests of bad input.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.ws.send(Message::binary(bytes)).await?;
        Ok(())
    }

    /// The next text frame exactly as the server sent it, skipping pings and pongs; a close is
    /// an error. For tests that assert on what reached the client byte for byte.
    pub async fn recv_text(&mut self) -> Result<String, ClientError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(_)) | None => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// The next protocol message or the close, skipping pings and pongs.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let Some(frame) = self.ws.next().await else {
                return Ok(Incoming::Closed {
                    code: 1006,
                    reason: String::new(),
                });
            };
            match frame {
                Ok(Message::Text(text)) => {
                    let message: ServerMessage = serde_json::from_str(text.as_str())
                        .map_err(|e| ClientError::Protocol(format!("{e}: {text}")))?;
                    return Ok(Incoming::Message(message));
                }
                Ok(Message::Close(frame)) => {
                    let (code, reason) = close_parts(frame);
                    return Ok(Incoming::Closed { code, reason });
                }
                Ok(Message::Binary(_)) => {
                    return Err(ClientError::Protocol("unexpected binary frame".into()));
                }
                Ok(_) => continue,
                // A reset after the close frame is the same as a close without one.
                Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)
                | Err(tokio_tungstenite::tungstenite::Error::AlreadyClosed) => {
                    return Ok(Incoming::Closed {
                        code: 1006,
                        reason: String::new(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next protocol message; a close is an error.
    pub async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        match self.next().await? {
            Incoming::Message(m) => Ok(m),
            Incoming::Closed { .. } => Err(ClientError::Closed),
        }
    }

    /// Closes the socket without `leave`, as a browser does on reload or network loss.
    pub async fn drop_connection(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn close_parts(frame: Option<CloseFrame>) -> (u16, String) {
    match frame {
        Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
        None => (1005, String::new()),
    }
}
