//! Where every participant reports: join outcomes and times, packets sent, and the statistics of
//! every track received. Shared by all tasks; read by the progress display and the report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::media::Kind;
use crate::stats::TrackStats;

pub struct Collector {
    pub join_attempts: AtomicU64,
    pub joins: AtomicU64,
    pub dropped: AtomicU64,
    pub sent_audio_packets: AtomicU64,
    pub sent_video_packets: AtomicU64,
    pub sent_bytes: AtomicU64,
    /// Keyframes publishers sent (at start, every 2 s, and on request).
    pub keyframes_sent: AtomicU64,
    /// Keyframe requests (PLI, FIR) publishers received from the server, per SSRC named.
    pub keyframe_requests: AtomicU64,
    tracks: Mutex<Vec<(u32, Arc<Mutex<TrackStats>>)>>,
    failures: Mutex<BTreeMap<String, u64>>,
    server_errors: Mutex<BTreeMap<String, u64>>,
    /// Connect → `joined`, in microseconds.
    join_time: Mutex<Histogram<u64>>,
    /// Connect → first video packet received, in microseconds.
    first_video: Mutex<Histogram<u64>>,
    /// What the group-visit scenario measures.
    pub visit: VisitCounters,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key.to_owned()).or_default() += 1;
    }
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            join_attempts: AtomicU64::new(0),
            joins: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            sent_audio_packets: AtomicU64::new(0),
            sent_video_packets: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            keyframes_sent: AtomicU64::new(0),
            keyframe_requests: AtomicU64::new(0),
            tracks: Mutex::new(Vec::new()),
            failures: Mutex::new(BTreeMap::new()),
            server_errors: Mutex::new(BTreeMap::new()),
            join_time: Mutex::new(histogram()),
            first_video: Mutex::new(histogram()),
            visit: VisitCounters::default(),
        }
    }
}

impl Collector {
    pub fn join_failed(&self, reason: String) -> crate::participant::Outcome {
        bump(&self.failures, &reason);
        crate::participant::Outcome::JoinFailed(reason)
    }

    pub fn joined(&self, took: Duration) {
        self.joins.fetch_add(1, Relaxed);
        if let Ok(mut h) = self.join_time.lock() {
            let _ = h.record((took.as_micros() as u64).max(1));
        }
    }

    pub fn first_video(&self, since_connect: Duration) {
        if let Ok(mut h) = self.first_video.lock() {
            let _ = h.record((since_connect.as_micros() as u64).max(1));
        }
    }

    pub fn dropped(&self, reason: &str) {
        self.dropped.fetch_add(1, Relaxed);
        bump(&self.failures, &format!("dropped: {reason}"));
    }

    pub fn server_error(&self, code: &str) {
        bump(&self.server_errors, code);
    }

    pub fn sent(&self, kind: Kind, packets: u64, bytes: u64) {
        match kind {
            Kind::Audio => self.sent_audio_packets.fetch_add(packets, Relaxed),
            Kind::Video => self.sent_video_packets.fetch_add(packets, Relaxed),
        };
        self.sent_bytes.fetch_add(bytes, Relaxed);
    }

    pub fn keyframe_sent(&self) {
        self.keyframes_sent.fetch_add(1, Relaxed);
    }

    pub fn keyframe_requested(&self) {
        self.keyframe_requests.fetch_add(1, Relaxed);
    }

    /// Registers a track (one layer of it, with simulcast) received by participant `receiver`.
    pub fn register_track(&self, receiver: u32, stats: TrackStats) -> Arc<Mutex<TrackStats>> {
        let entry = Arc::new(Mutex::new(stats));
        if let Ok(mut t) = self.tracks.lock() {
            t.push((receiver, entry.clone()));
        }
        entry
    }

    /// A copy of every received track's statistics, with its receiver.
    pub fn tracks(&self) -> Vec<(u32, TrackStats)> {
        let tracks = match self.tracks.lock() {
            Ok(t) => t.clone(),
            Err(_) => return Vec::new(),
        };
        tracks
            .iter()
            .filter_map(|(r, t)| t.lock().ok().map(|s| (*r, s.clone())))
            .collect()
    }

    pub fn failures(&self) -> BTreeMap<String, u64> {
        self.failures.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn server_errors(&self) -> BTreeMap<String, u64> {
        self.server_errors
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn join_time(&self) -> Histogram<u64> {
        self.join_time
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| histogram())
    }

    pub fn first_video_time(&self) -> Histogram<u64> {
        self.first_video
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| histogram())
    }
}

/// The group visit's own measurements: admission, speaker switches, chat, and which layer the
/// speaker's and the tiles' video arrived on.
pub struct VisitCounters {
    /// Patients who landed in the waiting room.
    waiting: AtomicU64,
    /// Of them, admitted by the host.
    admitted: AtomicU64,
    /// `join` sent → `admitted` received, µs.
    admit_time: Mutex<Histogram<u64>>,
    speaker_switches: AtomicU64,
    /// (switch, subscriber) pairs that should have heard of a switch.
    speaker_expected: AtomicU64,
    speaker_heard: AtomicU64,
    speaker_missed: AtomicU64,
    /// Every `speaker` message received.
    speaker_messages: AtomicU64,
    /// New speaker loud → `speaker` received, µs; a missed one counts with its whole turn.
    speaker_delay: Mutex<Histogram<u64>>,
    chat_sent: AtomicU64,
    /// Deliveries the chat messages sent should make (everyone admitted, sender included).
    chat_expected: AtomicU64,
    chat_received: AtomicU64,
    /// Sent → received, µs.
    chat_latency: Mutex<Histogram<u64>>,
    /// Video frames (simulcast; counted by their last packet, so that every layer weighs the
    /// same per second) from the publisher a receiver showed large, and of them those on the
    /// top layer; the same for the tiles and the bottom layer.
    speaker_frames: AtomicU64,
    speaker_on_top: AtomicU64,
    tile_frames: AtomicU64,
    tile_on_bottom: AtomicU64,
}

