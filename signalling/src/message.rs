//! The messages of signalling protocol version 1, as `docs/signalling.md` describes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Which of a participant's two peer connections a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcKind {
    /// Upstream: the client offers, the server answers.
    Publisher,
    /// Downstream: the server offers, the client answers.
    Subscriber,
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

/// Which simulcast layer a subscriber wants of a video track. The server forwards the best
/// layer the publisher is sending at or below it (or the lowest one, when all are above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Low,
    Medium,
    High,
}

/// What a participant is in the visit. Decides, later, what the server shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    Clinician,
    Guest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinician => "clinician",
            Role::Guest => "guest",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patient" => Ok(Role::Patient),
            "clinician" => Ok(Role::Clinician),
            "guest" => Ok(Role::Guest),
            other => Err(format!(
                "unknown role {other:?}: expected patient, clinician or guest"
            )),
        }
    }
}

/// A trickled ICE candidate, in the browser's `RTCIceCandidateInit` shape (snake_case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateInit {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default)]
    pub sdp_mline_index: Option<u16>,
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// What kind of room a join token opens: a 1:1 video visit or a clinician-hosted group visit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    #[default]
    Visit,
    Group,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Visit => "visit",
            RoomKind::Group => "group",
        }
    }
}

impl std::str::FromStr for RoomKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "visit" => Ok(RoomKind::Visit),
            "group" => Ok(RoomKind::Group),
            other => Err(format!(
                "unknown room kind {other:?}: expected visit or group"
            )),
        }
    }
}

/// Where a participant is: in the waiting room, in the visit, or lost and expected back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantState {
    Waiting,
    Active,
    Reconnecting,
}

/// A participant as one viewer may see it (the server renders it per viewer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub state: ParticipantState,
    pub audio_muted: bool,
    pub video_muted: bool,
    #[serde(default)]
    pub hand_raised: bool,
}

/// One message of the in-call chat, as one viewer may see its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Increasing within the visit.
    pub id: u64,
    /// The sender's participant id.
    pub from: String,
    /// The sender's name as the viewer may see it.
    pub name: String,
    pub role: Role,
    pub text: String,
    /// When the server received it, milliseconds since the epoch.
    pub at: u64,
    /// A file the sender uploaded into the chat (then `text` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ChatFile>,
}

/// A file uploaded into the chat: downloadable by the visit's participants while it lasts, and
/// kept with the uploader's booking afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFile {
    pub id: String,
    /// The sanitised file name.
    pub name: String,
    /// The type sniffed from the content: `image/jpeg`, `image/png` or `application/pdf`.
    pub content_type: String,
    pub size: u64,
}

/// Why a participant left the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    Left,
    Timeout,
    Removed,
    /// A host sent them back to the waiting room.
    WaitingRoom,
    /// A host turned them away from the waiting room (seen by staff only).
    Denied,
}

/// Why the server is about to close a session on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeReason {
    Left,
    Replaced,
    ServerShutdown,
    /// A host turned the participant away from the waiting room.
    Denied,
    /// A host removed the participant from the visit.
    Removed,
    /// A host ended the visit for everyone.
    Ended,
}

impl ByeReason {
    /// The WebSocket close code that follows the `bye`.
    pub fn close_code(self) -> u16 {
        match self {
            ByeReason::Left => 1000,
            ByeReason::Replaced => 4003,
            ByeReason::ServerShutdown => 1001,
            ByeReason::Denied => 4005,
            ByeReason::Removed => 4006,
            ByeReason::Ended => 4007,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ByeReason::Left => "left",
            ByeReason::Replaced => "replaced",
            ByeReason::ServerShutdown => "server_shutdown",
            ByeReason::Denied => "denied",
            ByeReason::Removed => "removed",
            ByeReason::Ended => "ended",
        }
    }
}

