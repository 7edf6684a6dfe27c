//! Bookings through the portal's HTTP API, as the pages and outside clients use it, on SQLite
//! (always) and PostgreSQL (when `VARDRUM_TEST_POSTGRES` names a server; required in CI):
//! browsing a unit's open slots, booking, rescheduling and cancelling as a patient and as a
//! guardian, the last place raced for by concurrent requests, Join minting a short-lived token
//! whose claims are decoded and checked, a clinician's join landing in the patient's access log,
//! staff publishing, withdrawing, booking in, moving and ending with every read in the
//! patient's access log, digital drop-in (queue, place, take, leave), the files uploaded in a
//! booking's call (listed and downloaded, staff reads logged), and every refusal answered with its status and code while changing
//! nothing.

mod common;
mod dbsupport;
mod portalharness;
mod portalsupport;

use std::path::{Path, PathBuf};

use dbsupport::{PgDatabase, on_both_databases};
use portalharness::{PortalServer, SlotSpec};
use portalsupport::Browser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vardrum::portal::bookings::{SlotKind, SlotMode};
use vardrum_signalling::token::TokenVerifier;

// Skatteverket test numbers only (config/dev/population-register.json).
const ELSA: &str = "199006022397";
const ERIK: &str = "199602292386";
/// Elsa's son, born 2016-02-29.
const LEO: &str = "201602292383";
const CLINICIAN: &str = "dev-clinician-anna";
const ADMIN: &str = "dev-admin-bo";
/// Anna's first care unit: the one a staff login starts in.
const UNIT: &str = "Hälsocentral Testvik";

/// 2026-03-15T12:00:00Z, 13:00 in Stockholm (winter time, +01:00).
const T0: u64 = 1_773_576_000;

on_both_databases!(
    a_patient_browses_books_reschedules_and_cancels,
    a_guardian_books_for_a_child,
    refusals_have_their_status_and_code_and_change_nothing,
    the_last_place_goes_to_exactly_one_of_concurrent_requests,
    join_mints_a_short_lived_token_inside_the_window_only,
    every_state_changing_bookings_route_needs_the_csrf_token,
    staff_publish_book_in_move_end_and_every_read_is_in_the_patients_log,
    drop_in_patients_queue_and_a_clinician_takes_the_next_into_a_video_visit,
    a_bookings_call_files_are_listed_for_its_patient_and_clinicians_only,
    the_regions_bookings_section_sets_the_join_window_and_the_token_lifetime,
    patients_see_clinicians_names_or_initials_as_the_region_says,
    care_units_colleagues_and_the_join_window_are_there_to_be_found,
    one_patient_racing_for_overlapping_slots_gets_one_of_them,
);

/// The shared portal server, with the slots and state these tests use.
struct Portal(PortalServer);

impl std::ops::Deref for Portal {
    type Target = PortalServer;
    fn deref(&self) -> &PortalServer {
        &self.0
    }
}

impl Portal {
    async fn start(database_url: Option<&str>) -> Self {
        Self::start_in_region(database_url, None).await
    }

    /// With another region file than the default one.
    async fn start_in_region(database_url: Option<&str>, region: Option<PathBuf>) -> Self {
        Self(
            PortalServer::start(database_url, T0, |c| {
                if let Some(region) = region {
                    c.portal.region = region;
                }
            })
            .await,
        )
    }

    /// Publishes a slot of UNIT with Anna as its clinician (a group slot for 3), through the
    /// domain.
    async fn slot(&self, kind: SlotKind, mode: SlotMode, starts: &str, ends: &str) -> String {
        self.publish_slot(SlotSpec {
            clinician: CLINICIAN,
            unit: UNIT,
            kind,
            mode,
            capacity: (mode == SlotMode::Group).then_some(3),
            starts,
            ends,
        })
        .await
    }

    async fn video_slot(&self, starts: &str, ends: &str) -> String {
        self.slot(SlotKind::Digital, SlotMode::Single, starts, ends)
            .await
    }

