//! Staff access bounded by the care relationship, through the HTTP API on SQLite (always) and
//! PostgreSQL (when `VARDRUM_TEST_POSTGRES` names a server; required in CI): a clinician opens a
//! patient only through a booking, conversation or drop-in place of the patient with the active
//! care unit, or else through an emergency access with a stated reason, which is stored for
//! follow-up, shows in the patient's own access log as such, and is followed up by an
//! administrator; every
//! access-log entry records the relationship or emergency access that allowed it, and the hash
//! chain still verifies with it.

mod common;
mod dbsupport;
mod portalharness;
mod portalsupport;

use dbsupport::{PgDatabase, on_both_databases};
use portalharness::{PortalServer, SlotSpec};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vardrum::portal::audit;
use vardrum::portal::bookings::{SlotKind, SlotMode};

// Skatteverket test numbers only (config/dev/population-register.json).
const ELSA: &str = "199006022397";
const ERIK: &str = "199602292386";
const CLINICIAN: &str = "dev-clinician-anna";
const ADMIN: &str = "dev-admin-bo";
/// Anna's two care units: a login starts in the first.
const UNIT: &str = "Hälsocentral Testvik";
const OTHER_UNIT: &str = "Barnmottagning Testvik";
const REASON: &str = "Patienten inkommen medvetslös, behöver se tidigare besök";

/// 2026-03-15T12:00:00Z.
const T0: u64 = 1_773_576_000;

on_both_databases!(
    without_a_relationship_a_lookup_is_refused_and_nothing_is_logged,
    a_booking_with_the_active_unit_is_the_relationship_and_the_log_says_so,
    a_drop_in_place_is_a_relationship_too,
    a_conversation_with_the_unit_is_a_relationship_too,
    an_emergency_access_needs_a_reason_is_logged_shown_to_the_patient_and_followed_up,
);

/// The shared portal server, with the counts these tests look at.
struct Portal(PortalServer);

impl std::ops::Deref for Portal {
    type Target = PortalServer;
    fn deref(&self) -> &PortalServer {
        &self.0
    }
}

impl Portal {
    async fn start(database_url: Option<&str>) -> Self {
        Self(PortalServer::start(database_url, T0, |_| {}).await)
    }

    /// Publishes a video slot of UNIT with Anna as its clinician, through the domain.
    async fn video_slot(&self, starts: &str, ends: &str) -> String {
        self.publish_slot(SlotSpec {
            clinician: CLINICIAN,
            unit: UNIT,
            kind: SlotKind::Digital,
            mode: SlotMode::Single,
            capacity: None,
            starts,
            ends,
        })
        .await
    }

    async fn count(&self, sql: &'static str, bind: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(bind)
            .fetch_one(self.db().pool())
            .await
            .expect("count");
        n
    }

    async fn log_entries(&self, patient: &str) -> i64 {
        self.count(
            "SELECT COUNT(*) FROM access_log WHERE patient = $1",
            patient,
        )
        .await
    }

    /// The basis of the newest access-log entry about `patient`.
    async fn last_basis(&self, patient: &str) -> Option<String> {
        let (basis,): (Option<String>,) = sqlx::query_as(
            "SELECT basis FROM access_log WHERE patient = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(patient)
        .fetch_one(self.db().pool())
        .await
        .expect("entry");
        basis
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

fn code(body: &Value) -> (&str, Option<&str>) {
    (
        body["error"]["code"].as_str().unwrap_or("(no code)"),
        body["error"]["field"].as_str(),
    )
}

fn lookup(personnummer: &str) -> Value {
    json!({ "personnummer": personnummer, "purpose": "Videobesök" })
}

fn emergency(personnummer: &str, reason: &str) -> Value {
    json!({ "personnummer": personnummer, "emergency_reason": reason })
}

async fn without_a_relationship_a_lookup_is_refused_and_nothing_is_logged(db: Option<&str>) {
    let portal = Portal::start(db).await;
    portal.patient(ELSA).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;

    let (status, body) = anna.post("staff/patients/lookup", lookup(ELSA)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, ("no_care_relationship", None)),
        "{body}"
    );
    assert!(body["account"].is_null(), "nothing of the patient: {body}");
    // A patient without an account is refused alike: the refusal tells nothing about them.
    let (status, body) = anna.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::FORBIDDEN, "no_care_relationship")
    );
    // A reason that is no reason is refused, not ignored, and opens nothing.
    for reason in [
        "akut",
        "",
        &"x".repeat(501),
        "akut\u{202e} patient medvetslös",
    ] {
        let (status, body) = anna
            .post("staff/patients/lookup", emergency(ELSA, reason))
            .await;
        assert_eq!(
            (status, code(&body)),
            (
                StatusCode::BAD_REQUEST,
                ("invalid_field", Some("emergency_reason"))
            ),
            "{reason:?}: {body}"
        );
    }
    let (status, body) = anna
        .post(
            "staff/patients/lookup",
            json!({ "personnummer": ELSA, "emergency_reason": 7 }),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (
            StatusCode::BAD_REQUEST,
            ("invalid_type", Some("emergency_reason"))
        ),
        "{body}"
    );
    assert_eq!(portal.log_entries(ELSA).await, 0);
    assert_eq!(portal.log_entries(ERIK).await, 0);
    assert_eq!(
        portal
            .count("SELECT COUNT(*) FROM emergency_accesses WHERE $1 = $1", "x")
            .await,
        0
    );
    portal.stop().await;
}

