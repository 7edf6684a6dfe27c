//! The bookings API: patients (or a guardian acting for a child) browse a care unit's open
//! slots, book, list, reschedule and cancel their bookings, and join a digital booking's video
//! room, which mints a short-lived join token there and then; staff publish and withdraw slots
//! of their active care unit, see its calendar, book patients in, move, cancel and end
//! bookings (every read of a patient's booking logged by the domain before it is shown); and
//! digital drop-in: staff open and close a queue and take the next patient, patients join it,
//! see their place and leave; and the files uploaded in a booking's call, listed and
//! downloaded by the booking's patient (or guardian) and its clinicians. The domain
//! ([`crate::portal::bookings`]) decides everything; this file reads requests, maps each
//! [`BookingError`] to its status with the domain's stable `code()`, and shapes answers.
//! Booking times come as Unix seconds and as Europe/Stockholm wall-clock time with its offset.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::portal::bookings::time::{self, TimeError};
use crate::portal::bookings::{
    Booking, BookingError, Joiner, LocalTime, NewQueue, NewSlot, PatientLens,
};
use crate::portal::identity::sessions::Realm;
use crate::portal::region::Localized;
use crate::uploads::Uploads;
use crate::uploads::http::file_download;
use crate::uploads::records::{self, UploadRecord};

use super::error::{ApiError, JsonBody};
use super::session::{Gate, PatientSession, StaffSession};
use super::{ClientInfo, Portal, no_store};

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        let code = e.code();
        let status = match &e {
            BookingError::Invalid { field, reason } => {
                return ApiError::invalid(*field, *reason);
            }
            BookingError::Time(TimeError::ZoneUnavailable)
            | BookingError::Corrupt(_)
            | BookingError::Audit(_)
            | BookingError::Database(_) => return ApiError::internal(&e),
            BookingError::Time(_) => StatusCode::BAD_REQUEST,
            BookingError::NotAClinicianOfUnit { .. } => {
                return ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string())
                    .field("clinicians");
            }
            BookingError::NoAccount | BookingError::SlotInPast => StatusCode::UNPROCESSABLE_ENTITY,
            BookingError::NotClinician
            | BookingError::WrongCareUnit
            | BookingError::NotYourBooking => StatusCode::FORBIDDEN,
            BookingError::SlotNotFound
            | BookingError::BookingNotFound
            | BookingError::QueueNotFound => StatusCode::NOT_FOUND,
            BookingError::SlotFull
            | BookingError::SlotHasBookings
            | BookingError::AlreadyBooked
            | BookingError::Overlapping { .. }
            | BookingError::BookingEnded
            | BookingError::TooLateToChange
            | BookingError::NotStarted
            | BookingError::NotDigital
            | BookingError::JoinNotOpen { .. }
            | BookingError::JoinClosed
            | BookingError::QueueNotOpen
            | BookingError::AlreadyQueued
            | BookingError::NotQueued
            | BookingError::QueueEmpty
            | BookingError::Conflict => StatusCode::CONFLICT,
        };
        // The domain's messages name no person; JoinNotOpen's instant reads better as a
        // Stockholm wall-clock time than as Unix seconds.
        let message = match &e {
            BookingError::JoinNotOpen { opens_at } => match time::to_local(*opens_at) {
                Ok(t) => format!("the visit can be joined from {t}"),
                Err(_) => e.to_string(),
            },
            _ => e.to_string(),
        };
        let mut error = ApiError::new(status, code, message);
        // The page shows the person when Join opens, in their language, rather than parsing
        // the developer message.
        if let BookingError::JoinNotOpen { opens_at } = &e
            && let Ok(t) = time::to_local(*opens_at)
        {
            error.user_message = Some(Localized {
                sv: format!(
                    "Du kan ansluta till besöket från kl. {} den {}.",
                    t.time,
                    spoken_date(&t.date, SV_MONTHS)
                ),
                en: format!(
                    "You can join the visit from {} on {}.",
                    t.time,
                    spoken_date(&t.date, EN_MONTHS)
                ),
            });
        }
        error
    }
}

const SV_MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `2026-03-16` as people say it: "16 mars 2026", "16 March 2026" (the ISO date if it is not one).
fn spoken_date(iso: &str, months: [&str; 12]) -> String {
    let mut parts = iso.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return iso.to_owned();
    };
    let month = m
        .parse::<usize>()
        .ok()
        .and_then(|m| m.checked_sub(1))
        .and_then(|m| months.get(m));
    match (month, d.parse::<u8>()) {
        (Some(month), Ok(day)) => format!("{day} {month} {y}"),
        _ => iso.to_owned(),
    }
}

