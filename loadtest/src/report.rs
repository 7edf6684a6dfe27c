//! The result of a run: a summary table for people, JSON for machines, and the verdict on the
//! thresholds given on the command line. A group visit adds its own figures ([`GroupVisit`]):
//! join-to-admitted time, the speaker-switch delay, chat delivery, and which layers the speaker
//! view got.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::collector::{Collector, VisitSnapshot};
use crate::media::{AUDIO_KBPS, Kind, Layer};
use crate::scenario::{Scenario, SimulcastQuality};
use crate::server_stats::ProcSample;
use crate::stats::TrackStats;

/// Rows of per-track detail in the table; the JSON report has every track.
const TABLE_TRACKS: usize = 20;

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
    /// Distinct (receiver, publisher, kind) tracks that delivered media (with simulcast, video
    /// on the chosen layer; loss, latency, jitter and frames below count that layer only).
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
    /// Everything received (every layer), over the run.
    pub received_kbps: f64,
    /// With `--simulcast`: which layers arrived where.
    pub simulcast: Option<SimulcastSummary>,
    /// Every subscribed track, by receiver and publisher (participant indexes).
    pub per_track: Vec<TrackReport>,
}

/// Which layers the subscribers got, with `--simulcast`.
#[derive(Debug, Clone, Serialize)]
pub struct SimulcastSummary {
    pub quality: SimulcastQuality,
    pub chosen_layer: Layer,
    /// What each publisher sends on each layer, kbit/s of RTP payload.
    pub sent_kbps: BTreeMap<Layer, f64>,
    /// Video tracks that delivered anything.
    pub video_tracks: usize,
    /// Video tracks on which the chosen layer arrived.
    pub on_chosen_layer: usize,
    /// Video tracks on which only other layers arrived: the server never switched. A failure.
    pub only_other_layers: usize,
    /// Video tracks on which other layers arrived as well (e.g. the top layer before the switch).
    pub also_other_layers: usize,
    /// Mean over tracks of the chosen layer's received bitrate while it arrived.
    pub chosen_layer_received_kbps: f64,
}

