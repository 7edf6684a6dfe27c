//! The load tester against a real Janus VideoRoom (Debian package `janus`), started by the test
//! inside its own loopback-only network namespace (`loadtest/janus/netns.sh`: Janus needs the
//! veth trick to gather a candidate on 127.0.0.1, see `loadtest/janus/README.md`).
//!
//! A test process cannot easily move itself into a namespace, so the test runs
//! `unshare -n netns.sh bash -c '...'`, which starts Janus (`run-janus.sh`), waits for its ready
//! line, runs the `vardrum-loadtest` binary against it and stops Janus; then it checks the JSON
//! report (the group scenario, with and without simulcast, and the group visit's closest
//! equivalent). Without Janus (`/usr/bin/janus`) the test is skipped, unless `CI` is set: then a
//! missing Janus is a failure, so the comparison cannot silently stop being tested.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Whether this machine can run the test; `false` means skip (with the reason printed).
fn can_run() -> bool {
    let ci = std::env::var_os("CI").is_some();
    let missing = if !Path::new("/usr/bin/janus").exists() {
        Some("Janus is not installed (/usr/bin/janus): apt-get install -y janus")
    } else if !Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        Some("cannot create a network namespace (`unshare -n` needs root)")
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if ci => panic!("CI is set, and {why}"),
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// Inside the namespace: Janus in the background, the load tester in the foreground.
const INSIDE: &str = r#"
set -u
"$JANUS_DIR/run-janus.sh" >"$OUT/ready" 2>"$OUT/janus.log" &
jpid=$!
for _ in $(seq 150); do
    grep -q '^janus ready' "$OUT/ready" && break
    kill -0 "$jpid" 2>/dev/null || { echo "janus exited early:" >&2; cat "$OUT/janus.log" >&2; exit 90; }
    sleep 0.1
done
grep -q '^janus ready' "$OUT/ready" || { echo "janus not ready in 15 s" >&2; kill "$jpid"; exit 91; }
# $SCENARIO and $EXTRA: more flags, split on spaces.
"$LOADTEST" --target janus $SCENARIO --duration 5 \
    --max-loss 1% --min-join-success 100% --no-progress --server-pid "$jpid" --json "$OUT/report.json" \
    $EXTRA
rc=$?
kill -INT "$jpid"
wait "$jpid" || echo "janus exited with $?" >&2
exit "$rc"
"#;

/// Runs the group scenario (1 room of 3, 5 s) against a fresh Janus with `extra` flags; returns
/// the load tester's stdout and its JSON report, after checking it exited 0.
fn run_against_janus(extra: &str) -> (String, serde_json::Value) {
    run_scenario_against_janus("--scenario group --rooms 1 --room-size 3", extra)
}

/// The same with another scenario (`--scenario ...` and its size).
fn run_scenario_against_janus(scenario: &str, extra: &str) -> (String, serde_json::Value) {
    let out_dir = tempfile::tempdir().unwrap();
    let janus_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("janus");
    let started = Instant::now();
    let out = Command::new("timeout")
        .args(["90", "unshare", "-n"])
        .arg(janus_dir.join("netns.sh"))
        .args(["bash", "-c", INSIDE])
        .env("JANUS_DIR", &janus_dir)
        .env("OUT", out_dir.path())
        .env("LOADTEST", env!("CARGO_BIN_EXE_vardrum-loadtest"))
        .env("SCENARIO", scenario)
        .env("EXTRA", extra)
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let janus_log = std::fs::read_to_string(out_dir.path().join("janus.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{stderr}\nJanus log:\n{janus_log}",
        out.status
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.path().join("report.json")).unwrap())
            .unwrap();
    assert!(
        started.elapsed().as_secs() < 40,
        "took {:?}",
        started.elapsed()
    );
    (stdout.into_owned(), report)
}

#[test]
fn a_group_scenario_against_janus_receives_every_track() {
    if !can_run() {
        return;
    }
    let (stdout, report) = run_against_janus("");
    assert_eq!(report["target_kind"], "janus");
    assert_eq!(report["joins"]["succeeded"], 3, "{}", report["joins"]);
    let tracks = &report["tracks"];
    // 3 publishers, each received by 2 others, audio and video.
    assert_eq!(tracks["expected"], 12, "{tracks}");
    assert_eq!(
        tracks["receiving"], 12,
        "every subscribed track delivered media: {tracks}"
    );
    assert!(tracks["loss"].as_f64().unwrap() < 0.01, "{tracks}");
    assert!(
        tracks["packets_received"].as_u64().unwrap() > 2_000,
        "{tracks}"
    );
    let server = &report["server"];
    assert!(server["cpu_secs"].as_f64().unwrap() > 0.0, "{server}");
    assert!(server["peak_rss_bytes"].as_u64().unwrap() > 0, "{server}");
    assert!(
        server["forwarded_packets_per_sec"].is_null(),
        "Janus has no forwarded-packet counter: {server}"
    );
    assert_eq!(report["passed"], true);
    assert!(stdout.contains("janus ws://127.0.0.1:8188"), "{stdout}");
}

/// Simulcast: the publishers' three rid layers reach Janus (which finds their VP8 keyframes),
/// and each subscriber gets substream 0, the `q` layer, after asking for it.
#[test]
fn a_simulcast_group_against_janus_receives_the_chosen_layer() {
    if !can_run() {
        return;
    }
    let (stdout, report) = run_against_janus("--simulcast --simulcast-quality low");
    let tracks = &report["tracks"];
    assert_eq!(tracks["receiving"], 12, "{tracks}");
    let simulcast = &tracks["simulcast"];
    assert_eq!(simulcast["chosen_layer"], "q", "{simulcast}");
    assert_eq!(simulcast["on_chosen_layer"], 6, "{simulcast}");
    assert_eq!(simulcast["only_other_layers"], 0, "{simulcast}");
    for t in tracks["per_track"].as_array().unwrap() {
        if t["kind"] == "video" {
            assert_eq!(t["layer"], "q", "{t}");
            assert!(t["loss"].as_f64().unwrap() < 0.01, "{t}");
            let (got, sent) = (
                t["received_kbps"].as_f64().unwrap(),
                t["sent_kbps"].as_f64().unwrap(),
            );
            assert!((got - sent).abs() < sent * 0.2, "{t}");
        }
    }
    assert_eq!(report["passed"], true);
    assert!(stdout.contains("layer: q"), "{stdout}");
}

/// A group visit runs as its closest equivalent: everyone in at once, the same turns and audio
/// levels, the load tester's speaker on substream 2 and the tiles on substream 0; the report
/// says what VideoRoom cannot show.
#[test]
fn a_group_visit_against_janus_runs_its_closest_equivalent() {
    if !can_run() {
        return;
    }
    let (stdout, report) = run_scenario_against_janus(
        "--scenario group-visit --room-size 4",
        "--simulcast --speaker-every 1.5 --video-bitrate 300",
    );
    let tracks = &report["tracks"];
    // A host and 3 patients, everyone received by the 3 others, audio and video.
    assert_eq!(tracks["receiving"], 4 * 3 * 2, "{tracks}");
    let visit = &report["group_visit"];
    assert!(
        visit["not_measured"]
            .as_str()
            .unwrap()
            .contains("no waiting room"),
        "{visit}"
    );
    for absent in ["admission", "speaker_switch", "chat"] {
        assert!(visit[absent].is_null(), "{absent}: {visit}");
    }
    assert!(visit["speaker_turns"].as_u64().unwrap() >= 2, "{visit}");
    let layers = &visit["layers"];
    assert!(layers["speaker_frames"].as_u64().unwrap() > 50, "{layers}");
    assert!(layers["speaker_on_top"].as_f64().unwrap() > 0.5, "{layers}");
    assert!(
        layers["tiles_on_bottom"].as_f64().unwrap() > 0.8,
        "{layers}"
    );
    assert_eq!(report["passed"], true);
    assert!(stdout.contains("not measured"), "{stdout}");
}
