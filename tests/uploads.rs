//! Files uploaded into a group visit's chat, through the real HTTP endpoints and real signalling
//! clients: an admitted patient uploads a JPEG, a PNG and a PDF, everyone in the visit gets the
//! chat's file message, another participant downloads each intact; every refusal answers its
//! documented status and code and keeps nothing (no row, no file); after the host ends the visit
//! the files are still stored under the uploader's booking with their bytes intact, and can no
//! longer be downloaded through the call. On SQLite always, on PostgreSQL when
//! `VARDRUM_TEST_POSTGRES` names a server.
//!
//! File names and contents never reach the logs: this binary captures every event at TRACE.

mod common;
mod dbsupport;
mod groupsupport;
mod logcapture;

use std::path::{Path, PathBuf};

use common::{PATIENCE, TestServer, mint_grant, now_unix};
use dbsupport::{PgDatabase, on_both_databases};
use groupsupport::Person;
use logcapture::{capture_logs, captured_text};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vardrum_signalling::token::Grant;
use vardrum_signalling::{ByeReason, ChatMessage, ClientMessage, Role, RoomKind, ServerMessage};

const ROOM: &str = "group-7";
/// Never in a log line: part of a file name, and text inside the PDF.
const NAME_MARKER: &str = "hudutslag-namnmarkor-5e1d";
const CONTENT_MARKER: &str = "provsvar-innehallsmarkor-9b2c";

// ---- Real files, made here ------------------------------------------------------------------

/// An 8×8 mid-grey baseline JPEG: JFIF header, an all-ones quantisation table, one Huffman
/// code each for "DC difference 0" and "end of block", and the one block that uses them.
fn jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    j.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
    j.extend_from_slice(b"JFIF\0");
    j.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]);
    j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    j.extend_from_slice(&[1; 64]);
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
    for class in [0x00, 0x10] {
        j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, class, 1]);
        j.extend_from_slice(&[0; 15]);
        j.push(0x00);
    }
    j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0x00, 0x3F, 0x00]);
    // DC "0" and EOB "0", padded with ones.
    j.push(0b0011_1111);
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A `w`×`h` RGB PNG (a gradient), its pixels in one stored deflate block.
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            raw.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 0x80]);
        }
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    let mut zlib = vec![0x78, 0x01, 0x01];
    let len = raw.len() as u16;
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}

