//! The in-call chat is deleted when the call ends (both regions' policies): a marker string sent
//! in a group visit reaches everyone, a late joiner included, and after the host ends the visit
//! it is in no file of the data directory (the SQLite database and its journal included) and in
//! no line the server logged, with every crate captured at TRACE.
//!
//! A test binary of its own: the log subscriber is process-wide.

mod common;
mod groupsupport;
mod logcapture;

use std::path::Path;

use common::TestServer;
use groupsupport::Person;
use logcapture::{capture_logs, captured_text};
use vardrum_signalling::{ByeReason, ClientMessage, Role, ServerMessage};

const MARKER: &str = "chatmarker-7c1f5e0b9d";
const CANARY: &str = "canary-of-the-chat-log-capture";

/// Every regular file below `dir`, with its content.
fn files(dir: &Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.metadata() {
            Ok(m) if m.is_dir() => files(&path, out),
            Ok(m) if m.is_file() => {
                if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path, bytes));
                }
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_text_never_reaches_the_disk_the_database_or_the_logs() {
    capture_logs();
    let server = TestServer::start().await;
    let room = "group-chat";
    let token = |sub: &str, name: &str, role: Role| {
        server.group_token(room, sub, name, role, Some("b-77"), 0)
    };
    let (mut host, _) = Person::join(&server, room, token("h", "Anna Berg", Role::Clinician)).await;
    let (mut pat, _) = Person::join(&server, room, token("p1", "Pat Persson", Role::Patient)).await;
    host.until("the patient waiting", |m| {
        matches!(m, ServerMessage::ParticipantJoined { .. })
    })
    .await;
    host.send(ClientMessage::AdmitAll).await;
    pat.until("admitted", |m| matches!(m, ServerMessage::Admitted { .. }))
        .await;
    pat.send(ClientMessage::Chat {
        text: format!("my test result is {MARKER}"),
    })
    .await;
    let seen = host
        .until("the chat", |m| matches!(m, ServerMessage::Chat { .. }))
        .await;
    assert!(matches!(&seen, ServerMessage::Chat { message } if message.text.contains(MARKER)));

    // A late joiner gets it in the history.
    let (mut late, _) = Person::join(&server, room, token("p2", "Ola Nordin", Role::Patient)).await;
    host.until("the late patient", |m| {
        matches!(m, ServerMessage::ParticipantJoined { .. })
    })
    .await;
    host.send(ClientMessage::AdmitAll).await;
    let admitted = late
        .until("admitted", |m| matches!(m, ServerMessage::Admitted { .. }))
        .await;
    assert!(
        matches!(&admitted, ServerMessage::Admitted { chat, .. } if chat.len() == 1 && chat[0].text.contains(MARKER))
    );

    host.send(ClientMessage::EndVisit).await;
    for p in [&mut pat, &mut late] {
        p.expect_bye(ByeReason::Ended, 4007).await;
    }
    tracing::trace!(target: "vardrum_sfu", "{CANARY}");

    let dir = server.stop_keeping_files().await;
    let mut all = Vec::new();
    files(dir.path(), &mut all);
    assert!(
        all.iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "sqlite" || e == "db")),
        "the database file is among those searched: {:?}",
        all.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for (path, bytes) in &all {
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "the chat text is in {}",
            path.display()
        );
    }
    let logs = captured_text();
    assert!(logs.contains(CANARY), "TRACE events are captured");
    assert!(
        logs.contains("vardrum_sfu"),
        "the SFU's events are among them"
    );
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(MARKER)).collect();
    assert!(leaks.is_empty(), "the chat text is in the logs: {leaks:#?}");
}
