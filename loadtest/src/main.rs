//! The `vardrum-loadtest` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vardrum_loadtest::http::split_url;
use vardrum_loadtest::report::Thresholds;
use vardrum_loadtest::run::{RunConfig, Target, run};
use vardrum_loadtest::scenario::{ScenarioKind, ScenarioSpec, SimulcastQuality};
use vardrum_loadtest::tokens::TokenSource;
use vardrum_signalling::token::TokenIssuer;

#[derive(Debug, Parser)]
#[command(
    name = "vardrum-loadtest",
    version,
    about = "Load-test a vardrum media server (or a Janus VideoRoom) with real WebRTC participants",
    long_about = "Load-test a vardrum media server with real WebRTC participants; with \
        --target janus, run the same scenario against a Janus VideoRoom for comparison.\n\n\
        Exit status: 0 when every threshold holds, 2 when one is breached, 1 on bad input or \
        when the server cannot be reached."
)]
struct Cli {
    /// The kind of server under test.
    #[arg(long, value_enum, default_value = "vardrum")]
    target: TargetKind,
    /// vardrum: the server's base URL (default http://127.0.0.1:8080). Janus: its WebSocket
    /// transport's URL (default ws://127.0.0.1:8188).
    #[arg(long)]
    url: Option<String>,
    /// The server's token signing secret file (e.g. data/token-secret), to mint join tokens
    /// (vardrum only).
    #[arg(long, conflicts_with = "token_url")]
    secret_file: Option<PathBuf>,
    /// A URL that hands out join tokens (GET with room, identity, name, role parameters, and
    /// kind=group in a group visit; vardrum only).
    #[arg(long)]
    token_url: Option<String>,
    /// one-to-one, group, webinar, audio-only or group-visit (per room a host and
    /// room-size - 1 patients who wait until admitted; one speaker at a time; chat).
    #[arg(long, value_enum)]
    scenario: Option<ScenarioKind>,
    /// A TOML scenario file; flags override its values.
    #[arg(long)]
    scenario_file: Option<PathBuf>,
    /// Concurrent 1:1 visits (one-to-one; the same as --rooms).
    #[arg(long)]
    calls: Option<usize>,
    /// Rooms.
    #[arg(long)]
    rooms: Option<usize>,
    /// Participants per room.
    #[arg(long)]
    room_size: Option<usize>,
    /// Publishers per room (webinar: 1 to 3).
    #[arg(long)]
    publishers: Option<usize>,
    /// Seconds to hold the load after everyone has been started.
    #[arg(long)]
    duration: Option<f64>,
    /// Joins per second while ramping up.
    #[arg(long)]
    ramp_up: Option<f64>,
    /// Participants per minute that leave and join again.
    #[arg(long)]
    churn: Option<f64>,
    /// Target video bitrate per publisher, kbit/s.
    #[arg(long)]
    video_bitrate: Option<u64>,
    /// Video frame rate.
    #[arg(long)]
    fps: Option<u32>,
    /// Largest RTP payload, bytes.
    #[arg(long)]
    packet_size: Option<usize>,
    /// Publish video as three simulcast layers (rids q, h, f at 1/4, 1/2 and all of
    /// --video-bitrate), and measure the layer subscribers ask for; a video track on which only
    /// other layers arrive fails the run (exit 2).
    #[arg(long)]
    simulcast: bool,
    /// With --simulcast: the layer subscribers ask for (low = q, medium = h, high = f; default
    /// high).
    #[arg(long, value_enum)]
    simulcast_quality: Option<SimulcastQuality>,
    /// Group visit: the host admits (admit_all) everyone waiting every SECS seconds; 0, the
    /// default, admits each patient as they arrive.
    #[arg(long, value_name = "SECS")]
    admit_interval: Option<f64>,
    /// Group visit: the speaker changes every SECS seconds (default 5, each turn ±10 % at
    /// random); one person is loud at a time (RFC 6464 audio levels), everyone else silent.
    #[arg(long, value_name = "SECS")]
    speaker_every: Option<f64>,
    /// Group visit: chat messages per minute per room (default 6), sent by the participants
    /// in turn; 0 sends none.
    #[arg(long, value_name = "PER_MIN")]
    chat_rate: Option<f64>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Fail when loss after retransmission exceeds this fraction (0.01 or 1%).
    #[arg(long, value_parser = fraction)]
    max_loss: Option<f64>,
    /// Fail when the p99 latency through the server exceeds this many milliseconds.
    #[arg(long)]
    max_latency_p99: Option<f64>,
    /// Fail when fewer joins than this fraction succeed (0.99 or 99%).
    #[arg(long, value_parser = fraction)]
    min_join_success: Option<f64>,
    /// Group visit: fail when the p95 of join -> admitted exceeds this many milliseconds, or
    /// a patient who waited was never admitted.
    #[arg(long, value_name = "MS")]
    max_admit_p95: Option<f64>,
    /// Group visit: fail when the p95 of the speaker-switch delay (the new speaker loud ->
    /// `speaker` received; a subscriber never told counts with the whole turn) exceeds this
    /// many milliseconds.
    #[arg(long, value_name = "MS")]
    max_speaker_switch_p95: Option<f64>,
    /// Group visit: fail when fewer chat deliveries than this fraction arrive (0.99 or 99%).
    #[arg(long, value_parser = fraction)]
    min_chat_delivery: Option<f64>,
    /// The server's process id, to report its CPU and memory (server on this machine).
    #[arg(long)]
    server_pid: Option<u32>,
    /// vardrum: where its Prometheus metrics are (forwarded packets/s), when the server serves
    /// them on a port of their own (`http.metrics_listen`); default URL/metrics.
    #[arg(long, value_name = "URL")]
    metrics_url: Option<String>,
    /// No live progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TargetKind {
    /// vardrum's signalling protocol, with join tokens.
    Vardrum,
    /// A Janus VideoRoom over Janus' WebSocket transport (no tokens).
    Janus,
}