/// A one-page PDF that says `text`, with a correct cross-reference table.
fn pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 12 Tf 20 50 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for at in offsets {
        out.extend_from_slice(format!("{at:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A `call_uploads` row as the test reads it: id, booking, room, uploader_role, name,
/// content_type, size, sha256.
type UploadRow = (String, String, String, String, String, String, i64, String);

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---- The visit and the HTTP client ----------------------------------------------------------

struct Call {
    http: reqwest::Client,
    base: String,
}

impl Call {
    fn new(server: &TestServer) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{}/api/v1/calls/", server.server().http_addr),
        }
    }

    /// Uploads `body` into `room`'s chat; `query` is the query string as sent.
    async fn upload(
        &self,
        room: &str,
        token: Option<&str>,
        query: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}{room}/uploads?{query}", self.base))
            .body(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.expect("upload answered");
        let status = response.status();
        assert_eq!(response.headers()["cache-control"], "no-store");
        let json = response.json().await.expect("a JSON body");
        (status, json)
    }

    async fn download(&self, room: &str, id: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{room}/uploads/{id}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().await.expect("download answered")
    }
}

fn code(body: &Value) -> (&str, Option<&str>) {
    (
        body["error"]["code"].as_str().unwrap_or("(no code)"),
        body["error"]["field"].as_str(),
    )
}

/// Rows in `call_uploads`, and every file below the store's directory (its `tmp/` included).
async fn stored(server: &TestServer) -> (i64, usize) {
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_uploads")
        .fetch_one(server.server().state.db.pool())
        .await
        .expect("count rows");
    let mut files = Vec::new();
    walk(&server.dir.path().join("uploads"), &mut files);
    (rows, files.len())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A group visit in `room` with the host and the given patients (identity, name, booking),
/// all admitted.
async fn visit(
    server: &TestServer,
    room: &str,
    patients: &[(&str, &str, Option<&str>)],
) -> (Person, Vec<Person>) {
    let host_token =
        server.group_token(room, "sub-host-berg", "Anna Berg", Role::Clinician, None, 0);
    let (mut host, _) = Person::join(server, room, host_token).await;
    let mut people = Vec::new();
    for (sub, name, booking) in patients {
        let token = server.group_token(room, sub, name, Role::Patient, *booking, 0);
        let (p, _) = Person::join(server, room, token).await;
        host.until("the patient waiting", |m| {
            matches!(m, ServerMessage::ParticipantJoined { .. })
        })
        .await;
        people.push(p);
    }
    host.send(ClientMessage::AdmitAll).await;
    for p in &mut people {
        p.until("admitted", |m| matches!(m, ServerMessage::Admitted { .. }))
            .await;
    }
    host.settle().await;
    for p in &mut people {
        p.settle().await;
    }
    (host, people)
}

async fn chat_file(p: &mut Person) -> ChatMessage {
    match p
        .until(
            "a chat file message",
            |m| matches!(m, ServerMessage::Chat { message } if message.file.is_some()),
        )
        .await
    {
        ServerMessage::Chat { message } => message,
        _ => unreachable!(),
    }
}

/// Waits until the call records say the visit in `room` has closed.
async fn recorded_as_ended(server: &TestServer, room: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM call_sessions WHERE room = $1 AND ended_at IS NOT NULL",
        )
        .bind(room)
        .fetch_one(server.server().state.db.pool())
        .await
        .expect("call sessions");
        if n > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the end of {room} was never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn start(database_url: Option<&str>, max_bytes: Option<u64>) -> TestServer {
    capture_logs();
    let url = database_url.map(str::to_owned);
    TestServer::start_with(move |c| {
        c.database_url = url;
        if let Some(max) = max_bytes {
            c.uploads.max_bytes = max;
        }
    })
    .await
}

// ---- The scenarios ----------------------------------------------------------------------------

async fn files_reach_everyone_download_intact_and_stay_with_the_booking_after_the_visit(
    database_url: Option<&str>,
) {
    let server = start(database_url, None).await;
    let call = Call::new(&server);
    let (mut host, mut people) = visit(
        &server,
        ROOM,
        &[
            ("sub-patient-persson", "Pat Persson", Some("b-1001")),
            ("sub-patient-nordin", "Ola Nordin", Some("b-1002")),
        ],
    )
    .await;
    let pat_token = server.group_token(
        ROOM,
        "sub-patient-persson",
        "Pat Persson",
        Role::Patient,
        Some("b-1001"),
        0,
    );
    let ola_token = server.group_token(
        ROOM,
        "sub-patient-nordin",
        "Ola Nordin",
        Role::Patient,
        Some("b-1002"),
        0,
    );
    let host_token =
        server.group_token(ROOM, "sub-host-berg", "Anna Berg", Role::Clinician, None, 0);

    let files = [
        (
            format!("{NAME_MARKER} på armen.jpg"),
            jpeg(),
            "image/jpeg",
            format!("{NAME_MARKER} på armen.jpg"),
        ),
        (
            "kurva.png".to_owned(),
            png(16, 12),
            "image/png",
            "kurva.png".to_owned(),
        ),
        // A PDF sent under a misleading name keeps its content's extension.
        (
            "remiss.docx".to_owned(),
            pdf(CONTENT_MARKER),
            "application/pdf",
            "remiss.pdf".to_owned(),
        ),
    ];
    let mut uploaded = Vec::new();
    for (i, (name, bytes, content_type, stored_name)) in files.iter().enumerate() {
        let query = format!(
            "name={}{}",
            urlencode(name),
            if i == 0 { "&booking=b-1001" } else { "" }
        );
        let (status, body) = call
            .upload(ROOM, Some(&pat_token), &query, bytes.clone())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().expect("id").to_owned();
        assert_eq!(id.len(), 32);
        assert_eq!(body["name"], stored_name.as_str());
        assert_eq!(body["content_type"], *content_type);
        assert_eq!(body["size"], bytes.len() as u64);
        assert_eq!(body["booking"], "b-1001");
        assert_eq!(body["announced"], true);

        // Everyone in the visit gets the file message, the sender named per viewer.
        let at_host = chat_file(&mut host).await;
        let own = chat_file(&mut people[0]).await;
        let at_ola = chat_file(&mut people[1]).await;
        for (m, sender) in [
            (&at_host, "Pat Persson"),
            (&own, "Pat Persson"),
            (&at_ola, "P. P."),
        ] {
            let file = m.file.as_ref().expect("a file");
            assert_eq!(
                (
                    file.id.as_str(),
                    file.name.as_str(),
                    file.content_type.as_str()
                ),
                (id.as_str(), stored_name.as_str(), *content_type)
            );
            assert_eq!(file.size, bytes.len() as u64);
            assert!(m.text.is_empty());
            assert_eq!((m.name.as_str(), m.role), (sender, Role::Patient));
        }
        assert!(
            !people[1].all_frames().contains("Persson"),
            "another patient never sees the uploader's surname"
        );

        // Another patient and the host download it, intact and as a download only.
        for token in [&ola_token, &host_token] {
            let response = call.download(ROOM, &id, Some(token)).await;
            assert_eq!(response.status(), StatusCode::OK);
            let h = response.headers().clone();
            assert_eq!(h["content-type"], *content_type);
            assert!(
                h["content-disposition"]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment; filename=\""),
                "{:?}",
                h["content-disposition"]
            );
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["cache-control"], "no-store");
            assert_eq!(h["content-security-policy"], "sandbox; default-src 'none'");
            assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
        }
        uploaded.push((
            id,
            bytes.clone(),
            stored_name.clone(),
            *content_type,
            own.from.clone(),
        ));
    }
    let disposition = call
        .download(ROOM, &uploaded[0].0, Some(&ola_token))
        .await
        .headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        disposition,
        format!(
            "attachment; filename=\"{NAME_MARKER} p_ armen.jpg\"; \
             filename*=UTF-8''{NAME_MARKER}%20p%C3%A5%20armen.jpg"
        )
    );

    // The host ends the visit: the chat goes, the files stay with the booking.
    host.send(ClientMessage::EndVisit).await;
    for p in &mut people {
        p.expect_bye(ByeReason::Ended, 4007).await;
    }
    recorded_as_ended(&server, ROOM).await;

    let rows: Vec<UploadRow> = sqlx::query_as(
        "SELECT id, booking, room, uploader_role, name, content_type, size, sha256 \
             FROM call_uploads ORDER BY created_at, id",
    )
    .fetch_all(server.server().state.db.pool())
    .await
    .expect("rows");
    assert_eq!(rows.len(), 3);
    let kept = server
        .server()
        .state
        .uploads
        .for_booking("b-1001")
        .await
        .unwrap();
    assert_eq!(kept.len(), 3);
    assert!(
        server
            .server()
            .state
            .uploads
            .for_booking("b-1002")
            .await
            .unwrap()
            .is_empty()
    );
    for (id, bytes, name, content_type, uploader) in &uploaded {
        let row = rows.iter().find(|r| r.0 == *id).expect("a row per upload");
        assert_eq!(
            (row.1.as_str(), row.2.as_str(), row.3.as_str()),
            ("b-1001", ROOM, "patient")
        );
        assert_eq!(
            (row.4.as_str(), row.5.as_str()),
            (name.as_str(), *content_type)
        );
        assert_eq!(
            (row.6, row.7.as_str()),
            (bytes.len() as i64, hex_sha256(bytes).as_str())
        );
        // The bytes in the store, read straight from the data directory.
        let path = server.dir.path().join("uploads").join(&id[..2]).join(id);
        assert_eq!(std::fs::read(&path).expect("the stored file"), *bytes);
        // The uploader is recorded by the opaque participant id the chat knows them by.
        assert!(
            kept.iter()
                .any(|k| k.id == *id && k.uploader_participant == *uploader)
        );
    }

    // Through the call, neither a download nor a new upload now.
    let (status, body) = call
        .upload(ROOM, Some(&pat_token), "name=late.pdf", pdf("late"))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GONE, ("visit_ended", None))
    );
    for token in [&ola_token, &pat_token, &host_token] {
        let response = call.download(ROOM, &uploaded[2].0, Some(token)).await;
        assert_eq!(response.status(), StatusCode::GONE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), ("visit_ended", None));
    }
    assert_eq!(stored(&server).await, (3, 3));

    let logs = captured_text();
    for marker in [NAME_MARKER, CONTENT_MARKER] {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(marker)).collect();
        assert!(leaks.is_empty(), "{marker} is in the logs: {leaks:#?}");
    }
    assert!(
        logs.contains("file uploaded into a call's chat"),
        "the uploads' own log lines are among those searched"
    );
    server.stop().await;
}

