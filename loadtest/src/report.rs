//! The result of a run: a summary table for people, JSON for machines, and the verdict on the
//! thresholds given on the command line.

use std::collections::{BTreeMap, HashSet};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::collector::Collector;
use crate::scenario::Scenario;
use crate::server_stats::ProcSample;
use crate::stats::TrackStats;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// From a histogram of microseconds, in milliseconds.
    pub fn ms(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Joins {
    pub attempted: u64,
    pub succeeded: u64,
    pub success_ratio: f64,
    pub dropped_after_join: u64,
    pub failures: BTreeMap<String, u64>,
    pub server_errors: BTreeMap<String, u64>,
    /// WebSocket connect → `joined`.
    pub time_ms: Percentiles,
    /// WebSocket connect → first video packet received (a proxy for the first decoded frame:
    /// the load tester does not decode).
    pub first_video_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tracks {
    /// Subscriptions the scenario should produce once everyone is in.
    pub expected: usize,
    /// Distinct (receiver, publisher, kind) tracks that delivered media.
    pub receiving: usize,
    pub packets_received: u64,
    pub packets_expected: u64,
    /// Lost after retransmission, over all tracks.
    pub loss: f64,
    pub worst_track_loss: f64,
    /// End-to-end latency through the server, send → receive.
    pub latency_ms: Percentiles,
    pub jitter_ms_mean: f64,
    pub freezes: u64,
    pub video_frames_received: u64,
    pub received_kbps: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub audio_packets: u64,
    pub video_packets: u64,
    pub kbps: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Server {
    pub cpu_secs: Option<f64>,
    /// Server CPU seconds per minute of one forwarded stream (subscribed track).
    pub cpu_secs_per_stream_minute: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub rss_per_participant_bytes: Option<u64>,
    /// Resident memory when the run started (before anyone joined).
    pub rss_at_start_bytes: Option<u64>,
    /// (peak RSS − RSS at start) / participants: what each participant added.
    pub rss_added_per_participant_bytes: Option<u64>,
    pub forwarded_packets_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub limit: f64,
    pub actual: f64,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    /// `vardrum` or `janus`.
    pub target_kind: String,
    pub scenario: Scenario,
    pub interrupted: bool,
    pub elapsed_secs: f64,
    pub joins: Joins,
    pub tracks: Tracks,
    pub sent: Sent,
    pub server: Server,
    /// The load tester's own CPU: it shares the machine, so its cost is reported apart.
    pub loadtest_cpu_secs: Option<f64>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

/// Limits that make the run fail (exit code 2).
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    pub max_loss: Option<f64>,
    pub max_latency_p99_ms: Option<f64>,
    pub min_join_success: Option<f64>,
}

pub struct Inputs<'a> {
    pub target: String,
    pub target_kind: &'a str,
    pub scenario: &'a Scenario,
    pub collector: &'a Collector,
    pub interrupted: bool,
    pub elapsed_secs: f64,
    pub server_before: Option<ProcSample>,
    pub server_after: Option<ProcSample>,
    pub forwarded: Option<f64>,
    pub loadtest_cpu_secs: Option<f64>,
    pub thresholds: Thresholds,
}

pub fn build(i: Inputs<'_>) -> Report {
    let c = i.collector;
    let attempted = c.join_attempts.load(std::sync::atomic::Ordering::Relaxed);
    let succeeded = c.joins.load(std::sync::atomic::Ordering::Relaxed);
    let joins = Joins {
        attempted,
        succeeded,
        success_ratio: if attempted == 0 {
            0.0
        } else {
            succeeded as f64 / attempted as f64
        },
        dropped_after_join: c.dropped.load(std::sync::atomic::Ordering::Relaxed),
        failures: c.failures(),
        server_errors: c.server_errors(),
        time_ms: Percentiles::ms(&c.join_time()),
        first_video_ms: Percentiles::ms(&c.first_video_time()),
    };
    let tracks = c.tracks();
    let tracks = summarize(i.scenario, &tracks, i.elapsed_secs);
    let sent = Sent {
        audio_packets: c
            .sent_audio_packets
            .load(std::sync::atomic::Ordering::Relaxed),
        video_packets: c
            .sent_video_packets
            .load(std::sync::atomic::Ordering::Relaxed),
        kbps: c.sent_bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 * 8.0
            / 1000.0
            / i.elapsed_secs.max(0.001),
    };
    let cpu = match (i.server_before, i.server_after) {
        (Some(a), Some(b)) => Some(b.cpu_secs - a.cpu_secs),
        _ => None,
    };
    let stream_minutes = tracks.receiving as f64 * i.elapsed_secs / 60.0;
    let peak = i.server_after.map(|s| s.peak_rss_bytes);
    let server = Server {
        cpu_secs: cpu,
        cpu_secs_per_stream_minute: cpu
            .filter(|_| stream_minutes > 0.0)
            .map(|c| c / stream_minutes),
        peak_rss_bytes: peak,
        rss_per_participant_bytes: peak
            .filter(|_| succeeded > 0)
            .map(|p| p / i.scenario.participants().max(1) as u64),
        rss_at_start_bytes: i.server_before.map(|s| s.rss_bytes),
        rss_added_per_participant_bytes: match (peak, i.server_before) {
            (Some(p), Some(b)) if succeeded > 0 => {
                Some(p.saturating_sub(b.rss_bytes) / i.scenario.participants().max(1) as u64)
            }
            _ => None,
        },
        forwarded_packets_per_sec: i.forwarded.map(|f| f / i.elapsed_secs.max(0.001)),
    };
    let mut checks = Vec::new();
    let mut check = |name: &str, limit: f64, actual: f64, passed: bool| {
        checks.push(Check {
            name: name.into(),
            limit,
            actual,
            passed,
        })
    };
    if let Some(limit) = i.thresholds.max_loss {
        check("max_loss", limit, tracks.loss, tracks.loss <= limit);
    }
    if let Some(limit) = i.thresholds.max_latency_p99_ms {
        let p99 = tracks.latency_ms.p99;
        check(
            "max_latency_p99_ms",
            limit,
            p99,
            tracks.receiving > 0 && p99 <= limit,
        );
    }
    if let Some(limit) = i.thresholds.min_join_success {
        check(
            "min_join_success",
            limit,
            joins.success_ratio,
            joins.success_ratio >= limit,
        );
    }
    let passed = checks.iter().all(|c| c.passed);
    Report {
        target: i.target,
        target_kind: i.target_kind.to_owned(),
        scenario: i.scenario.clone(),
        interrupted: i.interrupted,
        elapsed_secs: i.elapsed_secs,
        joins,
        tracks,
        sent,
        server,
        loadtest_cpu_secs: i.loadtest_cpu_secs,
        checks,
        passed,
    }
}

fn summarize(scenario: &Scenario, tracks: &[(u32, TrackStats)], elapsed: f64) -> Tracks {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let (mut received, mut expected, mut bytes, mut freezes, mut frames) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut worst: f64 = 0.0;
    let mut jitter_sum = 0.0;
    let mut distinct = HashSet::new();
    for (receiver, t) in tracks {
        distinct.insert((*receiver, t.publisher, t.kind));
        received += t.received;
        expected += t.expected().max(t.received);
        bytes += t.bytes;
        freezes += t.freezes;
        frames += if t.kind == crate::media::Kind::Video {
            t.frames
        } else {
            0
        };
        worst = worst.max(t.loss());
        jitter_sum += t.jitter_us;
        let _ = latency.add(&t.latency);
    }
    Tracks {
        expected: scenario.expected_subscriptions(),
        receiving: distinct.len(),
        packets_received: received,
        packets_expected: expected,
        loss: if expected == 0 {
            0.0
        } else {
            1.0 - received as f64 / expected as f64
        },
        worst_track_loss: worst,
        latency_ms: Percentiles::ms(&latency),
        jitter_ms_mean: if tracks.is_empty() {
            0.0
        } else {
            jitter_sum / tracks.len() as f64 / 1000.0
        },
        freezes,
        video_frames_received: frames,
        received_kbps: bytes as f64 * 8.0 / 1000.0 / elapsed.max(0.001),
    }
}

impl Report {
    /// The summary table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |k: &str, v: String| out.push_str(&format!("  {k:<34} {v}\n"));
        let s = &self.scenario;
        row("target", format!("{} {}", self.target_kind, self.target));
        row(
            "scenario",
            format!(
                "{:?}: {} room(s) x {} ({} publishing), {:.0} s{}",
                s.kind,
                s.rooms,
                s.room_size,
                s.publishers,
                self.elapsed_secs,
                if self.interrupted {
                    ", INTERRUPTED"
                } else {
                    ""
                }
            ),
        );
        let j = &self.joins;
        row(
            "joins",
            format!(
                "{}/{} ({:.1} %)",
                j.succeeded,
                j.attempted,
                j.success_ratio * 100.0
            ),
        );
        for (reason, n) in &j.failures {
            row("  failed", format!("{n} x {reason}"));
        }
        row("join time (connect -> joined)", fmt_p(&j.time_ms));
        row("connect -> first video packet", fmt_p(&j.first_video_ms));
        let t = &self.tracks;
        row(
            "tracks receiving / expected",
            format!("{} / {}", t.receiving, t.expected),
        );
        row(
            "loss after retransmission",
            format!(
                "{:.3} % (worst track {:.3} %)",
                t.loss * 100.0,
                t.worst_track_loss * 100.0
            ),
        );
        row("latency through server", fmt_p(&t.latency_ms));
        row(
            "jitter (mean per track)",
            format!("{:.2} ms", t.jitter_ms_mean),
        );
        row("freezes (video gaps > 500 ms)", t.freezes.to_string());
        row(
            "sent / received",
            format!(
                "{:.0} kbit/s / {:.0} kbit/s",
                self.sent.kbps, t.received_kbps
            ),
        );
        let sv = &self.server;
        if let Some(cpu) = sv.cpu_secs {
            row("server CPU", format!("{cpu:.2} s"));
        }
        if let Some(c) = sv.cpu_secs_per_stream_minute {
            row("server CPU per stream-minute", format!("{:.4} s", c));
        }
        if let Some(r) = sv.peak_rss_bytes {
            row(
                "server peak RSS",
                format!("{:.1} MiB", r as f64 / 1048576.0),
            );
        }
        if let Some(r) = sv.rss_per_participant_bytes {
            row(
                "server RSS per participant",
                format!("{:.2} MiB", r as f64 / 1048576.0),
            );
        }
        if let Some(r) = sv.rss_added_per_participant_bytes {
            row(
                "server RSS added per participant",
                format!("{:.2} MiB", r as f64 / 1048576.0),
            );
        }
        if let Some(f) = sv.forwarded_packets_per_sec {
            row("server forwarded packets/s", format!("{f:.0}"));
        }
        if let Some(c) = self.loadtest_cpu_secs {
            row("load tester CPU (same machine)", format!("{c:.2} s"));
        }
        for c in &self.checks {
            row(
                &format!("check {}", c.name),
                format!(
                    "{} (limit {}, actual {:.4})",
                    if c.passed { "ok" } else { "BREACHED" },
                    c.limit,
                    c.actual
                ),
            );
        }
        out
    }
}

fn fmt_p(p: &Percentiles) -> String {
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p.p50, p.p95, p.p99, p.max
    )
}
