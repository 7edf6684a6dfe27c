//! Secure messages through the portal's HTTP API, as the pages and outside clients use it, on
//! SQLite (always) and PostgreSQL (when `VARDRUM_TEST_POSTGRES` names a server; required in
//! CI): a patient and a clinician exchanging messages with attachments (downloaded with their
//! sniffed type as safe downloads), read marks per participant, a guardian writing for a child,
//! assigning and closing, an access-log entry for every staff read, export and deletion (files
//! after rows), and every refusal answered with its status and code while changing nothing.

mod common;
mod dbsupport;
mod portalharness;
mod portalsupport;

use std::path::PathBuf;
use std::sync::Arc;

use dbsupport::{PgDatabase, on_both_databases};
use portalharness::PortalServer;
use portalsupport::Browser;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vardrum::clock::ManualClock;
use vardrum::portal::staff::{NewStaff, Role};

// Skatteverket test numbers only (config/dev/population-register.json).
const ELSA: &str = "199006022397";
const ERIK: &str = "199602292386";
/// Elsa's son, born 2016-02-29.
const LEO: &str = "201602292383";
const ANNA: &str = "dev-clinician-anna";
const ADMIN: &str = "dev-admin-bo";
/// A colleague of Anna's in the same unit, and a clinician of another unit.
const CARL: &str = "test-clinician-carl";
const DORA: &str = "test-clinician-dora";
/// Anna's first care unit: the one a staff login starts in.
const UNIT: &str = "Hälsocentral Testvik";
const OTHER_UNIT: &str = "Vårdcentral Annanstans";

/// 2026-03-15T12:00:00Z.
const T0: u64 = 1_773_576_000;

/// A small but real PNG header and a PDF: what sniffing takes.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

on_both_databases!(
    a_patient_and_a_clinician_exchange_messages_with_attachments,
    unread_counts_are_per_participant_and_reading_clears_only_the_readers,
    a_guardian_writes_for_a_child,
    staff_assign_to_a_colleague_and_close_and_nobody_writes_in_a_closed_conversation,
    refusals_have_their_status_and_code_and_change_nothing,
    every_staff_read_is_in_the_patients_access_log,
    export_lists_conversations_and_deletion_removes_rows_then_files,
    every_state_changing_messages_route_needs_the_csrf_token,
    a_failed_row_keeps_no_file_and_files_left_by_a_crash_are_removed,
);

/// The shared portal server, with two more clinicians: Carl in UNIT, Dora elsewhere.
struct Portal(PortalServer);

impl std::ops::Deref for Portal {
    type Target = PortalServer;
    fn deref(&self) -> &PortalServer {
        &self.0
    }
}

impl Portal {
    async fn start(database_url: Option<&str>) -> Self {
        Self::start_with(database_url, None).await
    }

    async fn start_with(database_url: Option<&str>, max_bytes: Option<u64>) -> Self {
        let portal = Self(
            PortalServer::start(database_url, T0, |c| {
                if let Some(max) = max_bytes {
                    c.uploads.max_bytes = max;
                }
            })
            .await,
        );
        portal.add_staff(CARL, "Carl", "Kollegasson", UNIT).await;
        portal
            .add_staff(DORA, "Dora", "Annansson", OTHER_UNIT)
            .await;
        portal
    }

    async fn add_staff(&self, subject: &str, given: &str, family: &str, unit: &str) {
        let new = NewStaff {
            subject: subject.into(),
            given_name: given.into(),
            family_name: family.into(),
            role: Role::Clinician,
            care_units: vec![unit.into()],
        };
        self.server
            .server()
            .state
            .portal
            .staff
            .create(&new, T0 as i64)
            .await
            .expect("staff member added");
    }

    async fn staff(&self, subject: &str) -> Browser {
        let listed = subject == ANNA || subject == ADMIN;
        let pick = if listed {
            subject.to_owned()
        } else {
            format!("typed:{subject}")
        };
        self.logged_in("staff", &pick).await
    }

    fn attachment_dir(&self) -> PathBuf {
        self.server.dir.path().join("message-attachments")
    }

    /// The files in the attachment store (not its tmp/).
    fn stored_files(&self) -> Vec<String> {
        let mut files = Vec::new();
        for shard in std::fs::read_dir(self.attachment_dir()).expect("store") {
            let shard = shard.expect("entry");
            if shard.file_name() == "tmp" {
                continue;
            }
            for f in std::fs::read_dir(shard.path()).expect("shard") {
                files.push(f.expect("file").file_name().to_string_lossy().into_owned());
            }
        }
        files.sort();
        files
    }

