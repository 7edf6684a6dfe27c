//! The binary's drain on SIGTERM: with `--drain-secs`, an open visit goes on while the node
//! answers `/healthz` with 503, and the process exits by itself once the visit has ended.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{expect_bye, mint_token, now_unix, send_join};
use vardrum_signalling::{ByeReason, ClientMessage, Role, ServerMessage};

/// Lines of a child's output, as they come.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line containing `needle`; a generous bound only so a broken build fails, not hangs.
fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {needle:?}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_open_visit_and_exits_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vardrum"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0"])
        .args(["--drain-secs", "600"])
        .env("RUST_LOG", "info")
        .env("VARDRUM_LOG_FORMAT", "pretty")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vardrum");
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    let ready = wait_for_line(&stdout, "vardrum ready at ");
    let base = ready
        .trim_start_matches("vardrum ready at ")
        .trim_end_matches('/')
        .to_owned();
    let secret = std::fs::read(dir.path().join("token-secret")).unwrap();
    let token = mint_token(
        &secret,
        "visit-1",
        "anna",
        Role::Clinician,
        now_unix(),
        3600,
    );
    let ws = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let mut anna = send_join(&ws, "visit-1", token).await;
    assert!(matches!(
        anna.recv().await.unwrap(),
        ServerMessage::Joined { .. }
    ));

    let pid = child.id().to_string();
    // The shell's own `kill`, so no procps package is needed.
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for_line(&stderr, "draining: no new visits");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running while the visit is open"
    );

    // The visit ends: the server stops by itself.
    anna.send(&ClientMessage::Leave).await.unwrap();
    expect_bye(&mut anna, ByeReason::Left, 1000).await;
    wait_for_line(&stderr, "drained: every visit has ended");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
