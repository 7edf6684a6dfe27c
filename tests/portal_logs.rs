//! Identity numbers never reach the logs: a full portal scenario over HTTP (logins that succeed
//! and fail, profile edits, a guardian acting for a child and for someone else's, staff reads
//! and registrations, bad input with invalid and unknown numbers, deletion, a database failure
//! during a login, which must itself be logged) runs with every
//! tracing event of every crate captured at TRACE, and no personnummer of any test person, in
//! any form people write it, may appear in what was captured. On SQLite (always) and
//! PostgreSQL (when `VARDRUM_TEST_POSTGRES` names a server; required in CI).
//!
//! A test binary of its own: the subscriber is process-wide, and the other tests' logs are
//! not this test's to judge.

mod common;
mod dbsupport;
mod logcapture;
mod portalsupport;

use std::path::Path;
use std::sync::Arc;

use common::TestServer;
use dbsupport::PgDatabase;
use logcapture::{capture_logs, captured_text};
use portalsupport::{Browser, profile};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vardrum::clock::ManualClock;
use vardrum::portal::identity::register::FileRegister;

// Skatteverket test numbers only (config/dev/population-register.json).
const ELSA: &str = "199006022397";
const ERIK: &str = "199602292386";
const MAJA: &str = "201801012392";
const INGRID: &str = "195712302842";
const KARL: &str = "196107293059";
const ALVA: &str = "201610252395";
/// Valid, but in nobody's register.
const UNREGISTERED: &str = "189001029819";
/// What people mistype: a wrong check digit, a month 13, a zero serial, Elsa's number with
/// its last digit off (in both written forms).
const MISTYPED: &[&str] = &[
    "19900602-2398",
    "199013022397",
    "19900602-0000",
    "900602-2398",
    "201801012393",
];
const CLINICIAN: &str = "dev-clinician-anna";
const ADMIN: &str = "dev-admin-bo";

/// 2026-03-15T12:00:00Z.
const T0: u64 = 1_773_576_000;

/// Proves the capture itself works at the most verbose level.
const CANARY: &str = "canary-of-the-log-capture";

/// Every form of every number that must not be logged: each register person's and the typed
/// ones, as 12 and 10 digits, with and without the `-` (or, past 100, `+`) separator.
fn forbidden() -> Vec<String> {
    let register = FileRegister::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dev/population-register.json"),
    )
    .expect("register");
    let mut numbers: Vec<String> = register
        .persons()
        .iter()
        .map(|p| p.personnummer.as_str().to_owned())
        .collect();
    numbers.push(UNREGISTERED.to_owned());
    let mut forms = Vec::new();
    for n in &numbers {
        let (date, serial) = n.split_at(8);
        forms.push(n.clone());
        forms.push(format!("{date}-{serial}"));
        forms.push(n[2..].to_owned());
        forms.push(format!("{}-{serial}", &date[2..]));
        forms.push(format!("{}+{serial}", &date[2..]));
    }
    for typed in MISTYPED {
        forms.push((*typed).to_owned());
        forms.push(typed.replace('-', ""));
    }
    // An emergency reason is free text about the patient's situation: health data.
    forms.push(EMERGENCY_REASON.to_owned());
    forms
}

/// The forms of `forbidden` found in `text`.
fn leaks<'a>(text: &str, forbidden: &'a [String]) -> Vec<&'a str> {
    forbidden
        .iter()
        .filter(|n| text.contains(n.as_str()))
        .map(String::as_str)
        .collect()
}

fn staff_patient(personnummer: &str) -> Value {
    json!({ "personnummer": personnummer, "purpose": "Videobesök" })
}

const EMERGENCY_REASON: &str = "Patienten medvetslös på akuten";

/// A lookup as an emergency access (the reason is free text staff write: it too must stay out
/// of the logs).
fn lookup(personnummer: &str) -> Value {
    json!({
        "personnummer": personnummer,
        "purpose": "Videobesök",
        "emergency_reason": EMERGENCY_REASON,
    })
}

