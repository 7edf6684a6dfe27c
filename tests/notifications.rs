//! Notifications through the portal's HTTP API and the outbox's worker, on SQLite (always) and
//! PostgreSQL (when `VARDRUM_TEST_POSTGRES` names a server; required in CI), delivered to a real
//! SMTP server the test starts (`tests/fixtures/smtp_sink.py`, Debian's python3-aiosmtpd) and to
//! a local HTTP server standing in for the SMS gateway, which records what it receives.
//!
//! The worker's background loop is off (`poll_interval_secs = 0`): each test drives it with
//! `run_once()` and moves the injected clock, so back-off, leases and reminders are exact.

mod common;
mod dbsupport;
mod portalharness;
mod portalsupport;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use dbsupport::{PgDatabase, on_both_databases};
use portalharness::{PortalServer, SlotSpec};
use portalsupport::{Browser, profile};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use vardrum::config::Config;
use vardrum::portal::bookings::{SlotKind, SlotMode};
use vardrum::portal::notifications::{
    EmailConfig, NotificationsConfig, RunReport, SmsAuth, SmsConfig, SmtpTls,
};
use vardrum::server::Server;

// Skatteverket test numbers only (config/dev/population-register.json).
const ELSA: &str = "199006022397";
/// Elsa's son, born 2016-02-29.
const LEO: &str = "201602292383";
const CLINICIAN: &str = "dev-clinician-anna";
const ADMIN: &str = "dev-admin-bo";
const UNIT: &str = "Hälsocentral Testvik";
/// From PTS's series reserved for fiction.
const MOBILE: &str = "+46701740605";
const EMAIL: &str = "elsa@example.org";
const SERVICE: &str = "1177 direkt Västerbotten";
const FROM: &str = "1177 direkt Västerbotten <no-reply@regionvasterbotten.se>";

/// 2026-03-15T12:00:00Z, 13:00 on Sunday in Stockholm.
const T0: u64 = 1_773_576_000;
const HOUR: u64 = 3600;

on_both_databases!(
    bookings_notify_the_opted_in_channels_with_reminders_that_follow_moves,
    a_guardians_booking_for_a_child_notifies_the_guardian,
    smtp_and_sms_failures_are_retried_with_back_off_then_fail_visibly,
    a_restart_between_send_and_mark_resends_with_the_same_key_and_loses_nothing,
    without_smtp_or_sms_configured_notices_are_skipped_with_the_reason,
    export_shows_the_notices_and_deleting_the_account_removes_them,
    a_clinicians_reply_tells_the_patient_there_is_a_message_and_nothing_of_it,
);

// ----- the SMTP server and the SMS gateway