async fn a_booking_with_the_active_unit_is_the_relationship_and_the_log_says_so(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let elsa = portal.patient(ELSA).await;
    let (status, booking) = elsa.post("bookings", json!({ "slot_id": slot })).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let booking = booking["id"].as_str().expect("id").to_owned();

    let anna = portal.logged_in("staff", CLINICIAN).await;
    let before = portal.log_entries(ELSA).await;
    let (status, view) = anna.post("staff/patients/lookup", lookup(ELSA)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["account"]["given_name"], "Elsa");
    assert_eq!(view["basis"], format!("booking:{booking}"));
    assert_eq!(portal.log_entries(ELSA).await, before + 1);
    assert_eq!(
        portal.last_basis(ELSA).await.as_deref(),
        Some(format!("booking:{booking}").as_str())
    );
    // A cancelled booking was care all the same: the relationship stays.
    let (status, _) = elsa
        .send(Method::POST, &format!("bookings/{booking}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = anna.post("staff/patients/lookup", lookup(ELSA)).await;
    assert_eq!(status, StatusCode::OK);

    // The relationship is with the care unit, not with the clinician: in her other unit, Anna
    // has none with Elsa.
    let (status, _) = anna
        .put("staff/care-unit", json!({ "care_unit": OTHER_UNIT }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let logged = portal.log_entries(ELSA).await;
    let (status, body) = anna.post("staff/patients/lookup", lookup(ELSA)).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::FORBIDDEN, "no_care_relationship")
    );
    assert_eq!(portal.log_entries(ELSA).await, logged);

    // Every entry written since the rule records its basis, and the chain still verifies.
    assert_eq!(
        portal
            .count(
                "SELECT COUNT(*) FROM access_log WHERE basis IS NULL AND $1 = $1",
                "x"
            )
            .await,
        0
    );
    let report = audit::verify(portal.db()).await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    // An edited basis is found.
    sqlx::query("UPDATE access_log SET basis = 'emergency:forged' WHERE patient = $1")
        .bind(ELSA)
        .execute(portal.db().pool())
        .await
        .expect("tamper");
    let report = audit::verify(portal.db()).await.expect("verify");
    assert!(!report.is_intact(), "an edited basis breaks the chain");
    portal.stop().await;
}

async fn a_drop_in_place_is_a_relationship_too(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, queue) = anna
        .post(
            "staff/queues",
            json!({ "opens": "2026-03-15T13:00", "closes": "2026-03-15T17:00", "visit_minutes": 15 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{queue}");
    let queue = queue["id"].as_str().expect("id").to_owned();
    let erik = portal.patient(ERIK).await;
    let (status, body) = anna.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::FORBIDDEN, "no_care_relationship")
    );

    let (status, place) = erik
        .send(Method::POST, &format!("queues/{queue}/join"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{place}");
    let (status, view) = anna.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["basis"], format!("dropin:{queue}"));
    assert_eq!(
        portal.last_basis(ERIK).await.as_deref(),
        Some(format!("dropin:{queue}").as_str())
    );
    portal.stop().await;
}

async fn an_emergency_access_needs_a_reason_is_logged_shown_to_the_patient_and_followed_up(
    db: Option<&str>,
) {
    let portal = Portal::start(db).await;
    portal.patient(ELSA).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;

    let (status, view) = anna
        .post("staff/patients/lookup", emergency(ELSA, REASON))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["account"]["given_name"], "Elsa");
    let basis = view["basis"].as_str().expect("basis").to_owned();
    let id = basis
        .strip_prefix("emergency:")
        .unwrap_or_else(|| panic!("an emergency basis: {basis}"))
        .to_owned();
    assert_eq!(portal.log_entries(ELSA).await, 1);
    assert_eq!(
        portal.last_basis(ELSA).await.as_deref(),
        Some(basis.as_str())
    );

    // The access stays open for this clinician, patient and unit for a while (also in a new
    // session: staff sessions end sooner than that): no new reason.
    portal.clock.advance(3600);
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, view) = anna.post("staff/patients/lookup", lookup(ELSA)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["basis"], basis.as_str());
    // …and then closes.
    portal.clock.advance(3 * 3600);
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, _) = anna.post("staff/patients/lookup", lookup(ELSA)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(portal.log_entries(ELSA).await, 2);

    // The patient sees both reads as emergency accesses, and nothing of who or why.
    let elsa = portal.patient(ELSA).await;
    let (status, seen) = elsa.get("me/access-log").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let entries = seen.as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{seen}");
    for entry in entries {
        assert_eq!(entry["emergency_access"], true, "{entry}");
        assert_eq!(entry["care_unit"], UNIT, "{entry}");
    }
    let text = seen.to_string();
    assert!(
        !text.contains(REASON) && !text.contains("dev-clinician"),
        "{text}"
    );

    // Follow-up: administrators only.
    let (status, _) = anna.get("staff/emergency-accesses").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bo = portal.logged_in("staff", ADMIN).await;
    let (status, list) = bo.get("staff/emergency-accesses").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["reason"], REASON);
    assert_eq!(list[0]["patient"], ELSA);
    assert_eq!(list[0]["care_unit"], UNIT);
    assert!(list[0]["reviewed_at"].is_null());
    assert_eq!(list[0]["expires_at"], T0 as i64 + 4 * 3600);

    let review = format!("staff/emergency-accesses/{id}/review");
    for (body, status, want) in [
        (
            json!({ "note": "" }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("note")),
        ),
        (
            json!({ "note": 5 }),
            StatusCode::BAD_REQUEST,
            ("invalid_type", Some("note")),
        ),
        (
            json!({}),
            StatusCode::BAD_REQUEST,
            ("missing_field", Some("note")),
        ),
    ] {
        let (got, answer) = bo.post(&review, body.clone()).await;
        assert_eq!((got, code(&answer)), (status, want), "{body}: {answer}");
    }
    // Without the session's CSRF token, or from another site: refused, nothing changes.
    for (csrf, origin) in [
        (None, None),
        (bo.csrf.as_deref(), Some("https://evil.example")),
    ] {
        let (status, answer) = bo
            .send_with(
                Method::POST,
                &review,
                Some(&json!({ "note": "Kontrollerat" })),
                csrf,
                origin,
            )
            .await;
        assert_eq!(
            (status, code(&answer).0),
            (StatusCode::FORBIDDEN, "csrf"),
            "{answer}"
        );
    }
    let (status, answer) = anna
        .post(&review, json!({ "note": "Checked with the ward" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, done) = bo
        .post(
            &review,
            json!({ "note": "Kontrollerat med akuten: befogat" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["review_note"], "Kontrollerat med akuten: befogat");
    assert_eq!(done["reviewed_at"], T0 as i64 + 4 * 3600);
    let (status, again) = bo.post(&review, json!({ "note": "Igen" })).await;
    assert_eq!(
        (status, code(&again).0),
        (StatusCode::CONFLICT, "already_reviewed")
    );
    let (status, _) = bo
        .post(
            "staff/emergency-accesses/no-such/review",
            json!({ "note": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, open) = bo.get("staff/emergency-accesses").await;
    assert_eq!(open, json!([]));
    let (_, all) = bo.get("staff/emergency-accesses?state=all").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    let (status, body) = bo.get("staff/emergency-accesses?state=some").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, ("invalid_field", Some("state")))
    );
    // An administrator cannot open patient data, emergency or not.
    let (status, _) = bo
        .post("staff/patients/lookup", emergency(ELSA, REASON))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let report = audit::verify(portal.db()).await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    portal.stop().await;
}

async fn a_conversation_with_the_unit_is_a_relationship_too(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let erik = portal.patient(ERIK).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, _) = anna.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, conversation) = erik
        .post(
            "conversations",
            json!({ "care_unit": UNIT, "subject": "Fråga", "text": "Hej, en fråga om recept" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{conversation}");
    let id = conversation["id"].as_str().expect("id");
    let (status, view) = anna.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["basis"], format!("conversation:{id}"));
    // A conversation with another unit is no relationship with this one.
    let (status, _) = anna
        .put("staff/care-unit", json!({ "care_unit": OTHER_UNIT }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = anna.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    portal.stop().await;
}