/// A query string of `name=value` pairs, each name at most once and only the names allowed.
fn query_pairs(
    raw: Option<&str>,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let Some(known) = allowed.iter().find(|a| **a == name) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_field",
                "a query parameter this endpoint does not take",
            )
            .field(name.into_owned()));
        };
        if out.iter().any(|(n, _)| n == known) {
            return Err(ApiError::invalid(*known, "given more than once"));
        }
        out.push((known, value.into_owned()));
    }
    Ok(out)
}

fn required(pairs: &[(&'static str, String)], name: &'static str) -> Result<String, ApiError> {
    pairs
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_field",
                format!("the query parameter {name} is required"),
            )
            .field(name)
        })
}

/// A Stockholm wall-clock time from a request, the field named when it is refused.
fn local_time(field: &'static str, input: &str) -> Result<i64, ApiError> {
    time::parse_local_to_unix(input).map_err(|e| ApiError::from(BookingError::from(e)).field(field))
}

/// What patients are sent of clinicians' names: the region's rule ([`PatientLens`]).
fn lens(portal: &Portal) -> PatientLens {
    PatientLens::new(&portal.region.video)
}

/// `GET /slots?care_unit=&from=&to=`: what the person can book in a care unit.
pub async fn open_slots(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    patient.acting(&portal, Gate::PolicyAccepted).await?;
    let pairs = query_pairs(raw.as_deref(), &["care_unit", "from", "to"])?;
    let care_unit = required(&pairs, "care_unit")?;
    let from = local_time("from", &required(&pairs, "from")?)?;
    let to = local_time("to", &required(&pairs, "to")?)?;
    let slots = portal.bookings.open_slots(&care_unit, from, to).await?;
    Ok(no_store(Json(lens(&portal).slots(slots))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotChoice {
    slot_id: String,
}

/// `POST /bookings {slot_id}`: the person books a place.
pub async fn book(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    JsonBody(body): JsonBody<SlotChoice>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let booking = portal.bookings.book(&acting, &body.slot_id).await?;
    Ok(no_store((
        StatusCode::CREATED,
        Json(lens(&portal).booking(booking)),
    )))
}

/// `GET /bookings`: the person's bookings, ended ones included.
pub async fn my_bookings(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let bookings = portal.bookings.my_bookings(&acting).await?;
    Ok(no_store(Json(lens(&portal).bookings(bookings))))
}

/// `GET /bookings/{id}`.
pub async fn my_booking(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let booking = portal.bookings.my_booking(&acting, &id).await?;
    Ok(no_store(Json(lens(&portal).booking(booking))))
}

/// `POST /bookings/{id}/reschedule {slot_id}`: same booking, another slot of the same unit.
pub async fn reschedule(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SlotChoice>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let booking = portal
        .bookings
        .reschedule(&acting, &id, &body.slot_id)
        .await?;
    Ok(no_store(Json(lens(&portal).booking(booking))))
}

/// `POST /bookings/{id}/cancel`.
pub async fn cancel(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let booking = portal.bookings.cancel(&acting, &id).await?;
    Ok(no_store(Json(lens(&portal).booking(booking))))
}

/// The session of a join: the booking's patient (or guardian), or one of its clinicians.
pub enum JoinSession {
    Patient(PatientSession),
    Staff(StaffSession),
}

impl FromRequestParts<Arc<Portal>> for JoinSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let session = portal.any_session(&parts.method, &parts.headers).await?;
        Ok(match session.realm {
            Realm::Patient => {
                let me = portal.session_account(&session).await?;
                JoinSession::Patient(PatientSession { session, me })
            }
            Realm::Staff => {
                let member = portal.session_staff(&session).await?;
                JoinSession::Staff(StaffSession { session, member })
            }
        })
    }
}

/// What Join answers: the token, and the call page's URL carrying it in the fragment (the
/// form `vardrum token` prints), so the page opens the visit without the token reaching a log.
#[derive(Debug, Serialize)]
pub struct Joined {
    token: String,
    url: String,
    room: String,
    /// Unix seconds.
    expires_at: i64,
    expires: LocalTime,
}

/// `POST /bookings/{id}/join`: a join token for the booking's video room, inside the window.
pub async fn join(
    State(portal): State<Arc<Portal>>,
    who: JoinSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let permit = match &who {
        JoinSession::Patient(patient) => {
            let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
            portal.bookings.join(Joiner::Patient(&acting), &id).await?
        }
        JoinSession::Staff(staff) => {
            let access = portal.staff_access(&staff.member, &staff.session, &client);
            portal.bookings.join(Joiner::Staff(&access), &id).await?
        }
    };
    let now = portal.clock.now_unix();
    let token = permit
        .mint(&portal.issuer, now)
        .map_err(|e| ApiError::internal(&e))?;
    let room = permit.grant.room.clone();
    let body = Joined {
        url: format!("{}call/{room}#token={token}", portal.base_url),
        token,
        room,
        expires_at: permit.expires_at,
        expires: time::to_local(permit.expires_at).map_err(BookingError::from)?,
    };
    Ok(no_store(Json(body)))
}

// ----- staff: the active care unit of the session; patients' bookings need the clinician role

/// `POST /staff/slots`: publish a slot in the active care unit.
pub async fn publish_slot(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    JsonBody(body): JsonBody<NewSlot>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let slot = portal.bookings.publish_slot(&access, &body).await?;
    Ok(no_store((StatusCode::CREATED, Json(slot))))
}

/// `DELETE /staff/slots/{id}`: withdraw a slot nobody has booked.
pub async fn withdraw_slot(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(
        portal.bookings.withdraw_slot(&access, &id).await?,
    )))
}

