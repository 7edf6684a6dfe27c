//! The load tester against a real vardrum server started by the test: a short group scenario,
//! the same with simulcast, a group visit (waiting room, speaker view, chat), a threshold
//! breach, and bad input.

use std::process::{Command, Output};
use std::time::Instant;

use vardrum::config::Config;
use vardrum::server::Server;

struct Running {
    server: Server,
    dir: tempfile::TempDir,
}

async fn start(max_participants: usize) -> Running {
    start_with(max_participants, |_| {}).await
}

async fn start_with(max_participants: usize, tweak: impl FnOnce(&mut Config)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.media.udp_listen = "127.0.0.1:0".parse().unwrap();
    config.rooms.max_participants = max_participants;
    tweak(&mut config);
    let server = Server::start(config).await.unwrap();
    Running { server, dir }
}

impl Running {
    fn url(&self) -> String {
        format!("http://{}", self.server.http_addr)
    }

    fn secret(&self) -> String {
        self.dir.path().join("token-secret").display().to_string()
    }

    /// The flags that point the load tester at this server, minting tokens from its secret.
    fn target(&self) -> [String; 4] {
        [
            "--url".into(),
            self.url(),
            "--secret-file".into(),
            self.secret(),
        ]
    }
}

/// Runs the load tester binary without blocking the runtime that serves the server.
async fn loadtest(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_vardrum-loadtest"))
            .args(&args)
            .arg("--no-progress")
            .output()
            .expect("run vardrum-loadtest")
    })
    .await
    .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_scenario_receives_every_track_with_little_loss() {
    // Metrics on a port of their own (the public port answers 404 for them), as in production.
    let running = start_with(4, |c| {
        c.http.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let metrics_url = format!("http://{}/metrics", running.server.metrics_addr.unwrap());
    let json = running.dir.path().join("report.json");
    let mut args = s(&[
        "--scenario",
        "group",
        "--rooms",
        "2",
        "--room-size",
        "4",
        "--duration",
        "10",
    ]);
    args.extend(s(&[
        "--video-bitrate",
        "300",
        "--max-loss",
        "1%",
        "--min-join-success",
        "100%",
    ]));
    args.extend(running.target());
    args.extend(["--json".into(), json.display().to_string()]);
    args.extend(["--metrics-url".into(), metrics_url]);
    let out = loadtest(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let tracks = &report["tracks"];
    assert_eq!(tracks["expected"], 48, "{tracks}");
    assert_eq!(
        tracks["receiving"], 48,
        "every subscribed track delivered media: {tracks}"
    );
    assert!(tracks["loss"].as_f64().unwrap() < 0.01, "{tracks}");
    assert!(
        tracks["packets_received"].as_u64().unwrap() > 10_000,
        "{tracks}"
    );
    assert_eq!(report["joins"]["succeeded"], 8);
    assert_eq!(report["passed"], true);
    assert!(
        report["server"]["forwarded_packets_per_sec"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(stdout.contains("latency through server"), "{stdout}");
    running.server.shutdown().await;
}

/// Every video track of the report arrived on `layer` with less than 1 % loss, and nothing
/// else counted as the chosen layer.
fn assert_every_video_track_on(report: &serde_json::Value, layer: &str, video_tracks: u64) {
    let tracks = &report["tracks"];
    let simulcast = &tracks["simulcast"];
    assert_eq!(simulcast["chosen_layer"], layer, "{simulcast}");
    assert_eq!(simulcast["video_tracks"], video_tracks, "{simulcast}");
    assert_eq!(simulcast["on_chosen_layer"], video_tracks, "{simulcast}");
    assert_eq!(simulcast["only_other_layers"], 0, "{simulcast}");
    let video: Vec<&serde_json::Value> = tracks["per_track"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "video")
        .collect();
    assert_eq!(video.len() as u64, video_tracks, "{tracks}");
    for t in video {
        assert_eq!(t["layer"], layer, "{t}");
        assert!(t["loss"].as_f64().unwrap() < 0.01, "{t}");
        assert!(t["packets_received"].as_u64().unwrap() > 100, "{t}");
        // The chosen layer's bitrate, not another's: within 20 % of what it sends.
        let (got, sent) = (
            t["received_kbps"].as_f64().unwrap(),
            t["sent_kbps"].as_f64().unwrap(),
        );
        assert!((got - sent).abs() < sent * 0.2, "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_with_simulcast_delivers_the_chosen_layer() {
    let running = start(3).await;
    let json = running.dir.path().join("report.json");
    let mut args = s(&[
        "--scenario",
        "group",
        "--rooms",
        "1",
        "--room-size",
        "3",
        "--duration",
        "10",
        "--simulcast",
        "--simulcast-quality",
        "medium",
        "--max-loss",
        "1%",
        "--min-join-success",
        "100%",
    ]);
    args.extend(running.target());
    args.extend(["--json".into(), json.display().to_string()]);
    let out = loadtest(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
            .unwrap_or_default();
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{:#}",
        String::from_utf8_lossy(&out.stderr),
        report["tracks"]["per_track"]
    );
    // The table, for `--nocapture`.
    println!("{stdout}");
    // 3 publishers, each received by 2 others: 6 video tracks on h, 6 audio tracks.
    assert_eq!(report["tracks"]["receiving"], 12, "{}", report["tracks"]);
    assert_every_video_track_on(&report, "h", 6);
    assert_eq!(report["passed"], true);
    assert!(
        stdout.contains("video tracks on the chosen layer"),
        "{stdout}"
    );
    running.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_visit_admits_everyone_follows_the_speaker_and_delivers_the_chat() {
    let running = start(2).await;
    let json = running.dir.path().join("report.json");
    let mut args = s(&[
        "--scenario",
        "group-visit",
        "--room-size",
        "5",
        "--duration",
        "9",
        "--simulcast",
        "--video-bitrate",
        "300",
        "--speaker-every",
        "3",
        "--chat-rate",
        "60",
        // Signalling only, so these hold even on a machine busy with other work; the media
        // thresholds are the other tests' (and a loaded machine delays speaker detection, whose
        // check the report's unit tests cover).
        "--min-join-success",
        "100%",
        "--max-admit-p95",
        "5000",
        "--min-chat-delivery",
        "100%",
    ]);
    args.extend(running.target());
    args.extend(["--json".into(), json.display().to_string()]);
    let out = loadtest(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
            .unwrap_or_default();
    // The table, for `--nocapture`.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let visit = &report["group_visit"];
    assert!(visit["not_measured"].is_null(), "{visit}");

    // The four patients waited and the host let each of them in.
    let admission = &visit["admission"];
    assert_eq!(admission["waiting"], 4, "{admission}");
    assert_eq!(admission["admitted"], 4, "{admission}");
    let admit = &admission["join_to_admitted_ms"];
    assert!(admit["p50"].as_f64().unwrap() > 0.0, "{admission}");
    assert!(
        admit["max"].as_f64().unwrap() < 5_000.0,
        "admitted as they arrived: {admission}"
    );
    assert_eq!(report["joins"]["succeeded"], 5);

    // Everyone published and received everyone else, once admitted.
    let tracks = &report["tracks"];
    assert_eq!(tracks["expected"], 5 * 4 * 2, "{tracks}");
    assert_eq!(tracks["receiving"], 5 * 4 * 2, "{tracks}");
    assert!(tracks["loss"].as_f64().unwrap() < 0.05, "{tracks}");

    // The speaker changed every 3 s and subscribers were told, most of them within the turn
    // (a machine busy with other work delays the speakers' audio and the server's decisions).
    assert!(visit["speaker_turns"].as_u64().unwrap() >= 2, "{visit}");
    let switch = &visit["speaker_switch"];
    let (heard, expected) = (
        switch["heard"].as_u64().unwrap(),
        switch["expected"].as_u64().unwrap(),
    );
    assert!(heard >= 4 && heard * 2 >= expected, "{switch}");
    assert_eq!(
        heard + switch["missed"].as_u64().unwrap(),
        expected,
        "{switch}"
    );
    let delay = &switch["delay_ms"];
    // The server decides every 300 ms over a few hundred ms of audio.
    assert!(delay["p50"].as_f64().unwrap() > 100.0, "{switch}");
    assert!(delay["max"].as_f64().unwrap() < 10_000.0, "{switch}");
    assert!(switch["messages"].as_u64().unwrap() >= heard, "{switch}");

    // About one chat message a second, each to all five (the sender included).
    let chat = &visit["chat"];
    let sent = chat["sent"].as_u64().unwrap();
    assert!(sent >= 4, "{chat}");
    assert!(chat["expected"].as_u64().unwrap() >= sent * 4, "{chat}");
    assert_eq!(chat["received"], chat["expected"], "{chat}");

    // Speaker view: the speaker on the top layer, the tiles on the bottom one.
    let layers = &visit["layers"];
    assert!(layers["speaker_frames"].as_u64().unwrap() > 100, "{layers}");
    assert!(layers["tile_frames"].as_u64().unwrap() > 100, "{layers}");
    // (Switches wait for a keyframe of the new layer; most frames come on the right one.)
    assert!(layers["speaker_on_top"].as_f64().unwrap() > 0.5, "{layers}");
    assert!(
        layers["tiles_on_bottom"].as_f64().unwrap() > 0.5,
        "{layers}"
    );

    for name in [
        "max_admit_p95_ms",
        "min_chat_delivery",
        "speaker_view_layers",
    ] {
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name);
        assert_eq!(check.map(|c| &c["passed"]), Some(&true.into()), "{name}");
    }
    assert!(stdout.contains("speaker-switch delay"), "{stdout}");
    assert!(stdout.contains("join -> admitted"), "{stdout}");
    running.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_admitting_in_batches_keeps_patients_waiting_until_it_looks() {
    let running = start(2).await;
    let json = running.dir.path().join("report.json");
    let mut args = s(&[
        "--scenario",
        "group-visit",
        "--room-size",
        "3",
        "--duration",
        "3",
        "--admit-interval",
        "2",
        "--chat-rate",
        "0",
        "--video-bitrate",
        "100",
    ]);
    args.extend(running.target());
    args.extend(["--json".into(), json.display().to_string()]);
    let out = loadtest(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let admission = &report["group_visit"]["admission"];
    assert_eq!(admission["admitted"], 2, "{admission}");
    // The patients arrive 0.1 and 0.2 s in; the host looks at 0 s (nobody yet) and at 2 s.
    let admit = &admission["join_to_admitted_ms"];
    assert!(admit["p50"].as_f64().unwrap() > 1_000.0, "{admission}");
    assert!(admit["max"].as_f64().unwrap() < 4_000.0, "{admission}");
    assert_eq!(report["group_visit"]["chat"]["sent"], 0);
    running.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breached_threshold_exits_with_2() {
    // Rooms hold two, the scenario wants four: half the joins are refused as room_full.
    let running = start(2).await;
    let mut args = s(&[
        "--scenario",
        "group",
        "--room-size",
        "4",
        "--duration",
        "1",
        "--min-join-success",
        "0.99",
    ]);
    args.extend(running.target());
    let out = loadtest(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("room_full"), "{stdout}");
    assert!(stdout.contains("BREACHED"), "{stdout}");
    running.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_message_and_exit_1_without_hanging() {
    let running = start(2).await;
    let url = running.url();
    let secret = running.secret();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (s(&["--scenario", "party"]), "invalid value 'party'"),
        (
            s(&[
                "--scenario",
                "group",
                "--metrics-url",
                "https://10.0.0.1/metrics",
            ]),
            "--metrics-url must be an http:// URL",
        ),
        (
            s(&[
                "--scenario",
                "group",
                "--target",
                "janus",
                "--metrics-url",
                "http://127.0.0.1:9/metrics",
            ]),
            "--metrics-url is for vardrum",
        ),
        (
            s(&["--scenario", "group", "--rooms", "0"]),
            "--rooms must be 1 to 10000",
        ),
        (
            s(&["--scenario", "one-to-one", "--room-size", "3"]),
            "a one-to-one visit has 2 participants",
        ),
        (
            s(&["--scenario", "webinar", "--publishers", "5"]),
            "1 to 3 publishers",
        ),
        (
            s(&["--scenario", "group", "--packet-size", "9000"]),
            "--packet-size",
        ),
        (
            s(&["--scenario", "group", "--max-loss", "150%"]),
            "not between 0 and 1",
        ),
        (s(&["--scenario", "group"]), "no way to get join tokens"),
        (
            s(&[
                "--scenario",
                "group",
                "--url",
                "http://127.0.0.1:9",
                "--secret-file",
                "/dev/null",
            ]),
            "cannot be reached",
        ),
        (
            vec![
                "--scenario".into(),
                "one-to-one".into(),
                "--url".into(),
                url.clone(),
                "--secret-file".into(),
                "/nonexistent".into(),
            ],
            "cannot read /nonexistent",
        ),
        (
            s(&[
                "--scenario",
                "group",
                "--target",
                "janus",
                "--url",
                "ws://127.0.0.1:9",
            ]),
            "cannot be reached",
        ),
        (
            s(&["--scenario", "group", "--target", "janus", "--url", &url]),
            "a Janus URL is its WebSocket transport's",
        ),
        (
            vec![
                "--scenario".into(),
                "group".into(),
                "--target".into(),
                "janus".into(),
                "--url".into(),
                url.replace("http://", "ws://"),
            ],
            "cannot be reached",
        ),
        (
            s(&[
                "--scenario",
                "group",
                "--target",
                "janus",
                "--secret-file",
                "/dev/null",
            ]),
            "Janus needs no join tokens",
        ),
        (
            s(&["--scenario", "group", "--target", "jitsi"]),
            "invalid value 'jitsi'",
        ),
        (
            s(&["--scenario", "audio-only", "--simulcast"]),
            "--simulcast needs video",
        ),
        (
            s(&["--scenario", "group", "--simulcast-quality", "low"]),
            "add --simulcast",
        ),
        (
            s(&[
                "--scenario",
                "group",
                "--simulcast",
                "--simulcast-quality",
                "ultra",
            ]),
            "invalid value 'ultra'",
        ),
        (
            s(&["--scenario", "group", "--speaker-every", "3"]),
            "--speaker-every is for --scenario group-visit",
        ),
        (
            s(&["--scenario", "group", "--max-admit-p95", "500"]),
            "--max-admit-p95 is for --scenario group-visit",
        ),
        (
            s(&[
                "--scenario",
                "group-visit",
                "--simulcast",
                "--simulcast-quality",
                "low",
            ]),
            "does not apply to a group visit",
        ),
        (
            s(&["--scenario", "group-visit", "--speaker-every", "0.5"]),
            "--speaker-every must be 1 to 3600 s",
        ),
        (
            s(&[
                "--scenario",
                "group-visit",
                "--room-size",
                "3",
                "--chat-rate",
                "500",
            ]),
            "--chat-rate must be 0 to 180",
        ),
        (
            s(&[
                "--scenario",
                "group-visit",
                "--target",
                "janus",
                "--max-speaker-switch-p95",
                "800",
            ]),
            "--max-speaker-switch-p95 cannot be checked on Janus",
        ),
    ];
    for (args, expected) in cases {
        let started = Instant::now();
        let out = loadtest(args.clone()).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(started.elapsed().as_secs() < 30, "{args:?} took too long");
    }

    // Tokens signed with another secret: every join is refused, and the run says why.
    let wrong = running.dir.path().join("wrong-secret");
    std::fs::write(&wrong, "x".repeat(64)).unwrap();
    let out = loadtest(vec![
        "--scenario".into(),
        "one-to-one".into(),
        "--duration".into(),
        "1".into(),
        "--url".into(),
        url,
        "--secret-file".into(),
        wrong.display().to_string(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no participant could join: 2 x token_invalid"),
        "{stderr}"
    );

    // A token service that hands out expired tokens: refused as token_expired, said so, exit 1.
    let secret = std::fs::read(&secret).unwrap();
    let expired = vardrum_signalling::token::TokenIssuer::new(&secret)
        .mint(
            &vardrum_signalling::token::Grant::visit(
                "lt",
                "Load",
                "any",
                vardrum_signalling::Role::Patient,
            ),
            1_000_000_000,
            60,
        )
        .unwrap();
    let tokens = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", tokens.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = tokens.accept().await {
            let mut buf = [0u8; 2048];
            let _ = conn.read(&mut buf).await;
            let body = expired.clone();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    let out = loadtest(vec![
        "--scenario".into(),
        "one-to-one".into(),
        "--duration".into(),
        "1".into(),
        "--url".into(),
        running.url(),
        "--token-url".into(),
        token_url,
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no participant could join: 2 x token_expired"),
        "{stderr}"
    );
    running.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_the_rooms_and_reports_what_was_measured() {
    let running = start(2).await;
    let json = running.dir.path().join("partial.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_vardrum-loadtest"))
        .args([
            "--scenario",
            "one-to-one",
            "--calls",
            "2",
            "--duration",
            "600",
            "--no-progress",
        ])
        .args(["--url", &running.url(), "--secret-file", &running.secret()])
        .args(["--json", &json.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until media flows through the server (its own counter), then press ^C.
    let sfu = running.server.state.sfu.clone();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while sfu.stats().snapshot().rtp_packets_forwarded < 200 {
        assert!(
            Instant::now() < deadline,
            "no media flowed through the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["joins"]["succeeded"], 4);
    assert!(report["tracks"]["packets_received"].as_u64().unwrap() > 0);
    // Everyone left: the server's rooms empty out.
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while sfu.room_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "the load tester's rooms were not left"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    running.server.shutdown().await;
}