    async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.db().pool())
            .await
            .expect("count");
        n
    }

    /// Every row of the messages tables, one line each, and the stored files: to prove a
    /// request changed nothing.
    async fn state(&self) -> Vec<String> {
        let convs: Vec<ConvRow> = sqlx::query_as(
            "SELECT id, message_count, last_message_at, assigned_to, closed_at \
             FROM conversations ORDER BY id",
        )
        .fetch_all(self.db().pool())
        .await
        .expect("conversations");
        let messages: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT id, seq, body FROM conversation_messages ORDER BY id")
                .fetch_all(self.db().pool())
                .await
                .expect("messages");
        let files: Vec<(String, String)> =
            sqlx::query_as("SELECT id, message_id FROM conversation_attachments ORDER BY id")
                .fetch_all(self.db().pool())
                .await
                .expect("attachments");
        let reads: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT conversation_id, reader, read_seq FROM conversation_reads \
             ORDER BY conversation_id, reader",
        )
        .fetch_all(self.db().pool())
        .await
        .expect("reads");
        let mut out: Vec<String> = convs.iter().map(|r| format!("{r:?}")).collect();
        out.extend(messages.iter().map(|r| format!("{r:?}")));
        out.extend(files.iter().map(|r| format!("{r:?}")));
        out.extend(reads.iter().map(|r| format!("{r:?}")));
        out.extend(self.stored_files());
        out
    }

    async fn log_rows(&self, personnummer: &str) -> Vec<(String, String, String)> {
        sqlx::query_as(
            "SELECT actor_id, action, resource FROM access_log WHERE patient = $1 ORDER BY seq",
        )
        .bind(personnummer)
        .fetch_all(self.db().pool())
        .await
        .expect("log")
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

/// A conversation's row as `Portal::state` compares it.
type ConvRow = (String, i64, i64, Option<String>, Option<i64>);
/// A body, and the status and (code, field) it is refused with.
type BodyRefusal = (Value, StatusCode, (&'static str, Option<&'static str>));
/// Where a file goes, its declared type and name, its bytes, and the status and code of the
/// refusal.
type FileRefusal = (
    String,
    Option<&'static str>,
    Option<&'static str>,
    Vec<u8>,
    StatusCode,
    &'static str,
);

fn code(body: &Value) -> (&str, Option<&str>) {
    (
        body["error"]["code"].as_str().unwrap_or("(no code)"),
        body["error"]["field"].as_str(),
    )
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// Starts a conversation of the browser's person with UNIT.
async fn start(b: &Browser, subject: &str, text: &str) -> Value {
    let (status, conv) = b
        .post(
            "conversations",
            json!({ "care_unit": UNIT, "subject": subject, "text": text }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{conv}");
    conv
}

/// Attaches a file as the raw body, with the declared type and an encoded name.
async fn attach(
    b: &Browser,
    path: &str,
    content_type: Option<&str>,
    name: Option<&str>,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let mut request = b
        .http
        .post(b.url(path))
        .header("x-csrf-token", b.csrf.as_deref().unwrap_or(""))
        .body(bytes.to_vec());
    if let Some(t) = content_type {
        request = request.header("content-type", t);
    }
    if let Some(n) = name {
        request = request.header("x-file-name", n);
    }
    let response = request.send().await.expect("attach");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn download(b: &Browser, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = b.http.get(b.url(path)).send().await.expect("download");
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

async fn a_patient_and_a_clinician_exchange_messages_with_attachments(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.staff(ANNA).await;
    let anna_id = portal.staff_id(ANNA).await;

    let conv = start(&elsa, "Utslag på armen", "Hej!\nJag har fått utslag.").await;
    let cid = id(&conv);
    assert_eq!(conv["care_unit"], UNIT);
    assert_eq!(conv["subject"], "Utslag på armen");
    assert_eq!(conv["status"], "open");
    assert_eq!(conv["started_by"], "patient");
    assert_eq!(
        (conv["message_count"].as_i64(), conv["unread"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(conv["created_at"], T0);
    let first = &conv["messages"][0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["text"], "Hej!\nJag har fått utslag.");
    assert_eq!(
        first["author"],
        json!({"kind": "patient", "name": "Elsa Testsson"})
    );
    assert_eq!(first["sent_at"], T0);
    assert_eq!(first["sent"]["time"], "13:00");
    assert_eq!(first["unread"], false);
    let first_id = id(first);

    // The clinician's inbox: the patient by name and number, one unread.
    let (status, inbox) = anna.get("staff/inbox").await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    assert_eq!(inbox.as_array().map(Vec::len), Some(1), "{inbox}");
    assert_eq!(inbox[0]["id"], cid.as_str());
    assert_eq!(inbox[0]["unread"], 1);
    assert_eq!(inbox[0]["patient"]["personnummer"], ELSA);
    assert_eq!(inbox[0]["patient"]["given_name"], "Elsa");
    assert_eq!(inbox[0]["assigned_to"], Value::Null);

    portal.clock.advance(600);
    let (status, read) = anna.get(&format!("staff/conversations/{cid}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["messages"][0]["unread"], true);
    let (status, reply) = anna
        .post(
            &format!("staff/conversations/{cid}/messages"),
            json!({ "text": "Hej Elsa, skicka gärna en bild." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["seq"], 2);
    assert_eq!(
        reply["author"],
        json!({"kind": "staff", "name": "Anna Läkarsson", "staff_id": anna_id})
    );
    let reply_id = id(&reply);
    let (status, png) = attach(
        &anna,
        &format!("staff/conversations/{cid}/messages/{reply_id}/attachments"),
        Some("image/png"),
        Some("instruktion%20f%C3%B6r%20bild.png"),
        PNG,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{png}");
    assert_eq!(png["name"], "instruktion för bild.png");
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["size"], PNG.len());
    let png_id = id(&png);

    // The patient: one unread, the clinician by name, no staff id, no staff-only fields.
    let (_, list) = elsa.get("conversations").await;
    assert_eq!(list[0]["unread"], 1, "{list}");
    let (status, conv) = elsa.get(&format!("conversations/{cid}")).await;
    assert_eq!(status, StatusCode::OK);
    let answer = &conv["messages"][1];
    assert_eq!(
        answer["author"],
        json!({"kind": "staff", "name": "Anna Läkarsson"})
    );
    assert_eq!(answer["unread"], true);
    assert_eq!(answer["attachments"][0]["id"], png_id.as_str());
    for staff_only in ["assigned_to", "closed_by", "patient"] {
        assert!(conv.get(staff_only).is_none(), "{staff_only} in {conv}");
    }

    let (status, headers, bytes) =
        download(&elsa, &format!("conversations/{cid}/attachments/{png_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, PNG);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        headers["content-security-policy"],
        "sandbox; default-src 'none'"
    );
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''instruktion%20f%C3%B6r%20bild.png"),
        "{disposition}"
    );

    // The patient attaches a PDF to her own message; the clinician downloads it.
    let (status, pdf) = attach(
        &elsa,
        &format!("conversations/{cid}/messages/{first_id}/attachments"),
        Some("application/pdf"),
        Some("..%2F..%2Fremiss.exe"),
        PDF,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pdf}");
    assert_eq!(pdf["name"], "remiss.pdf");
    let pdf_id = id(&pdf);
    let (status, headers, bytes) = download(
        &anna,
        &format!("staff/conversations/{cid}/attachments/{pdf_id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, PDF);
    assert_eq!(headers["content-type"], "application/pdf");

    let (status, last) = elsa
        .post(
            &format!("conversations/{cid}/messages"),
            json!({ "text": "Tack! 👨‍👩‍👧" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{last}");
    assert_eq!(last["seq"], 3);
    let (_, read) = anna.get(&format!("staff/conversations/{cid}")).await;
    let texts: Vec<&str> = read["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "Hej!\nJag har fått utslag.",
            "Hej Elsa, skicka gärna en bild.",
            "Tack! 👨‍👩‍👧"
        ]
    );
    assert_eq!(read["messages"][0]["attachments"][0]["id"], pdf_id.as_str());
    assert_eq!(portal.stored_files(), {
        let mut f = vec![png_id, pdf_id];
        f.sort();
        f
    });
    portal.stop().await;
}

async fn unread_counts_are_per_participant_and_reading_clears_only_the_readers(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.staff(ANNA).await;
    let carl = portal.staff(CARL).await;
    let cid = id(&start(&elsa, "Fråga", "Hur tar jag medicinen?").await);
    let unread = |inbox: &Value| inbox[0]["unread"].as_i64();

    let (_, a) = anna.get("staff/inbox?unread=true").await;
    let (_, c) = carl.get("staff/inbox?unread=true").await;
    assert_eq!((unread(&a), unread(&c)), (Some(1), Some(1)));

    let (status, body) = anna
        .post(
            &format!("staff/conversations/{cid}/read"),
            json!({ "seq": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, a) = anna.get("staff/inbox?unread=true").await;
    assert_eq!(a, json!([]), "read by Anna");
    let (_, c) = carl.get("staff/inbox").await;
    assert_eq!(unread(&c), Some(1), "Carl's mark is his own");
    let (_, mine) = elsa.get("conversations").await;
    assert_eq!(mine[0]["unread"], 0, "her own message is not unread to her");

    anna.post(
        &format!("staff/conversations/{cid}/messages"),
        json!({ "text": "Två gånger om dagen." }),
    )
    .await;
    let (_, mine) = elsa.get("conversations").await;
    let (_, a) = anna.get("staff/inbox").await;
    let (_, c) = carl.get("staff/inbox").await;
    assert_eq!(
        (mine[0]["unread"].as_i64(), unread(&a), unread(&c)),
        (Some(1), Some(0), Some(2)),
        "writing marks the writer's own message read; a colleague's counts for Carl"
    );

    let (status, summary) = elsa
        .post(&format!("conversations/{cid}/read"), json!({ "seq": 2 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["unread"], 0);
    // Marks move forward only; and the patient's read is not the staff's.
    elsa.post(&format!("conversations/{cid}/read"), json!({ "seq": 1 }))
        .await;
    let (_, mine) = elsa.get(&format!("conversations/{cid}")).await;
    assert_eq!(mine["unread"], 0);
    assert_eq!(mine["messages"][1]["unread"], false);
    let (_, c) = carl.get(&format!("staff/conversations/{cid}")).await;
    assert_eq!(c["unread"], 2);
    assert_eq!(
        (
            c["messages"][0]["unread"].as_bool(),
            c["messages"][1]["unread"].as_bool()
        ),
        (Some(true), Some(true))
    );

    let before = portal.state().await;
    for bad in [json!({ "seq": 3 }), json!({ "seq": -1 })] {
        let (status, body) = elsa.post(&format!("conversations/{cid}/read"), bad).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, ("invalid_field", Some("seq")))
        );
    }
    assert_eq!(portal.state().await, before);
    portal.stop().await;
}

async fn a_guardian_writes_for_a_child(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.staff(ANNA).await;
    let (status, body) = elsa.put("acting-as", json!({ "child": LEO })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let conv = start(&elsa, "Leos öron", "Leo har ont i örat.").await;
    let cid = id(&conv);
    assert_eq!(conv["started_by"], "guardian");
    assert_eq!(
        conv["messages"][0]["author"],
        json!({"kind": "guardian", "name": "Elsa Testsson"})
    );

    let (_, inbox) = anna.get("staff/inbox").await;
    assert_eq!(inbox[0]["patient"]["personnummer"], LEO, "{inbox}");
    assert_eq!(inbox[0]["started_by"], "guardian");
    anna.post(
        &format!("staff/conversations/{cid}/messages"),
        json!({ "text": "Kom in i morgon." }),
    )
    .await;
    let (_, list) = elsa.get("conversations").await;
    assert_eq!(list[0]["unread"], 1, "the guardian sees the child's unread");

    // Her own conversations do not hold the child's, nor can she reach it as herself.
    elsa.put("acting-as", json!({ "child": null })).await;
    let (_, own) = elsa.get("conversations").await;
    assert_eq!(own, json!([]));
    let (status, body) = elsa.get(&format!("conversations/{cid}")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, ("conversation_not_found", None))
    );
    // Her export names what she wrote for him, without the child's text.
    let (status, export) = elsa.get("me/export").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["messages"]["conversations"], json!([]));
    assert_eq!(
        export["messages"]["written_for_others"][0]["conversation_id"],
        cid.as_str()
    );
    assert!(!export.to_string().contains("ont i örat"), "{export}");
    portal.stop().await;
}

async fn staff_assign_to_a_colleague_and_close_and_nobody_writes_in_a_closed_conversation(
    db: Option<&str>,
) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.staff(ANNA).await;
    let carl = portal.staff(CARL).await;
    let (anna_id, carl_id) = (portal.staff_id(ANNA).await, portal.staff_id(CARL).await);
    let conv = start(&elsa, "Recept", "Kan jag få förnyat recept?").await;
    let cid = id(&conv);
    let first_id = id(&conv["messages"][0]);

    let (status, assigned) = anna
        .post(
            &format!("staff/conversations/{cid}/assign"),
            json!({ "staff_id": carl_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(
        assigned["assigned_to"],
        json!({"staff_id": carl_id, "name": "Carl Kollegasson"})
    );
    let (_, mine) = carl.get("staff/inbox?assigned=me").await;
    assert_eq!(mine[0]["id"], cid.as_str());
    let (_, not_mine) = anna.get("staff/inbox?assigned=me").await;
    assert_eq!(not_mine, json!([]));

    let before = portal.state().await;
    let (bo_id, dora_id) = (portal.staff_id(ADMIN).await, portal.staff_id(DORA).await);
    for other in [bo_id.as_str(), dora_id.as_str(), "no-such-staff"] {
        let (status, body) = anna
            .post(
                &format!("staff/conversations/{cid}/assign"),
                json!({ "staff_id": other }),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (
                StatusCode::BAD_REQUEST,
                ("not_a_clinician_of_unit", Some("staff_id"))
            ),
            "{other}"
        );
    }
    assert_eq!(portal.state().await, before);

    // Sessions last 30 idle minutes: ten go by.
    portal.clock.advance(600);
    let (status, closed) = carl
        .send(
            Method::POST,
            &format!("staff/conversations/{cid}/close"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closed_at"], T0 + 600);
    assert_eq!(closed["closed_by"]["staff_id"], carl_id.as_str());
    let (_, seen) = elsa.get(&format!("conversations/{cid}")).await;
    assert_eq!(
        (&seen["status"], &seen["closed_at"]),
        (&json!("closed"), &json!(T0 + 600))
    );
    assert!(seen.get("closed_by").is_none() && seen.get("assigned_to").is_none());

    // Nothing more is written in it, by anyone; it leaves the open inbox.
    let before = portal.state().await;
    let (status, body) = elsa
        .post(
            &format!("conversations/{cid}/messages"),
            json!({ "text": "Hallå?" }),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, ("conversation_closed", None))
    );
    let (status, body) = attach(
        &elsa,
        &format!("conversations/{cid}/messages/{first_id}/attachments"),
        Some("application/pdf"),
        None,
        PDF,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, ("conversation_closed", None))
    );
    for (path, body) in [
        (
            format!("staff/conversations/{cid}/messages"),
            Some(json!({ "text": "Svar" })),
        ),
        (format!("staff/conversations/{cid}/close"), None),
        (
            format!("staff/conversations/{cid}/assign"),
            Some(json!({ "staff_id": anna_id })),
        ),
    ] {
        let (status, answer) = anna.send(Method::POST, &path, body).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::CONFLICT, ("conversation_closed", None)),
            "{path}"
        );
    }
    assert_eq!(portal.state().await, before);
    let (_, open) = anna.get("staff/inbox").await;
    assert_eq!(open, json!([]));
    let (_, closed) = anna.get("staff/inbox?status=closed").await;
    assert_eq!(closed[0]["id"], cid.as_str());

    // A new conversation is the way on.
    let again = start(&elsa, "Recept igen", "Hallå?").await;
    assert_ne!(id(&again), cid);
    portal.stop().await;
}

async fn refusals_have_their_status_and_code_and_change_nothing(db: Option<&str>) {
    let max = 4096;
    let portal = Portal::start_with(db, Some(max)).await;
    let elsa = portal.patient(ELSA).await;
    let erik = portal.patient(ERIK).await;
    let anna = portal.staff(ANNA).await;
    let dora = portal.staff(DORA).await;
    let bo = portal.staff(ADMIN).await;
    let conv = start(&elsa, "Fråga", "Första.").await;
    let cid = id(&conv);
    let mid = id(&conv["messages"][0]);
    let (_, reply) = anna
        .post(
            &format!("staff/conversations/{cid}/messages"),
            json!({ "text": "Svar." }),
        )
        .await;
    let reply_id = id(&reply);
    let (_, file) = attach(
        &elsa,
        &format!("conversations/{cid}/messages/{mid}/attachments"),
        Some("application/pdf"),
        None,
        PDF,
    )
    .await;
    let file_id = id(&file);
    let before = portal.state().await;

    // Someone else's conversation: as if it did not exist.
    let not_found = (StatusCode::NOT_FOUND, ("conversation_not_found", None));
    let (s, b) = erik.get(&format!("conversations/{cid}")).await;
    assert_eq!((s, code(&b)), not_found);
    let (s, b) = erik
        .post(
            &format!("conversations/{cid}/messages"),
            json!({ "text": "Hej" }),
        )
        .await;
    assert_eq!((s, code(&b)), not_found);
    let (s, b) = erik
        .post(&format!("conversations/{cid}/read"), json!({ "seq": 1 }))
        .await;
    assert_eq!((s, code(&b)), not_found);
    let (s, b) = attach(
        &erik,
        &format!("conversations/{cid}/messages/{mid}/attachments"),
        Some("application/pdf"),
        None,
        PDF,
    )
    .await;
    assert_eq!((s, code(&b)), not_found);
    let (s, _, bytes) =
        download(&erik, &format!("conversations/{cid}/attachments/{file_id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!bytes.starts_with(b"%PDF"));
    let (s, b) = elsa.get("conversations/no-such-conversation").await;
    assert_eq!((s, code(&b)), not_found);
    // Another unit's clinician, and an administrator.
    let (s, b) = dora.get(&format!("staff/conversations/{cid}")).await;
    assert_eq!((s, code(&b)), not_found);
    let (s, b) = dora
        .post(
            &format!("staff/conversations/{cid}/messages"),
            json!({ "text": "Hej" }),
        )
        .await;
    assert_eq!((s, code(&b)), not_found);
    let (s, _, _) = download(
        &dora,
        &format!("staff/conversations/{cid}/attachments/{file_id}"),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, inbox) = dora.get("staff/inbox?status=all").await;
    assert_eq!(inbox, json!([]));
    let (s, b) = bo.get("staff/inbox").await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::FORBIDDEN, ("not_clinician", None))
    );
    let (s, b) = bo.get(&format!("staff/conversations/{cid}")).await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::FORBIDDEN, ("not_clinician", None))
    );
    // A patient session on staff routes and the other way round.
    let (s, _) = elsa.get("staff/inbox").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = anna.get("conversations").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Bodies: text, subject and care unit; types; shapes; size.
    let long = "å".repeat(5001);
    let start_refusals: Vec<BodyRefusal> = vec![
        (
            json!({ "care_unit": "Ingen sådan enhet", "subject": "x", "text": "y" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            ("unknown_care_unit", Some("care_unit")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x", "text": "   " }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("text")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x", "text": long }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("text")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "å".repeat(201), "text": "y" }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("subject")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x\u{200B}", "text": "y" }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("subject")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x", "text": "gpj.exe\u{202E}" }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("text")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x", "text": "a\u{2028}b" }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("text")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x", "text": "a\u{0}b" }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("text")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x", "text": 5 }),
            StatusCode::BAD_REQUEST,
            ("invalid_type", Some("text")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x" }),
            StatusCode::BAD_REQUEST,
            ("missing_field", Some("text")),
        ),
        (
            json!({ "care_unit": UNIT, "subject": "x", "text": "y", "assigned_to": "me" }),
            StatusCode::BAD_REQUEST,
            ("unknown_field", Some("assigned_to")),
        ),
        (
            json!([UNIT, "x", "y"]),
            StatusCode::BAD_REQUEST,
            ("invalid_type", None),
        ),
    ];
    for (body, status, expected) in start_refusals {
        let (s, b) = elsa.post("conversations", body.clone()).await;
        assert_eq!((s, code(&b)), (status, expected), "{body}");
    }
    let (s, b) = elsa
        .post(&format!("conversations/{cid}/read"), json!({ "seq": "1" }))
        .await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::BAD_REQUEST, ("invalid_type", Some("seq")))
    );
    let (s, b) = anna
        .post(
            &format!("staff/conversations/{cid}/assign"),
            json!({ "staff_id": 7 }),
        )
        .await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::BAD_REQUEST, ("invalid_type", Some("staff_id")))
    );
    let (s, b) = elsa
        .post(
            &format!("conversations/{cid}/messages"),
            json!({ "text": "x".repeat(70 * 1024) }),
        )
        .await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::PAYLOAD_TOO_LARGE, ("body_too_large", None))
    );

    // Attachments that lie, are empty, too large, unnamed properly, or go where they may not.
    let on_mine = format!("conversations/{cid}/messages/{mid}/attachments");
    let attach_refusals: Vec<FileRefusal> = vec![
        (
            on_mine.clone(),
            Some("image/png"),
            None,
            PDF.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "file_type_mismatch",
        ),
        (
            on_mine.clone(),
            Some("image/png"),
            None,
            b"not an image at all".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "file_type_mismatch",
        ),
        (
            on_mine.clone(),
            Some("image/jpeg"),
            None,
            PNG.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "file_type_mismatch",
        ),
        (
            on_mine.clone(),
            Some("text/html"),
            None,
            b"<script>alert(1)</script>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file_type",
        ),
        (
            on_mine.clone(),
            None,
            None,
            PDF.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file_type",
        ),
        (
            on_mine.clone(),
            Some("application/pdf"),
            None,
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "empty_file",
        ),
        (
            on_mine.clone(),
            Some("application/pdf"),
            None,
            [PDF, &[b' '; 4096][..]].concat(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
        ),
        (
            on_mine.clone(),
            Some("application/pdf"),
            Some("%zz"),
            PDF.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            format!("conversations/{cid}/messages/{reply_id}/attachments"),
            Some("application/pdf"),
            None,
            PDF.to_vec(),
            StatusCode::FORBIDDEN,
            "not_your_message",
        ),
        (
            format!("conversations/{cid}/messages/nope/attachments"),
            Some("application/pdf"),
            None,
            PDF.to_vec(),
            StatusCode::NOT_FOUND,
            "message_not_found",
        ),
    ];
    for (path, declared, name, bytes, status, expected) in attach_refusals {
        let (s, b) = attach(&elsa, &path, declared, name, &bytes).await;
        assert_eq!(
            (s, code(&b).0),
            (status, expected),
            "{declared:?} {path} {b}"
        );
    }
    // A file is no file of someone else's conversation, and staff attach to their own only.
    let (s, _, _) = download(&elsa, &format!("conversations/{cid}/attachments/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = attach(
        &anna,
        &format!("staff/conversations/{cid}/messages/{mid}/attachments"),
        Some("application/pdf"),
        None,
        PDF,
    )
    .await;
    assert_eq!((s, code(&b).0), (StatusCode::FORBIDDEN, "not_your_message"));
    assert_eq!(portal.state().await, before, "no refusal changed anything");

    // At most five files a message: the sixth is refused and not kept.
    for n in 1..5 {
        let (s, b) = attach(&elsa, &on_mine, Some("image/png"), None, PNG).await;
        assert_eq!(s, StatusCode::CREATED, "file {n}: {b}");
    }
    let kept = portal.state().await;
    let (s, b) = attach(&elsa, &on_mine, Some("image/png"), None, PNG).await;
    assert_eq!(
        (s, code(&b).0),
        (StatusCode::CONFLICT, "too_many_attachments")
    );
    assert_eq!(portal.state().await, kept);
    portal.stop().await;
}

async fn every_staff_read_is_in_the_patients_access_log(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.staff(ANNA).await;
    let anna_id = portal.staff_id(ANNA).await;
    let carl_id = portal.staff_id(CARL).await;
    let one = id(&start(&elsa, "Ett", "Första frågan.").await);
    portal.clock.advance(60);
    let two = start(&elsa, "Två", "Andra frågan.").await;
    let two_id = id(&two);
    let (_, file) = attach(
        &elsa,
        &format!(
            "conversations/{two_id}/messages/{}/attachments",
            id(&two["messages"][0])
        ),
        Some("image/png"),
        None,
        PNG,
    )
    .await;
    let file_id = id(&file);
    assert_eq!(
        portal.log_rows(ELSA).await,
        Vec::<(String, String, String)>::new(),
        "patients' own use is no PDL access"
    );

    let conv = |id: &str| format!("conversation:{id}");
    let mut expected: Vec<(String, String, String)> = Vec::new();
    let mut entry = |action: &str, resource: String| {
        expected.push((anna_id.clone(), action.to_owned(), resource));
        expected.clone()
    };

    let (status, inbox) = anna.get("staff/inbox").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inbox.as_array().map(Vec::len), Some(2));
    // One entry per conversation listed (newest activity first).
    entry("read", conv(&two_id));
    let want = entry("read", conv(&one));
    assert_eq!(portal.log_rows(ELSA).await, want);

    anna.get(&format!("staff/conversations/{one}")).await;
    assert_eq!(portal.log_rows(ELSA).await, entry("read", conv(&one)));
    let (status, _, _) = download(
        &anna,
        &format!("staff/conversations/{two_id}/attachments/{file_id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        portal.log_rows(ELSA).await,
        entry("read", format!("attachment:{file_id}"))
    );
    anna.post(
        &format!("staff/conversations/{one}/messages"),
        json!({ "text": "Svar." }),
    )
    .await;
    assert_eq!(portal.log_rows(ELSA).await, entry("create", conv(&one)));
    anna.post(
        &format!("staff/conversations/{one}/assign"),
        json!({ "staff_id": carl_id }),
    )
    .await;
    assert_eq!(portal.log_rows(ELSA).await, entry("update", conv(&one)));
    anna.send(
        Method::POST,
        &format!("staff/conversations/{one}/close"),
        None,
    )
    .await;
    let all = entry("update", conv(&one));
    assert_eq!(portal.log_rows(ELSA).await, all);
    // Marking read shows nothing of the patient: no entry.
    anna.post(
        &format!("staff/conversations/{two_id}/read"),
        json!({ "seq": 1 }),
    )
    .await;
    assert_eq!(portal.log_rows(ELSA).await, all);
    // The basis of each: the conversation, the care relationship.
    let bases: Vec<(String,)> =
        sqlx::query_as("SELECT basis FROM access_log WHERE patient = $1 ORDER BY seq")
            .bind(ELSA)
            .fetch_all(portal.db().pool())
            .await
            .expect("bases");
    let ids = [&two_id, &one, &one, &two_id, &one, &one, &one];
    for ((basis,), id) in bases.iter().zip(ids) {
        assert_eq!(basis, &conv(id));
    }

    // The patient sees the reads in her access log.
    let (status, log) = elsa.get("me/access-log").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log.as_array().map(Vec::len), Some(all.len()), "{log}");
    assert_eq!(log[0]["care_unit"], UNIT);
    portal.stop().await;
}

async fn export_lists_conversations_and_deletion_removes_rows_then_files(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.staff(ANNA).await;
    let conv = start(&elsa, "Min fråga", "Texten.").await;
    let cid = id(&conv);
    let (_, file) = attach(
        &elsa,
        &format!(
            "conversations/{cid}/messages/{}/attachments",
            id(&conv["messages"][0])
        ),
        Some("application/pdf"),
        Some("remiss.pdf"),
        PDF,
    )
    .await;
    anna.post(
        &format!("staff/conversations/{cid}/messages"),
        json!({ "text": "Svar." }),
    )
    .await;
    // And something she wrote for her son, which stays his.
    elsa.put("acting-as", json!({ "child": LEO })).await;
    let leo = id(&start(&elsa, "Leo", "För Leo.").await);
    elsa.put("acting-as", json!({ "child": null })).await;
    assert_eq!(portal.stored_files(), [id(&file)]);

    let (status, export) = elsa.get("me/export").await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let mine = &export["messages"]["conversations"];
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{export}");
    assert_eq!(mine[0]["subject"], "Min fråga");
    assert_eq!(mine[0]["messages"][0]["text"], "Texten.");
    assert_eq!(
        mine[0]["messages"][0]["attachments"][0]["name"],
        "remiss.pdf"
    );
    assert_eq!(
        mine[0]["messages"][1]["author"],
        json!({"kind": "staff", "name": "Anna Läkarsson"})
    );
    assert!(mine[0].get("assigned_to").is_none());

    let (status, _) = elsa.send(Method::DELETE, "me", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        portal
            .count(&format!(
                "SELECT COUNT(*) FROM conversations WHERE id = '{cid}'"
            ))
            .await,
        0
    );
    for table in [
        "conversation_attachments".to_owned(),
        format!("conversation_messages WHERE conversation_id = '{cid}'"),
        format!("conversation_reads WHERE conversation_id = '{cid}'"),
        "message_file_removals".to_owned(),
    ] {
        assert_eq!(
            portal.count(&format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        portal.stored_files(),
        Vec::<String>::new(),
        "the file followed its row"
    );
    // The son's conversation stays, with what she wrote under her name; the link is gone.
    let kept: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT author_kind, author_account, author_name FROM conversation_messages \
         WHERE conversation_id = $1",
    )
    .bind(&leo)
    .fetch_all(portal.db().pool())
    .await
    .expect("kept");
    assert_eq!(
        kept,
        [(
            String::from("guardian"),
            None,
            String::from("Elsa Testsson")
        )]
    );
    portal.stop().await;
}

async fn every_state_changing_messages_route_needs_the_csrf_token(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.staff(ANNA).await;
    let carl_id = portal.staff_id(CARL).await;
    let conv = start(&elsa, "Fråga", "Hej.").await;
    let cid = id(&conv);
    let mid = id(&conv["messages"][0]);
    let (_, doc) = elsa.get("openapi.json").await;
    let mut walked = 0;
    let before = portal.state().await;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let tagged = op["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("messages")));
            if !tagged || !["post", "put", "delete"].contains(&method.as_str()) {
                continue;
            }
            let who = if path.starts_with("/api/v1/staff/") {
                &anna
            } else {
                &elsa
            };
            let path = path
                .trim_start_matches("/api/v1/")
                .replace("{id}", &cid)
                .replace("{message}", &mid);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            // A body each of these would take: the session's check comes first anyway.
            let body = json!({
                "care_unit": UNIT, "subject": "x", "text": "y", "seq": 1, "staff_id": carl_id,
            });
            for (csrf, origin) in [
                (None, None),
                (Some("not-the-token"), None),
                (who.csrf.as_deref(), Some("https://evil.example")),
            ] {
                let (status, answer) = who
                    .send_with(method.clone(), &path, Some(&body), csrf, origin)
                    .await;
                assert_eq!(
                    (status, code(&answer).0),
                    (StatusCode::FORBIDDEN, "csrf"),
                    "{method} {path}: {answer}"
                );
            }
            walked += 1;
        }
    }
    // Four patient routes (start, write, read, attach) and five staff ones (write, read,
    // attach, assign, close).
    assert_eq!(walked, 9, "{walked} routes walked");
    assert_eq!(portal.state().await, before);
    portal.stop().await;
}

async fn a_failed_row_keeps_no_file_and_files_left_by_a_crash_are_removed(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let conv = start(&elsa, "Fråga", "Hej.").await;
    let path = format!(
        "conversations/{}/messages/{}/attachments",
        id(&conv),
        id(&conv["messages"][0])
    );

    // The row cannot be written (the table is away): the file already written goes again.
    sqlx::query("ALTER TABLE conversation_attachments RENAME TO conversation_attachments_away")
        .execute(portal.db().pool())
        .await
        .expect("rename");
    let (status, body) = attach(&elsa, &path, Some("application/pdf"), None, PDF).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
    );
    sqlx::query("ALTER TABLE conversation_attachments_away RENAME TO conversation_attachments")
        .execute(portal.db().pool())
        .await
        .expect("rename back");
    assert_eq!(
        portal.stored_files(),
        Vec::<String>::new(),
        "no file without its row"
    );

    // What a crash can leave: a file whose row was deleted (queued in message_file_removals),
    // and a file whose row never came. The start-up clean-up removes both, and no file that has
    // its row.
    let (status, kept) = attach(&elsa, &path, Some("application/pdf"), None, PDF).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    let dir = portal.attachment_dir();
    let orphan = "0123456789abcdef0123456789abcdef";
    let queued = "fedcba9876543210fedcba9876543210";
    for key in [orphan, queued] {
        std::fs::create_dir_all(dir.join(&key[..2])).expect("shard");
        std::fs::write(dir.join(&key[..2]).join(key), PDF).expect("file");
    }
    sqlx::query("INSERT INTO message_file_removals (id) VALUES ($1)")
        .bind(queued)
        .execute(portal.db().pool())
        .await
        .expect("queued");
    let store = vardrum::uploads::store::DirStore::open(&dir).expect("store");
    // An hour after the files were written: the sweep's age for files without a row.
    let later = Arc::new(ManualClock::new(common::now_unix() + 3600));
    let messages = vardrum::portal::messages::Messages::new(
        portal.db().clone(),
        later,
        Arc::new(store),
        1024 * 1024,
    );
    assert_eq!(messages.purge_removed_files().await.expect("purge"), 1);
    assert_eq!(
        portal
            .count("SELECT COUNT(*) FROM message_file_removals")
            .await,
        0
    );
    assert_eq!(messages.sweep(3600).await.expect("sweep"), 1);
    assert_eq!(portal.stored_files(), [id(&kept)]);
    portal.stop().await;
}
