//! The group-visit scenario's rooms: what the simulated participants of one visit share, and the
//! room's conductor, which decides who speaks and who chats when.
//!
//! ```text
//!   conductor ──every --speaker-every s (±10 %)──▶ one Voice loud, the others silent (RFC 6464
//!      │                                   levels in every audio packet) and a Switch opened:
//!      │                                   who must hear of it (everyone admitted), since when
//!      └──every 60/--chat-rate s──▶ a ChatOrder to the next admitted participant
//!
//!   participant ── joined / admitted / left ──▶ VisitRoom (its seat: participant id, admission)
//!               ── `speaker {participant}` ───▶ VisitRoom::heard_speaker: delay since the switch
//! ```
//!
//! The **speaker-switch delay** runs from the moment the conductor makes the new speaker loud to
//! a subscriber's receipt of the `speaker` message naming it. Who must hear of a switch is fixed
//! when it starts: the participants admitted by then and still in the room when it closes (at
//! the next switch, or at the end after [`SETTLE`]). One who never heard of it during the whole
//! turn counts as **missed**, with the turn's length as its delay (it was at least that), so a
//! server that drops announcements shows in the p95, not only in a count.
//!
//! **Chat** deliveries are counted against the participants admitted when the message left: the
//! sender takes the time and counts the audience under the room's lock, and a receiver counts a
//! message only if it was admitted before it was sent (its admission time is taken under the
//! same lock), so the two counts agree whatever the interleaving. Late joiners get earlier
//! messages in `admitted.chat`; those are history, not deliveries.
//!
//! Participant ids are opaque per room (`p-...`): each participant registers its own from
//! `joined`, and subscribers map a `speaker` message's id, or a track's stream id, back to the
//! run's participant index through [`VisitRoom::index_of`].
//!
//! Against Janus (no waiting room, no speaker messages, no chat in VideoRoom) the same rooms
//! drive the audio levels and tell subscribers whom to show large ([`VisitRoom::watch_speaker`]),
//! so the media load is the same; nothing is expected to be heard and no chat is ordered.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::collector::Collector;
use crate::media::now_us;
use crate::scenario::VisitSettings;

/// The speaker's audio level: −20 dBov, a voice.
pub const LOUD: u8 = 20;
/// Everyone else's: 127, digital silence.
pub const SILENT: u8 = 127;
/// After the rotation stops, how long the room stays together so that the last switch and the
/// last chat messages can arrive before anyone leaves.
pub const SETTLE: Duration = Duration::from_secs(2);
/// How soon the conductor looks again when nobody can speak yet (nobody admitted with audio).
const NOBODY_YET: Duration = Duration::from_millis(200);
/// Turns vary by up to this fraction either way, so that they do not fall in step with the
/// server's decision ticks (every 300 ms): a fixed 3 s turn would meet every tick at the same
/// phase and measure one delay over and over instead of their spread.
const TURN_SPREAD: f64 = 0.1;
/// The marker that starts every load-test chat message: `lt-chat <seq> <sent µs>`.
const CHAT_MARK: &str = "lt-chat";

/// The audio level one participant's packets carry, and whether its audio reaches the server.
#[derive(Debug)]
pub struct Voice {
    level: AtomicU8,
    flowing: AtomicBool,
}

impl Default for Voice {
    fn default() -> Self {
        Self {
            level: AtomicU8::new(SILENT),
            flowing: AtomicBool::new(false),
        }
    }
}

impl Voice {
    /// The RFC 6464 level for the next packet: 0 loudest, 127 silence.
    pub fn level(&self) -> u8 {
        self.level.load(Relaxed)
    }

    /// An audio packet went out: this participant can be heard.
    pub fn flowing(&self) {
        if !self.flowing.load(Relaxed) {
            self.flowing.store(true, Relaxed);
        }
    }

    fn set(&self, level: u8) {
        self.level.store(level, Relaxed);
    }

    fn reset(&self) {
        self.level.store(SILENT, Relaxed);
        self.flowing.store(false, Relaxed);
    }
}

