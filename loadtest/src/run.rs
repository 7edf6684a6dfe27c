//! One load-test run: check the server is there, ramp participants up, keep them for the
//! duration (with churn if asked), show progress, then leave and report. The server is vardrum
//! or, for comparison, a Janus VideoRoom ([`Target`]). A group visit's rooms have a conductor
//! each ([`crate::group_visit`]), which is stopped [`SETTLE`] before everyone leaves.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::collector::Collector;
use crate::group_visit::{SETTLE, VisitRoom};
use crate::janus::{self, JanusShared};
use crate::participant::{self, Plan, Shared};
use crate::report::{self, Report, Thresholds};
use crate::scenario::Scenario;
use crate::server_stats;
use crate::tokens::TokenSource;

/// The kind of server under test.
pub enum Target {
    /// vardrum: its signalling protocol, with join tokens.
    Vardrum { tokens: TokenSource },
    /// A Janus VideoRoom over Janus' WebSocket transport; no tokens.
    Janus,
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Vardrum { .. } => "vardrum",
            Target::Janus => "janus",
        }
    }
}

pub struct RunConfig {
    /// vardrum: the server's base URL, e.g. `http://127.0.0.1:8080`. Janus: its WebSocket URL,
    /// e.g. `ws://127.0.0.1:8188`.
    pub url: String,
    pub target: Target,
    pub scenario: Scenario,
    /// The server's process id, for CPU and memory (server on this machine only).
    pub server_pid: Option<u32>,
    /// vardrum's `/metrics`, when not at `url`/metrics.
    pub metrics_url: Option<String>,
    pub thresholds: Thresholds,
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the server at {0} cannot be reached: {1}")]
    Unreachable(String, String),
    #[error("{0}")]
    BadUrl(String),
}

fn ws_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}/ws"),
        None => format!("ws://{}/ws", base.trim_start_matches("http://")),
    }
}

