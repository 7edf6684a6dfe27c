//! The staff side of the API: choosing the care unit worked in, looking up and registering
//! patients (each a PDL access, logged before anything is read), and administrators managing
//! staff.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::portal::accounts::contact::is_invisible;
use crate::portal::identity::sessions::Session;
use crate::portal::notifications::follow_up;
use crate::portal::staff::{NewStaff, Role};

use super::auth::session_body;
use super::error::{ApiError, JsonBody};
use super::session::StaffSession;
use super::{ClientInfo, Portal, no_store};

/// The most emergency accesses one follow-up page lists.
const MAX_FOLLOW_UP_LIST: u32 = 500;

/// The longest purpose text kept in the access log.
const MAX_PURPOSE_CHARS: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareUnitBody {
    care_unit: String,
}

pub async fn care_unit(
    State(portal): State<Arc<Portal>>,
    StaffSession { session, member }: StaffSession,
    JsonBody(body): JsonBody<CareUnitBody>,
) -> Result<Response, ApiError> {
    if !member.works_in(&body.care_unit) {
        return Err(ApiError::invalid("care_unit", "not one of your care units"));
    }
    portal
        .sessions
        .set_care_unit(&session.token_hash, &body.care_unit)
        .await?;
    let session = Session {
        care_unit: Some(body.care_unit),
        ..session
    };
    Ok(no_store(Json(session_body(&portal, &session).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientBody {
    personnummer: String,
    #[serde(default)]
    purpose: Option<String>,
}

/// A lookup: the patient, why, and, without a care relationship, the emergency reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupBody {
    personnummer: String,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    emergency_reason: Option<String>,
}

impl PatientBody {
    fn purpose(&self) -> Result<Option<&str>, ApiError> {
        check_purpose(self.purpose.as_deref())
    }
}

/// The purpose a staff member states, as the access log keeps it.
fn check_purpose(purpose: Option<&str>) -> Result<Option<&str>, ApiError> {
    match purpose.map(str::trim) {
        None | Some("") => Ok(None),
        Some(p)
            if p.chars().count() > MAX_PURPOSE_CHARS
                || p.chars().any(|c| c.is_control() || is_invisible(c)) =>
        {
            Err(ApiError::invalid(
                "purpose",
                "too long or contains control or invisible characters",
            ))
        }
        Some(p) => Ok(Some(p)),
    }
}

pub async fn lookup_patient(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    JsonBody(body): JsonBody<LookupBody>,
) -> Result<Response, ApiError> {
    staff.require(Role::Clinician)?;
    let patient = portal.parse_personnummer("personnummer", &body.personnummer)?;
    let purpose = check_purpose(body.purpose.as_deref())?;
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let view = portal
        .accounts
        .staff_read_account(
            &portal.care,
            &access,
            &patient,
            purpose,
            body.emergency_reason.as_deref(),
        )
        .await?;
    Ok(no_store(Json(view)))
}

pub async fn register_patient(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    JsonBody(body): JsonBody<PatientBody>,
) -> Result<Response, ApiError> {
    staff.require(Role::Clinician)?;
    let patient = portal.parse_personnummer("personnummer", &body.personnummer)?;
    let purpose = body.purpose()?;
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let account = portal
        .accounts
        .register_for_patient(&access, &patient, purpose)
        .await?;
    Ok(no_store((StatusCode::CREATED, Json(account))))
}

pub async fn list_staff(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
) -> Result<Response, ApiError> {
    staff.require(Role::Administrator)?;
    Ok(no_store(Json(portal.staff.list().await?)))
}

pub async fn create_staff(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    JsonBody(body): JsonBody<NewStaff>,
) -> Result<Response, ApiError> {
    staff.require(Role::Administrator)?;
    let member = portal.staff.create(&body, portal.now()).await?;
    Ok(no_store((StatusCode::CREATED, Json(member))))
}

/// `GET /staff/emergency-accesses[?state=unreviewed|all]`: the follow-up list (administrators).
pub async fn emergency_accesses(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let unreviewed_only = match raw.as_deref() {
        None | Some("") | Some("state=unreviewed") => true,
        Some("state=all") => false,
        Some(_) => {
            return Err(ApiError::invalid(
                "state",
                "the only query is state=unreviewed (the default) or state=all",
            ));
        }
    };
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let list = portal
        .care
        .emergency_accesses(&access, unreviewed_only, MAX_FOLLOW_UP_LIST)
        .await?;
    Ok(no_store(Json(list)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    note: String,
}

/// `POST /staff/emergency-accesses/{id}/review {note}`: records the follow-up (administrators).
pub async fn review_emergency_access(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReviewBody>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let reviewed = portal.care.review(&access, &id, &body.note).await?;
    Ok(no_store(Json(reviewed)))
}

/// A colleague as the inbox and the calendar offer them: who to assign to, who else can take a
/// slot. No subject (HSA-id) and no other units.
#[derive(Debug, Serialize)]
pub struct Colleague {
    id: String,
    given_name: String,
    family_name: String,
}

/// `GET /staff/colleagues`: the clinicians of the session's active care unit (clinicians).
pub async fn colleagues(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
) -> Result<Response, ApiError> {
    staff.require(Role::Clinician)?;
    let unit = staff.session.care_unit.clone().unwrap_or_default();
    let list: Vec<Colleague> = portal
        .staff
        .clinicians_of(&unit)
        .await?
        .into_iter()
        .map(|m| Colleague {
            id: m.id,
            given_name: m.given_name,
            family_name: m.family_name,
        })
        .collect();
    Ok(no_store(Json(list)))
}

/// `GET /care-units`: the region's care units that have clinicians, for anyone (patients choose
/// where to book and whom to write to; the list is public, as a region's units are).
pub async fn care_units(State(portal): State<Arc<Portal>>) -> Result<Response, ApiError> {
    Ok(no_store(Json(
        portal.staff.care_units_with_clinicians().await?,
    )))
}

/// The most failed notices one page lists.
const MAX_FAILED_LIST: u32 = 500;

/// `GET /admin/notifications/failed`: notices that gave up (administrators).
pub async fn failed_notices(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
) -> Result<Response, ApiError> {
    staff.require(Role::Administrator)?;
    let list = follow_up::failed(&portal.db, MAX_FAILED_LIST)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(no_store(Json(list)))
}

/// `POST /admin/notifications/{id}/retry`: a failed notice back into the outbox (administrators).
pub async fn retry_notice(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    staff.require(Role::Administrator)?;
    let now = i64::try_from(portal.clock.now_unix()).unwrap_or(i64::MAX);
    match follow_up::retry(&portal.db, &id, now)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        Some(notice) => Ok(no_store(Json(notice))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no failed notice with this id",
        )),
    }
}