    /// Every booking and slot row, one line each, to prove a request changed nothing.
    async fn state(&self) -> Vec<String> {
        let slots: Vec<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT id, booked, withdrawn_at FROM booking_slots ORDER BY id")
                .fetch_all(self.db().pool())
                .await
                .expect("slots");
        let bookings: Vec<(String, String, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT id, slot_id, status, ended_at, updated_at FROM bookings ORDER BY id",
        )
        .fetch_all(self.db().pool())
        .await
        .expect("bookings");
        let mut out: Vec<String> = slots.iter().map(|s| format!("{s:?}")).collect();
        out.extend(bookings.iter().map(|b| format!("{b:?}")));
        out
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

fn slot_query(from: &str, to: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("care_unit", UNIT)
        .append_pair("from", from)
        .append_pair("to", to)
        .finish();
    format!("slots?{q}")
}

async fn a_patient_browses_books_reschedules_and_cancels(db: Option<&str>) {
    let portal = Portal::start(db).await;
    // 2026-03-29 is the night the clocks go forward: 10:00 that morning is +02:00.
    let winter = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let summer = portal
        .slot(
            SlotKind::Physical,
            SlotMode::Single,
            "2026-03-30T10:00",
            "2026-03-30T10:30",
        )
        .await;
    let elsa = portal.patient(ELSA).await;

    let (status, slots) = elsa
        .get(&slot_query("2026-03-16T00:00", "2026-04-01T00:00"))
        .await;
    assert_eq!(status, StatusCode::OK, "{slots}");
    let ids: Vec<&str> = slots
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [winter.as_str(), summer.as_str()]);
    assert_eq!(
        slots[0]["starts"],
        json!({"date": "2026-03-16", "time": "10:00", "utc_offset": "+01:00"})
    );
    assert_eq!(slots[1]["starts"]["utc_offset"], "+02:00");

    let (status, booking) = elsa.post("bookings", json!({ "slot_id": winter })).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let id = booking["id"].as_str().expect("id").to_owned();
    assert_eq!(booking["status"], "booked");
    assert_eq!(booking["booked_by"], "patient");
    assert_eq!(booking["kind"], "digital");
    assert_eq!(booking["room"], format!("visit-{id}"));
    assert_eq!(booking["patient"]["given_name"], "Elsa");
    assert_eq!(booking["starts"]["time"], "10:00");
    assert_eq!(booking["starts"]["utc_offset"], "+01:00");

    // A full slot is no longer offered.
    let (_, slots) = elsa
        .get(&slot_query("2026-03-16T00:00", "2026-04-01T00:00"))
        .await;
    assert_eq!(slots.as_array().map(Vec::len), Some(1), "{slots}");

    let (status, list) = elsa.get("bookings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], id.as_str());
    let (status, one) = elsa.get(&format!("bookings/{id}")).await;
    assert_eq!((status, &one["id"]), (StatusCode::OK, &json!(id)));

    let (status, moved) = elsa
        .post(
            &format!("bookings/{id}/reschedule"),
            json!({ "slot_id": summer }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(
        moved["id"],
        id.as_str(),
        "a reschedule keeps the booking's id"
    );
    assert_eq!(moved["slot_id"], summer.as_str());
    assert_eq!(moved["place"], "Mottagningen, rum 4");
    assert_eq!(moved["starts"]["utc_offset"], "+02:00");

    let (status, cancelled) = elsa
        .send(Method::POST, &format!("bookings/{id}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["ended_by"], "patient");
    assert_eq!(cancelled["ended_at"], T0);
    // Cancelling gives the place back.
    let (_, slots) = elsa
        .get(&slot_query("2026-03-16T00:00", "2026-04-01T00:00"))
        .await;
    assert_eq!(slots.as_array().map(Vec::len), Some(2), "{slots}");
    portal.stop().await;
}

async fn a_guardian_books_for_a_child(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let elsa = portal.patient(ELSA).await;
    let (status, body) = elsa.put("acting-as", json!({ "child": LEO })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, booking) = elsa.post("bookings", json!({ "slot_id": slot })).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["booked_by"], "guardian");
    assert_eq!(booking["patient"]["personnummer"], LEO);
    let id = booking["id"].as_str().expect("id").to_owned();
    // The guardian's own bookings do not hold the child's.
    elsa.put("acting-as", json!({ "child": null })).await;
    let (_, own) = elsa.get("bookings").await;
    assert_eq!(own, json!([]));
    let (status, body) = elsa.get(&format!("bookings/{id}")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, ("not_your_booking", None))
    );
    portal.stop().await;
}

/// Who sends what, and the status, code and field it is refused with.
type Refusal<'a> = (
    &'a Browser,
    Method,
    String,
    Option<Value>,
    StatusCode,
    &'static str,
    Option<&'static str>,
);

async fn refusals_have_their_status_and_code_and_change_nothing(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let soon = portal
        .video_slot("2026-03-15T14:00", "2026-03-15T14:20")
        .await;
    let other_time = portal
        .video_slot("2026-03-17T10:00", "2026-03-17T10:20")
        .await;
    let elsa = portal.patient(ELSA).await;
    let erik = portal.patient(ERIK).await;
    let (_, booking) = elsa.post("bookings", json!({ "slot_id": slot })).await;
    let id = booking["id"].as_str().expect("id").to_owned();
    // Erik's booking in a slot that starts before long.
    let (_, erik_soon) = erik.post("bookings", json!({ "slot_id": soon })).await;
    let erik_soon = erik_soon["id"].as_str().expect("id").to_owned();
    // Time passes: Erik's visit has started (and the sessions have timed out: log in again).
    portal.clock.advance(3600 + 60);
    let elsa = portal.patient(ELSA).await;
    let erik = portal.patient(ERIK).await;
    let before = portal.state().await;

    let refused: Vec<Refusal> = vec![
        (
            &elsa,
            Method::POST,
            "bookings".into(),
            Some(json!({ "slot_id": slot })),
            StatusCode::CONFLICT,
            "already_booked",
            None,
        ),
        (
            &erik,
            Method::POST,
            "bookings".into(),
            Some(json!({ "slot_id": slot })),
            StatusCode::CONFLICT,
            "slot_full",
            None,
        ),
        (
            &elsa,
            Method::POST,
            "bookings".into(),
            Some(json!({ "slot_id": soon })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "slot_in_past",
            None,
        ),
        (
            &elsa,
            Method::POST,
            "bookings".into(),
            Some(json!({ "slot_id": "nope" })),
            StatusCode::NOT_FOUND,
            "slot_not_found",
            None,
        ),
        (
            &elsa,
            Method::POST,
            "bookings".into(),
            Some(json!({ "slot_id": 7 })),
            StatusCode::BAD_REQUEST,
            "invalid_type",
            Some("slot_id"),
        ),
        (
            &elsa,
            Method::POST,
            "bookings".into(),
            Some(json!({})),
            StatusCode::BAD_REQUEST,
            "missing_field",
            Some("slot_id"),
        ),
        (
            &elsa,
            Method::POST,
            "bookings".into(),
            Some(json!({ "slot_id": other_time, "personnummer": ERIK })),
            StatusCode::BAD_REQUEST,
            "unknown_field",
            Some("personnummer"),
        ),
        (
            &elsa,
            Method::POST,
            "bookings".into(),
            Some(json!([other_time])),
            StatusCode::BAD_REQUEST,
            "invalid_type",
            None,
        ),
        (
            &elsa,
            Method::GET,
            "bookings/nope".into(),
            None,
            StatusCode::NOT_FOUND,
            "booking_not_found",
            None,
        ),
        (
            &erik,
            Method::GET,
            format!("bookings/{id}"),
            None,
            StatusCode::FORBIDDEN,
            "not_your_booking",
            None,
        ),
        (
            &erik,
            Method::POST,
            format!("bookings/{id}/cancel"),
            None,
            StatusCode::FORBIDDEN,
            "not_your_booking",
            None,
        ),
        (
            &erik,
            Method::POST,
            format!("bookings/{id}/reschedule"),
            Some(json!({ "slot_id": other_time })),
            StatusCode::FORBIDDEN,
            "not_your_booking",
            None,
        ),
        (
            &erik,
            Method::POST,
            format!("bookings/{erik_soon}/cancel"),
            None,
            StatusCode::CONFLICT,
            "too_late_to_change",
            None,
        ),
        (
            &erik,
            Method::POST,
            format!("bookings/{erik_soon}/reschedule"),
            Some(json!({ "slot_id": other_time })),
            StatusCode::CONFLICT,
            "too_late_to_change",
            None,
        ),
        (
            &elsa,
            Method::POST,
            format!("bookings/{id}/reschedule"),
            Some(json!({ "slot_id": "nope" })),
            StatusCode::NOT_FOUND,
            "slot_not_found",
            None,
        ),
        (
            &elsa,
            Method::POST,
            format!("bookings/{id}/reschedule"),
            Some(json!({ "slot_id": true })),
            StatusCode::BAD_REQUEST,
            "invalid_type",
            Some("slot_id"),
        ),
        (
            &elsa,
            Method::POST,
            "bookings/nope/join".into(),
            None,
            StatusCode::NOT_FOUND,
            "booking_not_found",
            None,
        ),
        (
            &erik,
            Method::POST,
            format!("bookings/{id}/join"),
            None,
            StatusCode::FORBIDDEN,
            "not_your_booking",
            None,
        ),
        (
            &elsa,
            Method::POST,
            format!("bookings/{id}/join"),
            None,
            StatusCode::CONFLICT,
            "join_not_open",
            None,
        ),
        (
            &elsa,
            Method::GET,
            slot_query("2026-03-16T00:00", "2026-03-15T00:00"),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("to"),
        ),
        (
            &elsa,
            Method::GET,
            slot_query("2026-03-29T02:30", "2026-03-30T00:00"),
            None,
            StatusCode::BAD_REQUEST,
            "nonexistent_local_time",
            Some("from"),
        ),
        (
            &elsa,
            Method::GET,
            slot_query("16 mars", "2026-03-30T00:00"),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_local_time",
            Some("from"),
        ),
        (
            &elsa,
            Method::GET,
            "slots?care_unit=x&from=2026-03-16T00:00".into(),
            None,
            StatusCode::BAD_REQUEST,
            "missing_field",
            Some("to"),
        ),
        (
            &elsa,
            Method::GET,
            "slots?care_unit=x&care_unit=y&from=2026-03-16T00:00&to=2026-03-17T00:00".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("care_unit"),
        ),
        (
            &elsa,
            Method::GET,
            "slots?care_unit=x&from=2026-03-16T00:00&to=2026-03-17T00:00&all=1".into(),
            None,
            StatusCode::BAD_REQUEST,
            "unknown_field",
            Some("all"),
        ),
    ];
    for (who, method, path, body, status, want, field) in refused {
        let (got, answer) = who.send(method.clone(), &path, body).await;
        assert_eq!(
            (got, code(&answer)),
            (status, (want, field)),
            "{method} {path}: {answer}"
        );
    }
    // No session, and a staff session on the patient API: not logged in.
    let anonymous = Browser::new(&portal.base);
    let (status, _) = anonymous.get("bookings").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, _) = anna
        .post("bookings", json!({ "slot_id": other_time }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Without the CSRF token.
    let (status, body) = elsa
        .send_with(
            Method::POST,
            "bookings",
            Some(&json!({ "slot_id": other_time })),
            None,
            None,
        )
        .await;
    assert_eq!((status, code(&body).0), (StatusCode::FORBIDDEN, "csrf"));
    assert_eq!(portal.state().await, before);
    portal.stop().await;
}

async fn the_last_place_goes_to_exactly_one_of_concurrent_requests(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let elsa = portal.patient(ELSA).await;
    let erik = portal.patient(ERIK).await;
    // Elsa twice (two tabs) and Erik, all at once.
    let body = json!({ "slot_id": slot });
    let (a, b, c) = tokio::join!(
        elsa.post("bookings", body.clone()),
        erik.post("bookings", body.clone()),
        elsa.post("bookings", body.clone()),
    );
    let answers = [a, b, c];
    let won: Vec<_> = answers.iter().filter(|(s, _)| s.is_success()).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| !s.is_success()) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert!(
            ["slot_full", "already_booked"].contains(&code(body).0),
            "{body}"
        );
    }
    let (booked,): (i64,) = sqlx::query_as("SELECT booked FROM booking_slots WHERE id = $1")
        .bind(&slot)
        .fetch_one(portal.db().pool())
        .await
        .expect("slot");
    assert_eq!(booked, 1);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bookings")
        .fetch_one(portal.db().pool())
        .await
        .expect("count");
    assert_eq!(n, 1);
    portal.stop().await;
}

async fn join_mints_a_short_lived_token_inside_the_window_only(db: Option<&str>) {
    let portal = Portal::start(db).await;
    // 2026-03-16 10:00-10:20 in Stockholm is 09:00-09:20 UTC.
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let starts_at = 1_773_651_600_u64;
    let elsa = portal.patient(ELSA).await;
    let (_, booking) = elsa.post("bookings", json!({ "slot_id": slot })).await;
    let id = booking["id"].as_str().expect("id").to_owned();
    let room = format!("visit-{id}");
    let join = format!("bookings/{id}/join");

    // Eleven minutes before the start: not yet.
    portal
        .clock
        .advance(starts_at - 11 * 60 - portal.clock_now());
    // Sessions time out after 30 idle minutes: log in again after the night.
    let elsa = portal.patient(ELSA).await;
    let (status, body) = elsa.send(Method::POST, &join, None).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::CONFLICT, "join_not_open")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2026-03-16 09:50 (+01:00)")),
        "says when, in Stockholm time: {body}"
    );
    assert_eq!(
        body["error"]["user_message"],
        json!({
            "sv": "Du kan ansluta till besöket från kl. 09:50 den 16 mars 2026.",
            "en": "You can join the visit from 09:50 on 16 March 2026.",
        }),
        "and to the person, in both languages"
    );

    // Five minutes before: a token for this booking's room, for ten minutes at most.
    portal.clock.advance(6 * 60);
    let now = portal.clock_now();
    let (status, joined) = elsa.send(Method::POST, &join, None).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let token = joined["token"].as_str().expect("token");
    assert_eq!(
        joined["url"],
        format!("{}call/{room}#token={token}", portal.base)
    );
    assert_eq!(joined["room"], room.as_str());
    let verifier = TokenVerifier::new(&portal.server.secret);
    let claims = verifier.verify(token, &room, now).expect("a valid token");
    assert_eq!(claims.room, room);
    assert_eq!(claims.role, vardrum_signalling::Role::Patient);
    assert_eq!(claims.kind, vardrum_signalling::RoomKind::Visit);
    assert_eq!(claims.booking.as_deref(), Some(id.as_str()));
    let patient = &booking["patient"];
    assert_eq!(
        claims.name,
        format!(
            "{} {}",
            patient["given_name"].as_str().unwrap_or_default(),
            patient["family_name"].as_str().unwrap_or_default()
        )
    );
    assert!(
        claims.exp > now && claims.exp - claims.iat <= 600,
        "{claims:?}"
    );
    assert_eq!(joined["expires_at"], claims.exp);
    // The token is of no use for another room.
    assert!(verifier.verify(token, "visit-other", now).is_err());

    // The booked clinician joins the same room as a clinician; the read is in Elsa's log.
    let (_, log_before) = elsa.get("me/access-log").await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, staff_joined) = anna.send(Method::POST, &join, None).await;
    assert_eq!(status, StatusCode::OK, "{staff_joined}");
    let staff_claims = verifier
        .verify(staff_joined["token"].as_str().expect("token"), &room, now)
        .expect("a valid token");
    assert_eq!(staff_claims.role, vardrum_signalling::Role::Clinician);
    assert_eq!(staff_claims.booking.as_deref(), Some(id.as_str()));
    let (_, log) = elsa.get("me/access-log").await;
    let added = log.as_array().map_or(0, Vec::len) - log_before.as_array().map_or(0, Vec::len);
    assert_eq!(added, 1, "{log}");
    assert!(log.to_string().contains(UNIT), "{log}");