/// Sends a chunked upload with no `Content-Length` over a raw connection, so that the server
/// finds out the size only while reading; returns the status and the JSON body.
async fn chunked_upload(server: &TestServer, token: &str, total: usize) -> (u16, Value) {
    let mut tcp = tokio::net::TcpStream::connect(server.server().http_addr)
        .await
        .expect("connect");
    let mut request = format!(
        "POST /api/v1/calls/{ROOM}/uploads?name=big.jpg HTTP/1.1\r\nHost: vardrum\r\n\
         Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let mut body = jpeg();
    body.resize(total, 0);
    for chunk in body.chunks(1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // One write, so that the server has it all at once and stops reading where the limit is
    // passed, with no unread bytes left in the socket to turn its close into a reset.
    tcp.write_all(&request).await.expect("request");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// One refused upload: its status, code and field, and nothing kept.
struct Refused<'a> {
    what: &'a str,
    token: Option<&'a str>,
    query: &'a str,
    body: Vec<u8>,
    status: u16,
    code: &'a str,
    field: Option<&'a str>,
}

fn refused<'a>(
    what: &'a str,
    token: Option<&'a str>,
    query: &'a str,
    body: Vec<u8>,
    status: u16,
    code: &'a str,
    field: Option<&'a str>,
) -> Refused<'a> {
    Refused {
        what,
        token,
        query,
        body,
        status,
        code,
        field,
    }
}

