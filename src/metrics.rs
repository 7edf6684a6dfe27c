//! `/metrics` in the Prometheus text format. The counters live per server instance (in the SFU's
//! stats and here), not in a process-global registry, so several servers in one test process
//! each report their own numbers.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use dashmap::DashMap;
use vardrum_sfu::{StatsSnapshot, WorkerLoad};
use vardrum_signalling::ErrorCode;

#[derive(Debug, Default)]
pub struct SignallingStats {
    pub sessions: AtomicI64,
    pub sessions_total: AtomicU64,
    pub joins_total: AtomicU64,
    pub messages_in: AtomicU64,
    errors: DashMap<&'static str, AtomicU64>,
}

impl SignallingStats {
    pub fn error(&self, code: ErrorCode) {
        self.errors
            .entry(code.as_str())
            .or_default()
            .fetch_add(1, Relaxed);
    }

    pub fn errors(&self, code: ErrorCode) -> u64 {
        self.errors
            .get(code.as_str())
            .map_or(0, |c| c.load(Relaxed))
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// Renders all metrics of one server.
/// One gauge with a value per media worker, labelled by the worker's index.
fn worker_gauge(out: &mut String, name: &str, help: &str, values: impl Iterator<Item = usize>) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (i, value) in values.enumerate() {
        let _ = writeln!(out, "{name}{{worker=\"{i}\"}} {value}");
    }
}

/// `workers` is what each media worker carries, in worker order.
pub fn render(sfu: &StatsSnapshot, workers: &[WorkerLoad], signalling: &SignallingStats) -> String {
    let mut out = String::with_capacity(4096);
    let gauges: [(&str, &str, i64); 4] = [
        ("vardrum_rooms", "Rooms open on this node.", sfu.rooms),
        (
            "vardrum_participants",
            "Participants in rooms on this node, reconnecting ones included.",
            sfu.participants,
        ),
        (
            "vardrum_tracks",
            "Published tracks (publications) on this node.",
            sfu.publications,
        ),
        (
            "vardrum_subscriptions",
            "Tracks being forwarded to a subscriber.",
            sfu.subscriptions,
        ),
    ];
    for (name, help, value) in gauges {
        metric(&mut out, name, "gauge", help, value);
    }
    // Rooms stay on the worker they opened on: a worker far above the others is a hot core.
    worker_gauge(
        &mut out,
        "vardrum_media_worker_rooms",
        "Rooms open on each media worker (thread and UDP port).",
        workers.iter().map(|w| w.rooms),
    );
    worker_gauge(
        &mut out,
        "vardrum_media_worker_participants",
        "Participants in the rooms of each media worker.",
        workers.iter().map(|w| w.participants),
    );
    let counters: [(&str, &str, u64); 11] = [
        (
            "vardrum_media_packets_in_total",
            "UDP datagrams received on the media port.",
            sfu.datagrams_in,
        ),
        (
            "vardrum_media_bytes_in_total",
            "Bytes received on the media port.",
            sfu.bytes_in,
        ),
        (
            "vardrum_media_packets_out_total",
            "UDP datagrams sent from the media port.",
            sfu.datagrams_out,
        ),
        (
            "vardrum_media_bytes_out_total",
            "Bytes sent from the media port.",
            sfu.bytes_out,
        ),
        (
            "vardrum_rtp_packets_received_total",
            "RTP packets received from publishers.",
            sfu.rtp_packets_in,
        ),
        (
            "vardrum_rtp_packets_forwarded_total",
            "RTP packets forwarded to subscribers.",
            sfu.rtp_packets_forwarded,
        ),
        (
            "vardrum_forwarding_errors_total",
            "RTP packets that could not be forwarded.",
            sfu.forward_errors,
        ),
        (
            "vardrum_media_send_errors_total",
            "Datagrams the socket failed to send (full send buffer, unreachable address).",
            sfu.send_errors,
        ),
        (
            "vardrum_media_unroutable_packets_total",
            "Datagrams from unknown addresses that named no known connection.",
            sfu.unroutable_datagrams,
        ),
        (
            "vardrum_media_inbox_drops_total",
            "Datagrams dropped because a room could not keep up.",
            sfu.inbox_drops,
        ),
        (
            "vardrum_keyframe_requests_total",
            "Keyframe requests (PLI) sent to publishers.",
            sfu.keyframe_requests,
        ),
    ];
    for (name, help, value) in counters {
        metric(&mut out, name, "counter", help, value);
    }
    metric(
        &mut out,
        "vardrum_signalling_sessions",
        "gauge",
        "Open signalling WebSocket sessions.",
        signalling.sessions.load(Relaxed),
    );
    metric(
        &mut out,
        "vardrum_signalling_sessions_total",
        "counter",
        "Signalling WebSocket sessions opened.",
        signalling.sessions_total.load(Relaxed),
    );
    metric(
        &mut out,
        "vardrum_signalling_joins_total",
        "counter",
        "Successful joins.",
        signalling.joins_total.load(Relaxed),
    );
    metric(
        &mut out,
        "vardrum_signalling_messages_total",
        "counter",
        "Signalling messages received.",
        signalling.messages_in.load(Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP vardrum_signalling_errors_total Errors sent to clients, by code."
    );
    let _ = writeln!(out, "# TYPE vardrum_signalling_errors_total counter");
    let mut errors: Vec<(&str, u64)> = signalling
        .errors
        .iter()
        .map(|e| (*e.key(), e.value().load(Relaxed)))
        .collect();
    errors.sort();
    for (code, n) in errors {
        let _ = writeln!(
            out,
            "vardrum_signalling_errors_total{{code=\"{code}\"}} {n}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let stats = SignallingStats::default();
        stats.error(ErrorCode::BadJson);
        stats.error(ErrorCode::BadJson);
        let snapshot = StatsSnapshot {
            rooms: 3,
            ..Default::default()
        };
        let workers = [
            WorkerLoad {
                rooms: 2,
                participants: 4,
            },
            WorkerLoad {
                rooms: 1,
                participants: 10,
            },
        ];
        let text = render(&snapshot, &workers, &stats);
        assert!(text.contains("# TYPE vardrum_rooms gauge\nvardrum_rooms 3\n"));
        assert!(text.contains("vardrum_signalling_errors_total{code=\"bad_json\"} 2\n"));
        assert!(text.contains("vardrum_media_worker_rooms{worker=\"1\"} 1\n"));
        assert!(text.contains("vardrum_media_worker_participants{worker=\"1\"} 10\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("vardrum_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
