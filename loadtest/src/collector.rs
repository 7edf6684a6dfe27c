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