impl Refused<'_> {
    async fn check(self, call: &Call, server: &TestServer) {
        let what = self.what;
        let (got, answer) = call.upload(ROOM, self.token, self.query, self.body).await;
        assert_eq!(
            (got.as_u16(), code(&answer)),
            (self.status, (self.code, self.field)),
            "{what}: {answer}"
        );
        assert!(answer["error"]["message"].is_string(), "{what}");
        assert_eq!(stored(server).await, (0, 0), "{what} kept nothing");
    }
}

async fn every_refusal_has_its_code_and_keeps_nothing(database_url: Option<&str>) {
    const MAX: u64 = 4096;
    let server = start(database_url, Some(MAX)).await;
    let call = Call::new(&server);
    let (mut host, mut people) = visit(
        &server,
        ROOM,
        &[("sub-patient-persson", "Pat Persson", Some("b-1001"))],
    )
    .await;
    // Eva waits: the host has not let her in.
    let eva_token = server.group_token(
        ROOM,
        "sub-patient-lindqvist",
        "Eva Lindqvist",
        Role::Patient,
        Some("b-1003"),
        0,
    );
    let (mut eva, _) = Person::join(&server, ROOM, eva_token.clone()).await;
    host.until("eva waiting", |m| {
        matches!(m, ServerMessage::ParticipantJoined { .. })
    })
    .await;
    let pat = |booking: Option<&str>| {
        let sub = "sub-patient-persson";
        server.group_token(ROOM, sub, "Pat Persson", Role::Patient, booking, 0)
    };
    let grant = |room: &str| Grant {
        identity: "sub-patient-persson".into(),
        name: "Pat Persson".into(),
        room: room.into(),
        role: Role::Patient,
        kind: RoomKind::Group,
        booking: Some("b-1001".into()),
    };
    let secret = &server.secret;
    let pat_token = pat(Some("b-1001"));
    let pat_no_booking = pat(None);
    let pat_other_booking = pat(Some("b-1002"));
    let expired = mint_grant(secret, &grant(ROOM), now_unix() - 3600, 600);
    let not_yet = mint_grant(secret, &grant(ROOM), now_unix() + 3600, 600);
    let forged = mint_grant(
        b"not-the-server-secret-0123456789ab",
        &grant(ROOM),
        now_unix(),
        600,
    );
    let other_room = mint_grant(secret, &grant("group-8"), now_unix(), 600);
    let stranger = server.group_token(
        ROOM,
        "sub-never-joined",
        "Nils Nilsson",
        Role::Patient,
        Some("b-1004"),
        0,
    );
    let host_token =
        server.group_token(ROOM, "sub-host-berg", "Anna Berg", Role::Clinician, None, 0);
    let mut big = jpeg();
    big.resize(MAX as usize + 1, 0);
    let html = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";
    let elf = b"\x7FELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3E\0";
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>";

    let pat_ok = Some(pat_token.as_str());
    for case in [
        refused(
            "no token",
            None,
            "name=a.jpg",
            jpeg(),
            401,
            "token_missing",
            None,
        ),
        refused(
            "a forged token",
            Some(forged.as_str()),
            "name=a.jpg",
            jpeg(),
            401,
            "token_invalid",
            None,
        ),
        refused(
            "not a JWT",
            Some("not-a-jwt"),
            "name=a.jpg",
            jpeg(),
            401,
            "token_invalid",
            None,
        ),
        refused(
            "an expired token",
            Some(expired.as_str()),
            "name=a.jpg",
            jpeg(),
            401,
            "token_expired",
            None,
        ),
        refused(
            "a token valid later",
            Some(not_yet.as_str()),
            "name=a.jpg",
            jpeg(),
            401,
            "token_not_yet_valid",
            None,
        ),
        refused(
            "another room's token",
            Some(other_room.as_str()),
            "name=a.jpg",
            jpeg(),
            403,
            "token_wrong_room",
            None,
        ),
        refused(
            "the waiting room",
            Some(eva_token.as_str()),
            "name=a.jpg",
            jpeg(),
            403,
            "not_admitted",
            None,
        ),
        refused(
            "not in the visit",
            Some(stranger.as_str()),
            "name=a.jpg",
            jpeg(),
            403,
            "not_admitted",
            None,
        ),
        refused(
            "no booking (host)",
            Some(host_token.as_str()),
            "name=a.jpg",
            jpeg(),
            403,
            "no_booking",
            None,
        ),
        refused(
            "no booking (patient)",
            Some(pat_no_booking.as_str()),
            "name=a.jpg",
            jpeg(),
            403,
            "no_booking",
            None,
        ),
        refused(
            "another booking named",
            pat_ok,
            "name=a.jpg&booking=b-1002",
            jpeg(),
            403,
            "booking_mismatch",
            Some("booking"),
        ),
        refused(
            "joined with another booking",
            Some(pat_other_booking.as_str()),
            "name=a.jpg",
            jpeg(),
            403,
            "booking_mismatch",
            Some("booking"),
        ),
        refused(
            "no name",
            pat_ok,
            "",
            jpeg(),
            400,
            "missing_field",
            Some("name"),
        ),
        refused(
            "an empty name",
            pat_ok,
            "name=",
            jpeg(),
            400,
            "invalid_field",
            Some("name"),
        ),
        refused(
            "two names",
            pat_ok,
            "name=a.jpg&name=b.jpg",
            jpeg(),
            400,
            "invalid_field",
            Some("name"),
        ),
        refused(
            "an unknown parameter",
            pat_ok,
            "name=a.jpg&dir=..",
            jpeg(),
            400,
            "unknown_field",
            Some("dir"),
        ),
        refused(
            "too large",
            pat_ok,
            "name=big.jpg",
            big,
            413,
            "file_too_large",
            None,
        ),
        refused(
            "empty",
            pat_ok,
            "name=a.jpg",
            Vec::new(),
            400,
            "empty_file",
            None,
        ),
        refused(
            "HTML named .jpg",
            pat_ok,
            "name=photo.jpg",
            html.to_vec(),
            415,
            "unsupported_file_type",
            None,
        ),
        refused(
            "an executable named .jpg",
            pat_ok,
            "name=photo.jpg",
            elf.to_vec(),
            415,
            "unsupported_file_type",
            None,
        ),
        refused(
            "SVG named .png",
            pat_ok,
            "name=image.png",
            svg.to_vec(),
            415,
            "unsupported_file_type",
            None,
        ),
    ] {
        case.check(&call, &server).await;
    }
    // Too large found out while reading, with no Content-Length to go by.
    let (status, answer) = chunked_upload(&server, &pat_token, MAX as usize + 2048).await;
    assert_eq!(
        (status, code(&answer)),
        (413, ("file_too_large", None)),
        "{answer}"
    );
    assert_eq!(stored(&server).await, (0, 0));
    // Nothing reached the chat, nor the waiting room.
    for p in [&mut host, &mut people[0], &mut eva] {
        let seen = p.settle().await;
        assert!(
            !seen.iter().any(|m| matches!(m, ServerMessage::Chat { .. })),
            "{seen:?}"
        );
    }

    // Path tricks in the name are not refused: the name is cleaned, the file stays in the store.
    let mut ids = Vec::new();
    for (raw, expected) in [
        ("../../../etc/passwd.jpg", "passwd.jpg"),
        ("..%5C..%5Cwindows%5Cwin.ini", "win.jpg"),
        ("%2Fetc%2Fshadow", "shadow.jpg"),
        ("rash%E2%80%AEgpj.exe", "rashgpj.jpg"),
        (
            "a%0D%0AContent-Type%3A%20image.jpg",
            "aContent-Type_ image.jpg",
        ),
    ] {
        let (status, body) = call
            .upload(ROOM, pat_ok, &format!("name={raw}"), jpeg())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{raw}: {body}");
        assert_eq!(body["name"], expected, "{raw}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let mut files = Vec::new();
    walk(&server.dir.path().join("uploads"), &mut files);
    assert_eq!(files.len(), ids.len());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            ids.contains(&name),
            "only files named by their ids: {}",
            f.display()
        );
    }
    assert!(!server.dir.path().join("etc").exists());

    // Downloads: the same token rules, the waiting room and strangers refused, only this room's
    // files, an unknown id not found.
    let id = ids[0].as_str();
    let unknown = "0123456789abcdef0123456789abcdef";
    for (what, room, file, token, status, expected) in [
        ("no token", ROOM, id, None, 401, "token_missing"),
        (
            "a forged token",
            ROOM,
            id,
            Some(&forged),
            401,
            "token_invalid",
        ),
        (
            "an expired token",
            ROOM,
            id,
            Some(&expired),
            401,
            "token_expired",
        ),
        (
            "the waiting room",
            ROOM,
            id,
            Some(&eva_token),
            403,
            "not_admitted",
        ),
        ("a stranger", ROOM, id, Some(&stranger), 403, "not_admitted"),
        (
            "another room",
            "group-8",
            id,
            Some(&pat_token),
            403,
            "token_wrong_room",
        ),
        (
            "an unknown id",
            ROOM,
            unknown,
            Some(&pat_token),
            404,
            "not_found",
        ),
        (
            "not an id",
            ROOM,
            "..%2F..%2Fvardrum.db",
            Some(&pat_token),
            404,
            "not_found",
        ),
    ] {
        let response = call.download(room, file, token.map(String::as_str)).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(code(&body).0, expected, "{what}");
    }

    // A file of another visit cannot be fetched through this one.
    let (mut host8, mut people8) = visit(
        &server,
        "group-8",
        &[("sub-patient-nordin", "Ola Nordin", Some("b-1002"))],
    )
    .await;
    let ola8 = server.group_token(
        "group-8",
        "sub-patient-nordin",
        "Ola Nordin",
        Role::Patient,
        Some("b-1002"),
        0,
    );
    let (status, body) = call
        .upload("group-8", Some(&ola8), "name=other.png", png(2, 2))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let other = body["id"].as_str().unwrap().to_owned();
    let response = call.download(ROOM, &other, pat_ok).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = call.download("group-8", &other, Some(&ola8)).await;
    assert_eq!(response.status(), StatusCode::OK);
    chat_file(&mut people8[0]).await;
    host8.settle().await;
    server.stop().await;
}

