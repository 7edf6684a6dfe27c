//! Nothing of a call's audio or video is ever stored: after a call, no file in the data
//! directory or the temp directory holds any of the media that went through, and the database
//! has no table that could.

mod common;
mod dbsupport;

use std::path::Path;
use std::time::SystemTime;

use common::{MediaParticipant, TestServer, payload};
use vardrum_signalling::Role;

/// Every regular file below `dir` changed since `since`, with its content.
fn recent_files(dir: &Path, since: SystemTime, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        if meta.is_dir() && !meta.is_symlink() {
            recent_files(&path, since, out);
        } else if meta.is_file()
            && meta.len() < 256 * 1024 * 1024
            && meta.modified().is_ok_and(|m| m >= since)
            && let Ok(bytes) = std::fs::read(&path)
        {
            out.push((path, bytes));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_call_no_file_and_no_table_holds_its_media() {
    let started = SystemTime::now() - std::time::Duration::from_secs(2);
    let server = TestServer::start().await;
    // Identities unique to this run, so that the markers below cannot come from anything else.
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (a, b) = (format!("rec-a-{tag}"), format!("rec-b-{tag}"));
    let mut pa = MediaParticipant::join(&server, "visit-rec", &a, Role::Clinician).await;
    let mut pb = MediaParticipant::join(&server, "visit-rec", &b, Role::Patient).await;
    pa.wait_media_from(&b, 100).await;
    pb.wait_media_from(&a, 100).await;
    pa.leave().await;
    pb.leave().await;

    let db = server.server().state.db.clone();
    let mut tables = db.table_names().await.unwrap();
    tables.sort();
    // Every table, and every column: none can hold media (no BLOBs, only the documented ones).
    assert_eq!(tables, dbsupport::TABLES);
    let columns: Vec<(String, String)> =
        sqlx::query_as("SELECT name, type FROM pragma_table_info('call_sessions')")
            .fetch_all(db.pool())
            .await
            .unwrap();
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["id", "room", "started_at", "ended_at", "peak_participants"]
    );
    assert!(columns.iter().all(|(_, t)| t != "BLOB"));

    let data_dir = server.stop_keeping_files().await;
    let data_dir = data_dir.path();

    // The markers: the start of audio and video payloads each side sent.
    let markers: Vec<Vec<u8>> = [(&a, "audio"), (&a, "video"), (&b, "audio"), (&b, "video")]
        .iter()
        .map(|(who, kind)| payload(who, kind, 7, 64)[..].to_vec())
        .chain(
            [a.as_bytes().to_vec(), b.as_bytes().to_vec()]
                .into_iter()
                .map(|id| {
                    let mut m = id;
                    m.push(b'|');
                    m
                }),
        )
        .collect();
    let mut files = Vec::new();
    recent_files(data_dir, started, &mut files);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("vardrum.db")),
        "the scan must see the database: {:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    recent_files(&std::env::temp_dir(), started, &mut files);
    for (path, bytes) in &files {
        for marker in &markers {
            assert!(
                !contains(bytes, marker),
                "{} holds media of the call ({})",
                path.display(),
                String::from_utf8_lossy(marker)
            );
        }
    }
}