/// Every path of the portal that handles an identity number, successful and not.
async fn scenario(database_url: Option<&str>) {
    capture_logs();
    let url = database_url.map(str::to_owned);
    let server =
        TestServer::start_with_clock(|c| c.database_url = url, Arc::new(ManualClock::new(T0)))
            .await;
    let base = server.server().base_url.clone();
    let (put, post, delete) = (Method::PUT, Method::POST, Method::DELETE);

    // Logins: a first one (registration from the register), refusals for protected identity,
    // a number the register does not know, and numbers the IdP sends that are not valid.
    let mut elsa = Browser::new(&base);
    assert!(
        !elsa
            .login("patient", &format!("test-{ELSA}"))
            .await
            .contains("error=")
    );
    for (who, error) in [
        (format!("test-{INGRID}"), "protected_identity"),
        (format!("typed:{UNREGISTERED}"), "not_in_register"),
        (format!("typed:{}", MISTYPED[0]), "login_failed"),
        (format!("typed:{}", MISTYPED[1]), "login_failed"),
    ] {
        let landing = Browser::new(&base).login("patient", &who).await;
        assert!(landing.ends_with(&format!("error={error}")), "{landing}");
    }

    // Profile edits, good and refused (the personnummer is no field; bad e-mail).
    let (_, me) = elsa.get("me").await;
    let mut edit = profile(&me);
    edit["mobile"] = json!("070-123 45 67");
    assert_eq!(
        elsa.send(put.clone(), "me", Some(edit.clone())).await.0,
        StatusCode::OK
    );
    let mut sneaky = edit.clone();
    sneaky["personnummer"] = json!(ERIK);
    assert_eq!(
        elsa.send(put.clone(), "me", Some(sneaky)).await.0,
        StatusCode::BAD_REQUEST
    );
    let mut bad = edit.clone();
    bad["email"] = json!(format!("{ELSA}@"));
    assert_eq!(
        elsa.send(put.clone(), "me", Some(bad)).await.0,
        StatusCode::BAD_REQUEST
    );
    let malformed = elsa
        .http
        .put(elsa.url("me"))
        .header("x-csrf-token", elsa.csrf.clone().unwrap_or_default())
        .header("content-type", "application/json")
        .body(format!("{{\"personnummer\": \"{ELSA}\", "))
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(elsa.get("me/export").await.0, StatusCode::OK);

    // A guardian: the children, acting for one, someone else's child, an unknown number and
    // a mistyped one.
    assert_eq!(elsa.get("me/children").await.0, StatusCode::OK);
    let (status, _) = elsa
        .send(put.clone(), "acting-as", Some(json!({ "child": MAJA })))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, maja) = elsa.get("me").await;
    let mut edit_maja = profile(&maja);
    edit_maja["email"] = json!("maja@example.org");
    assert_eq!(
        elsa.send(put.clone(), "me", Some(edit_maja)).await.0,
        StatusCode::OK
    );
    for (child, expected) in [
        (ALVA, StatusCode::NOT_FOUND),
        (UNREGISTERED, StatusCode::NOT_FOUND),
        (MISTYPED[4], StatusCode::BAD_REQUEST),
        ("201801012392x", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = elsa
            .send(put.clone(), "acting-as", Some(json!({ "child": child })))
            .await;
        assert_eq!(status, expected, "{body}");
    }
    elsa.send(put.clone(), "acting-as", Some(json!({ "child": null })))
        .await;
    // A guardian with protected identity gets no proxy.
    let mut karl = Browser::new(&base);
    let landing = karl.login("patient", &format!("test-{KARL}")).await;
    assert!(landing.ends_with("error=protected_identity"), "{landing}");

    // Staff: reads of a patient with and without an account, registrations that succeed and
    // that the register refuses, numbers in every typed form, and mistyped ones.
    let mut anna = Browser::new(&base);
    assert!(!anna.login("staff", CLINICIAN).await.contains("error="));
    for (number, expected) in [
        (ELSA.to_owned(), StatusCode::OK),
        ("19900602-2397".to_owned(), StatusCode::OK),
        ("900602-2397".to_owned(), StatusCode::OK),
        (ERIK.to_owned(), StatusCode::NOT_FOUND),
        (MISTYPED[0].to_owned(), StatusCode::BAD_REQUEST),
        (MISTYPED[2].to_owned(), StatusCode::BAD_REQUEST),
        (MISTYPED[3].to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = anna
            .send(post.clone(), "staff/patients/lookup", Some(lookup(&number)))
            .await;
        assert_eq!(status, expected, "{body}");
    }
    for (number, expected) in [
        (ERIK, StatusCode::CREATED),
        (ERIK, StatusCode::CONFLICT),
        (INGRID, StatusCode::FORBIDDEN),
        (UNREGISTERED, StatusCode::UNPROCESSABLE_ENTITY),
        (MISTYPED[1], StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = anna
            .send(post.clone(), "staff/patients", Some(staff_patient(number)))
            .await;
        assert_eq!(status, expected, "{body}");
    }
    // The number in a field the staff API does not take.
    let (status, _) = anna
        .send(
            post.clone(),
            "staff/patients/lookup",
            Some(json!({ "personnummer": ELSA, "patient": ERIK })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A patient's session on the staff API, and an administrator's on patient data.
    assert_eq!(
        elsa.send(post.clone(), "staff/patients/lookup", Some(lookup(ERIK)))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let mut bo = Browser::new(&base);
    assert!(!bo.login("staff", ADMIN).await.contains("error="));
    assert_eq!(
        bo.send(post.clone(), "staff/patients/lookup", Some(lookup(ELSA)))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Erik logs in to the account staff made, and deletes it; Elsa logs out.
    let mut erik = Browser::new(&base);
    assert!(
        !erik
            .login("patient", &format!("test-{ERIK}"))
            .await
            .contains("error=")
    );
    assert_eq!(
        erik.send(delete, "me", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        elsa.send(post, "auth/logout", None).await.0,
        StatusCode::NO_CONTENT
    );

    // A database failure on the login path: the person is told login_failed, and the log says
    // what failed on our side (never whose login it was).
    let db = server.server().state.db.clone();
    sqlx::query("ALTER TABLE sessions RENAME TO sessions_away")
        .execute(db.pool())
        .await
        .expect("hide the sessions table");
    let landing = Browser::new(&base)
        .login("patient", &format!("test-{ELSA}"))
        .await;
    assert!(landing.ends_with("error=login_failed"), "{landing}");
    sqlx::query("ALTER TABLE sessions_away RENAME TO sessions")
        .execute(db.pool())
        .await
        .expect("bring the sessions table back");
    server.stop().await;

    // The capture works, at the most verbose level and for the portal's own warnings.
    tracing::trace!(target: "vardrum::portal", "{CANARY}");
    let text = captured_text();
    assert!(text.contains(CANARY), "TRACE events are captured");
    assert!(
        text.contains("login refused: the identity provider sent no valid personnummer"),
        "the portal's own events are captured"
    );
    let failure = text
        .lines()
        .find(|l| l.contains("login failed on our side"))
        .unwrap_or_else(|| panic!("a database error on the login path is logged:\n{text}"));
    assert!(
        failure.contains("session") && failure.contains("patient"),
        "{failure}"
    );
    // And the scan finds a number where there is one.
    let forbidden = forbidden();
    assert_eq!(
        leaks(&format!("patient=900602-2397 {CANARY}"), &forbidden),
        ["900602-2397"]
    );

    let found = leaks(&text, &forbidden);
    if !found.is_empty() {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| found.iter().any(|n| l.contains(n)))
            .take(20)
            .collect();
        panic!(
            "identity numbers in the log ({found:?}):\n{}",
            lines.join("\n")
        );
    }
}

mod identity_numbers_never_reach_the_logs {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::scenario(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(pg) = super::PgDatabase::create().await else {
            return;
        };
        // The database is dropped whether the scenario passes or panics.
        let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            super::scenario(Some(&pg.url)),
        ))
        .await;
        pg.drop_db().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}