/// `GET /staff/calendar?from=&to=`: the active unit's slots with their bookings.
pub async fn calendar(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref(), &["from", "to"])?;
    let from = local_time("from", &required(&pairs, "from")?)?;
    let to = local_time("to", &required(&pairs, "to")?)?;
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(
        portal.bookings.calendar(&access, from, to).await?,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookIn {
    personnummer: String,
    slot_id: String,
}

/// `POST /staff/bookings {personnummer, slot_id}`: book a patient in. The number travels in
/// the body, never the URL, so it stays out of proxy logs.
pub async fn book_in(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    JsonBody(body): JsonBody<BookIn>,
) -> Result<Response, ApiError> {
    let patient = portal.parse_personnummer("personnummer", &body.personnummer)?;
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let booking = portal
        .bookings
        .book_in(&access, &patient, &body.slot_id)
        .await?;
    Ok(no_store((StatusCode::CREATED, Json(booking))))
}

/// `GET /staff/bookings/{id}`.
pub async fn staff_booking(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(
        portal.bookings.staff_booking(&access, &id).await?,
    )))
}

/// `POST /staff/bookings/{id}/move {slot_id}`.
pub async fn staff_move(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SlotChoice>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let booking = portal
        .bookings
        .staff_move(&access, &id, &body.slot_id)
        .await?;
    Ok(no_store(Json(booking)))
}

/// How staff end a booking.
#[derive(Debug, Clone, Copy)]
enum StaffEnding {
    Cancel,
    Done,
    NoShow,
}

async fn staff_end(
    portal: &Portal,
    staff: &StaffSession,
    client: &ClientInfo,
    id: &str,
    ending: StaffEnding,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, client);
    let booking = match ending {
        StaffEnding::Cancel => portal.bookings.staff_cancel(&access, id).await?,
        StaffEnding::Done => portal.bookings.mark_done(&access, id).await?,
        StaffEnding::NoShow => portal.bookings.mark_no_show(&access, id).await?,
    };
    Ok(no_store(Json(booking)))
}

/// `POST /staff/bookings/{id}/cancel`.
pub async fn staff_cancel(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    staff_end(&portal, &staff, &client, &id, StaffEnding::Cancel).await
}

/// `POST /staff/bookings/{id}/done`.
pub async fn mark_done(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    staff_end(&portal, &staff, &client, &id, StaffEnding::Done).await
}

/// `POST /staff/bookings/{id}/no-show`.
pub async fn mark_no_show(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    staff_end(&portal, &staff, &client, &id, StaffEnding::NoShow).await
}

// ----- drop-in: staff open, close and take from a queue; patients join, look, leave

/// `POST /staff/queues`: open a drop-in queue in the active care unit.
pub async fn open_queue(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    JsonBody(body): JsonBody<NewQueue>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let queue = portal.bookings.open_queue(&access, &body).await?;
    Ok(no_store((StatusCode::CREATED, Json(queue))))
}

/// `GET /staff/queues`: the active care unit's queues open now.
pub async fn staff_queues(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
) -> Result<Response, ApiError> {
    let unit = staff.session.care_unit.clone().unwrap_or_default();
    Ok(no_store(Json(portal.bookings.open_queues(&unit).await?)))
}

