//! The in-call chat: messages kept in the room's memory while the visit lasts, for everyone
//! admitted and for late joiners, and dropped with the room. Nothing here is written to disk, a
//! database or a log (the text never appears in a tracing call anywhere in the crate).

use std::collections::VecDeque;
use std::time::Instant;

use vardrum_signalling::{ChatFile, ChatMessage, ErrorCode, Role};

use super::lens::Lens;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Messages kept for late joiners; older ones are dropped.
pub const CHAT_HISTORY: usize = 500;
/// A participant may send this many messages at once...
const CHAT_BURST: f64 = 5.0;
/// ...and this many per second on average.
const CHAT_PER_SEC: f64 = 1.0;

/// One message with its sender as the room knows them; rendered per viewer on the way out.
#[derive(Debug, Clone)]
pub(crate) struct ChatEntry {
    pub id: u64,
    pub from: String,
    pub role: Role,
    /// The sender's full name: only a [`Lens`] turns it into what a viewer sees.
    full_name: String,
    pub text: String,
    pub at_ms: u64,
    pub file: Option<ChatFile>,
}

impl ChatEntry {
    /// The message as the viewer with participant id `viewer` sees it (its own name in full).
    pub fn seen_through(&self, lens: &Lens, viewer: &str) -> ChatMessage {
        ChatMessage {
            id: self.id,
            from: self.from.clone(),
            name: if self.from == viewer {
                self.full_name.clone()
            } else {
                lens.name(self.role, &self.full_name)
            },
            role: self.role,
            text: self.text.clone(),
            at: self.at_ms,
            file: self.file.clone(),
        }
    }
}

/// The room's chat.
#[derive(Debug, Default)]
pub(crate) struct ChatLog {
    entries: VecDeque<ChatEntry>,
    next_id: u64,
}

impl ChatLog {
    /// The message as it will be kept (trimmed), or why it cannot be sent.
    pub fn check(text: &str) -> Result<&str, (ErrorCode, &'static str)> {
        let text = text.trim();
        if text.is_empty() {
            return Err((ErrorCode::BadMessage, "a chat message cannot be empty"));
        }
        if text.chars().count() > MAX_CHAT_CHARS {
            return Err((
                ErrorCode::ChatTooLong,
                "a chat message has at most 2000 characters",
            ));
        }
        Ok(text)
    }

    /// Checks and keeps a message; the caller sends it to everyone admitted.
    pub fn post(
        &mut self,
        from: &str,
        role: Role,
        full_name: &str,
        text: &str,
        at_ms: u64,
    ) -> Result<&ChatEntry, (ErrorCode, &'static str)> {
        let text = Self::check(text)?;
        Ok(self.keep(from, role, full_name, text.to_owned(), None, at_ms))
    }

    /// Keeps a file message (its text is empty).
    pub fn post_file(
        &mut self,
        from: &str,
        role: Role,
        full_name: &str,
        file: ChatFile,
        at_ms: u64,
    ) -> &ChatEntry {
        self.keep(from, role, full_name, String::new(), Some(file), at_ms)
    }

    fn keep(
        &mut self,
        from: &str,
        role: Role,
        full_name: &str,
        text: String,
        file: Option<ChatFile>,
        at_ms: u64,
    ) -> &ChatEntry {
        self.next_id += 1;
        if self.entries.len() == CHAT_HISTORY {
            self.entries.pop_front();
        }
        self.entries.push_back(ChatEntry {
            id: self.next_id,
            from: from.to_owned(),
            role,
            full_name: full_name.to_owned(),
            text,
            at_ms,
            file,
        });
        self.entries.back().expect("just pushed")
    }

    /// The history as one viewer sees it, oldest first.
    pub fn seen_through(&self, lens: &Lens, viewer: &str) -> Vec<ChatMessage> {
        self.entries
            .iter()
            .map(|e| e.seen_through(lens, viewer))
            .collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A token bucket for one participant's chat messages.
#[derive(Debug, Clone)]
pub(crate) struct ChatLimit {
    tokens: f64,
    last: Option<Instant>,
}

impl Default for ChatLimit {
    fn default() -> Self {
        Self {
            tokens: CHAT_BURST,
            last: None,
        }
    }
}

impl ChatLimit {
    /// Whether one more message may go now.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * CHAT_PER_SEC;
            self.tokens = (self.tokens + refill).min(CHAT_BURST);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::lens::NamePolicy;
    use std::time::Duration;
    use vardrum_signalling::RoomKind;

    #[test]
    fn messages_are_trimmed_bounded_and_numbered() {
        let mut log = ChatLog::default();
        assert_eq!(
            log.post("p-1", Role::Patient, "Pat P", "   ", 1)
                .unwrap_err()
                .0,
            ErrorCode::BadMessage
        );
        let long = "x".repeat(MAX_CHAT_CHARS + 1);
        assert_eq!(
            log.post("p-1", Role::Patient, "Pat P", &long, 1)
                .unwrap_err()
                .0,
            ErrorCode::ChatTooLong
        );
        // Characters, not bytes: 2000 å are fine.
        let ok = "å".repeat(MAX_CHAT_CHARS);
        assert_eq!(
            log.post("p-1", Role::Patient, "Pat P", &ok, 1).unwrap().id,
            1
        );
        assert_eq!(
            log.post("p-1", Role::Patient, "Pat P", " hi ", 2)
                .unwrap()
                .text,
            "hi"
        );
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn history_keeps_the_newest_and_renders_senders_per_viewer() {
        let mut log = ChatLog::default();
        for i in 0..CHAT_HISTORY + 3 {
            log.post(
                "p-1",
                Role::Patient,
                "Pat Persson",
                &format!("m{i}"),
                i as u64,
            )
            .unwrap();
        }
        let patient = Lens::new(Role::Patient, RoomKind::Group, NamePolicy::default());
        let staff = Lens::new(Role::Clinician, RoomKind::Group, NamePolicy::default());
        let seen = log.seen_through(&patient, "p-2");
        assert_eq!(seen.len(), CHAT_HISTORY);
        assert_eq!(seen[0].text, "m3");
        assert_eq!(seen[0].name, "P. P.");
        assert_eq!(log.seen_through(&staff, "p-3")[0].name, "Pat Persson");
        assert_eq!(log.seen_through(&patient, "p-1")[0].name, "Pat Persson");
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_one_a_second() {
        let t0 = Instant::now();
        let mut limit = ChatLimit::default();
        for _ in 0..5 {
            assert!(limit.allow(t0));
        }
        assert!(!limit.allow(t0));
        assert!(!limit.allow(t0 + Duration::from_millis(500)));
        assert!(limit.allow(t0 + Duration::from_millis(1000)));
        assert!(!limit.allow(t0 + Duration::from_millis(1100)));
        assert!(limit.allow(t0 + Duration::from_secs(4)));
    }
}