/// `tests/fixtures/smtp_sink.py`, running until dropped.
struct SmtpSink {
    _child: tokio::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py");
        let mut child = tokio::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg(dir.path().join("mail"))
            .arg(dir.path().join("reply"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the SMTP sink (python3-aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = lines
            .next_line()
            .await
            .expect("read the port")
            .expect("the sink prints its port")
            .trim()
            .parse()
            .expect("a port number");
        Self {
            _child: child,
            port,
            dir,
        }
    }

    /// Every later message is answered with `line` (`None`: accepted again).
    fn reply_with(&self, line: Option<&str>) {
        let path = self.dir.path().join("reply");
        match line {
            Some(line) => std::fs::write(path, line).expect("reply file"),
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The messages received so far, as the sink parsed them, in order.
    fn messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for n in 1.. {
            let path = self.dir.path().join(format!("mail/{n}.json"));
            match std::fs::read(&path) {
                Ok(bytes) => out.push(serde_json::from_slice(&bytes).expect("sink JSON")),
                Err(_) => break,
            }
        }
        out
    }
}

/// What the SMS gateway received: the headers that matter and the JSON body.
#[derive(Debug, Clone)]
struct SmsRequest {
    authorization: Option<String>,
    idempotency_key: Option<String>,
    body: Value,
}

/// A local HTTP server standing in for the SMS gateway.
struct Gateway {
    url: String,
    received: Arc<Mutex<Vec<SmsRequest>>>,
    /// The status it answers with.
    status: Arc<AtomicU16>,
    token_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start() -> Self {
        let received: Arc<Mutex<Vec<SmsRequest>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (r, s) = (received.clone(), status.clone());
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    r.lock().expect("lock").push(SmsRequest {
                        authorization: header("authorization"),
                        idempotency_key: header("idempotency-key"),
                        body: body.0,
                    });
                    let code = s.load(Ordering::SeqCst);
                    axum::http::StatusCode::from_u16(code).expect("status")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let token_file = dir.path().join("sms-token");
        std::fs::write(&token_file, "gateway-secret\n").expect("token file");
        Self {
            url: format!("http://{addr}/sms"),
            received,
            status,
            token_file,
            _dir: dir,
        }
    }

    fn received(&self) -> Vec<SmsRequest> {
        self.received.lock().expect("lock").clone()
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

fn email_config(port: u16) -> EmailConfig {
    EmailConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        username: None,
        password_file: None,
        from: FROM.into(),
        timeout_secs: 10,
    }
}

fn sms_config(gateway: &Gateway) -> SmsConfig {
    SmsConfig {
        url: gateway.url.clone(),
        from: "Region".into(),
        auth: SmsAuth::Bearer {
            token_file: gateway.token_file.clone(),
        },
        timeout_secs: 10,
    }
}

// ----- the portal

/// The shared portal server, with the outbox's worker driven by hand.
struct Portal(PortalServer);

impl std::ops::Deref for Portal {
    type Target = PortalServer;
    fn deref(&self) -> &PortalServer {
        &self.0
    }
}

impl Portal {
    async fn start(
        database_url: Option<&str>,
        email: Option<EmailConfig>,
        sms: Option<SmsConfig>,
        max_attempts: u32,
    ) -> Self {
        Self(
            PortalServer::start(database_url, T0, |c| {
                c.notifications = NotificationsConfig {
                    poll_interval_secs: 0,
                    max_attempts,
                    email,
                    sms,
                    ..NotificationsConfig::default()
                };
            })
            .await,
        )
    }

    fn server(&self) -> &Server {
        self.0.server.server()
    }

    async fn run_once(&self) -> RunReport {
        self.server()
            .state
            .notifier
            .run_once()
            .await
            .expect("a pass of the outbox")
    }

    /// Logs Elsa in with her contact details and the given opt-ins.
    async fn elsa(&self, sms: bool, email: bool) -> Browser {
        let elsa = self.patient(ELSA).await;
        opt_in(&elsa, sms, email, "sv").await;
        elsa
    }

    /// Publishes a single slot of UNIT with Anna as its clinician, through the domain.
    async fn slot(&self, kind: SlotKind, starts: &str, ends: &str) -> String {
        self.publish_slot(SlotSpec {
            clinician: CLINICIAN,
            unit: UNIT,
            kind,
            mode: SlotMode::Single,
            capacity: None,
            starts,
            ends,
        })
        .await
    }

    async fn book(&self, who: &Browser, slot: &str) -> String {
        let (status, booking) = who.post("bookings", json!({ "slot_id": slot })).await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        booking["id"].as_str().expect("id").to_owned()
    }

    /// Every notice: (kind, channel, state, reason), in creation order.
    async fn notices(&self) -> Vec<(String, String, String, Option<String>)> {
        sqlx::query_as(
            "SELECT kind, channel, state, reason FROM notifications \
             ORDER BY created_at, kind, channel",
        )
        .fetch_all(self.db().pool())
        .await
        .expect("notices")
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}metrics", self.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(secs);
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

async fn opt_in(who: &Browser, sms: bool, email: bool, language: &str) {
    let (_, me) = who.get("me").await;
    let mut edit = profile(&me);
    edit["mobile"] = json!(MOBILE);
    edit["email"] = json!(EMAIL);
    edit["settings"] = json!({ "notify_sms": sms, "notify_email": email, "language": language });
    let (status, body) = who.put("me", edit).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn n(
    kind: &str,
    channel: &str,
    state: &str,
    reason: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        kind.into(),
        channel.into(),
        state.into(),
        reason.map(str::to_owned),
    )
}

fn report(claimed: u32, sent: u32, retried: u32, failed: u32, skipped: u32) -> RunReport {
    RunReport {
        claimed,
        sent,
        retried,
        failed,
        skipped,
        lost: 0,
    }
}

// ----- scenarios

async fn bookings_notify_the_opted_in_channels_with_reminders_that_follow_moves(db: Option<&str>) {
    let sink = SmtpSink::start().await;
    let gateway = Gateway::start().await;
    let portal = Portal::start(
        db,
        Some(email_config(sink.port)),
        Some(sms_config(&gateway)),
        6,
    )
    .await;
    // Tuesday 10:00 (45 h ahead) by video, later moved to Wednesday 10:00.
    let tuesday = portal
        .slot(SlotKind::Digital, "2026-03-17T10:00", "2026-03-17T10:20")
        .await;
    let wednesday = portal
        .slot(SlotKind::Digital, "2026-03-18T10:00", "2026-03-18T10:20")
        .await;
    // E-mail only, to begin with.
    let elsa = portal.elsa(false, true).await;
    let booking = portal.book(&elsa, &tuesday).await;

    // Written with the booking: a confirmation and a reminder on each channel.
    assert_eq!(
        portal.notices().await,
        [
            n("booking_confirmed", "email", "pending", None),
            n("booking_confirmed", "sms", "pending", None),
            n("reminder", "email", "pending", None),
            n("reminder", "sms", "pending", None),
        ]
    );
    // The reminder is not due yet; the SMS is not opted into.
    assert_eq!(portal.run_once().await, report(2, 1, 0, 0, 1));
    assert_eq!(
        portal.notices().await[..2],
        [
            n("booking_confirmed", "email", "sent", None),
            n("booking_confirmed", "sms", "skipped", Some("not_opted_in")),
        ]
    );
    assert!(gateway.received().is_empty());
    let mail = sink.messages();
    assert_eq!(mail.len(), 1);
    let confirmation = &mail[0];
    assert_eq!(confirmation["rcpt_tos"], json!([EMAIL]));
    assert_eq!(confirmation["from"], FROM);
    assert_eq!(
        confirmation["subject"],
        format!("{SERVICE}: Bokningsbekräftelse")
    );
    let text = confirmation["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!(
            "Din tid är bokad: tisdag 17 mars kl. 10:00. Logga in i {SERVICE} för att se bokningen."
        )),
        "{text}"
    );
    // The idempotency key is the Message-ID.
    let (id,): (String,) = sqlx::query_as(
        "SELECT id FROM notifications WHERE kind = 'booking_confirmed' AND channel = 'email'",
    )
    .fetch_one(portal.db().pool())
    .await
    .expect("id");
    assert_eq!(
        confirmation["message_id"],
        format!("<{id}@regionvasterbotten.se>")
    );
    // The calendar file: the time in UTC and "Videobesök", nothing more; no join link anywhere.
    let ics = &confirmation["attachments"][0];
    assert_eq!(ics["filename"], "bokning.ics");
    assert!(
        ics["content_type"]
            .as_str()
            .is_some_and(|t| t.starts_with("text/calendar") && t.contains("PUBLISH")),
        "{ics}"
    );
    let calendar = ics["content"].as_str().expect("ics");
    for line in [
        format!("UID:{booking}@vardrum"),
        "DTSTAMP:20260315T120000Z".into(),
        "DTSTART:20260317T090000Z".into(),
        "DTEND:20260317T092000Z".into(),
        "SUMMARY:Videobesök".into(),
    ] {
        assert!(
            calendar.contains(&format!("{line}\r\n")),
            "{line} in {calendar}"
        );
    }
    let everything = confirmation.to_string();
    assert!(
        !everything.contains("http") && !everything.contains(UNIT),
        "{everything}"
    );

    // Elsa turns SMS on, in English; staff move the booking to Wednesday.
    opt_in(&elsa, true, true, "en").await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, body) = anna
        .post(
            &format!("staff/bookings/{booking}/move"),
            json!({ "slot_id": wednesday }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Tuesday's reminder is cancelled in the move's transaction, Wednesday's scheduled.
    let reminders: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT channel, state, due_at FROM notifications WHERE kind = 'reminder' \
         ORDER BY state, channel",
    )
    .fetch_all(portal.db().pool())
    .await
    .expect("reminders");
    let tuesday_10 = 1_773_738_000; // 2026-03-17T09:00:00Z
    let wednesday_10 = tuesday_10 + 24 * 3600;
    assert_eq!(
        reminders,
        [
            ("email".into(), "cancelled".into(), tuesday_10),
            ("sms".into(), "cancelled".into(), tuesday_10),
            ("email".into(), "pending".into(), wednesday_10),
            ("sms".into(), "pending".into(), wednesday_10),
        ]
    );
    assert_eq!(portal.run_once().await, report(2, 2, 0, 0, 0));
    let sms = gateway.received();
    assert_eq!(sms.len(), 1);
    assert_eq!(
        sms[0].authorization.as_deref(),
        Some("Bearer gateway-secret")
    );
    assert_eq!(
        sms[0].body,
        json!({
            "to": MOBILE,
            "from": "Region",
            "message": format!("Your appointment has been moved to Wednesday 18 March at 10:00. Log in to {SERVICE} to see the booking."),
            "reference": sms[0].idempotency_key.clone().expect("idempotency key"),
        })
    );
    let moved = &sink.messages()[1];
    assert_eq!(
        moved["subject"],
        format!("{SERVICE}: Your appointment has been moved")
    );
    let calendar = moved["attachments"][0]["content"].as_str().expect("ics");
    assert!(calendar.contains(&format!("UID:{booking}@vardrum\r\n")));
    assert!(calendar.contains("DTSTART:20260318T090000Z\r\n"));
    assert!(calendar.contains("SUMMARY:Video visit\r\n"));

    // Tuesday 10:00 less a day: nothing (that reminder is cancelled).
    drop(anna);
    portal.advance(21 * HOUR);
    assert_eq!(portal.run_once().await, report(0, 0, 0, 0, 0));
    // Wednesday 10:00 less a day: the reminder, on both channels.
    portal.advance(24 * HOUR);
    assert_eq!(portal.run_once().await, report(2, 2, 0, 0, 0));
    let sms = gateway.received();
    assert_eq!(
        sms[1].body["message"],
        format!("Reminder: your visit tomorrow at 10:00. Log in to {SERVICE} to see the booking.")
    );
    assert_eq!(
        sink.messages()[2]["subject"],
        format!("{SERVICE}: Reminder")
    );
    assert!(
        sink.messages()[2]["attachments"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    // Staff cancel: the patient is told, with a calendar cancellation.
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, body) = anna
        .post(&format!("staff/bookings/{booking}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(portal.run_once().await, report(2, 2, 0, 0, 0));
    let cancelled = &sink.messages()[3];
    let calendar = cancelled["attachments"][0]["content"]
        .as_str()
        .expect("ics");
    assert!(calendar.contains("METHOD:CANCEL\r\n") && calendar.contains("STATUS:CANCELLED\r\n"));
    assert_eq!(
        gateway.received()[2].body["message"],
        format!(
            "Your appointment (tomorrow at 10:00) has been cancelled. Log in to {SERVICE} for more."
        )
    );
    // Every key is its own; a patient's own cancellation tells nobody anything.
    let keys: std::collections::HashSet<_> = gateway
        .received()
        .iter()
        .map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(keys.len(), 3);
    let metrics = portal.metrics().await;
    assert!(
        metrics.contains("vardrum_notifications{state=\"sent\"} 7\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vardrum_notifications_sent_total 7\n"),
        "{metrics}"
    );
    portal.stop().await;
}

async fn a_guardians_booking_for_a_child_notifies_the_guardian(db: Option<&str>) {
    let sink = SmtpSink::start().await;
    let portal = Portal::start(db, Some(email_config(sink.port)), None, 6).await;
    let slot = portal
        .slot(SlotKind::Physical, "2026-03-17T10:00", "2026-03-17T10:30")
        .await;
    let elsa = portal.elsa(false, true).await;
    let (status, body) = elsa.put("acting-as", json!({ "child": LEO })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    portal.book(&elsa, &slot).await;
    let (elsa_id,): (String,) = sqlx::query_as("SELECT id FROM accounts WHERE personnummer = $1")
        .bind(ELSA)
        .fetch_one(portal.db().pool())
        .await
        .expect("Elsa's account");
    let recipients: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT account_id FROM notifications")
            .fetch_all(portal.db().pool())
            .await
            .expect("recipients");
    assert_eq!(recipients, [(elsa_id,)]);
    assert_eq!(portal.run_once().await, report(2, 1, 0, 0, 1));
    let mail = sink.messages();
    assert_eq!(mail[0]["rcpt_tos"], json!([EMAIL]));
    // A physical visit's calendar event is the place.
    let calendar = mail[0]["attachments"][0]["content"].as_str().expect("ics");
    assert!(
        calendar.contains("SUMMARY:Mottagningen\\, rum 4\r\n"),
        "{calendar}"
    );
    portal.stop().await;
}

async fn smtp_and_sms_failures_are_retried_with_back_off_then_fail_visibly(db: Option<&str>) {
    let sink = SmtpSink::start().await;
    let gateway = Gateway::start().await;
    let portal = Portal::start(
        db,
        Some(email_config(sink.port)),
        Some(sms_config(&gateway)),
        3,
    )
    .await;
    let slot = portal
        .slot(SlotKind::Digital, "2026-03-17T16:00", "2026-03-17T16:20")
        .await;
    let elsa = portal.elsa(true, true).await;
    portal.book(&elsa, &slot).await;
    sink.reply_with(Some("451 4.3.0 Try again later"));
    gateway.answer(500);

    // Attempt 1 of 3 fails on both; back-off 60 s, then 120 s.
    assert_eq!(portal.run_once().await, report(2, 0, 2, 0, 0));
    let reasons: Vec<(String, Option<String>, Option<i64>, i64)> = sqlx::query_as(
        "SELECT channel, reason, retry_at, attempts FROM notifications \
         WHERE kind = 'booking_confirmed' ORDER BY channel",
    )
    .fetch_all(portal.db().pool())
    .await
    .expect("rows");
    let t0 = T0 as i64;
    assert_eq!(
        reasons,
        [
            (
                "email".into(),
                Some("smtp_transient 451".into()),
                Some(t0 + 60),
                1
            ),
            ("sms".into(), Some("sms_http 500".into()), Some(t0 + 60), 1),
        ]
    );
    // Not before the back-off has passed.
    portal.advance(59);
    assert_eq!(portal.run_once().await, report(0, 0, 0, 0, 0));
    portal.advance(1);
    assert_eq!(portal.run_once().await, report(2, 0, 2, 0, 0));
    portal.advance(119);
    assert_eq!(portal.run_once().await, report(0, 0, 0, 0, 0));
    // The gateway recovers: the SMS goes on its third attempt, nothing lost; the SMTP server
    // still refuses, and the e-mail's last attempt makes it `failed`.
    gateway.answer(200);
    portal.advance(1);
    assert_eq!(portal.run_once().await, report(2, 1, 0, 1, 0));
    assert_eq!(
        portal.notices().await[..2],
        [
            n(
                "booking_confirmed",
                "email",
                "failed",
                Some("smtp_transient 451")
            ),
            n("booking_confirmed", "sms", "sent", None),
        ]
    );
    let sms = gateway.received();
    assert_eq!(sms.len(), 3, "three attempts reached the gateway");
    assert!(
        sms.iter()
            .all(|r| r.idempotency_key == sms[0].idempotency_key),
        "every attempt carries the same key"
    );
    assert!(sink.messages().is_empty());
    let metrics = portal.metrics().await;
    assert!(
        metrics.contains("vardrum_notifications{state=\"failed\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vardrum_notifications_failed_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vardrum_notifications_retries_total 4\n"),
        "{metrics}"
    );

    // A refusal for good (5xx) fails at once, without retries.
    sink.reply_with(Some("550 5.1.1 No such user"));
    let later = portal
        .slot(SlotKind::Digital, "2026-03-17T17:00", "2026-03-17T17:20")
        .await;
    portal.book(&elsa, &later).await;
    assert_eq!(portal.run_once().await, report(2, 1, 0, 1, 0));
    let (reason, attempts): (Option<String>, i64) = sqlx::query_as(
        "SELECT reason, attempts FROM notifications WHERE state = 'failed' \
         ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(portal.db().pool())
    .await
    .expect("failed row");
    assert_eq!(
        (reason.as_deref(), attempts),
        (Some("smtp_permanent 550"), 1)
    );

    // Administrators see the failed notices (kind, channel, why; nothing of whom) and send one
    // again once the mail server is fixed: the same id, a fresh round of attempts.
    let bo = portal.logged_in("staff", ADMIN).await;
    let (status, failed) = bo.get("admin/notifications/failed").await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    let failed = failed.as_array().expect("list").clone();
    // Both failed at the same (manual) time: their order is not the point here.
    let mut reasons: Vec<&str> = failed.iter().filter_map(|f| f["reason"].as_str()).collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        ["smtp_permanent 550", "smtp_transient 451"],
        "{failed:?}"
    );
    for notice in &failed {
        assert_eq!(
            notice.as_object().map(|o| {
                let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
                keys.sort_unstable();
                keys
            }),
            Some(vec![
                "attempts",
                "channel",
                "created_at",
                "id",
                "kind",
                "reason",
                "updated_at"
            ]),
            "{notice}"
        );
    }
    let id = failed
        .iter()
        .find(|f| f["reason"] == "smtp_transient 451")
        .and_then(|f| f["id"].as_str())
        .expect("the 451 notice")
        .to_owned();
    let retry = format!("admin/notifications/{id}/retry");
    let (status, answer) = bo.send_with(Method::POST, &retry, None, None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token: {answer}");
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, _) = anna.send(Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "administrators only");
    sink.reply_with(None);
    let (status, again) = bo.send(Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["attempts"], 0);
    assert_eq!(portal.run_once().await, report(1, 1, 0, 0, 0));
    let mail = sink.messages();
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0]["message_id"]
            .as_str()
            .is_some_and(|m| m.contains(&id)),
        "the same key: {}",
        mail[0]
    );
    for path in [retry.as_str(), "admin/notifications/no-such/retry"] {
        let (status, body) = bo.send(Method::POST, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, failed) = bo.get("admin/notifications/failed").await;
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    portal.stop().await;

    // An SMTP server that is not there at all: retried like a 4xx.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let portal = Portal::start(db, Some(email_config(port)), None, 3).await;
    let slot = portal
        .slot(SlotKind::Digital, "2026-03-19T16:00", "2026-03-19T16:20")
        .await;
    let elsa = portal.elsa(false, true).await;
    let booking = portal.book(&elsa, &slot).await;
    assert_eq!(portal.run_once().await, report(2, 0, 1, 0, 1));
    let (reason,): (Option<String>,) = sqlx::query_as(
        "SELECT reason FROM notifications WHERE channel = 'email' \
         AND kind = 'booking_confirmed' AND booking_id = $1",
    )
    .bind(&booking)
    .fetch_one(portal.db().pool())
    .await
    .expect("row");
    assert_eq!(reason.as_deref(), Some("smtp_connection"));
    portal.stop().await;
}

async fn a_restart_between_send_and_mark_resends_with_the_same_key_and_loses_nothing(
    db: Option<&str>,
) {
    let sink = SmtpSink::start().await;
    let portal = Portal::start(db, Some(email_config(sink.port)), None, 6).await;
    let slot = portal
        .slot(SlotKind::Digital, "2026-03-17T16:00", "2026-03-17T16:20")
        .await;
    let elsa = portal.elsa(false, true).await;
    portal.book(&elsa, &slot).await;

    // Two workers claim at once (two nodes): each notice goes to exactly one of them.
    let notifier = portal.server().state.notifier.clone();
    let (a, b) = tokio::join!(notifier.claim(), notifier.claim());
    let (a, b) = (a.expect("claim"), b.expect("claim"));
    assert_eq!(a.len() + b.len(), 2, "both due notices claimed once");
    assert!(a.iter().all(|x| b.iter().all(|y| x.id != y.id)));
    let claimed: Vec<_> = a.into_iter().chain(b).collect();

    // The worker sends the e-mail, and the process dies before recording it.
    let email_id: String = {
        let (id,): (String,) = sqlx::query_as(
            "SELECT id FROM notifications WHERE channel = 'email' AND kind = 'booking_confirmed'",
        )
        .fetch_one(portal.db().pool())
        .await
        .expect("id");
        id
    };
    let claim = claimed
        .iter()
        .find(|c| c.id == email_id)
        .expect("the e-mail was claimed");
    notifier.send_without_marking(claim).await.expect("sent");
    assert_eq!(sink.messages().len(), 1);
    drop(notifier);
    let clock = portal.clock.clone();
    let database_url = db.map(str::to_owned);
    let dir = portal.0.server.stop_keeping_files().await;

    // A new portal on the same database and data directory.
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        database_url,
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("addr");
    config.media.udp_listen = "127.0.0.1:0".parse().expect("addr");
    config.notifications = NotificationsConfig {
        poll_interval_secs: 0,
        email: Some(email_config(sink.port)),
        ..NotificationsConfig::default()
    };
    let lease = config.notifications.lease_secs;
    let server = Server::start_with_clock(config, clock.clone())
        .await
        .expect("restarted");
    let notifier = server.state.notifier.clone();
    // The dead worker's lease still holds: nobody sends meanwhile.
    assert_eq!(
        notifier.run_once().await.expect("pass"),
        report(0, 0, 0, 0, 0)
    );
    clock.advance(lease);
    // Retaken after the lease: sent again, with the same Message-ID; the SMS (not opted in)
    // is skipped. Nothing lost.
    assert_eq!(
        notifier.run_once().await.expect("pass"),
        report(2, 1, 0, 0, 1)
    );
    let mail = sink.messages();
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[0]["message_id"], mail[1]["message_id"]);
    assert_eq!(
        mail[1]["message_id"],
        format!("<{email_id}@regionvasterbotten.se>")
    );
    let (state, attempts): (String, i64) =
        sqlx::query_as("SELECT state, attempts FROM notifications WHERE id = $1")
            .bind(&email_id)
            .fetch_one(server.state.db.pool())
            .await
            .expect("row");
    assert_eq!((state.as_str(), attempts), ("sent", 2));
    // Once recorded, never again.
    clock.advance(lease);
    assert_eq!(
        notifier.run_once().await.expect("pass"),
        report(0, 0, 0, 0, 0)
    );
    drop(notifier);
    server.shutdown().await;
    drop(dir);
}

async fn without_smtp_or_sms_configured_notices_are_skipped_with_the_reason(db: Option<&str>) {
    let portal = Portal::start(db, None, None, 6).await;
    let slot = portal
        .slot(SlotKind::Digital, "2026-03-15T16:00", "2026-03-15T16:20")
        .await;
    let elsa = portal.elsa(true, true).await;
    portal.book(&elsa, &slot).await;
    // Booked three hours ahead, within the 24-hour window, so the reminder is due at once and
    // skipped (the confirmation was the reminder).
    assert_eq!(portal.run_once().await, report(4, 0, 0, 0, 4));
    assert_eq!(
        portal.notices().await,
        [
            n(
                "booking_confirmed",
                "email",
                "skipped",
                Some("email_not_configured")
            ),
            n(
                "booking_confirmed",
                "sms",
                "skipped",
                Some("sms_not_configured")
            ),
            n(
                "reminder",
                "email",
                "skipped",
                Some("booked_within_reminder_window")
            ),
            n(
                "reminder",
                "sms",
                "skipped",
                Some("booked_within_reminder_window")
            ),
        ]
    );
    let metrics = portal.metrics().await;
    assert!(
        metrics.contains("vardrum_notifications{state=\"skipped\"} 4\n"),
        "{metrics}"
    );
    portal.stop().await;
}

async fn export_shows_the_notices_and_deleting_the_account_removes_them(db: Option<&str>) {
    let sink = SmtpSink::start().await;
    let portal = Portal::start(db, Some(email_config(sink.port)), None, 6).await;
    let slot = portal
        .slot(SlotKind::Digital, "2026-03-18T10:00", "2026-03-18T10:20")
        .await;
    let elsa = portal.elsa(false, true).await;
    let booking = portal.book(&elsa, &slot).await;
    assert_eq!(portal.run_once().await, report(2, 1, 0, 0, 1));
    let (status, export) = elsa.get("me/export").await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let notices = export["notifications"]
        .as_array()
        .expect("notifications section");
    assert_eq!(notices.len(), 4, "{notices:?}");
    let sent = notices
        .iter()
        .find(|x| x["state"] == "sent")
        .expect("the sent confirmation");
    assert_eq!(sent["kind"], "booking_confirmed");
    assert_eq!(sent["channel"], "email");
    assert_eq!(sent["booking_id"], booking.as_str());
    assert_eq!(sent["sent_at"], T0);
    // What was sent, not its words or address (neither is kept).
    assert!(!export["notifications"].to_string().contains(EMAIL));
    assert_eq!(export["account"]["settings"]["notify_email"], true);

    let (status, body) = elsa.send(Method::DELETE, "me", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notifications")
        .fetch_one(portal.db().pool())
        .await
        .expect("count");
    assert_eq!(left, 0, "the pending reminder went with the account");
    assert_eq!(portal.run_once().await, report(0, 0, 0, 0, 0));
    portal.stop().await;
}

/// A clinician's reply in a conversation puts a "new message" notice in the outbox in the
/// transaction that stores it; the patient's own messages do not. The e-mail says only that
/// there is a message, never its subject or text.
async fn a_clinicians_reply_tells_the_patient_there_is_a_message_and_nothing_of_it(
    db: Option<&str>,
) {
    const SUBJECT: &str = "Utslag på armen";
    const QUESTION: &str = "Kliar mycket sedan i tisdags";
    const ANSWER: &str = "Smörj med mjukgörande kräm två gånger om dagen";
    let sink = SmtpSink::start().await;
    let portal = Portal::start(db, Some(email_config(sink.port)), None, 6).await;
    let elsa = portal.elsa(false, true).await;
    let (status, conversation) = elsa
        .post(
            "conversations",
            json!({ "care_unit": UNIT, "subject": SUBJECT, "text": QUESTION }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{conversation}");
    let id = conversation["id"].as_str().expect("id").to_owned();
    assert_eq!(
        portal.notices().await,
        [],
        "the patient's own message tells nobody"
    );

    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, reply) = anna
        .post(
            &format!("staff/conversations/{id}/messages"),
            json!({ "text": ANSWER }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(
        portal.notices().await,
        [
            n("new_message", "email", "pending", None),
            n("new_message", "sms", "pending", None),
        ]
    );
    assert_eq!(portal.run_once().await, report(2, 1, 0, 0, 1));
    let mail = sink.messages();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["rcpt_tos"], json!([EMAIL]));
    let text = mail[0]["text"].as_str().expect("text");
    assert!(
        text.contains(&format!("Du har ett nytt meddelande i {SERVICE}")),
        "{text}"
    );
    let whole = mail[0].to_string();
    for secret in [SUBJECT, QUESTION, ANSWER, &id] {
        assert!(!whole.contains(secret), "{secret:?} in {whole}");
    }
    portal.stop().await;
}