/// One subscribed track as its receiver measured it.
#[derive(Debug, Clone, Serialize)]
pub struct TrackReport {
    pub receiver: u32,
    pub publisher: u32,
    pub kind: Kind,
    /// The layer measured: with simulcast, the chosen one if it arrived (`null` if it did not);
    /// `null` for tracks without layers.
    pub layer: Option<Layer>,
    /// Every layer that arrived, lowest first.
    pub layers: Vec<LayerSeen>,
    pub packets_received: u64,
    pub packets_expected: u64,
    pub loss: f64,
    /// The measured layer's (or track's) bitrate while it arrived.
    pub received_kbps: f64,
    /// What the publisher sends on that layer (or track).
    pub sent_kbps: f64,
    pub latency_ms: Percentiles,
    pub jitter_ms: f64,
    pub freezes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerSeen {
    pub layer: Layer,
    pub packets: u64,
    pub received_kbps: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub audio_packets: u64,
    pub video_packets: u64,
    pub kbps: f64,
    /// Video keyframes (every layer): at start, every 2 s, and on request.
    pub keyframes: u64,
    /// Keyframe requests (PLI, FIR) the server sent publishers, per SSRC.
    pub keyframe_requests: u64,
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

/// What a group visit measured besides the media.
#[derive(Debug, Clone, Serialize)]
pub struct GroupVisit {
    /// Why some figures are missing: Janus VideoRoom has no waiting room, no speaker messages
    /// and no chat. `None` on vardrum.
    pub not_measured: Option<String>,
    /// Patients through the waiting room (vardrum).
    pub admission: Option<Admission>,
    /// Speaker turns the load tester gave (one loud voice at a time).
    pub speaker_turns: u64,
    /// How fast subscribers heard of each turn (vardrum).
    pub speaker_switch: Option<SpeakerSwitch>,
    /// Chat delivery (vardrum).
    pub chat: Option<Chat>,
    /// With `--simulcast`: which layer the speaker's and the tiles' video arrived on.
    pub layers: Option<SpeakerViewLayers>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Admission {
    /// Patients who landed in the waiting room.
    pub waiting: u64,
    /// Of them, admitted by the host before the end.
    pub admitted: u64,
    /// `join` sent → `admitted` received, per admitted patient.
    pub join_to_admitted_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpeakerSwitch {
    /// (turn, subscriber) pairs: everyone admitted when a turn began should hear of it.
    pub expected: u64,
    /// Heard of it by a `speaker` message naming the new speaker during its turn.
    pub heard: u64,
    /// Never heard of it during the turn.
    pub missed: u64,
    /// `speaker` messages received in all.
    pub messages: u64,
    /// New speaker loud → `speaker` received; a missed one counts with its whole turn.
    pub delay_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct Chat {
    pub sent: u64,
    /// Deliveries due: each message to everyone admitted when it was sent, sender included.
    pub expected: u64,
    pub received: u64,
    pub delivery_ratio: f64,
    /// Sent → received.
    pub latency_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpeakerViewLayers {
    /// Video frames from the participant a subscriber showed large (1280x720), counted by
    /// their last packet: every layer sends 25 a second, so the fractions are shares of time.
    pub speaker_frames: u64,
    /// Of them, the fraction on the top layer (`f`).
    pub speaker_on_top: f64,
    /// Video frames from the tiles (320x180).
    pub tile_frames: u64,
    /// Of them, the fraction on the bottom layer (`q`).
    pub tiles_on_bottom: f64,
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
    /// The group-visit scenario's own figures.
    pub group_visit: Option<GroupVisit>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

/// Limits that make the run fail (exit code 2).
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    pub max_loss: Option<f64>,
    pub max_latency_p99_ms: Option<f64>,
    pub min_join_success: Option<f64>,
    /// Group visit: p95 of join → admitted, ms (every patient must be admitted, too).
    pub max_admit_p95_ms: Option<f64>,
    /// Group visit: p95 of the speaker-switch delay, ms (a missed switch counts as its turn).
    pub max_speaker_switch_p95_ms: Option<f64>,
    /// Group visit: the fraction of chat deliveries that must arrive.
    pub min_chat_delivery: Option<f64>,
}

/// Below this fraction of the speaker's video on the top layer, or of the tiles' on the bottom
/// one, the server did not follow `track_settings`: the run fails.
pub const MIN_SPEAKER_VIEW_LAYERS: f64 = 0.5;

/// What Janus cannot show of a group visit, said in the report.
pub const JANUS_NOT_MEASURED: &str = "Janus VideoRoom has no waiting room, no speaker \
    messages and no chat: everyone joins at once, nobody is told who speaks (the load tester \
    shows its own speaker large, following the same turns), and no chat is sent; \
    join-to-admitted time, speaker-switch delay and chat delivery are not measured";

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
        keyframes: c.keyframes_sent.load(std::sync::atomic::Ordering::Relaxed),
        keyframe_requests: c
            .keyframe_requests
            .load(std::sync::atomic::Ordering::Relaxed),
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
    // Always with simulcast: a video track that got another layer and never the chosen one
    // means the server did not honour the choice.
    if let Some(sc) = &tracks.simulcast {
        let wrong = sc.only_other_layers as f64;
        check("simulcast_chosen_layer", 0.0, wrong, wrong == 0.0);
    }
    let group_visit = i
        .scenario
        .visit
        .map(|_| group_visit(c, i.target_kind == "janus", i.scenario.simulcast));
    if let Some(gv) = &group_visit {
        visit_checks(gv, &i.thresholds, &mut checks);
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
        group_visit,
        checks,
        passed,
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn group_visit(c: &Collector, janus: bool, simulcast: bool) -> GroupVisit {
    let v: VisitSnapshot = c.visit.snapshot();
    let measured = !janus;
    GroupVisit {
        not_measured: janus.then(|| JANUS_NOT_MEASURED.to_owned()),
        admission: measured.then(|| Admission {
            waiting: v.waiting,
            admitted: v.admitted,
            join_to_admitted_ms: Percentiles::ms(&c.visit.admit_time()),
        }),
        speaker_turns: v.speaker_switches,
        speaker_switch: measured.then(|| SpeakerSwitch {
            expected: v.speaker_expected,
            heard: v.speaker_heard,
            missed: v.speaker_missed,
            messages: v.speaker_messages,
            delay_ms: Percentiles::ms(&c.visit.speaker_delay()),
        }),
        chat: measured.then(|| Chat {
            sent: v.chat_sent,
            expected: v.chat_expected,
            received: v.chat_received,
            delivery_ratio: ratio(v.chat_received, v.chat_expected),
            latency_ms: Percentiles::ms(&c.visit.chat_latency()),
        }),
        layers: simulcast.then(|| SpeakerViewLayers {
            speaker_frames: v.speaker_frames,
            speaker_on_top: ratio(v.speaker_on_top, v.speaker_frames),
            tile_frames: v.tile_frames,
            tiles_on_bottom: ratio(v.tile_on_bottom, v.tile_frames),
        }),
    }
}

fn visit_checks(gv: &GroupVisit, t: &Thresholds, checks: &mut Vec<Check>) {
    let mut check = |name: &str, limit: f64, actual: f64, passed: bool| {
        checks.push(Check {
            name: name.into(),
            limit,
            actual,
            passed,
        })
    };
    if let Some(limit) = t.max_admit_p95_ms {
        let (p95, ok) = gv.admission.as_ref().map_or((0.0, false), |a| {
            let p95 = a.join_to_admitted_ms.p95;
            // Everyone who waited got in, and fast enough.
            (
                p95,
                a.admitted > 0 && a.admitted >= a.waiting && p95 <= limit,
            )
        });
        check("max_admit_p95_ms", limit, p95, ok);
    }
    if let Some(limit) = t.max_speaker_switch_p95_ms {
        let (p95, ok) = gv.speaker_switch.as_ref().map_or((0.0, false), |s| {
            let p95 = s.delay_ms.p95;
            (p95, s.heard > 0 && p95 <= limit)
        });
        check("max_speaker_switch_p95_ms", limit, p95, ok);
    }
    if let Some(limit) = t.min_chat_delivery {
        let (ratio, ok) = gv.chat.as_ref().map_or((0.0, false), |c| {
            (
                c.delivery_ratio,
                c.expected > 0 && c.delivery_ratio >= limit,
            )
        });
        check("min_chat_delivery", limit, ratio, ok);
    }
    // Always with simulcast: the speaker view's layers show whether the server followed
    // track_settings at all.
    if let Some(l) = &gv.layers {
        let mut worst = 1.0f64;
        if l.speaker_frames > 0 {
            worst = worst.min(l.speaker_on_top);
        }
        if l.tile_frames > 0 {
            worst = worst.min(l.tiles_on_bottom);
        }
        check(
            "speaker_view_layers",
            MIN_SPEAKER_VIEW_LAYERS,
            worst,
            worst >= MIN_SPEAKER_VIEW_LAYERS,
        );
    }
}

/// Whether a layer's packets count for loss, latency and "receiving": with simulcast, only the
/// chosen layer of video does.
pub fn counts(scenario: &Scenario, t: &TrackStats) -> bool {
    match (scenario.selected_layer(), t.kind) {
        (Some(chosen), Kind::Video) => t.layer == Some(chosen),
        _ => true,
    }
}

/// A subscribed track's layers merged: the layer entries of one (receiver, publisher, kind).
struct Merged {
    received: u64,
    expected: u64,
    bytes: u64,
    span_us: u64,
    latency: Histogram<u64>,
    jitter_sum: f64,
    entries: u64,
    freezes: u64,
}

impl Merged {
    fn new() -> Self {
        Self {
            received: 0,
            expected: 0,
            bytes: 0,
            span_us: 0,
            latency: latency_histogram(),
            jitter_sum: 0.0,
            entries: 0,
            freezes: 0,
        }
    }

    fn add(&mut self, t: &TrackStats) {
        self.received += t.received;
        self.expected += t.expected().max(t.received);
        self.bytes += t.bytes;
        self.span_us += t.span_us();
        let _ = self.latency.add(&t.latency);
        self.jitter_sum += t.jitter_us;
        self.entries += 1;
        self.freezes += t.freezes;
    }

    fn loss(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            (1.0 - self.received as f64 / self.expected as f64).max(0.0)
        }
    }

    fn kbps(&self) -> f64 {
        kbps(self.bytes, self.span_us)
    }
}

fn kbps(bytes: u64, span_us: u64) -> f64 {
    if span_us == 0 {
        0.0
    } else {
        bytes as f64 * 8.0 / 1000.0 / (span_us as f64 / 1e6)
    }
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn summarize(scenario: &Scenario, tracks: &[(u32, TrackStats)], elapsed: f64) -> Tracks {
    // Group the layer entries by subscribed track; BTreeMap for a stable order in the report.
    let mut groups: BTreeMap<(u32, u32, Kind), Vec<&TrackStats>> = BTreeMap::new();
    for (receiver, t) in tracks {
        groups
            .entry((*receiver, t.publisher, t.kind))
            .or_default()
            .push(t);
    }
    let chosen = scenario.selected_layer();
    let sent_kbps = |layer: Option<Layer>, kind: Kind| match (kind, scenario.video) {
        (Kind::Video, Some(v)) => v.sent_kbps(layer),
        _ => AUDIO_KBPS,
    };
    let mut all = Merged::new();
    let (mut receiving, mut worst, mut bytes) = (0usize, 0f64, 0u64);
    let mut per_track = Vec::with_capacity(groups.len());
    let (mut video_tracks, mut on_chosen, mut only_other, mut also_other) = (0, 0, 0, 0);
    let mut chosen_kbps_sum = 0.0;
    for ((receiver, publisher, kind), entries) in &groups {
        let mut measured = Merged::new();
        let mut layers: BTreeMap<Layer, (u64, u64, u64)> = BTreeMap::new();
        for t in entries {
            bytes += t.bytes;
            if let Some(layer) = t.layer {
                let seen = layers.entry(layer).or_default();
                seen.0 += t.received;
                seen.1 += t.bytes;
                seen.2 += t.span_us();
            }
            if counts(scenario, t) {
                measured.add(t);
                all.add(t);
            }
        }
        let delivered = measured.received > 0;
        if delivered {
            receiving += 1;
            worst = worst.max(measured.loss());
        }
        let layer = match (chosen, kind) {
            (Some(l), Kind::Video) => {
                video_tracks += 1;
                if delivered {
                    on_chosen += 1;
                    chosen_kbps_sum += measured.kbps();
                } else {
                    only_other += 1;
                }
                if layers.keys().any(|l| Some(*l) != chosen) && delivered {
                    also_other += 1;
                }
                delivered.then_some(l)
            }
            _ => None,
        };
        per_track.push(TrackReport {
            receiver: *receiver,
            publisher: *publisher,
            kind: *kind,
            layer,
            layers: layers
                .into_iter()
                .map(|(layer, (packets, bytes, span))| LayerSeen {
                    layer,
                    packets,
                    received_kbps: kbps(bytes, span),
                })
                .collect(),
            packets_received: measured.received,
            packets_expected: measured.expected,
            loss: measured.loss(),
            received_kbps: measured.kbps(),
            sent_kbps: sent_kbps(chosen.filter(|_| *kind == Kind::Video), *kind),
            latency_ms: Percentiles::ms(&measured.latency),
            jitter_ms: if measured.entries == 0 {
                0.0
            } else {
                measured.jitter_sum / measured.entries as f64 / 1000.0
            },
            freezes: measured.freezes,
        });
    }
    let simulcast = match (scenario.simulcast_quality, chosen) {
        (Some(quality), Some(chosen_layer)) => Some(SimulcastSummary {
            quality,
            chosen_layer,
            sent_kbps: Layer::ALL
                .iter()
                .map(|l| (*l, sent_kbps(Some(*l), Kind::Video)))
                .collect(),
            video_tracks,
            on_chosen_layer: on_chosen,
            only_other_layers: only_other,
            also_other_layers: also_other,
            chosen_layer_received_kbps: if on_chosen == 0 {
                0.0
            } else {
                chosen_kbps_sum / on_chosen as f64
            },
        }),
        _ => None,
    };
    Tracks {
        expected: scenario.expected_subscriptions(),
        receiving,
        packets_received: all.received,
        packets_expected: all.expected,
        loss: all.loss(),
        worst_track_loss: worst,
        latency_ms: Percentiles::ms(&all.latency),
        jitter_ms_mean: if all.entries == 0 {
            0.0
        } else {
            all.jitter_sum / all.entries as f64 / 1000.0
        },
        freezes: all.freezes,
        video_frames_received: tracks
            .iter()
            .filter(|(_, t)| t.kind == Kind::Video && counts(scenario, t))
            .map(|(_, t)| t.frames)
            .sum(),
        received_kbps: bytes as f64 * 8.0 / 1000.0 / elapsed.max(0.001),
        simulcast,
        per_track,
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
        if s.video.is_some() {
            row(
                "keyframes sent (server requests)",
                format!("{} ({})", self.sent.keyframes, self.sent.keyframe_requests),
            );
        }
        if let Some(sc) = &t.simulcast {
            let sent: Vec<String> = sc
                .sent_kbps
                .iter()
                .map(|(l, k)| format!("{} {k:.0}", l.rid()))
                .collect();
            row(
                "simulcast layers sent (kbit/s)",
                format!(
                    "{}; chosen: {} ({})",
                    sent.join(", "),
                    sc.chosen_layer.rid(),
                    sc.quality.as_str()
                ),
            );
            row(
                "video tracks on the chosen layer",
                format!(
                    "{} / {} ({} only on another layer, {} also on another)",
                    sc.on_chosen_layer, sc.video_tracks, sc.only_other_layers, sc.also_other_layers
                ),
            );
            row(
                "chosen layer received / sent",
                format!(
                    "{:.0} / {:.0} kbit/s (mean per track)",
                    sc.chosen_layer_received_kbps,
                    sc.sent_kbps.get(&sc.chosen_layer).copied().unwrap_or(0.0)
                ),
            );
            let video = t.per_track.iter().filter(|r| r.kind == Kind::Video);
            for r in video.clone().take(TABLE_TRACKS) {
                row(
                    &format!("  {} <- {} video", r.receiver, r.publisher),
                    r.summary(),
                );
            }
            let more = video.count().saturating_sub(TABLE_TRACKS);
            if more > 0 {
                row(
                    "  ...",
                    format!("{more} more video tracks in the JSON report"),
                );
            }
        }
        if let (Some(gv), Some(v)) = (&self.group_visit, &s.visit) {
            let visit = if gv.not_measured.is_some() {
                format!(
                    "a host and {} patients per room, all joining at once; speaker every {} s",
                    s.room_size - 1,
                    v.speaker_every_secs
                )
            } else {
                format!(
                    "a host and {} patients per room; admitted {}; speaker every {} s; chat {} \
                     messages/min per room",
                    s.room_size - 1,
                    if v.admit_interval_secs == 0.0 {
                        "as they arrive".to_owned()
                    } else {
                        format!("every {} s", v.admit_interval_secs)
                    },
                    v.speaker_every_secs,
                    v.chat_per_min
                )
            };
            row("group visit", visit);
            if let Some(why) = &gv.not_measured {
                row("  not measured", why.clone());
            }
            if let Some(a) = &gv.admission {
                row(
                    "patients admitted / waited",
                    format!("{} / {}", a.admitted, a.waiting),
                );
                row("join -> admitted", fmt_p(&a.join_to_admitted_ms));
            }
            row("speaker turns", gv.speaker_turns.to_string());
            if let Some(sw) = &gv.speaker_switch {
                row(
                    "speaker switches heard / due",
                    format!(
                        "{} / {} ({} missed; {} speaker messages)",
                        sw.heard, sw.expected, sw.missed, sw.messages
                    ),
                );
                row(
                    "speaker-switch delay",
                    format!(
                        "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
                        sw.delay_ms.p50, sw.delay_ms.p95, sw.delay_ms.max
                    ),
                );
            }
            if let Some(c) = &gv.chat {
                row(
                    "chat delivered / due",
                    format!(
                        "{} / {} ({:.1} %; {} sent), latency p50 {:.1} ms, p95 {:.1} ms",
                        c.received,
                        c.expected,
                        c.delivery_ratio * 100.0,
                        c.sent,
                        c.latency_ms.p50,
                        c.latency_ms.p95
                    ),
                );
            }
            if let Some(l) = &gv.layers {
                row(
                    "speaker view layers",
                    format!(
                        "speaker on f {:.1} % of {} frames, tiles on q {:.1} % of {}",
                        l.speaker_on_top * 100.0,
                        l.speaker_frames,
                        l.tiles_on_bottom * 100.0,
                        l.tile_frames
                    ),
                );
            }
        }
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

impl TrackReport {
    /// One line: the layer(s), bitrate against what was sent, loss and latency.
    pub fn summary(&self) -> String {
        let others: Vec<&str> = self
            .layers
            .iter()
            .filter(|l| Some(l.layer) != self.layer)
            .map(|l| l.layer.rid())
            .collect();
        let layer = match (self.layer, others.is_empty()) {
            (Some(l), true) => format!("layer: {}", l.rid()),
            (Some(l), false) => format!("layer: {} (also {})", l.rid(), others.join(", ")),
            (None, false) => format!("layer: NOT the chosen one, only {}", others.join(", ")),
            (None, true) => "layer: -".to_owned(),
        };
        format!(
            "{layer}, {:.0} / {:.0} kbit/s, loss {:.3} %, p99 {:.1} ms",
            self.received_kbps,
            self.sent_kbps,
            self.loss * 100.0,
            self.latency_ms.p99
        )
    }
}

fn fmt_p(p: &Percentiles) -> String {
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p.p50, p.p95, p.p99, p.max
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Stamp;
    use crate::scenario::{ScenarioKind, ScenarioSpec};

    fn scenario(quality: Option<SimulcastQuality>) -> Scenario {
        ScenarioSpec {
            scenario: Some(ScenarioKind::Group),
            room_size: Some(3),
            simulcast: Some(quality.is_some()),
            simulcast_quality: quality,
            ..Default::default()
        }
        .resolve()
        .unwrap()
    }

    /// Packets `range` of one layer from `publisher`, 40 ms apart from `start_us`, 1 ms through
    /// the server, `skip` lost.
    fn layer(
        publisher: u32,
        kind: Kind,
        layer: Option<Layer>,
        range: std::ops::Range<u32>,
        skip: Option<u32>,
        start_us: u64,
    ) -> TrackStats {
        let mut t = TrackStats::new(publisher, kind, layer);
        for p in range.filter(|p| Some(*p) != skip) {
            let sent_us = start_us + u64::from(p) * 40_000;
            let stamp = Stamp {
                sender: publisher,
                kind,
                layer,
                frame: p,
                packet: p,
                sent_us,
            };
            t.record(&stamp, 625, true, sent_us + 1_000);
        }
        t
    }

    fn report(scenario: &Scenario, tracks: Vec<(u32, TrackStats)>) -> Report {
        let collector = Collector::default();
        for (receiver, t) in tracks {
            collector.register_track(receiver, t);
        }
        build(Inputs {
            target: "test".into(),
            target_kind: "vardrum",
            scenario,
            collector: &collector,
            interrupted: false,
            elapsed_secs: 10.0,
            server_before: None,
            server_after: None,
            forwarded: None,
            loadtest_cpu_secs: None,
            thresholds: Thresholds {
                max_loss: Some(0.05),
                ..Default::default()
            },
        })
    }

    #[test]
    fn with_simulcast_only_the_chosen_layer_counts_and_a_wrong_layer_fails() {
        let s = scenario(Some(SimulcastQuality::Medium));
        let t0 = 1_000_000;
        let r = report(
            &s,
            vec![
                // Receiver 1 got the top layer first, then (after the switch) h, one packet lost.
                (1, layer(0, Kind::Video, Some(Layer::F), 0..5, None, t0)),
                (
                    1,
                    layer(0, Kind::Video, Some(Layer::H), 0..100, Some(50), t0),
                ),
                (1, layer(0, Kind::Audio, None, 0..100, None, t0)),
                // Receiver 2 only ever got the top layer: the switch never happened.
                (2, layer(0, Kind::Video, Some(Layer::F), 0..100, None, t0)),
                (2, layer(0, Kind::Audio, None, 0..100, None, t0)),
            ],
        );
        let t = &r.tracks;
        let sc = t.simulcast.as_ref().unwrap();
        assert_eq!(sc.chosen_layer, Layer::H);
        assert_eq!(
            (sc.video_tracks, sc.on_chosen_layer, sc.only_other_layers),
            (2, 1, 1)
        );
        assert_eq!(sc.also_other_layers, 1);
        // Two audio tracks and one video track on h; receiver 2's video does not count.
        assert_eq!(t.receiving, 3);
        assert_eq!(t.packets_received, 99 + 100 + 100);
        assert_eq!(t.packets_expected, 300);
        let video: Vec<&TrackReport> = t
            .per_track
            .iter()
            .filter(|r| r.kind == Kind::Video)
            .collect();
        assert_eq!(video[0].layer, Some(Layer::H));
        assert_eq!(
            video[0].layers.iter().map(|l| l.layer).collect::<Vec<_>>(),
            vec![Layer::H, Layer::F]
        );
        assert!((video[0].loss - 0.01).abs() < 1e-9);
        assert_eq!(video[0].sent_kbps.round(), 250.0);
        // 625 bytes every 40 ms = 125 kbit/s (a bit more: n packets over n-1 gaps).
        assert!((video[0].received_kbps - 126.0).abs() < 2.0, "{video:?}");
        assert_eq!(video[1].layer, None);
        assert_eq!(video[1].packets_received, 0);
        let line = video[0].summary();
        assert!(
            line.starts_with("layer: h (also f), 125 / 250 kbit/s, loss 1.000 %"),
            "{line}"
        );
        assert!(
            video[1].summary().contains("NOT the chosen one, only f"),
            "{}",
            video[1].summary()
        );
        let check = r
            .checks
            .iter()
            .find(|c| c.name == "simulcast_chosen_layer")
            .unwrap();
        assert!(!check.passed);
        assert_eq!(check.actual, 1.0);
        assert!(!r.passed);
        let table = r.table();
        assert!(table.contains("1 / 2 (1 only on another layer"), "{table}");
        assert!(table.contains("1 <- 0 video"), "{table}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["tracks"]["simulcast"]["chosen_layer"], "h");
        assert_eq!(json["tracks"]["simulcast"]["sent_kbps"]["q"], 125.0);
        assert_eq!(json["tracks"]["per_track"][1]["layer"], "h");
        assert_eq!(json["tracks"]["per_track"][1]["kind"], "video");
        assert_eq!(json["scenario"]["simulcast_quality"], "medium");
    }

    #[test]
    fn without_simulcast_every_packet_counts_and_no_layer_check_is_made() {
        let s = scenario(None);
        let r = report(
            &s,
            vec![
                (1, layer(0, Kind::Video, None, 0..100, Some(3), 0)),
                (1, layer(0, Kind::Audio, None, 0..100, None, 0)),
            ],
        );
        assert!(r.tracks.simulcast.is_none());
        assert_eq!(r.tracks.receiving, 2);
        assert_eq!(r.tracks.packets_received, 199);
        assert_eq!(r.tracks.per_track[0].layer, None);
        assert!(r.tracks.per_track[0].layers.is_empty());
        assert_eq!(r.checks.len(), 1);
        assert!(r.passed);
        assert!(!r.table().contains("simulcast"));
    }

    fn visit_report(target_kind: &str, thresholds: Thresholds) -> Report {
        let s = ScenarioSpec {
            scenario: Some(ScenarioKind::GroupVisit),
            room_size: Some(3),
            simulcast: Some(true),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let c = Collector::default();
        let v = &c.visit;
        for _ in 0..2 {
            v.waiting();
            v.admitted(std::time::Duration::from_millis(40));
        }
        v.speaker_switch(3);
        v.speaker_heard(400_000);
        v.speaker_heard(500_000);
        v.speaker_missed(5_000_000);
        v.chat_sent(3);
        for _ in 0..3 {
            v.chat_received(2_000);
        }
        for _ in 0..9 {
            v.video_layer(true, true, false);
            v.video_layer(false, false, true);
        }
        v.video_layer(true, false, true);
        v.video_layer(false, true, false);
        build(Inputs {
            target: "test".into(),
            target_kind,
            scenario: &s,
            collector: &c,
            interrupted: false,
            elapsed_secs: 10.0,
            server_before: None,
            server_after: None,
            forwarded: None,
            loadtest_cpu_secs: None,
            thresholds,
        })
    }

    #[test]
    fn a_group_visit_reports_admission_speaker_switches_chat_and_layers_with_checks() {
        let r = visit_report(
            "vardrum",
            Thresholds {
                max_admit_p95_ms: Some(100.0),
                max_speaker_switch_p95_ms: Some(1000.0),
                min_chat_delivery: Some(1.0),
                ..Default::default()
            },
        );
        let gv = r.group_visit.as_ref().unwrap();
        let a = gv.admission.as_ref().unwrap();
        assert_eq!((a.waiting, a.admitted), (2, 2));
        assert!((a.join_to_admitted_ms.p95 - 40.0).abs() < 0.1);
        let sw = gv.speaker_switch.as_ref().unwrap();
        assert_eq!((sw.expected, sw.heard, sw.missed), (3, 2, 1));
        // The missed one counts with its whole turn: it is the p95.
        assert!((sw.delay_ms.p50 - 500.0).abs() < 1.0, "{sw:?}");
        assert!(sw.delay_ms.p95 > 4_900.0, "{sw:?}");
        let chat = gv.chat.as_ref().unwrap();
        assert_eq!((chat.sent, chat.expected, chat.received), (1, 3, 3));
        assert_eq!(chat.delivery_ratio, 1.0);
        let l = gv.layers.as_ref().unwrap();
        assert_eq!((l.speaker_frames, l.tile_frames), (10, 10));
        assert!((l.speaker_on_top - 0.9).abs() < 1e-9);
        let passed = |name: &str| r.checks.iter().find(|c| c.name == name).unwrap().passed;
        assert!(passed("max_admit_p95_ms"));
        assert!(!passed("max_speaker_switch_p95_ms"));
        assert!(passed("min_chat_delivery"));
        assert!(passed("speaker_view_layers"));
        assert!(!r.passed);
        let table = r.table();
        for words in [
            "a host and 2 patients per room; admitted as they arrive",
            "patients admitted / waited         2 / 2",
            "speaker switches heard / due       2 / 3 (1 missed",
            "chat delivered / due               3 / 3 (100.0 %",
            "speaker on f 90.0 % of 10 frames, tiles on q 90.0 % of 10",
        ] {
            assert!(table.contains(words), "{words}\n{table}");
        }
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["group_visit"]["admission"]["admitted"], 2);
        assert_eq!(json["scenario"]["kind"], "group-visit");
        assert_eq!(json["scenario"]["visit"]["speaker_every_secs"], 5.0);
    }

    #[test]
    fn on_janus_a_group_visit_says_what_it_could_not_measure() {
        let r = visit_report("janus", Thresholds::default());
        let gv = r.group_visit.as_ref().unwrap();
        assert!(
            gv.not_measured
                .as_deref()
                .unwrap()
                .contains("no waiting room")
        );
        assert!(gv.admission.is_none() && gv.speaker_switch.is_none() && gv.chat.is_none());
        // The turns were given and the layers measured all the same.
        assert_eq!(gv.speaker_turns, 1);
        assert!(gv.layers.is_some());
        let table = r.table();
        assert!(table.contains("not measured"), "{table}");
        assert!(table.contains("all joining at once"), "{table}");
        assert!(!table.contains("join -> admitted"), "{table}");
        assert!(!table.contains("chat delivered"), "{table}");
    }
}