/// Percent-encodes all but unreserved characters, as `encodeURIComponent` does.
fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
fn the_test_files_are_what_they_say() {
    let j = jpeg();
    assert!(j.starts_with(&[0xFF, 0xD8, 0xFF]) && j.ends_with(&[0xFF, 0xD9]));
    let p = png(16, 12);
    assert_eq!(&p[12..16], b"IHDR");
    assert!(p.ends_with(&[0xAE, 0x42, 0x60, 0x82]), "IEND's CRC");
    // The PDF's cross-reference table is where `startxref` says, in bytes.
    let d = pdf("x");
    let tail = &d[d.len() - 32..];
    let tail = String::from_utf8_lossy(tail);
    let xref: usize = tail
        .rsplit("startxref\n")
        .next()
        .and_then(|t| t.lines().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(d[xref..].starts_with(b"xref\n"));
    // Each object is where the table says.
    let table = String::from_utf8_lossy(&d[xref..]).into_owned();
    for (n, line) in table.lines().skip(3).take(5).enumerate() {
        let at: usize = line[..10].parse().unwrap();
        assert!(
            d[at..].starts_with(format!("{} 0 obj", n + 1).as_bytes()),
            "{line}"
        );
    }
}

on_both_databases!(
    files_reach_everyone_download_intact_and_stay_with_the_booking_after_the_visit,
    every_refusal_has_its_code_and_keeps_nothing,
);