    // Thirty minutes after the end, Join has closed.
    portal.clock.advance(5 * 60 + 20 * 60 + 30 * 60);
    let elsa = portal.patient(ELSA).await;
    let (status, body) = elsa.send(Method::POST, &join, None).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::CONFLICT, "join_closed")
    );
    portal.stop().await;
}

/// The shipped Västerbotten region file with `bookings` appended as its `[bookings]` section,
/// written into `dir` (its policy text named by absolute path, since the copy lives elsewhere).
fn region_with_bookings(dir: &Path, bookings: &str) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/regions");
    let text = std::fs::read_to_string(shipped.join("vasterbotten.toml")).expect("region file");
    let text = text.replace(
        "\"vasterbotten/",
        &format!("\"{}/", shipped.join("vasterbotten").display()),
    );
    let path = dir.join("vasterbotten-bookings.toml");
    std::fs::write(&path, format!("{text}\n[bookings]\n{bookings}")).expect("write region");
    path
}

/// A region that opens Join 30 minutes ahead and keeps its tokens for two minutes: both reach
/// the Join endpoint (the defaults are 10 minutes and 600 s).
async fn the_regions_bookings_section_sets_the_join_window_and_the_token_lifetime(
    db: Option<&str>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let region = region_with_bookings(
        dir.path(),
        "join_opens_minutes_before = 30\njoin_token_max_secs = 120\n",
    );
    let portal = Portal::start_in_region(db, Some(region)).await;
    // 2026-03-16 10:00-10:20 in Stockholm is 09:00-09:20 UTC.
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let starts_at = 1_773_651_600_u64;
    let elsa = portal.patient(ELSA).await;
    let (_, booking) = elsa.post("bookings", json!({ "slot_id": slot })).await;
    let id = booking["id"].as_str().expect("id").to_owned();
    let join = format!("bookings/{id}/join");

    // Thirty-one minutes before: not yet, and the message says when, 30 minutes ahead.
    portal
        .clock
        .advance(starts_at - 31 * 60 - portal.clock_now());
    let elsa = portal.patient(ELSA).await;
    let (status, body) = elsa.send(Method::POST, &join, None).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::CONFLICT, "join_not_open")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2026-03-16 09:30 (+01:00)")),
        "{body}"
    );

    // Twenty minutes before, which the default window would refuse: a token for two minutes.
    portal.clock.advance(11 * 60);
    let now = portal.clock_now();
    let (status, joined) = elsa.send(Method::POST, &join, None).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let verifier = TokenVerifier::new(&portal.server.secret);
    let claims = verifier
        .verify(
            joined["token"].as_str().expect("token"),
            &format!("visit-{id}"),
            now,
        )
        .expect("a valid token");
    assert!(
        claims.exp > now && claims.exp - claims.iat <= 120,
        "{claims:?}"
    );
    portal.stop().await;
}