/// Tells a participant to send one chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatOrder {
    pub seq: u64,
}

/// One participant's place in the room.
#[derive(Default)]
struct Seat {
    /// Its participant id in this room, from its own `joined`.
    id: Option<String>,
    /// When it was admitted (µs since the epoch); `None` while waiting or away.
    admitted_us: Option<u64>,
    chat: Option<mpsc::UnboundedSender<ChatOrder>>,
}

/// A speaker change and who has yet to hear of it.
struct Switch {
    speaker_id: String,
    at_us: u64,
    /// Seats admitted when it started that have not received the `speaker` message yet.
    waiting: Vec<usize>,
}

struct State {
    seats: Vec<Seat>,
    /// The seat speaking now (loud).
    speaker: Option<usize>,
    switch: Option<Switch>,
    next_chatter: usize,
    chat_seq: u64,
}

/// One group visit of the run.
pub struct VisitRoom {
    index: usize,
    /// The run index of the room's first participant (the host): seat = index − first.
    first: u32,
    settings: VisitSettings,
    /// vardrum: the server announces speakers and carries chat, so both are measured.
    announces: bool,
    collector: Arc<Collector>,
    voices: Vec<Arc<Voice>>,
    state: Mutex<State>,
    speaker: watch::Sender<Option<u32>>,
}

impl std::fmt::Debug for VisitRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitRoom")
            .field("index", &self.index)
            .field("seats", &self.voices.len())
            .finish_non_exhaustive()
    }
}

impl VisitRoom {
    /// Room `index` of `size` participants whose run indexes start at `first`. `announces`:
    /// the server sends `speaker` messages and carries chat (vardrum; not Janus).
    pub fn new(
        index: usize,
        first: u32,
        size: usize,
        settings: VisitSettings,
        announces: bool,
        collector: Arc<Collector>,
    ) -> Self {
        Self {
            index,
            first,
            settings,
            announces,
            collector,
            voices: (0..size).map(|_| Arc::new(Voice::default())).collect(),
            state: Mutex::new(State {
                seats: (0..size).map(|_| Seat::default()).collect(),
                speaker: None,
                switch: None,
                next_chatter: 0,
                chat_seq: 0,
            }),
            speaker: watch::channel(None).0,
        }
    }

    fn seat(&self, index: u32) -> Option<usize> {
        let seat = index.checked_sub(self.first)? as usize;
        (seat < self.voices.len()).then_some(seat)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The voice of participant `index` (its audio sender reads the level from it).
    pub fn voice(&self, index: u32) -> Option<Arc<Voice>> {
        self.seat(index).map(|s| self.voices[s].clone())
    }

    /// Participant `index` joined with this participant id (a new session: anything of an
    /// earlier one is forgotten).
    pub fn joined(&self, index: u32, id: &str) {
        let Some(seat) = self.seat(index) else { return };
        let mut st = self.lock();
        st.seats[seat] = Seat {
            id: Some(id.to_owned()),
            ..Seat::default()
        };
    }

    /// Participant `index` is in the visit now (admitted, or a host entering). Returns the
    /// admission time, µs since the epoch, taken under the lock chat audiences are counted with.
    pub fn admitted(&self, index: u32, chat: Option<mpsc::UnboundedSender<ChatOrder>>) -> u64 {
        let now = now_us();
        let Some(seat) = self.seat(index) else {
            return now;
        };
        let mut st = self.lock();
        st.seats[seat].admitted_us = Some(now);
        st.seats[seat].chat = chat;
        now
    }

    /// Participant `index` left (or was dropped): it is no longer expected to hear anything.
    pub fn left(&self, index: u32) {
        let Some(seat) = self.seat(index) else { return };
        let mut st = self.lock();
        st.seats[seat] = Seat::default();
        self.voices[seat].reset();
        if st.speaker == Some(seat) {
            // Its voice is gone: nobody is told of the turn it had, and nobody is blamed.
            st.speaker = None;
            st.switch = None;
            self.speaker.send_replace(None);
        } else if let Some(switch) = &mut st.switch {
            switch.waiting.retain(|s| *s != seat);
        }
    }

    /// The run index of the participant with this participant id, if it is in this room.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        let st = self.lock();
        st.seats
            .iter()
            .position(|s| s.id.as_deref() == Some(id))
            .map(|seat| self.first + seat as u32)
    }

