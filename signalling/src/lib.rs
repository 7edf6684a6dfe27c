//! vardrum signalling: the version-1 protocol that joins a client to a video visit.
//!
//! This crate knows nothing of media. It holds
//!
//! - [`message`]: every JSON message of the protocol, as typed Rust values, and the stable
//!   [`ErrorCode`]s with their WebSocket close codes;
//! - [`token`]: join tokens (HS256 JWTs) — minting, and verifying with the algorithm pinned;
//! - [`session`]: the per-connection state machine (connecting → joined → closed) and the rate
//!   limiter, as plain synchronous code that takes the time as an argument so tests drive it;
//! - [`client`]: a typed WebSocket client (tokio-tungstenite) for tests and the load tester.
//!
//! ```text
//!   WebSocket text frame ──parse──▶ ClientMessage ──Session::accept──▶ Action for the server
//!   ServerMessage ──to_json──▶ WebSocket text frame
//! ```
//!
//! `docs/signalling.md` is the human contract; the types here are its machine form and the two
//! must say the same thing.

pub mod client;
pub mod message;
pub mod session;
pub mod token;

pub use message::{
    ByeReason, CandidateInit, ChatFile, ChatMessage, ClientMessage, ErrorCode, LeftReason,
    MediaKind, PROTOCOL_VERSION, ParticipantInfo, ParticipantState, PcKind, Quality, Role,
    RoomKind, ServerMessage,
};
pub use session::{Admit, RateLimiter, Session, SessionPhase};
pub use token::{JoinClaims, TokenError, TokenIssuer, TokenVerifier};

/// The largest text frame a server accepts (bytes). Larger frames close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