impl Portal {
    fn clock_now(&self) -> u64 {
        use vardrum::clock::Clock;
        self.clock.now_unix()
    }
}

/// Every POST, PUT and DELETE the OpenAPI document tags `bookings`, sent without the session's
/// CSRF token or from another site, is refused with `403 csrf` and changes nothing (the portal
/// API's test does the same for the other routes).
async fn every_state_changing_bookings_route_needs_the_csrf_token(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let other = portal
        .video_slot("2026-03-17T10:00", "2026-03-17T10:20")
        .await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (_, booking) = elsa.post("bookings", json!({ "slot_id": slot })).await;
    let id = booking["id"].as_str().expect("id").to_owned();
    let (_, doc) = elsa.get("openapi.json").await;
    let mut walked = 0;
    let before = portal.state().await;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let tagged = op["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("bookings")));
            if !tagged || !["post", "put", "delete"].contains(&method.as_str()) {
                continue;
            }
            let who = if path.starts_with("/api/v1/staff/") {
                &anna
            } else {
                &elsa
            };
            let path = path.trim_start_matches("/api/v1/").replace("{id}", &id);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = json!({ "slot_id": other });
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
    // Six patient routes (book, reschedule, cancel, join; join and leave a queue) and ten staff
    // ones (slots, bookings, queues).
    assert!(walked >= 16, "{walked} routes walked");
    assert_eq!(portal.state().await, before);
    portal.stop().await;
}

/// Who sends what, and the status and code it is refused with.
type StaffRefusal<'a> = (
    &'a Browser,
    Method,
    String,
    Option<Value>,
    StatusCode,
    &'static str,
);

async fn log_len(patient: &Browser) -> usize {
    let (status, log) = patient.get("me/access-log").await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log.as_array().map_or(0, Vec::len)
}