/// `POST /staff/queues/{id}/close`: nobody more joins; those waiting can still be taken.
pub async fn close_queue(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(
        portal.bookings.close_queue(&access, &id).await?,
    )))
}

/// `POST /staff/queues/{id}/take`: the next patient, as a booking starting now.
pub async fn take_next(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let taken = portal.bookings.take_next(&access, &id).await?;
    // The notice row is for the outbox; the clinician needs the booking to join.
    Ok(no_store((StatusCode::CREATED, Json(taken.booking))))
}

/// `GET /queues?care_unit=`: the care unit's queues open now.
pub async fn open_queues(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    patient.acting(&portal, Gate::PolicyAccepted).await?;
    let pairs = query_pairs(raw.as_deref(), &["care_unit"])?;
    let unit = required(&pairs, "care_unit")?;
    Ok(no_store(Json(portal.bookings.open_queues(&unit).await?)))
}

/// `POST /queues/{id}/join`.
pub async fn join_queue(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let place = portal.bookings.join_queue(&acting, &id).await?;
    Ok(no_store((StatusCode::CREATED, Json(place))))
}

/// `GET /queues/{id}/place`.
pub async fn queue_place(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    Ok(no_store(Json(
        portal.bookings.queue_place(&acting, &id).await?,
    )))
}

/// `POST /queues/{id}/leave`.
pub async fn leave_queue(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    Ok(no_store(Json(
        portal.bookings.leave_queue(&acting, &id).await?,
    )))
}

// ----- files uploaded in a booking's call

/// The booking, if the session may see its files: the booking's patient (or a guardian acting
/// for them), or one of its clinicians in its care unit (a PDL read, logged by the domain
/// before anything is shown; also when the clinician is then refused for not being booked on it).
async fn booking_for_files(
    portal: &Portal,
    who: &JoinSession,
    client: &ClientInfo,
    id: &str,
) -> Result<Booking, ApiError> {
    match who {
        JoinSession::Patient(patient) => {
            let acting = patient.acting(portal, Gate::PolicyAccepted).await?;
            Ok(portal.bookings.my_booking(&acting, id).await?)
        }
        JoinSession::Staff(staff) => {
            let access = portal.staff_access(&staff.member, &staff.session, client);
            let booking = portal.bookings.staff_booking(&access, id).await?;
            if !booking.clinicians.contains(&staff.member.id) {
                return Err(BookingError::NotYourBooking.into());
            }
            Ok(booking)
        }
    }
}

/// One file as the booking lists it: never the uploader's participant id or the file's hash.
#[derive(Debug, Serialize)]
pub struct BookingFile {
    id: String,
    name: String,
    content_type: String,
    size: u64,
    /// `patient`, `clinician` or `guest`.
    uploaded_by: String,
    /// Unix seconds, and the same on a Stockholm wall clock.
    uploaded_at: i64,
    uploaded: Option<LocalTime>,
}

impl From<UploadRecord> for BookingFile {
    fn from(r: UploadRecord) -> Self {
        Self {
            uploaded: time::to_local(r.created_at).ok(),
            id: r.id,
            name: r.name,
            content_type: r.content_type,
            size: r.size,
            uploaded_by: r.uploader_role,
            uploaded_at: r.created_at,
        }
    }
}

/// `GET /bookings/{id}/uploads`: the files uploaded in the call with this booking, oldest first.
pub async fn uploads(
    State(portal): State<Arc<Portal>>,
    Extension(uploads): Extension<Arc<Uploads>>,
    who: JoinSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let booking = booking_for_files(&portal, &who, &client, &id).await?;
    let files = uploads
        .for_booking(&booking.id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let files: Vec<BookingFile> = files.into_iter().map(BookingFile::from).collect();
    Ok(no_store(Json(files)))
}

/// `GET /bookings/{id}/uploads/{upload}`: one of them, as a download.
pub async fn download(
    State(portal): State<Arc<Portal>>,
    Extension(uploads): Extension<Arc<Uploads>>,
    who: JoinSession,
    client: ClientInfo,
    Path((id, upload)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let booking = booking_for_files(&portal, &who, &client, &id).await?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "upload_not_found", "no such file");
    // Only the booking's own files: an id of another booking's file is as unknown as any.
    let record = records::get(&portal.db, &upload)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .filter(|r| r.booking == booking.id)
        .ok_or_else(not_found)?;
    let (record, bytes) = uploads
        .open(&record.room, &record.id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(not_found)?;
    file_download(&record.content_type, &record.name, bytes).map_err(|e| ApiError::internal(&e))
}
