//! What the server spent: CPU time and peak memory of its process (from `/proc`, when it runs on
//! this machine), and how many packets it forwarded (from its `/metrics`).

use std::time::Duration;

/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ) on every architecture.
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ProcSample {
    /// User + system CPU seconds used so far.
    pub cpu_secs: f64,
    /// Peak resident memory so far, bytes.
    pub peak_rss_bytes: u64,
    /// Resident memory now, bytes.
    pub rss_bytes: u64,
}

/// Reads `/proc/<pid>` (`self` for this process).
pub fn sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are space separated.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu_secs: (utime + stime) / TICKS_PER_SEC,
        peak_rss_bytes: kb("VmHWM:") * 1024,
        rss_bytes: kb("VmRSS:") * 1024,
    })
}

/// One counter from a Prometheus text page.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.rsplit_once(' ')?;
        (n == name).then(|| v.parse().ok()).flatten()
    })
}

/// The forwarded-packet counter of a vardrum server, if its `/metrics` answers.
pub async fn forwarded_packets(metrics_url: &str) -> Option<f64> {
    let text = crate::http::get(metrics_url, Duration::from_secs(5))
        .await
        .ok()?;
    metric(&text, "vardrum_rtp_packets_forwarded_total")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = sample("self").expect("/proc/self");
        assert!(s.peak_rss_bytes > 0);
        assert!(s.rss_bytes > 0 && s.rss_bytes <= s.peak_rss_bytes);
        assert!(s.cpu_secs >= 0.0);
    }

    #[test]
    fn finds_a_metric() {
        let page =
            "# HELP x y\n# TYPE x counter\nvardrum_rtp_packets_forwarded_total 1234\nother 5\n";
        assert_eq!(
            metric(page, "vardrum_rtp_packets_forwarded_total"),
            Some(1234.0)
        );
        assert_eq!(metric(page, "missing"), None);
    }
}
