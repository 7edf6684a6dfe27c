//! Membership and moderation: who is in a room, where (waiting room, in the visit, lost and
//! expected back), what hosts may do to them, the chat, and what everyone is told of it.
//!
//! This is the room's policy, free of I/O: it never reads a clock (every input carries the
//! time), owns no socket and no peer connection. It answers each input by sending protocol
//! messages on the participants' outboxes and by returning [`Effect`]s that the media side of
//! the room carries out (start or stop a participant's media, stop forwarding what a host
//! muted, end the room). So the waiting room, host actions, chat and reconnect deadlines are
//! unit-tested below in microseconds, without WebRTC.
//!
//! Two rules protect people and hold for every message built here:
//! - names reach a viewer only through a [`Lens`] made for that viewer (see `lens`), and
//!   others know a participant only by an opaque id made for this room, never by the token's
//!   `sub`, so patients cannot be linked across visits;
//! - a patient or guest in the waiting room sees nobody and is seen only by staff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vardrum_signalling::{
    ByeReason, ChatFile, ErrorCode, LeftReason, MediaKind, PROTOCOL_VERSION, ParticipantInfo,
    ParticipantState, Role, RoomKind, ServerMessage,
};

use super::chat::{ChatLimit, ChatLog};
use super::lens::{Lens, NamePolicy};
use crate::{Admission, HostAction, JoinError, JoinRequest, Outbound};

/// Where a participant's messages go.
pub(crate) type Outbox = mpsc::UnboundedSender<Outbound>;

/// Longest message a host may give someone they turn away, in characters.
pub const MAX_DENY_MESSAGE_CHARS: usize = 200;

/// The time of one input: the monotonic clock for deadlines, the wall clock for chat times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub at: Instant,
    pub unix_ms: u64,
}

/// What a room is and allows, fixed when it opens.
#[derive(Debug, Clone)]
pub(crate) struct RoomPolicy {
    pub kind: RoomKind,
    pub max_participants: usize,
    pub reconnect_grace: Duration,
    /// Whether patients and guests wait to be admitted (always in group visits).
    pub waiting_room: bool,
    pub names: NamePolicy,
    pub ice_servers: Vec<vardrum_signalling::message::IceServer>,
}

/// Where a participant is. One enum, so that "in the waiting room with no connection but a
/// deadline" and similar impossible mixtures cannot be written down.
#[derive(Debug)]
pub(crate) enum Presence {
    /// Connected, waiting to be admitted.
    Waiting { out: Outbox },
    /// Connected and in the visit: sends and receives media.
    Active { out: Outbox },
    /// Connection lost; kept until `deadline`, then gone. `admitted` says where they return.
    Reconnecting { deadline: Instant, admitted: bool },
}

impl Presence {
    fn out(&self) -> Option<&Outbox> {
        match self {
            Presence::Waiting { out } | Presence::Active { out } => Some(out),
            Presence::Reconnecting { .. } => None,
        }
    }

    fn admitted(&self) -> bool {
        match self {
            Presence::Waiting { .. } => false,
            Presence::Active { .. } => true,
            Presence::Reconnecting { admitted, .. } => *admitted,
        }
    }

    fn state(&self) -> ParticipantState {
        match self {
            Presence::Waiting { .. } => ParticipantState::Waiting,
            Presence::Active { .. } => ParticipantState::Active,
            Presence::Reconnecting { .. } => ParticipantState::Reconnecting,
        }
    }
}

/// One person in the room.
#[derive(Debug)]
pub(crate) struct Member {
    /// The token's `sub`: how the server recognises a returning participant. Never sent.
    pub key: Arc<str>,
    /// The opaque participant id others know them by.
    pub id: Arc<str>,
    /// Full name from the token: read only through a [`Lens`].
    name: String,
    pub role: Role,
    pub booking: Option<String>,
    pub session: u64,
    pub presence: Presence,
    audio_muted: bool,
    video_muted: bool,
    hand_raised: bool,
    chat_limit: ChatLimit,
}

impl Member {
    fn is_staff(&self) -> bool {
        self.role == Role::Clinician
    }

    fn is_active(&self) -> bool {
        matches!(self.presence, Presence::Active { .. })
    }

    fn send(&self, message: ServerMessage) {
        if let Some(out) = self.presence.out() {
            let _ = out.send(Outbound::Message(message));
        }
    }

    fn close(&self, reason: ByeReason, message: Option<String>) {
        if let Some(out) = self.presence.out() {
            let _ = out.send(Outbound::Close { reason, message });
        }
    }

    /// Whether this member, as a viewer, receives news of the room at all.
    fn follows_roster(&self) -> bool {
        self.presence.out().is_some() && (self.is_staff() || self.is_active())
    }

    /// Whether this member, as a viewer, may see `subject`.
    fn can_see(&self, subject: &Member) -> bool {
        self.is_staff() || (self.presence.admitted() && subject.presence.admitted())
    }
}

/// What the media side of the room must do after an input.
#[derive(Debug)]
pub(crate) enum Effect {
    /// The participant is in the visit and connected: give it peer connections, subscribe it
    /// to everything published, and offer its media to the others.
    MediaUp {
        key: Arc<str>,
        id: Arc<str>,
        session: u64,
        out: Outbox,
    },
    /// The participant's media ends (left, moved back, removed, lost, replaced).
    MediaDown { key: Arc<str> },
    /// Forwarding of one kind of the participant's media stops (a host muted it) or may go on.
    Block {
        key: Arc<str>,
        kind: MediaKind,
        blocked: bool,
    },
    /// The visit is over: close everything.
    Ended,
}

/// The people of one room and what they may do.
pub(crate) struct Members {
    policy: RoomPolicy,
    room: String,
    members: Vec<Member>,
    locked: bool,
    /// The spotlit participant's id.
    spotlight: Option<Arc<str>>,
    chat: ChatLog,
    /// Whether a clinician has been in the visit: then its end is remembered.
    hosted: bool,
    ended: bool,
    effects: Vec<Effect>,
}

/// A refusal to send back to whoever asked.
type Refusal = (ErrorCode, String);

fn refuse(code: ErrorCode, message: &str) -> Refusal {
    (code, message.to_owned())
}

impl Members {
    pub fn new(room: String, policy: RoomPolicy) -> Self {
        Self {
            policy,
            room,
            members: Vec::new(),
            locked: false,
            spotlight: None,
            chat: ChatLog::default(),
            hosted: false,
            ended: false,
            effects: Vec::new(),
        }
    }

    pub fn kind(&self) -> RoomKind {
        self.policy.kind
    }

    /// What the media side must do now, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether the visit ended or a clinician was in it: then its end is remembered.
    pub fn remember_end(&self) -> bool {
        self.ended || self.hosted
    }