/// The counters of [`VisitCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitSnapshot {
    pub waiting: u64,
    pub admitted: u64,
    pub speaker_switches: u64,
    pub speaker_expected: u64,
    pub speaker_heard: u64,
    pub speaker_missed: u64,
    pub speaker_messages: u64,
    pub chat_sent: u64,
    pub chat_expected: u64,
    pub chat_received: u64,
    pub speaker_frames: u64,
    pub speaker_on_top: u64,
    pub tile_frames: u64,
    pub tile_on_bottom: u64,
}

impl Default for VisitCounters {
    fn default() -> Self {
        Self {
            waiting: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            admit_time: Mutex::new(histogram()),
            speaker_switches: AtomicU64::new(0),
            speaker_expected: AtomicU64::new(0),
            speaker_heard: AtomicU64::new(0),
            speaker_missed: AtomicU64::new(0),
            speaker_messages: AtomicU64::new(0),
            speaker_delay: Mutex::new(histogram()),
            chat_sent: AtomicU64::new(0),
            chat_expected: AtomicU64::new(0),
            chat_received: AtomicU64::new(0),
            chat_latency: Mutex::new(histogram()),
            speaker_frames: AtomicU64::new(0),
            speaker_on_top: AtomicU64::new(0),
            tile_frames: AtomicU64::new(0),
            tile_on_bottom: AtomicU64::new(0),
        }
    }
}

fn record(h: &Mutex<Histogram<u64>>, us: u64) {
    if let Ok(mut h) = h.lock() {
        let _ = h.record(us.clamp(1, 600_000_000));
    }
}

fn copy(h: &Mutex<Histogram<u64>>) -> Histogram<u64> {
    h.lock().map(|h| h.clone()).unwrap_or_else(|_| histogram())
}

impl VisitCounters {
    /// A patient's `joined` put it in the waiting room.
    pub fn waiting(&self) {
        self.waiting.fetch_add(1, Relaxed);
    }

    /// A patient was admitted, `took` after it sent `join`.
    pub fn admitted(&self, took: Duration) {
        self.admitted.fetch_add(1, Relaxed);
        record(&self.admit_time, took.as_micros() as u64);
    }

    /// The speaker changed; `expected` subscribers should hear of it.
    pub fn speaker_switch(&self, expected: u64) {
        self.speaker_switches.fetch_add(1, Relaxed);
        self.speaker_expected.fetch_add(expected, Relaxed);
    }

    pub fn speaker_message(&self) {
        self.speaker_messages.fetch_add(1, Relaxed);
    }

    /// A subscriber heard of a switch `delay_us` after it.
    pub fn speaker_heard(&self, delay_us: u64) {
        self.speaker_heard.fetch_add(1, Relaxed);
        record(&self.speaker_delay, delay_us);
    }

    /// A subscriber never heard of a switch during its turn of `turn_us`.
    pub fn speaker_missed(&self, turn_us: u64) {
        self.speaker_missed.fetch_add(1, Relaxed);
        record(&self.speaker_delay, turn_us);
    }

    /// A chat message went out to `audience` participants.
    pub fn chat_sent(&self, audience: u64) {
        self.chat_sent.fetch_add(1, Relaxed);
        self.chat_expected.fetch_add(audience, Relaxed);
    }

    pub fn chat_received(&self, latency_us: u64) {
        self.chat_received.fetch_add(1, Relaxed);
        record(&self.chat_latency, latency_us);
    }

    /// One simulcast video frame arrived from the publisher shown large (`speaker`) or from a
    /// tile, on the top or the bottom layer (or neither).
    pub fn video_layer(&self, speaker: bool, top: bool, bottom: bool) {
        if speaker {
            self.speaker_frames.fetch_add(1, Relaxed);
            if top {
                self.speaker_on_top.fetch_add(1, Relaxed);
            }
        } else {
            self.tile_frames.fetch_add(1, Relaxed);
            if bottom {
                self.tile_on_bottom.fetch_add(1, Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> VisitSnapshot {
        let n = |a: &AtomicU64| a.load(Relaxed);
        VisitSnapshot {
            waiting: n(&self.waiting),
            admitted: n(&self.admitted),
            speaker_switches: n(&self.speaker_switches),
            speaker_expected: n(&self.speaker_expected),
            speaker_heard: n(&self.speaker_heard),
            speaker_missed: n(&self.speaker_missed),
            speaker_messages: n(&self.speaker_messages),
            chat_sent: n(&self.chat_sent),
            chat_expected: n(&self.chat_expected),
            chat_received: n(&self.chat_received),
            speaker_frames: n(&self.speaker_frames),
            speaker_on_top: n(&self.speaker_on_top),
            tile_frames: n(&self.tile_frames),
            tile_on_bottom: n(&self.tile_on_bottom),
        }
    }

    pub fn admit_time(&self) -> Histogram<u64> {
        copy(&self.admit_time)
    }

    pub fn speaker_delay(&self) -> Histogram<u64> {
        copy(&self.speaker_delay)
    }

    pub fn chat_latency(&self) -> Histogram<u64> {
        copy(&self.chat_latency)
    }
}