    /// Receiver `index` got `speaker` naming `id` at `now_us`: if that is the switch it was
    /// waiting to hear of, the delay is recorded.
    pub fn heard_speaker(&self, index: u32, id: &str, now_us: u64) {
        self.collector.visit.speaker_message();
        let Some(seat) = self.seat(index) else { return };
        let mut st = self.lock();
        let Some(switch) = &mut st.switch else { return };
        if switch.speaker_id != id {
            return;
        }
        if let Some(pos) = switch.waiting.iter().position(|s| *s == seat) {
            switch.waiting.swap_remove(pos);
            let delay = now_us.saturating_sub(switch.at_us);
            self.collector.visit.speaker_heard(delay);
        }
    }

    /// Whom to show large (run index), as the conductor decides: for drivers whose server does
    /// not announce speakers (Janus).
    pub fn watch_speaker(&self) -> watch::Receiver<Option<u32>> {
        self.speaker.subscribe()
    }

    /// The time of a chat message about to be sent and how many should receive it: everyone
    /// admitted by then (the sender included: the server echoes it).
    pub fn chat_audience(&self) -> (u64, u64) {
        let st = self.lock();
        let now = now_us();
        let n = st
            .seats
            .iter()
            .filter(|s| s.admitted_us.is_some_and(|a| a <= now))
            .count();
        (now, n as u64)
    }

    /// Runs the room's rotation and chat until `stop` says how long to let things settle. The
    /// first turn and the first message come as soon as someone can take them (the host, who
    /// enters first), the next ones at the set pace.
    pub async fn conduct(self: Arc<Self>, stop: oneshot::Receiver<Duration>) {
        let start = tokio::time::Instant::now();
        let turn = Duration::from_secs_f64(self.settings.speaker_every_secs);
        let chat_every = (self.announces && self.settings.chat_per_min > 0.0)
            .then(|| Duration::from_secs_f64(60.0 / self.settings.chat_per_min));
        let mut next_switch = start;
        let mut next_chat = chat_every.map(|_| start);
        tokio::pin!(stop);
        let settle = loop {
            tokio::select! {
                settle = &mut stop => break settle.unwrap_or_default(),
                _ = tokio::time::sleep_until(next_switch) => {
                    let spoke = self.switch();
                    let wait = if spoke {
                        turn.mul_f64(1.0 + rand::random_range(-TURN_SPREAD..TURN_SPREAD))
                    } else {
                        NOBODY_YET
                    };
                    next_switch = tokio::time::Instant::now() + wait;
                }
                _ = crate::run::sleep_until_opt(next_chat) => {
                    let sent = self.order_chat();
                    let wait = if sent { chat_every } else { Some(NOBODY_YET) };
                    next_chat = wait.map(|d| tokio::time::Instant::now() + d);
                }
            }
        };
        tokio::time::sleep(settle).await;
        let mut st = self.lock();
        self.close_switch(&mut st, now_us());
    }

    /// Gives the turn to the next participant who can be heard. `false` when nobody can speak
    /// yet; `true` when someone speaks (the same one again if nobody else can).
    fn switch(&self) -> bool {
        let mut st = self.lock();
        let n = st.seats.len();
        let after = st.speaker.map_or(0, |s| s + 1);
        let can_speak = |s: usize| {
            let seat = &st.seats[s];
            seat.admitted_us.is_some() && seat.id.is_some() && self.voices[s].flowing.load(Relaxed)
        };
        let next = (0..n).map(|i| (after + i) % n).find(|&s| can_speak(s));
        let Some(next) = next else {
            return st.speaker.is_some();
        };
        if st.speaker == Some(next) {
            return true;
        }
        let now = now_us();
        self.close_switch(&mut st, now);
        if let Some(old) = st.speaker {
            self.voices[old].set(SILENT);
        }
        self.voices[next].set(LOUD);
        st.speaker = Some(next);
        let waiting: Vec<usize> = if self.announces {
            (0..n)
                .filter(|&s| st.seats[s].admitted_us.is_some_and(|a| a <= now))
                .collect()
        } else {
            Vec::new()
        };
        self.collector.visit.speaker_switch(waiting.len() as u64);
        st.switch = Some(Switch {
            speaker_id: st.seats[next].id.clone().unwrap_or_default(),
            at_us: now,
            waiting,
        });
        self.speaker.send_replace(Some(self.first + next as u32));
        true
    }