    #[cfg(test)]
    pub fn chat_len(&self) -> usize {
        self.chat.len()
    }

    fn index(&self, key: &str) -> Option<usize> {
        self.members.iter().position(|m| &*m.key == key)
    }

    fn index_of_id(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| &*m.id == id)
    }

    /// The member with this key, if `session` is its current one.
    pub fn current(&self, key: &str, session: u64) -> Option<&Member> {
        self.index(key)
            .map(|i| &self.members[i])
            .filter(|m| m.session == session)
    }

    /// Whether the member's session is current and in the visit (may send media).
    pub fn is_active(&self, key: &str, session: u64) -> bool {
        self.current(key, session).is_some_and(Member::is_active)
    }

    /// Sends a message to the member, if connected.
    pub fn send_to(&self, key: &str, message: ServerMessage) {
        if let Some(i) = self.index(key) {
            self.members[i].send(message);
        }
    }

    fn lens(&self, viewer: Role) -> Lens {
        Lens::new(viewer, self.policy.kind, self.policy.names)
    }

    /// `subject` as `viewer` may see it.
    fn seen_by(&self, viewer: &Member, subject: &Member) -> ParticipantInfo {
        let name = if Arc::ptr_eq(&viewer.key, &subject.key) {
            subject.name.clone()
        } else {
            self.lens(viewer.role).name(subject.role, &subject.name)
        };
        ParticipantInfo {
            id: subject.id.to_string(),
            name,
            role: subject.role,
            state: subject.presence.state(),
            audio_muted: subject.audio_muted,
            video_muted: subject.video_muted,
            hand_raised: subject.hand_raised,
        }
    }

    /// Everyone else `viewer` may see, as they may see them.
    fn roster_for(&self, viewer: &Member) -> Vec<ParticipantInfo> {
        self.members
            .iter()
            .filter(|m| !Arc::ptr_eq(&m.key, &viewer.key) && viewer.can_see(m))
            .map(|m| self.seen_by(viewer, m))
            .collect()
    }

    /// Which members can see member `i` now (by key), before a change.
    fn viewers_of(&self, i: usize) -> Vec<(Arc<str>, bool)> {
        let subject = &self.members[i];
        self.members
            .iter()
            .filter(|v| !Arc::ptr_eq(&v.key, &subject.key))
            .map(|v| (v.key.clone(), v.follows_roster() && v.can_see(subject)))
            .collect()
    }

    /// Tells every other member what they now see of member `i`, given what they saw before
    /// (`before`): `participant_joined` to those who could not see it, `participant_updated` to
    /// those who still can, and `participant_left` with `reason` to those who no longer can.
    fn announce(&self, i: usize, before: &[(Arc<str>, bool)], reason: LeftReason) {
        let subject = &self.members[i];
        for viewer in self
            .members
            .iter()
            .filter(|v| !Arc::ptr_eq(&v.key, &subject.key))
        {
            let saw = before
                .iter()
                .any(|(k, saw)| *saw && Arc::ptr_eq(k, &viewer.key));
            let sees = viewer.follows_roster() && viewer.can_see(subject);
            let message = match (saw, sees) {
                (false, true) => ServerMessage::ParticipantJoined {
                    participant: self.seen_by(viewer, subject),
                },
                (true, true) => ServerMessage::ParticipantUpdated {
                    participant: self.seen_by(viewer, subject),
                },
                (true, false) if viewer.presence.out().is_some() => {
                    ServerMessage::ParticipantLeft {
                        participant_id: subject.id.to_string(),
                        reason,
                    }
                }
                _ => continue,
            };
            viewer.send(message);
        }
    }

    /// Sends member `i` its own participant object (after a change it did not make itself, or
    /// one its page shows from the server's word: the raised hand).
    fn tell_self(&self, i: usize) {
        let m = &self.members[i];
        m.send(ServerMessage::ParticipantUpdated {
            participant: self.seen_by(m, m),
        });
    }

    /// Tells those who could see a member that has now gone.
    fn announce_gone(&self, id: &str, before: &[(Arc<str>, bool)], reason: LeftReason) {
        for (key, saw) in before {
            if *saw && let Some(i) = self.index(key) {
                self.members[i].send(ServerMessage::ParticipantLeft {
                    participant_id: id.to_owned(),
                    reason,
                });
            }
        }
    }

    fn media_up(&mut self, i: usize) {
        let m = &self.members[i];
        if let Presence::Active { out } = &m.presence {
            self.effects.push(Effect::MediaUp {
                key: m.key.clone(),
                id: m.id.clone(),
                session: m.session,
                out: out.clone(),
            });
        }
        if m.is_staff() {
            self.hosted = true;
        }
    }

    fn room_state(&self) -> (bool, Option<String>) {
        (self.locked, self.spotlight.as_deref().map(str::to_owned))
    }

    /// Puts a participant in the room: new, or the same person again (reload, new network,
    /// second tab: the newest session wins). Returns whether it resumed an earlier session.
    pub fn join(
        &mut self,
        request: &JoinRequest,
        session: u64,
        out: Outbox,
    ) -> Result<bool, JoinError> {
        if request.kind != self.policy.kind {
            return Err(JoinError::WrongKind);
        }
        let staff = request.role == Role::Clinician;
        let (i, resumed) = match self.index(&request.identity) {
            Some(i) => {
                let before = self.viewers_of(i);
                let m = &mut self.members[i];
                if let Some(old) = m.presence.out() {
                    let _ = old.send(Outbound::Close {
                        reason: ByeReason::Replaced,
                        message: None,
                    });
                }
                if m.is_active() {
                    self.effects.push(Effect::MediaDown { key: m.key.clone() });
                }
                let admitted = staff || m.presence.admitted() || !self.policy.waiting_room;
                m.presence = if admitted {
                    Presence::Active { out }
                } else {
                    Presence::Waiting { out }
                };
                m.session = session;
                m.name = request.name.clone();
                m.role = request.role;
                m.booking = request.booking.clone();
                m.audio_muted = false;
                m.video_muted = false;
                self.announce(i, &before, LeftReason::Left);
                (i, true)
            }
            None => {
                if self.locked && !staff {
                    return Err(JoinError::Locked);
                }
                if self.members.len() >= self.policy.max_participants {
                    return Err(JoinError::RoomFull);
                }
                let waits = !staff && self.policy.waiting_room;
                self.members.push(Member {
                    key: request.identity.as_str().into(),
                    id: new_participant_id().into(),
                    name: request.name.clone(),
                    role: request.role,
                    booking: request.booking.clone(),
                    session,
                    presence: if waits {
                        Presence::Waiting { out }
                    } else {
                        Presence::Active { out }
                    },
                    audio_muted: false,
                    video_muted: false,
                    hand_raised: false,
                    chat_limit: ChatLimit::default(),
                });
                let i = self.members.len() - 1;
                let nobody_saw: Vec<(Arc<str>, bool)> = Vec::new();
                self.announce(i, &nobody_saw, LeftReason::Left);
                (i, false)
            }
        };
        let me = &self.members[i];
        let admitted = me.is_active();
        let (locked, spotlight) = self.room_state();
        me.send(ServerMessage::Joined {
            v: PROTOCOL_VERSION,
            room: self.room.clone(),
            session_id: format!("{session:x}"),
            kind: self.policy.kind,
            participant: self.seen_by(me, me),
            participants: if admitted || me.is_staff() {
                self.roster_for(me)
            } else {
                Vec::new()
            },
            resumed,
            ice_servers: self.policy.ice_servers.clone(),
            locked,
            spotlight,
            chat: if admitted {
                self.chat.seen_through(&self.lens(me.role), &me.id)
            } else {
                Vec::new()
            },
        });
        self.media_up(i);
        Ok(resumed)
    }

    /// The participant leaves for good.
    pub fn leave(&mut self, key: &str, session: u64) {
        let Some(i) = self
            .index(key)
            .filter(|&i| self.members[i].session == session)
        else {
            return;
        };
        self.members[i].close(ByeReason::Left, None);
        self.drop_member(i, LeftReason::Left);
    }

    /// Removes member `i`, telling those who saw it.
    fn drop_member(&mut self, i: usize, reason: LeftReason) {
        let before = self.viewers_of(i);
        let m = self.members.remove(i);
        if m.is_active() {
            self.effects.push(Effect::MediaDown { key: m.key.clone() });
        }
        self.announce_gone(&m.id, &before, reason);
        self.clear_spotlight_of(&m.id);
    }

    fn clear_spotlight_of(&mut self, id: &str) {
        if self.spotlight.as_deref() == Some(id) {
            self.spotlight = None;
            self.broadcast_room_state();
        }
    }

    fn broadcast_room_state(&self) {
        let (locked, spotlight) = self.room_state();
        for m in self.members.iter().filter(|m| m.follows_roster()) {
            m.send(ServerMessage::RoomUpdated {
                locked,
                spotlight: spotlight.clone(),
            });
        }
    }

    /// The session's connection was lost without `leave`: keep the participant until the
    /// reconnect grace period is over.
    pub fn disconnected(&mut self, key: &str, session: u64, now: Now) {
        let Some(i) = self
            .index(key)
            .filter(|&i| self.members[i].session == session)
        else {
            return;
        };
        if matches!(self.members[i].presence, Presence::Reconnecting { .. }) {
            return;
        }
        let before = self.viewers_of(i);
        let m = &mut self.members[i];
        if m.is_active() {
            self.effects.push(Effect::MediaDown { key: m.key.clone() });
        }
        m.presence = Presence::Reconnecting {
            deadline: now.at + self.policy.reconnect_grace,
            admitted: m.presence.admitted(),
        };
        self.announce(i, &before, LeftReason::Left);
    }

    /// When the next reconnect deadline falls.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.members
            .iter()
            .filter_map(|m| match m.presence {
                Presence::Reconnecting { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// Removes those who did not come back in time.
    pub fn on_timeout(&mut self, now: Now) {
        while let Some(i) = self.members.iter().position(
            |m| matches!(m.presence, Presence::Reconnecting { deadline, .. } if deadline <= now.at),
        ) {
            self.drop_member(i, LeftReason::Timeout);
        }
    }

    /// The participant says it stopped or resumed sending a kind of media. Turning media on
    /// again also lifts a host's mute: only the participant can do that.
    pub fn mute(&mut self, key: &str, kind: MediaKind, muted: bool) {
        let Some(i) = self.index(key) else { return };
        let before = self.viewers_of(i);
        let m = &mut self.members[i];
        match kind {
            MediaKind::Audio => m.audio_muted = muted,
            MediaKind::Video => m.video_muted = muted,
        }
        if !muted {
            self.effects.push(Effect::Block {
                key: m.key.clone(),
                kind,
                blocked: false,
            });
        }
        self.announce(i, &before, LeftReason::Left);
    }

    pub fn raise_hand(&mut self, key: &str, raised: bool) -> Result<(), Refusal> {
        let i = self.active_index(key)?;
        let before = self.viewers_of(i);
        self.members[i].hand_raised = raised;
        self.announce(i, &before, LeftReason::Left);
        self.tell_self(i);
        Ok(())
    }

    fn active_index(&self, key: &str) -> Result<usize, Refusal> {
        match self.index(key) {
            Some(i) if self.members[i].is_active() => Ok(i),
            _ => Err(refuse(
                ErrorCode::NotAdmitted,
                "you are in the waiting room: a host has not let you in yet",
            )),
        }
    }

    /// The participant as the server may act for it, if it is in the visit (admitted and
    /// connected) right now: who may upload into the chat, and download from it.
    pub fn admission(&self, key: &str) -> Option<Admission> {
        let m = &self.members[self.index(key)?];
        m.is_active().then(|| Admission {
            participant_id: m.id.to_string(),
            role: m.role,
            booking: m.booking.clone(),
        })
    }

    /// A file the participant uploaded, announced in the chat like a message (and counted
    /// against the same rate).
    pub fn post_file(&mut self, key: &str, file: ChatFile, now: Now) -> Result<(), Refusal> {
        let i = self.active_index(key)?;
        if !self.members[i].chat_limit.allow(now.at) {
            return Err(refuse(
                ErrorCode::RateLimited,
                "too many chat messages; the file was kept but not announced",
            ));
        }
        let m = &self.members[i];
        let entry = self
            .chat
            .post_file(&m.id, m.role, &m.name, file, now.unix_ms)
            .clone();
        self.broadcast_chat(&entry);
        Ok(())
    }

    fn broadcast_chat(&self, entry: &super::chat::ChatEntry) {
        for viewer in self.members.iter().filter(|v| v.is_active()) {
            viewer.send(ServerMessage::Chat {
                message: entry.seen_through(&self.lens(viewer.role), &viewer.id),
            });
        }
    }

    /// The active speaker changed to the member with `key`: everyone in the visit (and staff)
    /// hears its participant id.
    pub fn announce_speaker(&self, key: &str) {
        let Some(i) = self.index(key) else { return };
        let speaker = &self.members[i];
        for viewer in self.members.iter().filter(|v| v.follows_roster()) {
            if viewer.can_see(speaker) {
                viewer.send(ServerMessage::Speaker {
                    participant: speaker.id.to_string(),
                });
            }
        }
    }

    /// A chat message to everyone in the visit.
    pub fn chat(&mut self, key: &str, text: &str, now: Now) -> Result<(), Refusal> {
        let i = self.active_index(key)?;
        // A message refused for what it is costs nothing of the rate.
        ChatLog::check(text).map_err(|(code, message)| refuse(code, message))?;
        if !self.members[i].chat_limit.allow(now.at) {
            return Err(refuse(
                ErrorCode::RateLimited,
                "too many chat messages; this one was not sent",
            ));
        }
        let m = &self.members[i];
        let entry = self
            .chat
            .post(&m.id, m.role, &m.name, text, now.unix_ms)
            .map_err(|(code, message)| refuse(code, message))?
            .clone();
        self.broadcast_chat(&entry);
        Ok(())
    }

    /// A host action from member `key`. The role is the token's, checked here for every action.
    pub fn host_action(&mut self, key: &str, action: HostAction) -> Result<(), Refusal> {
        let Some(host) = self.index(key) else {
            return Ok(());
        };
        if !self.members[host].is_staff() {
            return Err(refuse(
                ErrorCode::Forbidden,
                "only a clinician (host) may do that",
            ));
        }
        match action {
            HostAction::Admit(ids) => {
                self.not_locked()?;
                let mut admit = Vec::with_capacity(ids.len());
                for id in &ids {
                    match self.index_of_id(id) {
                        Some(i) if matches!(self.members[i].presence, Presence::Waiting { .. }) => {
                            admit.push(self.members[i].key.clone())
                        }
                        _ => {
                            return Err(refuse(
                                ErrorCode::UnknownParticipant,
                                "admit: a participant named is not in the waiting room",
                            ));
                        }
                    }
                }
                for key in admit {
                    self.admit(&key);
                }
            }
            HostAction::AdmitAll => {
                self.not_locked()?;
                let waiting: Vec<Arc<str>> = self
                    .members
                    .iter()
                    .filter(|m| matches!(m.presence, Presence::Waiting { .. }))
                    .map(|m| m.key.clone())
                    .collect();
                for key in waiting {
                    self.admit(&key);
                }
            }
            HostAction::Deny {
                participant,
                message,
            } => {
                if let Some(text) = &message
                    && text.chars().count() > MAX_DENY_MESSAGE_CHARS
                {
                    return Err(refuse(
                        ErrorCode::BadMessage,
                        "deny: the message has at most 200 characters",
                    ));
                }
                let i = self.target(&participant, "deny", |m| {
                    matches!(m.presence, Presence::Waiting { .. })
                        || matches!(
                            m.presence,
                            Presence::Reconnecting {
                                admitted: false,
                                ..
                            }
                        )
                })?;
                let message = message
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty());
                self.members[i].close(ByeReason::Denied, message);
                self.drop_member(i, LeftReason::Denied);
            }
            HostAction::Mute { participant, kind } => {
                let i = self.target(&participant, "mute_participant", |_| true)?;
                self.not_staff(i)?;
                let before = self.viewers_of(i);
                let m = &mut self.members[i];
                match kind {
                    MediaKind::Audio => m.audio_muted = true,
                    MediaKind::Video => m.video_muted = true,
                }
                self.effects.push(Effect::Block {
                    key: m.key.clone(),
                    kind,
                    blocked: true,
                });
                m.send(ServerMessage::HostMuted { kind });
                self.announce(i, &before, LeftReason::Left);
            }
            HostAction::LowerHand(participant) => {
                let i = self.target(&participant, "lower_hand", |_| true)?;
                let before = self.viewers_of(i);
                self.members[i].hand_raised = false;
                self.announce(i, &before, LeftReason::Left);
                self.tell_self(i);
            }
            HostAction::MoveToWaitingRoom(participant) => {
                let i = self.target(&participant, "move_to_waiting_room", |m| {
                    m.presence.admitted()
                })?;
                self.not_staff(i)?;
                let before = self.viewers_of(i);
                let m = &mut self.members[i];
                if m.is_active() {
                    self.effects.push(Effect::MediaDown { key: m.key.clone() });
                }
                m.presence = match &m.presence {
                    Presence::Active { out } | Presence::Waiting { out } => {
                        let _ = out.send(Outbound::Message(ServerMessage::MovedToWaitingRoom));
                        Presence::Waiting { out: out.clone() }
                    }
                    Presence::Reconnecting { deadline, .. } => Presence::Reconnecting {
                        deadline: *deadline,
                        admitted: false,
                    },
                };
                m.hand_raised = false;
                let id = m.id.clone();
                self.announce(i, &before, LeftReason::WaitingRoom);
                self.clear_spotlight_of(&id);
            }
            HostAction::Remove(participant) => {
                let i = self.target(&participant, "remove_participant", |_| true)?;
                self.not_staff(i)?;
                self.members[i].close(ByeReason::Removed, None);
                self.drop_member(i, LeftReason::Removed);
            }
            HostAction::Lock(locked) => {
                self.locked = locked;
                self.broadcast_room_state();
            }
            HostAction::Spotlight(participant) => {
                self.spotlight = match participant {
                    None => None,
                    Some(p) => {
                        let i = self.target(&p, "spotlight", |m| m.presence.admitted())?;
                        Some(self.members[i].id.clone())
                    }
                };
                self.broadcast_room_state();
            }
            HostAction::End => self.end(),
        }
        Ok(())
    }

    fn not_locked(&self) -> Result<(), Refusal> {
        if self.locked {
            Err(refuse(
                ErrorCode::Forbidden,
                "the room is locked: unlock it to admit anyone",
            ))
        } else {
            Ok(())
        }
    }

    fn not_staff(&self, i: usize) -> Result<(), Refusal> {
        if self.members[i].is_staff() {
            Err(refuse(
                ErrorCode::Forbidden,
                "a host cannot do that to another clinician",
            ))
        } else {
            Ok(())
        }
    }

    /// The member a host action names, if it is in the right place for the action.
    fn target(
        &self,
        id: &str,
        action: &str,
        fits: impl Fn(&Member) -> bool,
    ) -> Result<usize, Refusal> {
        self.index_of_id(id)
            .filter(|&i| fits(&self.members[i]))
            .ok_or_else(|| {
                (
                    ErrorCode::UnknownParticipant,
                    format!("{action}: no such participant where that can be done"),
                )
            })
    }

    /// Lets one waiting participant in.
    fn admit(&mut self, key: &str) {
        let Some(i) = self.index(key) else { return };
        let before = self.viewers_of(i);
        let m = &mut self.members[i];
        let Presence::Waiting { out } = &m.presence else {
            return;
        };
        m.presence = Presence::Active { out: out.clone() };
        self.announce(i, &before, LeftReason::Left);
        let me = &self.members[i];
        let (locked, spotlight) = self.room_state();
        me.send(ServerMessage::Admitted {
            participants: self.roster_for(me),
            chat: self.chat.seen_through(&self.lens(me.role), &me.id),
            locked,
            spotlight,
        });
        self.media_up(i);
    }

    /// Ends the visit for everyone: each gets `bye` `ended`, the chat goes with the room.
    pub fn end(&mut self) {
        for m in &self.members {
            m.close(ByeReason::Ended, None);
        }
        self.members.clear();
        self.chat = ChatLog::default();
        self.ended = true;
        self.effects.push(Effect::Ended);
    }

    /// The server is stopping: everyone gets `bye` `server_shutdown`.
    pub fn shutdown(&mut self) {
        for m in self.members.drain(..) {
            m.close(ByeReason::ServerShutdown, None);
        }
    }
}

/// An opaque participant id: random, made anew for each person in each room.
fn new_participant_id() -> String {
    format!("p-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::UnboundedReceiver;

    const GRACE: Duration = Duration::from_secs(30);

    fn policy(kind: RoomKind) -> RoomPolicy {
        RoomPolicy {
            kind,
            max_participants: 6,
            reconnect_grace: GRACE,
            waiting_room: kind == RoomKind::Group,
            names: NamePolicy::default(),
            ice_servers: Vec::new(),
        }
    }

    struct Client {
        key: &'static str,
        session: u64,
        rx: UnboundedReceiver<Outbound>,
    }

    impl Client {
        fn drain(&mut self) -> Vec<Outbound> {
            let mut all = Vec::new();
            while let Ok(m) = self.rx.try_recv() {
                all.push(m);
            }
            all
        }

        fn messages(&mut self) -> Vec<ServerMessage> {
            self.drain()
                .into_iter()
                .filter_map(|o| match o {
                    Outbound::Message(m) => Some(m),
                    Outbound::Close { .. } => None,
                })
                .collect()
        }
    }

    struct Fixture {
        room: Members,
        t0: Instant,
        next_session: u64,
    }

    impl Fixture {
        fn new(kind: RoomKind) -> Self {
            Self {
                room: Members::new("room-1".into(), policy(kind)),
                t0: Instant::now(),
                next_session: 1,
            }
        }

        fn now(&self, secs: u64) -> Now {
            Now {
                at: self.t0 + Duration::from_secs(secs),
                unix_ms: 1_800_000_000_000 + secs * 1000,
            }
        }

        fn try_join(
            &mut self,
            key: &'static str,
            name: &str,
            role: Role,
        ) -> Result<Client, JoinError> {
            let (tx, rx) = mpsc::unbounded_channel();
            let session = self.next_session;
            self.next_session += 1;
            let request = JoinRequest {
                room: "room-1".into(),
                identity: key.into(),
                name: name.into(),
                role,
                kind: self.room.kind(),
                booking: None,
                issued_at: 0,
            };
            self.room.join(&request, session, tx)?;
            Ok(Client { key, session, rx })
        }

        fn join(&mut self, key: &'static str, name: &str, role: Role) -> Client {
            self.try_join(key, name, role).expect("join")
        }

        fn id_of(&self, key: &str) -> String {
            self.room.members[self.room.index(key).unwrap()]
                .id
                .to_string()
        }

        fn host(&mut self, host: &Client, action: HostAction) -> Result<(), Refusal> {
            self.room.host_action(host.key, action)
        }
    }

    fn joined(messages: &[ServerMessage]) -> (ParticipantInfo, Vec<ParticipantInfo>) {
        messages
            .iter()
            .find_map(|m| match m {
                ServerMessage::Joined {
                    participant,
                    participants,
                    ..
                } => Some((participant.clone(), participants.clone())),
                _ => None,
            })
            .expect("joined")
    }

    fn names_in(messages: &[ServerMessage]) -> String {
        messages
            .iter()
            .map(ServerMessage::to_json)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn in_a_group_patients_wait_and_staff_enter_and_see_the_waiting_room() {
        let mut f = Fixture::new(RoomKind::Group);
        let mut pat = f.join("pat", "Pat Persson", Role::Patient);
        let (me, others) = joined(&pat.messages());
        assert_eq!(me.state, ParticipantState::Waiting);
        assert_eq!(me.name, "Pat Persson", "one's own name in full");
        assert!(others.is_empty());
        assert!(
            f.room
                .take_effects()
                .iter()
                .all(|e| !matches!(e, Effect::MediaUp { .. })),
            "no media from the waiting room"
        );

        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let (me, others) = joined(&anna.messages());
        assert_eq!(me.state, ParticipantState::Active);
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].state, ParticipantState::Waiting);
        assert_eq!(others[0].name, "Pat Persson", "staff see full names");
        assert!(matches!(
            f.room.take_effects().as_slice(),
            [Effect::MediaUp { .. }]
        ));
        // The waiting patient hears nothing of the host.
        assert!(pat.messages().is_empty());

        // A second patient waits too, and the first does not learn of it.
        let mut ola = f.join("ola", "Ola Nordin", Role::Patient);
        ola.messages();
        assert!(pat.messages().is_empty());
        let seen = anna.messages();
        assert!(
            matches!(&seen[..], [ServerMessage::ParticipantJoined { participant }]
            if participant.state == ParticipantState::Waiting && participant.name == "Ola Nordin")
        );

        // Admitted: the patient gets the roster in initials, staff by the region's rule.
        let pat_id = f.id_of("pat");
        f.host(&anna, HostAction::Admit(vec![pat_id.clone()]))
            .unwrap();
        let got = pat.messages();
        let admitted = got.iter().find_map(|m| match m {
            ServerMessage::Admitted { participants, .. } => Some(participants.clone()),
            _ => None,
        });
        let roster = admitted.expect("admitted");
        assert_eq!(roster.len(), 1, "the other waiting patient is not shown");
        assert_eq!(roster[0].name, "A. B.");
        assert_eq!(roster[0].role, Role::Clinician);
        assert!(matches!(
            f.room.take_effects().as_slice(),
            [Effect::MediaUp { key, .. }] if &**key == "pat"
        ));
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::ParticipantUpdated { participant }]
            if participant.id == pat_id && participant.state == ParticipantState::Active)
        );
        assert!(ola.messages().is_empty(), "waiting patients hear of nobody");

        // Admitting the second: the first sees them join, by initials only.
        f.host(&anna, HostAction::AdmitAll).unwrap();
        let at_pat = pat.messages();
        assert!(
            matches!(&at_pat[..], [ServerMessage::ParticipantJoined { participant }]
            if participant.name == "O. N.")
        );
        assert!(!names_in(&at_pat).contains("Nordin"));
        assert!(!names_in(&ola.messages()).contains("Persson"));
    }

    #[test]
    fn participant_ids_are_opaque_and_kept_through_a_reconnect() {
        let mut f = Fixture::new(RoomKind::Visit);
        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let mut pat = f.join("pat-sub-123", "Pat Persson", Role::Patient);
        let id = f.id_of("pat-sub-123");
        assert!(id.starts_with("p-") && !id.contains("pat"), "{id}");
        let all = names_in(&anna.messages()) + &names_in(&pat.messages());
        assert!(
            !all.contains("pat-sub-123"),
            "the token's sub never goes out"
        );
        assert!(!all.contains("\"anna\""), "the token's sub never goes out");

        f.room.disconnected("pat-sub-123", pat.session, f.now(1));
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::ParticipantUpdated { participant }]
            if participant.state == ParticipantState::Reconnecting && participant.id == id)
        );
        let mut back = f.join("pat-sub-123", "Pat Persson", Role::Patient);
        let (me, _) = joined(&back.messages());
        assert_eq!(me.id, id);
        assert_eq!(me.state, ParticipantState::Active);
        // In a 1:1 visit the patient sees the clinician's name (the default region rule).
        pat.drain();
        let (_, others) = joined(&{
            let mut again = f.join("pat-sub-123", "Pat Persson", Role::Patient);
            again.messages()
        });
        assert_eq!(others[0].name, "Anna Berg");
        // A different room gives the same person another id.
        let mut other = Fixture::new(RoomKind::Visit);
        other.join("pat-sub-123", "Pat Persson", Role::Patient);
        assert_ne!(other.id_of("pat-sub-123"), id);
    }

    #[test]
    fn a_resumed_session_replaces_the_old_one_and_admission_survives_a_lost_connection() {
        let mut f = Fixture::new(RoomKind::Group);
        let anna = f.join("anna", "Anna Berg", Role::Clinician);
        let mut pat = f.join("pat", "Pat Persson", Role::Patient);
        f.host(&anna, HostAction::AdmitAll).unwrap();
        pat.drain();
        f.room.take_effects();
        // A second tab: the first gets `replaced`, the new one is still admitted.
        let mut tab = f.join("pat", "Pat Persson", Role::Patient);
        assert!(pat.drain().iter().any(|o| matches!(
            o,
            Outbound::Close {
                reason: ByeReason::Replaced,
                ..
            }
        )));
        assert_eq!(joined(&tab.messages()).0.state, ParticipantState::Active);
        let effects = f.room.take_effects();
        assert!(matches!(
            &effects[..],
            [Effect::MediaDown { .. }, Effect::MediaUp { .. }]
        ));
        // Lost and back within the grace period: still admitted.
        f.room.disconnected("pat", tab.session, f.now(5));
        f.room.on_timeout(f.now(34));
        assert_eq!(f.room.len(), 2);
        let mut back = f.join("pat", "Pat Persson", Role::Patient);
        assert_eq!(joined(&back.messages()).0.state, ParticipantState::Active);
    }

    #[test]
    fn the_reconnect_deadline_removes_who_did_not_come_back() {
        let mut f = Fixture::new(RoomKind::Visit);
        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let pat = f.join("pat", "Pat Persson", Role::Patient);
        let id = f.id_of("pat");
        f.room.disconnected("pat", pat.session, f.now(10));
        assert_eq!(f.room.next_deadline(), Some(f.now(40).at));
        anna.drain();
        f.room.on_timeout(f.now(39));
        assert_eq!(f.room.len(), 2);
        f.room.on_timeout(f.now(40));
        assert_eq!(f.room.len(), 1);
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::ParticipantLeft { participant_id, reason: LeftReason::Timeout }]
            if *participant_id == id)
        );
        assert_eq!(f.room.next_deadline(), None);
        // An old session's news changes nothing.
        f.room.leave("anna", 999);
        assert_eq!(f.room.len(), 1);
    }

    #[test]
    fn patients_and_guests_cannot_use_host_actions() {
        let mut f = Fixture::new(RoomKind::Group);
        let anna = f.join("anna", "Anna Berg", Role::Clinician);
        let pat = f.join("pat", "Pat Persson", Role::Patient);
        let guest = f.join("tolk", "Tolk Ali", Role::Guest);
        f.host(&anna, HostAction::AdmitAll).unwrap();
        f.room.take_effects();
        let anna_id = f.id_of("anna");
        for who in [&pat, &guest] {
            for action in [
                HostAction::AdmitAll,
                HostAction::End,
                HostAction::Lock(true),
                HostAction::Remove(anna_id.clone()),
                HostAction::Mute {
                    participant: anna_id.clone(),
                    kind: MediaKind::Audio,
                },
                HostAction::Spotlight(None),
            ] {
                let err = f.room.host_action(who.key, action).unwrap_err();
                assert_eq!(err.0, ErrorCode::Forbidden);
            }
        }
        assert_eq!(f.room.len(), 3);
        assert!(f.room.take_effects().is_empty());
        assert!(!f.room.locked && !f.room.ended);
    }

    #[test]
    fn host_actions_on_the_wrong_people_are_refused_and_change_nothing() {
        let mut f = Fixture::new(RoomKind::Group);
        let anna = f.join("anna", "Anna Berg", Role::Clinician);
        let _bo = f.join("bo", "Bo Ek", Role::Clinician);
        let _pat = f.join("pat", "Pat Persson", Role::Patient);
        let _ola = f.join("ola", "Ola Nordin", Role::Patient);
        let (pat, ola, bo) = (f.id_of("pat"), f.id_of("ola"), f.id_of("bo"));
        f.host(&anna, HostAction::Admit(vec![pat.clone()])).unwrap();
        f.room.take_effects();
        let code = |r: Result<(), Refusal>| r.unwrap_err().0;
        // All or none: one id not waiting refuses the whole admit.
        assert_eq!(
            code(f.host(&anna, HostAction::Admit(vec![ola.clone(), pat.clone()]))),
            ErrorCode::UnknownParticipant
        );
        assert_eq!(
            code(f.host(&anna, HostAction::Admit(vec!["p-nobody".into()]))),
            ErrorCode::UnknownParticipant
        );
        assert!(f.room.current("ola", 4).is_some_and(|m| !m.is_active()));
        // The token's sub is not an id others may use.
        assert_eq!(
            code(f.host(&anna, HostAction::Remove("pat".into()))),
            ErrorCode::UnknownParticipant
        );
        // Not against another clinician.
        assert_eq!(
            code(f.host(&anna, HostAction::Remove(bo.clone()))),
            ErrorCode::Forbidden
        );
        assert_eq!(
            code(f.host(&anna, HostAction::MoveToWaitingRoom(bo.clone()))),
            ErrorCode::Forbidden
        );
        assert_eq!(
            code(f.host(
                &anna,
                HostAction::Mute {
                    participant: bo,
                    kind: MediaKind::Audio
                }
            )),
            ErrorCode::Forbidden
        );
        // Deny is for the waiting room only; a spotlight only for someone in the visit.
        assert_eq!(
            code(f.host(
                &anna,
                HostAction::Deny {
                    participant: pat.clone(),
                    message: None
                }
            )),
            ErrorCode::UnknownParticipant
        );
        assert_eq!(
            code(f.host(&anna, HostAction::Spotlight(Some(ola.clone())))),
            ErrorCode::UnknownParticipant
        );
        assert_eq!(
            code(f.host(
                &anna,
                HostAction::Deny {
                    participant: ola.clone(),
                    message: Some("x".repeat(MAX_DENY_MESSAGE_CHARS + 1)),
                }
            )),
            ErrorCode::BadMessage
        );
        assert_eq!(f.room.len(), 4);
        assert!(f.room.take_effects().is_empty());
        assert_eq!(f.room.spotlight, None);
    }

    #[test]
    fn deny_remove_and_moving_back_tell_the_right_people() {
        let mut f = Fixture::new(RoomKind::Group);
        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let mut pat = f.join("pat", "Pat Persson", Role::Patient);
        let mut ola = f.join("ola", "Ola Nordin", Role::Patient);
        let mut eva = f.join("eva", "Eva Ek", Role::Patient);
        let (pat_id, ola_id, eva_id) = (f.id_of("pat"), f.id_of("ola"), f.id_of("eva"));
        f.host(
            &anna,
            HostAction::Admit(vec![pat_id.clone(), ola_id.clone()]),
        )
        .unwrap();
        for c in [&mut anna, &mut pat, &mut ola, &mut eva] {
            c.drain();
        }
        f.room.take_effects();

        f.host(
            &anna,
            HostAction::Deny {
                participant: eva_id.clone(),
                message: Some(" Please book a new time. ".into()),
            },
        )
        .unwrap();
        assert!(eva.drain().iter().any(|o| matches!(o, Outbound::Close {
            reason: ByeReason::Denied, message: Some(m) } if m == "Please book a new time.")));
        assert!(matches!(
            &anna.messages()[..],
            [ServerMessage::ParticipantLeft {
                reason: LeftReason::Denied,
                ..
            }]
        ));
        assert!(
            pat.messages().is_empty(),
            "patients never heard of the waiting patient"
        );

        f.host(&anna, HostAction::Spotlight(Some(ola_id.clone())))
            .unwrap();
        pat.drain();
        anna.drain();
        f.host(&anna, HostAction::MoveToWaitingRoom(ola_id.clone()))
            .unwrap();
        assert!(ola.messages().contains(&ServerMessage::MovedToWaitingRoom));
        assert!(
            matches!(f.room.take_effects().as_slice(), [Effect::MediaDown { key }] if &**key == "ola")
        );
        let at_pat = pat.messages();
        assert!(at_pat.contains(&ServerMessage::ParticipantLeft {
            participant_id: ola_id.clone(),
            reason: LeftReason::WaitingRoom
        }));
        assert!(
            at_pat.contains(&ServerMessage::RoomUpdated {
                locked: false,
                spotlight: None
            }),
            "the spotlight goes with them"
        );
        assert!(
            matches!(&anna.messages()[0], ServerMessage::ParticipantUpdated { participant }
            if participant.state == ParticipantState::Waiting)
        );
        // From the waiting room they may not chat, raise a hand, and get no media.
        assert_eq!(
            f.room.chat("ola", "hi", f.now(1)).unwrap_err().0,
            ErrorCode::NotAdmitted
        );
        assert_eq!(
            f.room.raise_hand("ola", true).unwrap_err().0,
            ErrorCode::NotAdmitted
        );

        f.host(&anna, HostAction::Remove(pat_id.clone())).unwrap();
        assert!(pat.drain().iter().any(|o| matches!(
            o,
            Outbound::Close {
                reason: ByeReason::Removed,
                ..
            }
        )));
        assert!(anna.messages().contains(&ServerMessage::ParticipantLeft {
            participant_id: pat_id,
            reason: LeftReason::Removed
        }));
        assert_eq!(f.room.len(), 2);
    }

    #[test]
    fn a_host_mutes_but_only_the_participant_unmutes() {
        let mut f = Fixture::new(RoomKind::Group);
        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let mut pat = f.join("pat", "Pat Persson", Role::Patient);
        let pat_id = f.id_of("pat");
        f.host(&anna, HostAction::AdmitAll).unwrap();
        anna.drain();
        pat.drain();
        f.room.take_effects();
        f.host(
            &anna,
            HostAction::Mute {
                participant: pat_id.clone(),
                kind: MediaKind::Audio,
            },
        )
        .unwrap();
        assert!(pat.messages().contains(&ServerMessage::HostMuted {
            kind: MediaKind::Audio
        }));
        assert!(matches!(
            f.room.take_effects().as_slice(),
            [Effect::Block {
                kind: MediaKind::Audio,
                blocked: true,
                ..
            }]
        ));
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::ParticipantUpdated { participant }]
            if participant.audio_muted)
        );
        // There is no host action that turns a microphone on; the patient does it.
        f.room.mute("pat", MediaKind::Audio, false);
        assert!(matches!(
            f.room.take_effects().as_slice(),
            [Effect::Block {
                kind: MediaKind::Audio,
                blocked: false,
                ..
            }]
        ));
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::ParticipantUpdated { participant }]
            if !participant.audio_muted)
        );
    }

    #[test]
    fn hands_go_up_and_a_host_lowers_them() {
        let mut f = Fixture::new(RoomKind::Group);
        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let mut pat = f.join("pat", "Pat Persson", Role::Patient);
        f.host(&anna, HostAction::AdmitAll).unwrap();
        anna.drain();
        pat.drain();
        f.room.raise_hand("pat", true).unwrap();
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::ParticipantUpdated { participant }]
            if participant.hand_raised)
        );
        f.host(&anna, HostAction::LowerHand(f.id_of("pat")))
            .unwrap();
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::ParticipantUpdated { participant }]
            if !participant.hand_raised)
        );
        // The patient hears of its own hand too, lowered by the host included.
        let own = pat.messages();
        assert!(
            matches!(&own[..], [
                ServerMessage::ParticipantUpdated { participant: up },
                ServerMessage::ParticipantUpdated { participant: down },
            ] if up.hand_raised && !down.hand_raised && up.name == "Pat Persson"),
            "{own:?}"
        );
    }

    #[test]
    fn a_locked_room_lets_nobody_new_in_but_its_own_people_back() {
        let mut f = Fixture::new(RoomKind::Group);
        let anna = f.join("anna", "Anna Berg", Role::Clinician);
        let pat = f.join("pat", "Pat Persson", Role::Patient);
        let _ola = f.join("ola", "Ola Nordin", Role::Patient);
        f.host(&anna, HostAction::Admit(vec![f.id_of("pat")]))
            .unwrap();
        f.host(&anna, HostAction::Lock(true)).unwrap();
        assert!(matches!(
            f.try_join("eva", "Eva Ek", Role::Patient),
            Err(JoinError::Locked)
        ));
        assert!(matches!(
            f.try_join("tolk", "Tolk", Role::Guest),
            Err(JoinError::Locked)
        ));
        // Staff still enter; those in the room come back; nobody is admitted while locked.
        f.join("bo", "Bo Ek", Role::Clinician);
        f.room.disconnected("pat", pat.session, f.now(1));
        let mut back = f.join("pat", "Pat Persson", Role::Patient);
        assert_eq!(joined(&back.messages()).0.state, ParticipantState::Active);
        assert_eq!(
            f.host(&anna, HostAction::AdmitAll).unwrap_err().0,
            ErrorCode::Forbidden
        );
        f.host(&anna, HostAction::Lock(false)).unwrap();
        f.host(&anna, HostAction::AdmitAll).unwrap();
        assert!(f.room.is_active("ola", 3));
    }

    #[test]
    fn the_room_is_full_at_its_maximum_waiting_room_included() {
        let mut f = Fixture::new(RoomKind::Group);
        let keys = ["a", "b", "c", "d", "e", "f"];
        for k in keys {
            f.join(k, "Some One", Role::Patient);
        }
        assert!(matches!(
            f.try_join("g", "Late", Role::Patient),
            Err(JoinError::RoomFull)
        ));
        // The same person again is not a new one.
        assert!(f.try_join("a", "Some One", Role::Patient).is_ok());
    }

    #[test]
    fn a_token_of_the_other_kind_is_refused() {
        let mut f = Fixture::new(RoomKind::Visit);
        let (tx, _rx) = mpsc::unbounded_channel();
        let request = JoinRequest {
            room: "room-1".into(),
            identity: "x".into(),
            name: "X".into(),
            role: Role::Patient,
            kind: RoomKind::Group,
            booking: None,
            issued_at: 0,
        };
        assert!(matches!(
            f.room.join(&request, 1, tx),
            Err(JoinError::WrongKind)
        ));
        assert!(f.room.is_empty());
    }

    #[test]
    fn chat_reaches_everyone_admitted_late_joiners_get_it_and_ending_drops_it() {
        let mut f = Fixture::new(RoomKind::Group);
        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let mut pat = f.join("pat", "Pat Persson", Role::Patient);
        let mut ola = f.join("ola", "Ola Nordin", Role::Patient);
        f.host(&anna, HostAction::Admit(vec![f.id_of("pat")]))
            .unwrap();
        for c in [&mut anna, &mut pat, &mut ola] {
            c.drain();
        }
        f.room.chat("pat", "  Hello group  ", f.now(3)).unwrap();
        let at_anna = anna.messages();
        let at_pat = pat.messages();
        assert!(matches!(&at_anna[..], [ServerMessage::Chat { message }]
            if message.name == "Pat Persson" && message.text == "Hello group"
                && message.at == 1_800_000_003_000));
        assert!(
            matches!(&at_pat[..], [ServerMessage::Chat { message }] if message.name == "Pat Persson"),
            "the sender sees its own name in full"
        );
        assert!(
            ola.messages().is_empty(),
            "the waiting room does not hear the chat"
        );
        // The late joiner gets the history, the sender by initials.
        f.host(&anna, HostAction::AdmitAll).unwrap();
        let history = ola.messages().into_iter().find_map(|m| match m {
            ServerMessage::Admitted { chat, .. } => Some(chat),
            _ => None,
        });
        let history = history.expect("admitted");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].name, "P. P.");
        // Floods and oversize are refused and go nowhere.
        for _ in 0..4 {
            f.room.chat("pat", "again", f.now(3)).unwrap();
        }
        assert_eq!(
            f.room.chat("pat", "flood", f.now(3)).unwrap_err().0,
            ErrorCode::RateLimited
        );
        assert_eq!(
            f.room
                .chat("ola", &"x".repeat(2001), f.now(3))
                .unwrap_err()
                .0,
            ErrorCode::ChatTooLong
        );
        assert_eq!(f.room.chat_len(), 5);
        // Ending: everyone gets `ended`, the chat is gone with the room.
        f.host(&anna, HostAction::End).unwrap();
        for c in [&mut anna, &mut pat, &mut ola] {
            assert!(c.drain().iter().any(|o| matches!(
                o,
                Outbound::Close {
                    reason: ByeReason::Ended,
                    ..
                }
            )));
        }
        assert_eq!(f.room.chat_len(), 0);
        assert!(f.room.is_empty());
        assert!(f.room.remember_end());
        assert!(matches!(f.room.take_effects().last(), Some(Effect::Ended)));
    }

    #[test]
    fn only_who_is_in_the_visit_has_an_admission_and_files_reach_the_chat() {
        let mut f = Fixture::new(RoomKind::Group);
        let mut anna = f.join("anna", "Anna Berg", Role::Clinician);
        let mut pat = f.join("pat", "Pat Persson", Role::Patient);
        f.room.members[1].booking = Some("b-1".into());
        assert!(
            f.room.admission("pat").is_none(),
            "not from the waiting room"
        );
        assert!(f.room.admission("nobody").is_none());
        f.host(&anna, HostAction::AdmitAll).unwrap();
        let a = f.room.admission("pat").expect("admitted");
        assert_eq!((a.booking.as_deref(), a.role), (Some("b-1"), Role::Patient));
        assert_eq!(a.participant_id, f.id_of("pat"));
        anna.drain();
        pat.drain();
        let file = ChatFile {
            id: "f-1".into(),
            name: "rash.jpg".into(),
            content_type: "image/jpeg".into(),
            size: 1234,
        };
        f.room.post_file("pat", file.clone(), f.now(1)).unwrap();
        assert!(
            matches!(&anna.messages()[..], [ServerMessage::Chat { message }]
            if message.file.as_ref() == Some(&file) && message.text.is_empty()
                && message.name == "Pat Persson")
        );
        f.room.disconnected("pat", pat.session, f.now(2));
        assert!(f.room.admission("pat").is_none(), "not while away");
        assert_eq!(
            f.room.post_file("pat", file, f.now(3)).unwrap_err().0,
            ErrorCode::NotAdmitted
        );
    }

    #[test]
    fn a_room_no_clinician_entered_is_not_remembered_as_ended() {
        let mut f = Fixture::new(RoomKind::Group);
        let pat = f.join("pat", "Pat Persson", Role::Patient);
        f.room.leave("pat", pat.session);
        assert!(f.room.is_empty());
        assert!(!f.room.remember_end());
        let mut g = Fixture::new(RoomKind::Visit);
        let anna = g.join("anna", "Anna Berg", Role::Clinician);
        g.room.leave("anna", anna.session);
        assert!(g.room.remember_end());
    }
}