/// A STUN/TURN server, in the browser's `RTCIceServer` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Stable, machine-readable error codes. Their meaning is fixed by `docs/signalling.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    BadMessage,
    UnknownType,
    UnsupportedVersion,
    NotJoined,
    AlreadyJoined,
    JoinTimeout,
    TokenInvalid,
    TokenExpired,
    TokenNotYetValid,
    TokenWrongRoom,
    RoomFull,
    BadSdp,
    UnexpectedAnswer,
    BadCandidate,
    RateLimited,
    Flood,
    Internal,
    Forbidden,
    UnknownParticipant,
    NotAdmitted,
    ChatTooLong,
    RoomLocked,
    VisitEnded,
    WrongRoomKind,
}

impl ErrorCode {
    /// The close code the server uses after a fatal error; `None` for errors that keep the
    /// session open.
    pub fn close_code(self) -> Option<u16> {
        match self {
            ErrorCode::UnsupportedVersion => Some(4000),
            ErrorCode::TokenInvalid
            | ErrorCode::TokenExpired
            | ErrorCode::TokenNotYetValid
            | ErrorCode::TokenWrongRoom
            | ErrorCode::WrongRoomKind => Some(4001),
            ErrorCode::JoinTimeout => Some(4002),
            ErrorCode::RoomFull => Some(4004),
            ErrorCode::VisitEnded => Some(4007),
            ErrorCode::RoomLocked => Some(4009),
            ErrorCode::Flood => Some(1008),
            _ => None,
        }
    }