fn fraction(s: &str) -> Result<f64, String> {
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (s, 1.0),
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    let v = v / scale;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{s:?} is not between 0 and 1 (or 0% and 100%)"));
    }
    Ok(v)
}

/// Where vardrum join tokens come from: a token URL, the server's secret file, or
/// `VARDRUM_TOKEN_SECRET`.
fn tokens(cli: &Cli) -> Result<TokenSource, String> {
    match (&cli.secret_file, &cli.token_url) {
        (_, Some(url)) => Ok(TokenSource::Url(url.clone())),
        (Some(path), None) => match std::fs::read_to_string(path) {
            Ok(secret) => Ok(TokenSource::Secret(TokenIssuer::new(
                secret.trim().as_bytes(),
            ))),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        },
        (None, None) => match std::env::var("VARDRUM_TOKEN_SECRET") {
            Ok(secret) if !secret.trim().is_empty() => Ok(TokenSource::Secret(TokenIssuer::new(
                secret.trim().as_bytes(),
            ))),
            _ => Err(
                "no way to get join tokens: give --secret-file (the server's token secret), \
                 --token-url, or VARDRUM_TOKEN_SECRET"
                    .into(),
            ),
        },
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("vardrum-loadtest: {message}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    // Usage errors exit 1 like every other bad input; 2 is reserved for a breached threshold.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,rtc=error,rtc_dtls=error,rtc_ice=error,webrtc=error",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let file = match &cli.scenario_file {
        Some(path) => match ScenarioSpec::from_file(path) {
            Ok(spec) => spec,
            Err(e) => return fail(e),
        },
        None => ScenarioSpec::default(),
    };
    let flags = ScenarioSpec {
        scenario: cli.scenario,
        rooms: cli.rooms.or(cli.calls),
        room_size: cli.room_size,
        publishers: cli.publishers,
        duration_secs: cli.duration,
        ramp_up_per_sec: cli.ramp_up,
        churn_per_min: cli.churn,
        video_bitrate_kbps: cli.video_bitrate,
        fps: cli.fps,
        packet_size: cli.packet_size,
        simulcast: cli.simulcast.then_some(true),
        simulcast_quality: cli.simulcast_quality,
        admit_interval_secs: cli.admit_interval,
        speaker_every_secs: cli.speaker_every,
        chat_per_min: cli.chat_rate,
    };
    let scenario = match file.overlay(flags).resolve() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if scenario.visit.is_none() {
        let visit_thresholds = [
            ("--max-admit-p95", cli.max_admit_p95.is_some()),
            (
                "--max-speaker-switch-p95",
                cli.max_speaker_switch_p95.is_some(),
            ),
            ("--min-chat-delivery", cli.min_chat_delivery.is_some()),
        ];
        if let Some((flag, _)) = visit_thresholds.iter().find(|(_, set)| *set) {
            return fail(format!("{flag} is for --scenario group-visit"));
        }
    }
    let target = match cli.target {
        TargetKind::Janus => {
            if cli.secret_file.is_some() || cli.token_url.is_some() {
                return fail(
                    "--secret-file and --token-url are for vardrum; Janus needs no join tokens",
                );
            }
            if cli.metrics_url.is_some() {
                return fail("--metrics-url is for vardrum; Janus has no metrics endpoint to read");
            }
            let visit_thresholds = [
                ("--max-admit-p95", cli.max_admit_p95.is_some()),
                (
                    "--max-speaker-switch-p95",
                    cli.max_speaker_switch_p95.is_some(),
                ),
                ("--min-chat-delivery", cli.min_chat_delivery.is_some()),
            ];
            if let Some((flag, _)) = visit_thresholds.iter().find(|(_, set)| *set) {
                return fail(format!(
                    "{flag} cannot be checked on Janus: VideoRoom has no waiting room, no \
                     speaker messages and no chat (the group-visit scenario runs there with the \
                     same media and says what it did not measure)"
                ));
            }
            Target::Janus
        }
        TargetKind::Vardrum
            if cli
                .metrics_url
                .as_deref()
                .is_some_and(|u| split_url(u).is_err()) =>
        {
            return fail("--metrics-url must be an http:// URL (the server's internal address)");
        }
        TargetKind::Vardrum => match tokens(&cli) {
            Ok(tokens) => Target::Vardrum { tokens },
            Err(message) => return fail(message),
        },
    };
    let url = cli.url.clone().unwrap_or_else(|| {
        match cli.target {
            TargetKind::Vardrum => "http://127.0.0.1:8080",
            TargetKind::Janus => "ws://127.0.0.1:8188",
        }
        .to_owned()
    });
    let config = RunConfig {
        url,
        target,
        scenario,
        server_pid: cli.server_pid,
        metrics_url: cli.metrics_url.clone(),
        thresholds: Thresholds {
            max_loss: cli.max_loss,
            max_latency_p99_ms: cli.max_latency_p99,
            min_join_success: cli.min_join_success,
            max_admit_p95_ms: cli.max_admit_p95,
            max_speaker_switch_p95_ms: cli.max_speaker_switch_p95,
            min_chat_delivery: cli.min_chat_delivery,
        },
        progress: !cli.no_progress,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let report = runtime.block_on(run(config, async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("vardrum-loadtest: interrupted, leaving rooms and reporting what was measured");
    }));
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    println!("{}", report.table());
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            return fail(format!("cannot write {}: {e}", path.display()));
        }
    }
    if report.joins.succeeded == 0 && !report.interrupted {
        let why: Vec<String> = report
            .joins
            .failures
            .iter()
            .map(|(reason, n)| format!("{n} x {reason}"))
            .collect();
        return fail(format!("no participant could join: {}", why.join(", ")));
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        eprintln!("vardrum-loadtest: a threshold was breached");
        ExitCode::from(2)
    }
}