async fn staff_publish_book_in_move_end_and_every_read_is_in_the_patients_log(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let anna_id = portal.staff_id(CLINICIAN).await;
    let video = |starts: &str, ends: &str| {
        json!({
            "kind": "digital", "mode": "single", "starts": starts, "ends": ends,
            "clinicians": [anna_id],
        })
    };

    let (status, first) = anna
        .post("staff/slots", video("2026-03-16T10:00", "2026-03-16T10:20"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["care_unit"], UNIT);
    assert_eq!(first["starts"]["utc_offset"], "+01:00");
    let first = first["id"].as_str().expect("id").to_owned();
    let (_, second) = anna
        .post("staff/slots", video("2026-03-16T11:00", "2026-03-16T11:20"))
        .await;
    let second = second["id"].as_str().expect("id").to_owned();
    let (_, spare) = anna
        .post(
            "staff/slots",
            json!({
                "kind": "physical", "place": "Rum 4", "mode": "group", "capacity": 4,
                "starts": "2026-03-30T10:00", "ends": "2026-03-30T11:00",
                "clinicians": [anna_id],
            }),
        )
        .await;
    assert_eq!(spare["starts"]["utc_offset"], "+02:00", "{spare}");
    let spare = spare["id"].as_str().expect("id").to_owned();

    // Refused slots: each its code, nothing published.
    let before = portal.state().await;
    let mut no_place = video("2026-03-16T12:00", "2026-03-16T12:20");
    no_place["kind"] = json!("physical");
    let mut bad_kind = video("2026-03-16T12:00", "2026-03-16T12:20");
    bad_kind["kind"] = json!(7);
    let mut stranger = video("2026-03-16T12:00", "2026-03-16T12:20");
    stranger["clinicians"] = json!(["nobody"]);
    for (body, status, want) in [
        (
            no_place,
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("place")),
        ),
        (
            bad_kind,
            StatusCode::BAD_REQUEST,
            ("invalid_type", Some("kind")),
        ),
        (
            stranger,
            StatusCode::BAD_REQUEST,
            ("not_a_clinician_of_unit", Some("clinicians")),
        ),
        (
            video("2026-03-15T09:00", "2026-03-15T09:20"),
            StatusCode::UNPROCESSABLE_ENTITY,
            ("slot_in_past", None),
        ),
        (
            video("2026-03-29T02:30", "2026-03-29T03:30"),
            StatusCode::BAD_REQUEST,
            ("nonexistent_local_time", None),
        ),
        (
            video("2026-03-16T12:00", "2026-03-16T11:00"),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("ends")),
        ),
    ] {
        let (got, answer) = anna.post("staff/slots", body.clone()).await;
        assert_eq!((got, code(&answer)), (status, want), "{body}: {answer}");
    }
    assert_eq!(portal.state().await, before);

    // Booking Elsa in is a PDL access: logged before anything is read.
    let logged = log_len(&elsa).await;
    let (status, booking) = anna
        .post(
            "staff/bookings",
            json!({ "personnummer": ELSA, "slot_id": first }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["booked_by"], "staff");
    assert_eq!(booking["booked_by_staff"], anna_id.as_str());
    let id = booking["id"].as_str().expect("id").to_owned();
    assert_eq!(log_len(&elsa).await, logged + 1);
    // Elsa sees it among her bookings.
    let (_, mine) = elsa.get("bookings").await;
    assert_eq!(mine[0]["id"], id.as_str());

    let (status, read) = anna.get(&format!("staff/bookings/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["patient"]["personnummer"], ELSA);
    assert_eq!(log_len(&elsa).await, logged + 2);
    let (status, calendar) = anna
        .get("staff/calendar?from=2026-03-16T00:00&to=2026-04-01T00:00")
        .await;
    assert_eq!(status, StatusCode::OK, "{calendar}");
    assert_eq!(calendar.as_array().map(Vec::len), Some(3), "{calendar}");
    assert_eq!(calendar[0]["slot"]["id"], first.as_str());
    assert_eq!(calendar[0]["bookings"][0]["id"], id.as_str());
    assert_eq!(log_len(&elsa).await, logged + 3);
    let (_, log) = elsa.get("me/access-log").await;
    assert!(log.to_string().contains(UNIT), "{log}");

    // Refusals: each its code, nothing changed.
    let bo = portal.logged_in("staff", ADMIN).await;
    let before = portal.state().await;
    let refusals: Vec<StaffRefusal> = vec![
        (
            &anna,
            Method::POST,
            "staff/bookings".into(),
            Some(json!({ "personnummer": ELSA, "slot_id": first })),
            StatusCode::CONFLICT,
            "already_booked",
        ),
        (
            &anna,
            Method::POST,
            "staff/bookings".into(),
            Some(json!({ "personnummer": ELSA, "slot_id": "nope" })),
            StatusCode::NOT_FOUND,
            "slot_not_found",
        ),
        (
            &anna,
            Method::POST,
            "staff/bookings".into(),
            Some(json!({ "personnummer": "19900602-2390", "slot_id": second })),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            &anna,
            Method::POST,
            "staff/bookings".into(),
            Some(json!({ "personnummer": 199006022397_u64, "slot_id": second })),
            StatusCode::BAD_REQUEST,
            "invalid_type",
        ),
        (
            &anna,
            Method::POST,
            "staff/bookings".into(),
            Some(json!({ "personnummer": ERIK, "slot_id": second })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_account",
        ),
        (
            &anna,
            Method::GET,
            "staff/bookings/nope".into(),
            None,
            StatusCode::NOT_FOUND,
            "booking_not_found",
        ),
        (
            &anna,
            Method::DELETE,
            format!("staff/slots/{first}"),
            None,
            StatusCode::CONFLICT,
            "slot_has_bookings",
        ),
        (
            &anna,
            Method::DELETE,
            "staff/slots/nope".into(),
            None,
            StatusCode::NOT_FOUND,
            "slot_not_found",
        ),
        (
            &anna,
            Method::POST,
            format!("staff/bookings/{id}/done"),
            None,
            StatusCode::CONFLICT,
            "not_started",
        ),
        (
            &anna,
            Method::POST,
            format!("staff/bookings/{id}/no-show"),
            None,
            StatusCode::CONFLICT,
            "not_started",
        ),
        (
            &anna,
            Method::POST,
            format!("staff/bookings/{id}/move"),
            Some(json!({ "slot_id": first })),
            StatusCode::CONFLICT,
            "already_booked",
        ),
        (
            &anna,
            Method::POST,
            format!("staff/bookings/{id}/move"),
            Some(json!({ "slot_id": 3 })),
            StatusCode::BAD_REQUEST,
            "invalid_type",
        ),
        (
            &anna,
            Method::GET,
            "staff/calendar?from=2026-03-16T00:00".into(),
            None,
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        (
            &bo,
            Method::GET,
            format!("staff/bookings/{id}"),
            None,
            StatusCode::FORBIDDEN,
            "not_clinician",
        ),
        (
            &bo,
            Method::POST,
            format!("staff/bookings/{id}/cancel"),
            None,
            StatusCode::FORBIDDEN,
            "not_clinician",
        ),
        (
            &bo,
            Method::GET,
            "staff/calendar?from=2026-03-16T00:00&to=2026-03-17T00:00".into(),
            None,
            StatusCode::FORBIDDEN,
            "not_clinician",
        ),
        (
            &bo,
            Method::DELETE,
            format!("staff/slots/{spare}"),
            None,
            StatusCode::FORBIDDEN,
            "wrong_care_unit",
        ),
        (
            &elsa,
            Method::GET,
            format!("staff/bookings/{id}"),
            None,
            StatusCode::UNAUTHORIZED,
            "not_logged_in",
        ),
    ];
    for (who, method, path, body, status, want) in refusals {
        let (got, answer) = who.send(method.clone(), &path, body).await;
        assert_eq!(
            (got, code(&answer).0),
            (status, want),
            "{method} {path}: {answer}"
        );
    }
    // Only the attempts' access-log entries were written (booking in and reading are logged
    // before they are refused); no booking or slot changed.
    assert_eq!(portal.state().await, before);

    let (status, moved) = anna
        .post(
            &format!("staff/bookings/{id}/move"),
            json!({ "slot_id": second }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(
        (&moved["id"], &moved["slot_id"]),
        (&json!(id), &json!(second))
    );
    // The first slot is free again and can be withdrawn.
    let (status, withdrawn) = anna
        .send(Method::DELETE, &format!("staff/slots/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    assert_eq!(withdrawn["withdrawn_at"], T0);
    let (_, open) = elsa
        .get(&slot_query("2026-03-16T00:00", "2026-03-17T00:00"))
        .await;
    assert_eq!(open, json!([]), "withdrawn and full slots are not offered");

    // The visit starts: the clinician records it as done; it has ended, for everyone.
    portal.clock.advance(21 * 3600 + 3600 + 5 * 60);
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let elsa = portal.patient(ELSA).await;
    let (status, done) = anna
        .send(Method::POST, &format!("staff/bookings/{id}/done"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["ended_by"], "staff");
    assert_eq!(done["ended_by_staff"], anna_id.as_str());
    for path in [
        format!("staff/bookings/{id}/cancel"),
        format!("bookings/{id}/join"),
    ] {
        let who = if path.starts_with("staff/") {
            &anna
        } else {
            &elsa
        };
        let (status, body) = who.send(Method::POST, &path, None).await;
        assert_eq!(
            (status, code(&body).0),
            (StatusCode::CONFLICT, "booking_ended"),
            "{path}"
        );
    }

    // A group slot: staff book Elsa in, then record a no-show once it has started.
    let (_, group) = anna
        .post(
            "staff/bookings",
            json!({ "personnummer": ELSA, "slot_id": spare }),
        )
        .await;
    let group_id = group["id"].as_str().expect("id").to_owned();
    let (_, cancelled) = anna
        .send(
            Method::POST,
            &format!("staff/bookings/{group_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["ended_by"], "staff");
    portal.stop().await;
}

async fn drop_in_patients_queue_and_a_clinician_takes_the_next_into_a_video_visit(
    db: Option<&str>,
) {
    let portal = Portal::start(db).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let bo = portal.logged_in("staff", ADMIN).await;
    let elsa = portal.patient(ELSA).await;
    let erik = portal.patient(ERIK).await;

    // Refused queues first: nothing opened.
    for (body, status, want) in [
        (
            json!({ "opens": "2026-03-15T08:00", "closes": "2026-03-15T12:00", "visit_minutes": 15 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            ("slot_in_past", None),
        ),
        (
            json!({ "opens": "2026-03-15T13:00", "closes": "2026-03-15T17:00", "visit_minutes": 0 }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("visit_minutes")),
        ),
        (
            json!({ "opens": "2026-03-15T13:00", "closes": "2026-03-15T17:00", "visit_minutes": "15" }),
            StatusCode::BAD_REQUEST,
            ("invalid_type", Some("visit_minutes")),
        ),
        (
            json!({ "opens": "2026-03-15T13:00", "closes": "2026-03-17T13:00", "visit_minutes": 15 }),
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("closes")),
        ),
    ] {
        let (got, answer) = anna.post("staff/queues", body.clone()).await;
        assert_eq!((got, code(&answer)), (status, want), "{body}: {answer}");
    }
    let (_, none) = anna.get("staff/queues").await;
    assert_eq!(none, json!([]));

    let (status, queue) = anna
        .post(
            "staff/queues",
            json!({ "opens": "2026-03-15T13:00", "closes": "2026-03-15T17:00", "visit_minutes": 15 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{queue}");
    assert_eq!(queue["closes"]["time"], "17:00");
    let queue = queue["id"].as_str().expect("id").to_owned();
    let q = |what: &str| format!("queues/{queue}/{what}");
    let (_, open) = elsa
        .get(&format!("queues?care_unit={}", urlencode(UNIT)))
        .await;
    assert_eq!(open[0]["id"], queue.as_str(), "{open}");

    let (status, place) = elsa.send(Method::POST, &q("join"), None).await;
    assert_eq!(status, StatusCode::CREATED, "{place}");
    assert_eq!(
        (&place["state"], &place["place"]),
        (&json!("waiting"), &json!(1))
    );
    let (status, again) = elsa.send(Method::POST, &q("join"), None).await;
    assert_eq!(
        (status, code(&again).0),
        (StatusCode::CONFLICT, "already_queued")
    );
    let (status, place) = erik.send(Method::POST, &q("join"), None).await;
    assert_eq!(
        (status, &place["place"]),
        (StatusCode::CREATED, &json!(2)),
        "{place}"
    );
    let (_, listed) = anna.get("staff/queues").await;
    assert_eq!(listed[0]["waiting"], 2);

    let logged = log_len(&elsa).await;
    let (status, booking) = anna
        .send(Method::POST, &format!("staff/{}", q("take")), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(booking["patient"]["personnummer"], ELSA);
    assert_eq!(booking["kind"], "digital");
    let id = booking["id"].as_str().expect("id").to_owned();
    assert_eq!(
        log_len(&elsa).await,
        logged + 1,
        "taking a patient is logged"
    );
    let (_, place) = elsa.get(&q("place")).await;
    assert_eq!(place["state"], "taken", "{place}");
    assert_eq!(place["booking_id"], id.as_str());
    let (_, place) = erik.get(&q("place")).await;
    assert_eq!(place["place"], 1, "{place}");
    // Elsa's turn: Join works at once.
    let (status, joined) = elsa
        .send(Method::POST, &format!("bookings/{id}/join"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");

    let (status, left) = erik.send(Method::POST, &q("leave"), None).await;
    assert_eq!(
        (status, &left["state"]),
        (StatusCode::OK, &json!("left")),
        "{left}"
    );

    let before = portal.state().await;
    let refusals: Vec<StaffRefusal> = vec![
        (
            &erik,
            Method::POST,
            q("leave"),
            None,
            StatusCode::CONFLICT,
            "not_queued",
        ),
        (
            &anna,
            Method::POST,
            format!("staff/{}", q("take")),
            None,
            StatusCode::CONFLICT,
            "queue_empty",
        ),
        (
            &bo,
            Method::POST,
            format!("staff/{}", q("take")),
            None,
            StatusCode::FORBIDDEN,
            "not_clinician",
        ),
        (
            &bo,
            Method::POST,
            format!("staff/{}", q("close")),
            None,
            StatusCode::FORBIDDEN,
            "wrong_care_unit",
        ),
        (
            &elsa,
            Method::POST,
            "queues/nope/join".into(),
            None,
            StatusCode::NOT_FOUND,
            "queue_not_found",
        ),
        (
            &elsa,
            Method::GET,
            "queues/nope/place".into(),
            None,
            StatusCode::CONFLICT,
            "not_queued",
        ),
        (
            &anna,
            Method::POST,
            "staff/queues/nope/take".into(),
            None,
            StatusCode::NOT_FOUND,
            "queue_not_found",
        ),
        (
            &elsa,
            Method::GET,
            "queues".into(),
            None,
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
    ];
    for (who, method, path, body, status, want) in refusals {
        let (got, answer) = who.send(method.clone(), &path, body).await;
        assert_eq!(
            (got, code(&answer).0),
            (status, want),
            "{method} {path}: {answer}"
        );
    }
    assert_eq!(portal.state().await, before);

    let (status, closed) = anna
        .send(Method::POST, &format!("staff/{}", q("close")), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["closed_at"], T0);
    let (status, body) = erik.send(Method::POST, &q("join"), None).await;
    assert_eq!(
        (status, code(&body).0),
        (StatusCode::CONFLICT, "queue_not_open")
    );
    portal.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A PNG's signature and a little more: enough for the upload store's sniffing.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-a-tiny-test-image";

async fn a_bookings_call_files_are_listed_for_its_patient_and_clinicians_only(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let slot = portal
        .video_slot("2026-03-16T10:00", "2026-03-16T10:20")
        .await;
    let other = portal
        .video_slot("2026-03-16T11:00", "2026-03-16T11:20")
        .await;
    let elsa = portal.patient(ELSA).await;
    let erik = portal.patient(ERIK).await;
    let (_, booking) = elsa.post("bookings", json!({ "slot_id": slot })).await;
    let id = booking["id"].as_str().expect("id").to_owned();
    let (_, eriks) = erik.post("bookings", json!({ "slot_id": other })).await;
    let eriks = eriks["id"].as_str().expect("id").to_owned();
    // Kept as the call keeps them (the upload through the call is tests/uploads.rs's).
    let store = &portal.server.server().state.uploads;
    let keep = |booking: String, name: &'static str| async move {
        store
            .keep(vardrum::uploads::NewUpload {
                room: &format!("visit-{booking}"),
                booking: &booking,
                uploader_participant: "p-1",
                uploader_role: vardrum_signalling::Role::Patient,
                raw_name: name,
                bytes: PNG,
            })
            .await
            .expect("kept")
    };
    let file = keep(id.clone(), "utslag.png").await;
    let eriks_file = keep(eriks.clone(), "erik.png").await;

    let (status, files) = elsa.get(&format!("bookings/{id}/uploads")).await;
    assert_eq!(status, StatusCode::OK, "{files}");
    assert_eq!(files.as_array().map(Vec::len), Some(1), "{files}");
    assert_eq!(files[0]["id"], file.id.as_str());
    assert_eq!(files[0]["name"], "utslag.png");
    assert_eq!(files[0]["content_type"], "image/png");
    assert_eq!(files[0]["uploaded_by"], "patient");
    assert!(files[0].get("uploader_participant").is_none());

    let download = |b: &Browser, path: String| {
        let request = b.http.get(b.url(&path));
        async move { request.send().await.expect("download") }
    };
    let response = download(&elsa, format!("bookings/{id}/uploads/{}", file.id)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-disposition"]
            .to_str()
            .is_ok_and(|d| d.starts_with("attachment;") && d.contains("utslag.png"))
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        headers["content-security-policy"],
        "sandbox; default-src 'none'"
    );
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PNG);

    // The booked clinician: each read a PDL access in Elsa's log.
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let logged = log_len(&elsa).await;
    let (status, files) = anna.get(&format!("bookings/{id}/uploads")).await;
    assert_eq!(
        (status, &files[0]["id"]),
        (StatusCode::OK, &json!(file.id)),
        "{files}"
    );
    let response = download(&anna, format!("bookings/{id}/uploads/{}", file.id)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(log_len(&elsa).await, logged + 2);

    // Everyone else, and every other file: refused.
    let bo = portal.logged_in("staff", ADMIN).await;
    for (who, path, status, want) in [
        (
            &erik,
            format!("bookings/{id}/uploads"),
            StatusCode::FORBIDDEN,
            "not_your_booking",
        ),
        (
            &erik,
            format!("bookings/{id}/uploads/{}", file.id),
            StatusCode::FORBIDDEN,
            "not_your_booking",
        ),
        (
            &elsa,
            format!("bookings/{id}/uploads/{}", eriks_file.id),
            StatusCode::NOT_FOUND,
            "upload_not_found",
        ),
        (
            &elsa,
            format!("bookings/{id}/uploads/nope"),
            StatusCode::NOT_FOUND,
            "upload_not_found",
        ),
        (
            &elsa,
            "bookings/nope/uploads".to_owned(),
            StatusCode::NOT_FOUND,
            "booking_not_found",
        ),
        (
            &bo,
            format!("bookings/{id}/uploads"),
            StatusCode::FORBIDDEN,
            "not_clinician",
        ),
        (
            &Browser::new(&portal.base),
            format!("bookings/{id}/uploads"),
            StatusCode::UNAUTHORIZED,
            "not_logged_in",
        ),
    ] {
        let (got, answer) = who.get(&path).await;
        assert_eq!((got, code(&answer).0), (status, want), "{path}: {answer}");
    }
    portal.stop().await;
}

/// Västerbotten shows patients the clinician's name in a 1:1 visit and initials in a group
/// (its `[video]` rules, as in the call); Jönköping initials in both. Staff see names always.
async fn patients_see_clinicians_names_or_initials_as_the_region_says(db: Option<&str>) {
    // One database for both (on PostgreSQL), so each region books its own day.
    for (region, day, single, group) in [
        ("vasterbotten", "2026-03-16", "Anna Läkarsson", "A. L."),
        ("jonkoping", "2026-03-17", "A. L.", "A. L."),
    ] {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/regions");
        let portal =
            Portal::start_in_region(db, Some(shipped.join(format!("{region}.toml")))).await;
        let one = portal
            .video_slot(&format!("{day}T10:00"), &format!("{day}T10:20"))
            .await;
        let many = portal
            .slot(
                SlotKind::Digital,
                SlotMode::Group,
                &format!("{day}T11:00"),
                &format!("{day}T12:00"),
            )
            .await;
        let elsa = portal.patient(ELSA).await;
        let (_, slots) = elsa
            .get(&slot_query(
                &format!("{day}T00:00"),
                &format!("{day}T23:00"),
            ))
            .await;
        let names = |id: &str| {
            slots
                .as_array()
                .and_then(|a| a.iter().find(|s| s["id"] == id))
                .map(|s| s["clinician_names"].clone())
        };
        assert_eq!(names(&one), Some(json!([single])), "{region}: {slots}");
        assert_eq!(names(&many), Some(json!([group])), "{region}: {slots}");
        let (status, booking) = elsa.post("bookings", json!({ "slot_id": one })).await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        assert_eq!(booking["clinician_names"], json!([single]), "{region}");
        let (_, mine) = elsa.get("bookings").await;
        assert_eq!(mine[0]["clinician_names"], json!([single]), "{region}");
        let anna = portal.logged_in("staff", CLINICIAN).await;
        let (_, calendar) = anna
            .get(&format!("staff/calendar?from={day}T00:00&to={day}T23:00"))
            .await;
        assert_eq!(
            calendar[0]["bookings"][0]["clinician_names"],
            json!(["Anna Läkarsson"]),
            "{region}: {calendar}"
        );
        portal.stop().await;
    }
}

/// What the pages need to offer choices: the care units that have clinicians (public), the
/// clinicians of one's own unit (clinicians only), and the region's join window.
async fn care_units_colleagues_and_the_join_window_are_there_to_be_found(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let anonymous = Browser::new(&portal.base);
    let (status, units) = anonymous.get("care-units").await;
    assert_eq!(status, StatusCode::OK, "{units}");
    // The administrators' unit has no clinician: nobody books or writes there.
    assert_eq!(units, json!(["Barnmottagning Testvik", UNIT]));
    let (_, region) = anonymous.get("region").await;
    assert_eq!(
        region["bookings"],
        json!({ "join_opens_minutes_before": 10, "join_closes_minutes_after": 30 })
    );

    let bo = portal.logged_in("staff", ADMIN).await;
    let (status, cilla) = bo
        .post(
            "admin/staff",
            json!({
                "subject": "hsa-cilla",
                "given_name": "Cilla",
                "family_name": "Sjuksköterska",
                "role": "clinician",
                "care_units": ["Vårdcentral Nyby", UNIT],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cilla}");
    let (_, units) = anonymous.get("care-units").await;
    assert_eq!(
        units,
        json!(["Barnmottagning Testvik", UNIT, "Vårdcentral Nyby"])
    );
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, colleagues) = anna.get("staff/colleagues").await;
    assert_eq!(status, StatusCode::OK, "{colleagues}");
    let names: Vec<&str> = colleagues
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["given_name"].as_str())
        .collect();
    assert_eq!(names, ["Anna", "Cilla"], "{colleagues}");
    assert_eq!(colleagues[1]["id"], cilla["id"]);
    assert!(
        colleagues[1].get("subject").is_none(),
        "no HSA-id: {colleagues}"
    );
    // In her other unit, Cilla is no colleague.
    anna.put(
        "staff/care-unit",
        json!({ "care_unit": "Barnmottagning Testvik" }),
    )
    .await;
    let (_, colleagues) = anna.get("staff/colleagues").await;
    assert_eq!(colleagues.as_array().map(Vec::len), Some(1), "{colleagues}");
    let (status, _) = bo.get("staff/colleagues").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let elsa = portal.patient(ELSA).await;
    let (status, _) = elsa.get("staff/colleagues").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    portal.stop().await;
}

/// The same patient in two tabs booking two different slots at overlapping times, at once: the
/// overlap check and the booking are one transaction serialised per patient, so exactly one of
/// each pair wins, and the loser's place is given back.
async fn one_patient_racing_for_overlapping_slots_gets_one_of_them(db: Option<&str>) {
    let portal = Portal::start(db).await;
    let elsa = portal.patient(ELSA).await;
    for day in 16..=21 {
        let first = portal
            .video_slot(
                &format!("2026-03-{day}T10:00"),
                &format!("2026-03-{day}T10:20"),
            )
            .await;
        let second = portal
            .video_slot(
                &format!("2026-03-{day}T10:10"),
                &format!("2026-03-{day}T10:30"),
            )
            .await;
        let (a, b) = tokio::join!(
            elsa.post("bookings", json!({ "slot_id": first })),
            elsa.post("bookings", json!({ "slot_id": second })),
        );
        let answers = [a, b];
        let won = answers.iter().filter(|(s, _)| s.is_success()).count();
        assert_eq!(won, 1, "2026-03-{day}: {answers:?}");
        for (status, body) in answers.iter().filter(|(s, _)| !s.is_success()) {
            assert_eq!(
                (*status, code(body).0),
                (StatusCode::CONFLICT, "overlapping_booking"),
                "{body}"
            );
        }
        let (taken,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(SUM(booked), 0) FROM booking_slots WHERE id = $1 OR id = $2",
        )
        .bind(&first)
        .bind(&second)
        .fetch_one(portal.db().pool())
        .await
        .expect("places");
        assert_eq!(taken, 1, "the loser's place is given back");
    }
    portal.stop().await;
}