    /// Whether the server closes the session after sending this error.
    pub fn is_fatal(self) -> bool {
        self.close_code().is_some()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::JoinTimeout => "join_timeout",
            ErrorCode::TokenInvalid => "token_invalid",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TokenNotYetValid => "token_not_yet_valid",
            ErrorCode::TokenWrongRoom => "token_wrong_room",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::BadSdp => "bad_sdp",
            ErrorCode::UnexpectedAnswer => "unexpected_answer",
            ErrorCode::BadCandidate => "bad_candidate",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Flood => "flood",
            ErrorCode::Internal => "internal",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnknownParticipant => "unknown_participant",
            ErrorCode::NotAdmitted => "not_admitted",
            ErrorCode::ChatTooLong => "chat_too_long",
            ErrorCode::RoomLocked => "room_locked",
            ErrorCode::VisitEnded => "visit_ended",
            ErrorCode::WrongRoomKind => "wrong_room_kind",
        }
    }
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Join {
        v: u32,
        room: String,
        token: String,
    },
    Offer {
        pc: PcKind,
        sdp: String,
    },
    Answer {
        pc: PcKind,
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
    /// The subscriber's choice of simulcast layer for one received video track; `track` is
    /// the track id from the subscriber offer (the publication id).
    SetQuality {
        track: String,
        quality: Quality,
    },
    Ping {
        id: i64,
    },
    Leave,
    /// How the page shows one received video track: whether it is on screen, and the size of
    /// its tile in CSS pixels. The server forwards no video that is not shown and the layer
    /// that fits the tile.
    TrackSettings {
        track: String,
        visible: bool,
        #[serde(default)]
        width: u32,
        #[serde(default)]
        height: u32,
    },
    /// Raises or lowers one's own hand.
    RaiseHand {
        raised: bool,
    },
    /// A chat message to everyone in the visit.
    Chat {
        text: String,
    },
    // Host actions: only a clinician may send these (the server checks the token's role).
    /// Lets these waiting participants in.
    Admit {
        participants: Vec<String>,
    },
    /// Lets everyone in the waiting room in.
    AdmitAll,
    /// Turns a waiting participant away, with an optional short message for them.
    Deny {
        participant: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// Mutes a participant's microphone (`audio`) or stops their camera (`video`).
    MuteParticipant {
        participant: String,
        kind: MediaKind,
    },
    LowerHand {
        participant: String,
    },
    MoveToWaitingRoom {
        participant: String,
    },
    RemoveParticipant {
        participant: String,
    },
    /// Locks the room (nobody new gets in) or unlocks it.
    Lock {
        locked: bool,
    },
    /// Shows one participant large for everyone, or nobody (`null`).
    Spotlight {
        participant: Option<String>,
    },
    /// Ends the visit for everyone.
    EndVisit,
    /// Asks for a join link for a guest (interpreter, relative), who enters the waiting room.
    InviteGuest {
        name: String,
    },
}

const CLIENT_TYPES: &[&str] = &[
    "join",
    "offer",
    "answer",
    "candidate",
    "mute",
    "set_quality",
    "ping",
    "leave",
    "track_settings",
    "raise_hand",
    "chat",
    "admit",
    "admit_all",
    "deny",
    "mute_participant",
    "lower_hand",
    "move_to_waiting_room",
    "remove_participant",
    "lock",
    "spotlight",
    "end_visit",
    "invite_guest",
];

impl ClientMessage {
    /// Whether only a host (a clinician) may send this message.
    pub fn is_host_action(&self) -> bool {
        matches!(
            self,
            ClientMessage::Admit { .. }
                | ClientMessage::AdmitAll
                | ClientMessage::Deny { .. }
                | ClientMessage::MuteParticipant { .. }
                | ClientMessage::LowerHand { .. }
                | ClientMessage::MoveToWaitingRoom { .. }
                | ClientMessage::RemoveParticipant { .. }
                | ClientMessage::Lock { .. }
                | ClientMessage::Spotlight { .. }
                | ClientMessage::EndVisit
                | ClientMessage::InviteGuest { .. }
        )
    }
}

/// Why a frame could not be turned into a [`ClientMessage`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {detail}")]
pub struct ParseError {
    pub code: ErrorCode,
    pub detail: String,
}

impl ParseError {
    fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl ClientMessage {
    /// Parses one text frame, telling apart the classes of bad input the protocol names:
    /// not JSON at all (`bad_json`), an unknown `type` (`unknown_type`), and a known type with
    /// missing or mistyped fields (`bad_message`).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ParseError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")))?;
        let Value::Object(ref object) = value else {
            return Err(ParseError::new(
                ErrorCode::BadJson,
                "a message must be a JSON object",
            ));
        };
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => {
                return Err(ParseError::new(
                    ErrorCode::BadMessage,
                    "field `type` must be a string",
                ));
            }
            None => {
                return Err(ParseError::new(
                    ErrorCode::BadMessage,
                    "missing field `type`",
                ));
            }
        };
        if !CLIENT_TYPES.contains(&kind.as_str()) {
            return Err(ParseError::new(
                ErrorCode::UnknownType,
                format!("unknown message type {:?}", truncate(&kind, 40)),
            ));
        }
        let message: ClientMessage = serde_json::from_value(value).map_err(|e| {
            ParseError::new(ErrorCode::BadMessage, format!("invalid `{kind}`: {e}"))
        })?;
        // Each side offers only on its own connection (see "Vocabulary" in the docs).
        match &message {
            ClientMessage::Offer {
                pc: PcKind::Subscriber,
                ..
            } => Err(ParseError::new(
                ErrorCode::BadMessage,
                "clients offer only on the publisher pc",
            )),
            ClientMessage::Answer {
                pc: PcKind::Publisher,
                ..
            } => Err(ParseError::new(
                ErrorCode::BadMessage,
                "clients answer only on the subscriber pc",
            )),
            _ => Ok(message),
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising these plain types cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Joined {
        v: u32,
        room: String,
        session_id: String,
        #[serde(default)]
        kind: RoomKind,
        participant: ParticipantInfo,
        participants: Vec<ParticipantInfo>,
        resumed: bool,
        ice_servers: Vec<IceServer>,
        #[serde(default)]
        locked: bool,
        #[serde(default)]
        spotlight: Option<String>,
        /// The chat since the visit began (empty while waiting).
        #[serde(default)]
        chat: Vec<ChatMessage>,
    },
    /// A host let this participant in from the waiting room.
    Admitted {
        participants: Vec<ParticipantInfo>,
        chat: Vec<ChatMessage>,
        locked: bool,
        spotlight: Option<String>,
    },
    /// A host sent this participant back to the waiting room; its media has stopped.
    MovedToWaitingRoom,
    RoomUpdated {
        locked: bool,
        spotlight: Option<String>,
    },
    Chat {
        message: ChatMessage,
    },
    /// The active speaker changed: the participant whose voice is loudest now.
    Speaker {
        participant: String,
    },
    /// A host muted this participant's microphone or stopped its camera. Only the participant
    /// can turn it on again (with `mute`).
    HostMuted {
        kind: MediaKind,
    },
    /// The answer to `invite_guest`.
    GuestLink {
        url: String,
        expires_at: u64,
    },
    Offer {
        pc: PcKind,
        sdp: String,
    },
    Answer {
        pc: PcKind,
        sdp: String,
    },
    Candidate {
        pc: PcKind,
        candidate: Option<CandidateInit>,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantUpdated {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        participant_id: String,
        reason: LeftReason,
    },
    Pong {
        id: i64,
    },
    Error {
        code: ErrorCode,
        message: String,
        fatal: bool,
    },
    Bye {
        reason: ByeReason,
        /// A host's short message (with `denied`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
            fatal: code.is_fatal(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn bye(reason: ByeReason) -> Self {
        ServerMessage::Bye {
            reason,
            message: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_message_of_the_docs() {
        let join = ClientMessage::parse(r#"{"type":"join","v":1,"room":"visit-42","token":"t"}"#);
        assert_eq!(
            join,
            Ok(ClientMessage::Join {
                v: 1,
                room: "visit-42".into(),
                token: "t".into()
            })
        );
        let cand = ClientMessage::parse(
            r#"{"type":"candidate","pc":"publisher","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_mline_index":0}}"#,
        )
        .unwrap();
        assert!(matches!(
            cand,
            ClientMessage::Candidate {
                pc: PcKind::Publisher,
                candidate: Some(_)
            }
        ));
        let end =
            ClientMessage::parse(r#"{"type":"candidate","pc":"subscriber","candidate":null}"#);
        assert!(matches!(
            end,
            Ok(ClientMessage::Candidate {
                candidate: None,
                ..
            })
        ));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"leave"}"#),
            Ok(ClientMessage::Leave)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"mute","kind":"video","muted":true,"extra":1}"#),
            Ok(ClientMessage::Mute {
                kind: MediaKind::Video,
                muted: true
            })
        );
    }

    #[test]
    fn classifies_bad_input() {
        let code = |s: &str| ClientMessage::parse(s).unwrap_err().code;
        assert_eq!(code("{not json"), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadJson);
        assert_eq!(code(r#""join""#), ErrorCode::BadJson);
        assert_eq!(code(r#"{"v":1}"#), ErrorCode::BadMessage);
        assert_eq!(code(r#"{"type":7}"#), ErrorCode::BadMessage);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(
            code(r#"{"type":"join","v":"1","room":"r","token":"t"}"#),
            ErrorCode::BadMessage
        );
        assert_eq!(
            code(r#"{"type":"offer","pc":"publisher"}"#),
            ErrorCode::BadMessage
        );
        assert_eq!(
            code(r#"{"type":"offer","pc":"sideways","sdp":""}"#),
            ErrorCode::BadMessage
        );
        assert_eq!(
            code(r#"{"type":"offer","pc":"subscriber","sdp":"v=0"}"#),
            ErrorCode::BadMessage
        );
        assert_eq!(
            code(r#"{"type":"answer","pc":"publisher","sdp":"v=0"}"#),
            ErrorCode::BadMessage
        );
        assert_eq!(code(r#"{"type":"ping","id":1.5}"#), ErrorCode::BadMessage);
    }

    #[test]
    fn server_messages_round_trip_with_snake_case_tags() {
        let m = ServerMessage::ParticipantLeft {
            participant_id: "p".into(),
            reason: LeftReason::Timeout,
        };
        let json = m.to_json();
        assert_eq!(
            json,
            r#"{"type":"participant_left","participant_id":"p","reason":"timeout"}"#
        );
        let back: ServerMessage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        let e = ServerMessage::error(ErrorCode::RoomFull, "full");
        assert_eq!(
            e.to_json(),
            r#"{"type":"error","code":"room_full","message":"full","fatal":true}"#
        );
    }

    #[test]
    fn error_codes_serialise_as_their_documented_names() {
        for code in [
            ErrorCode::BadJson,
            ErrorCode::TokenNotYetValid,
            ErrorCode::UnexpectedAnswer,
            ErrorCode::Flood,
        ] {
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
    }
}