    /// Ends the current switch: whoever has not heard of it missed it.
    fn close_switch(&self, st: &mut State, now: u64) {
        if let Some(switch) = st.switch.take() {
            let turn = now.saturating_sub(switch.at_us);
            for _ in &switch.waiting {
                self.collector.visit.speaker_missed(turn);
            }
        }
    }

    /// Tells the next admitted participant (in turn) to send a chat message; `false` when
    /// nobody is in yet.
    fn order_chat(&self) -> bool {
        let mut st = self.lock();
        let n = st.seats.len();
        let from = st.next_chatter;
        let Some(seat) = (0..n)
            .map(|i| (from + i) % n)
            .find(|&s| st.seats[s].admitted_us.is_some() && st.seats[s].chat.is_some())
        else {
            return false;
        };
        st.next_chatter = (seat + 1) % n;
        st.chat_seq += 1;
        let order = ChatOrder { seq: st.chat_seq };
        if let Some(chat) = &st.seats[seat].chat {
            let _ = chat.send(order);
        }
        true
    }
}

/// The text of load-test chat message `seq` sent at `sent_us`.
pub fn chat_text(seq: u64, sent_us: u64) -> String {
    format!("{CHAT_MARK} {seq} {sent_us} (a message from the load tester)")
}

/// When a load-test chat message was sent (µs since the epoch); `None` for any other text.
pub fn chat_sent_us(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    if words.next()? != CHAT_MARK {
        return None;
    }
    words.next()?.parse::<u64>().ok()?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(size: usize, announces: bool) -> (Arc<VisitRoom>, Arc<Collector>) {
        let collector = Arc::new(Collector::default());
        let settings = VisitSettings {
            admit_interval_secs: 0.0,
            speaker_every_secs: 5.0,
            chat_per_min: 6.0,
        };
        let room = VisitRoom::new(0, 10, size, settings, announces, collector.clone());
        (Arc::new(room), collector)
    }

    /// Seats of run indexes `indexes` joined (ids p-<index>), admitted, their audio flowing.
    fn admit(room: &VisitRoom, indexes: &[u32]) {
        for &i in indexes {
            room.joined(i, &format!("p-{i}"));
            room.admitted(i, None);
            room.voice(i).unwrap().flowing();
        }
    }

    #[test]
    fn the_turn_goes_round_those_who_can_be_heard_one_loud_voice_at_a_time() {
        let (room, collector) = room(3, true);
        // Nobody admitted: nobody speaks.
        assert!(!room.switch());
        room.joined(10, "p-10");
        room.admitted(10, None);
        // Admitted but no audio out yet: still nobody.
        assert!(!room.switch());
        room.voice(10).unwrap().flowing();
        admit(&room, &[12]);
        let speaker = room.watch_speaker();
        assert!(room.switch());
        assert_eq!(*speaker.borrow(), Some(10));
        let levels = || {
            (10..13)
                .map(|i| room.voice(i).unwrap().level())
                .collect::<Vec<_>>()
        };
        assert_eq!(levels(), vec![LOUD, SILENT, SILENT]);
        // Seat 11 never joined: the turn skips it.
        assert!(room.switch());
        assert_eq!(*speaker.borrow(), Some(12));
        assert_eq!(levels(), vec![SILENT, SILENT, LOUD]);
        assert!(room.switch());
        assert_eq!(levels(), vec![LOUD, SILENT, SILENT]);
        // Both switches were waited for by both admitted participants.
        assert_eq!(collector.visit.snapshot().speaker_switches, 3);
        assert_eq!(collector.visit.snapshot().speaker_expected, 6);
        assert_eq!(room.index_of("p-12"), Some(12));
        assert_eq!(room.index_of("p-11"), None);
    }

    #[test]
    fn a_switch_is_heard_once_per_subscriber_and_the_unheard_are_missed_at_its_end() {
        let (room, collector) = room(3, true);
        admit(&room, &[10, 11, 12]);
        assert!(room.switch());
        let at = room.lock().switch.as_ref().unwrap().at_us;
        room.heard_speaker(11, "p-10", at + 300_000);
        // Twice, or naming someone else: nothing more.
        room.heard_speaker(11, "p-10", at + 900_000);
        room.heard_speaker(12, "p-11", at + 400_000);
        // 12 leaves: it is not expected any more. 10 never hears of its own turn: missed.
        room.left(12);
        let mut st = room.lock();
        room.close_switch(&mut st, at + 5_000_000);
        drop(st);
        let v = collector.visit.snapshot();
        assert_eq!(
            (v.speaker_expected, v.speaker_heard, v.speaker_missed),
            (3, 1, 1)
        );
        let delays = collector.visit.speaker_delay();
        assert_eq!(delays.len(), 2);
        // (3 significant digits.)
        assert!(delays.min().abs_diff(300_000) < 1_000, "{}", delays.min());
        // A missed one counts with the whole turn.
        assert!(
            delays.max().abs_diff(5_000_000) < 10_000,
            "{}",
            delays.max()
        );
        assert_eq!(v.speaker_messages, 3);
    }

    #[test]
    fn when_the_speaker_leaves_its_turn_is_not_judged() {
        let (room, collector) = room(2, true);
        admit(&room, &[10, 11]);
        assert!(room.switch());
        room.left(10);
        assert_eq!(*room.watch_speaker().borrow(), None);
        let mut st = room.lock();
        room.close_switch(&mut st, now_us());
        drop(st);
        assert_eq!(collector.visit.snapshot().speaker_missed, 0);
        // The next turn goes to who is left.
        assert!(room.switch());
        assert_eq!(*room.watch_speaker().borrow(), Some(11));
    }

    #[test]
    fn janus_rooms_rotate_without_expecting_announcements() {
        let (room, collector) = room(2, false);
        admit(&room, &[10, 11]);
        assert!(room.switch());
        let v = collector.visit.snapshot();
        assert_eq!((v.speaker_switches, v.speaker_expected), (1, 0));
    }

    #[test]
    fn chat_goes_round_the_admitted_and_the_audience_is_who_was_in_when_it_left() {
        let (room, _) = room(3, true);
        // Nobody in yet: no message.
        assert!(!room.order_chat());
        let (tx10, mut rx10) = mpsc::unbounded_channel();
        let (tx12, mut rx12) = mpsc::unbounded_channel();
        room.joined(10, "p-10");
        let admitted_at = room.admitted(10, Some(tx10));
        room.joined(12, "p-12");
        room.admitted(12, Some(tx12));
        room.joined(11, "p-11"); // waiting: no chat, not in the audience
        for _ in 0..3 {
            assert!(room.order_chat());
        }
        assert_eq!(rx10.try_recv().unwrap(), ChatOrder { seq: 1 });
        assert_eq!(rx12.try_recv().unwrap(), ChatOrder { seq: 2 });
        assert_eq!(rx10.try_recv().unwrap(), ChatOrder { seq: 3 });
        let (sent, audience) = room.chat_audience();
        assert!(sent >= admitted_at);
        assert_eq!(audience, 2);
        let text = chat_text(7, sent);
        assert_eq!(chat_sent_us(&text), Some(sent));
        assert_eq!(chat_sent_us("lt-chat x 5"), None);
        assert_eq!(chat_sent_us("Hello!"), None);
    }
}