/// Runs the scenario until its duration is over or `interrupt` completes (^C).
pub async fn run(
    config: RunConfig,
    interrupt: impl Future<Output = ()>,
) -> Result<Report, RunError> {
    let base = config.url.trim_end_matches('/').to_owned();
    let target_kind = config.target.name();
    match &config.target {
        Target::Vardrum { .. } => {
            crate::http::get(&format!("{base}/healthz"), Duration::from_secs(5))
                .await
                .map_err(|e| RunError::Unreachable(base.clone(), e.to_string()))?;
        }
        Target::Janus => {
            if !(base.starts_with("ws://") || base.starts_with("wss://")) {
                return Err(RunError::BadUrl(format!(
                    "--url {base}: a Janus URL is its WebSocket transport's, ws://host:port \
                     (e.g. ws://127.0.0.1:8188)"
                )));
            }
            tokio::time::timeout(Duration::from_secs(5), janus::server_info(&base))
                .await
                .unwrap_or_else(|_| Err("no answer to info within 5 s".into()))
                .map_err(|e| RunError::Unreachable(base.clone(), e))?;
        }
    }

    let scenario = config.scenario.clone();
    let collector = Arc::new(Collector::default());
    let driver = match config.target {
        Target::Vardrum { tokens } => Driver::Vardrum(Arc::new(Shared {
            ws_url: ws_url(&base),
            tokens,
            collector: collector.clone(),
        })),
        Target::Janus => Driver::Janus(Arc::new(JanusShared {
            url: base.clone(),
            collector: collector.clone(),
            // Rooms outlive a run on Janus: number this run's rooms apart from earlier ones.
            room_base: rand::random_range(1u64..1 << 40) * 10_000,
            room_publishers: scenario.room_size,
        })),
    };
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let announces = matches!(driver, Driver::Vardrum(_));
    let visits: Vec<Arc<VisitRoom>> = match scenario.visit {
        Some(settings) => (0..scenario.rooms)
            .map(|r| {
                Arc::new(VisitRoom::new(
                    r,
                    (r * scenario.room_size) as u32,
                    scenario.room_size,
                    settings,
                    announces,
                    collector.clone(),
                ))
            })
            .collect(),
        None => Vec::new(),
    };
    let admit_interval =
        Duration::from_secs_f64(scenario.visit.map_or(0.0, |v| v.admit_interval_secs));
    // With simulcast, a group visit's subscribers choose layers with track_settings; the
    // server starts every subscription on the top layer.
    let simulcast = match (scenario.simulcast, scenario.simulcast_quality) {
        (true, None) => Some(crate::scenario::SimulcastQuality::High),
        (_, quality) => quality,
    };
    let plans: Vec<Plan> = (0..scenario.rooms)
        .flat_map(|r| (0..scenario.room_size).map(move |k| (r, k)))
        .map(|(r, k)| {
            let index = (r * scenario.room_size + k) as u32;
            Plan {
                index,
                identity: format!("lt-{run_id}-{index}"),
                room: format!("lt-{run_id}-r{r}"),
                publish: k < scenario.publishers,
                audio: scenario.audio,
                video: scenario.video,
                simulcast,
                room_index: r,
                first_in_room: k == 0,
                visit: visits.get(r).cloned(),
                host: k == 0,
                admit_interval,
            }
        })
        .collect();

    let pid = config.server_pid.map(|p| p.to_string());
    let server_before = pid.as_deref().and_then(server_stats::sample);
    let self_before = server_stats::sample("self");
    // Janus has no forwarded-packet counter to read: reported as unknown.
    let metrics_url = matches!(driver, Driver::Vardrum(_)).then(|| {
        config
            .metrics_url
            .clone()
            .unwrap_or_else(|| format!("{base}/metrics"))
    });
    let forwarded_before = forwarded(metrics_url.as_deref()).await;

    let progress = Progress::new(config.progress, plans.len());
    let started = Instant::now();
    let mut conductors = JoinSet::new();
    let mut conductor_stops: Vec<oneshot::Sender<Duration>> = Vec::new();
    for room in &visits {
        let (tx, rx) = oneshot::channel();
        conductors.spawn(room.clone().conduct(rx));
        conductor_stops.push(tx);
    }
    tokio::pin!(interrupt);
    let mut interrupted = false;
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut stops: Vec<watch::Sender<bool>> = Vec::new();
    let spawn = |tasks: &mut JoinSet<()>, plan: Plan| {
        let (tx, rx) = watch::channel(false);
        match &driver {
            Driver::Vardrum(shared) => {
                let shared = shared.clone();
                tasks.spawn(async move {
                    participant::run(plan, shared, rx).await;
                });
            }
            Driver::Janus(shared) => {
                let shared = shared.clone();
                tasks.spawn(async move {
                    janus::run(plan, shared, rx).await;
                });
            }
        }
        tx
    };

    // Ramp up: pace the joins, as real arrivals would be.
    let gap = Duration::from_secs_f64(1.0 / scenario.ramp_up_per_sec);
    for plan in &plans {
        stops.push(spawn(&mut tasks, plan.clone()));
        progress.update(&collector, &scenario);
        tokio::select! {
            _ = tokio::time::sleep(gap) => {}
            _ = &mut interrupt => { interrupted = true; break; }
        }
    }

    // Steady state, with churn: someone leaves and joins again every so often.
    if !interrupted {
        let end = tokio::time::Instant::now() + scenario.duration;
        let churn_every = (scenario.churn_per_min > 0.0)
            .then(|| Duration::from_secs_f64(60.0 / scenario.churn_per_min));
        let mut next_churn = churn_every.map(|d| tokio::time::Instant::now() + d);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => break,
                _ = &mut interrupt => { interrupted = true; break; }
                _ = tick.tick() => progress.update(&collector, &scenario),
                _ = sleep_until_opt(next_churn) => {
                    let i = rand::random_range(0..plans.len());
                    let _ = stops[i].send(true);
                    stops[i] = spawn(&mut tasks, plans[i].clone());
                    next_churn = churn_every.map(|d| tokio::time::Instant::now() + d);
                }
            }
        }
    }
    // A group visit: the rotation and the chat stop, and the last switch and messages get time
    // to arrive before anyone leaves (not after ^C).
    let settle = if interrupted { Duration::ZERO } else { SETTLE };
    for stop in conductor_stops {
        let _ = stop.send(settle);
    }
    let _ = tokio::time::timeout(settle + Duration::from_secs(5), async {
        while conductors.join_next().await.is_some() {}
    })
    .await;
    conductors.abort_all();
    let elapsed = started.elapsed().as_secs_f64();
    let server_after = pid.as_deref().and_then(server_stats::sample);
    let forwarded_after = forwarded(metrics_url.as_deref()).await;

    // Everyone leaves; a participant that hangs is not waited for forever.
    for stop in &stops {
        let _ = stop.send(true);
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    progress.finish();
    let self_after = server_stats::sample("self");

    Ok(report::build(report::Inputs {
        target: base,
        target_kind,
        scenario: &scenario,
        collector: &collector,
        interrupted,
        elapsed_secs: elapsed,
        server_before,
        server_after,
        forwarded: match (forwarded_before, forwarded_after) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        loadtest_cpu_secs: match (self_before, self_after) {
            (Some(a), Some(b)) => Some(b.cpu_secs - a.cpu_secs),
            _ => None,
        },
        thresholds: config.thresholds,
    }))
}

async fn forwarded(metrics_url: Option<&str>) -> Option<f64> {
    server_stats::forwarded_packets(metrics_url?).await
}

/// What each participant task is given, per kind of server.
enum Driver {
    Vardrum(Arc<Shared>),
    Janus(Arc<JanusShared>),
}

pub(crate) async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The live view: participants joined, tracks flowing, current loss and latency.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(enabled: bool, total: usize) -> Self {
        let bar = enabled.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} joined  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self { bar }
    }

    fn update(&self, collector: &Collector, scenario: &Scenario) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(collector.joins.load(std::sync::atomic::Ordering::Relaxed));
        // With simulcast, only the chosen layer of video counts, as in the report.
        let tracks: Vec<_> = collector
            .tracks()
            .into_iter()
            .filter(|(_, t)| report::counts(scenario, t))
            .collect();
        let flowing: HashSet<_> = tracks
            .iter()
            .map(|(r, t)| (*r, t.publisher, t.kind))
            .collect();
        let (mut received, mut expected) = (0u64, 0u64);
        let mut p99: u64 = 0;
        for (_, t) in &tracks {
            received += t.received;
            expected += t.expected().max(t.received);
            if !t.latency.is_empty() {
                p99 = p99.max(t.latency.value_at_quantile(0.99));
            }
        }
        let loss = if expected == 0 {
            0.0
        } else {
            1.0 - received as f64 / expected as f64
        };
        bar.set_message(format!(
            "tracks {}/{}  loss {:.2} %  worst p99 {:.1} ms",
            flowing.len(),
            scenario.expected_subscriptions(),
            loss * 100.0,
            p99 as f64 / 1000.0
        ));
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
