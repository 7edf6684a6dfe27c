//! Staff access bounded by the care relationship: the one place that decides on what ground a
//! staff member may open a patient's data, and the one path through which staff accesses reach
//! the PDL access log, each with that ground recorded (patientdatalagen 4 kap. 1 §: staff may
//! open a patient's data only where they take part in the patient's care; 6 kap. 3 a §:
//! emergency access).
//!
//! ```text
//!   staff request ──▶ Care::authorize(staff, patient, emergency_reason?)
//!                        │ 1. a care relationship of the patient with the active care unit
//!                        │    (relationships::SOURCES: a booking, a drop-in place, …) ─▶ Basis
//!                        │ 2. else an emergency access of this member still open ─────▶ Basis
//!                        │ 3. else, with a stated reason, a new emergency access ─────▶ Basis
//!                        │    (stored for follow-up, shown to the patient as such)
//!                        └ 4. else CareError::NoCareRelationship: nothing read, nothing logged
//!   care::log(staff, patient, action, resource, purpose, basis) ──▶ audit::append
//! ```
//!
//! Operations on one item of a care unit (a booking, a conversation) check that the item belongs
//! to the active care unit where they load it, and log with that item as the basis: the item is
//! the relationship. Reading a patient *as such* (looking them up by personnummer, their record
//! across care units) goes through [`Care::authorize`].

mod emergency;
pub mod relationships;

use std::sync::Arc;

use crate::clock::Clock;
use crate::db::Db;
use crate::portal::accounts::StaffAccess;
use crate::portal::accounts::contact::is_invisible;
use crate::portal::audit::{self, Action, ActorKind, AuditError, Basis, NewEntry};
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::personal_data::{Holding, OnDelete, Owner, PersonalData, PersonalDataError};

pub use emergency::{EMERGENCY_ACCESS_SECS, EmergencyAccess, MAX_REASON_CHARS, MIN_REASON_CHARS};

#[derive(Debug, thiserror::Error)]
pub enum CareError {
    /// No care relationship with the active care unit, no open emergency access, and no reason
    /// given to open one.
    #[error("no care relationship between the patient and your care unit")]
    NoCareRelationship,
    /// The emergency reason is refused; says why, never echoes it.
    #[error("invalid emergency_reason: {0}")]
    InvalidReason(&'static str),
    /// Only clinicians open patients' data; administrators follow up.
    #[error("only clinicians may open a patient's data")]
    NotClinician,
    #[error("only administrators follow up emergency accesses")]
    NotAdministrator,
    /// The session has no active care unit to have a relationship with.
    #[error("no active care unit")]
    NoCareUnit,
    #[error("no such emergency access")]
    NotFound,
    #[error("this emergency access is already followed up")]
    AlreadyReviewed,
    #[error("invalid note: {0}")]
    InvalidNote(&'static str),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("care relationship: database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The care-relationship rule and the access log's staff side.
#[derive(Clone)]
pub struct Care {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl Care {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }

    /// On what ground `staff` may open the data of the patient (their account id when they have
    /// one): see the module documentation for the order. A reason given where a relationship
    /// exists opens no emergency access: none is needed.
    pub async fn authorize(
        &self,
        staff: &StaffAccess,
        patient: &Personnummer,
        account_id: Option<&str>,
        emergency_reason: Option<&str>,
    ) -> Result<Basis, CareError> {
        if staff.actor.kind != ActorKind::Staff || staff.actor.role != "clinician" {
            return Err(CareError::NotClinician);
        }
        let care_unit = staff.actor.care_unit.as_str();
        if care_unit.is_empty() {
            return Err(CareError::NoCareUnit);
        }
        // Checked first, so that a bad reason is refused the same way with or without a
        // relationship, and never silently ignored.
        let reason = emergency_reason.map(check_reason).transpose()?;
        if let Some(account_id) = account_id
            && let Some(basis) = relationships::find(&self.db, account_id, care_unit).await?
        {
            return Ok(basis);
        }
        let now = self.now();
        if let Some(open) =
            emergency::open_one(&self.db, &staff.actor.id, patient, care_unit, now).await?
        {
            return Ok(Basis::Emergency(open.id));
        }
        let Some(reason) = reason else {
            return Err(CareError::NoCareRelationship);
        };
        let access = EmergencyAccess {
            id: uuid::Uuid::new_v4().simple().to_string(),
            opened_at: now,
            expires_at: now.saturating_add(EMERGENCY_ACCESS_SECS),
            staff_id: staff.actor.id.clone(),
            staff_role: staff.actor.role.clone(),
            care_unit: care_unit.to_owned(),
            patient: patient.as_str().to_owned(),
            reason,
            reviewed_at: None,
            reviewed_by: None,
            review_note: None,
        };
        emergency::insert(&self.db, &access).await?;
        // Not logged by itself: the read it allows is, with this access as its basis, which is
        // what the patient and the follow-up see.
        tracing::info!(
            emergency_access = %access.id,
            care_unit = %access.care_unit,
            "emergency access opened"
        );
        Ok(Basis::Emergency(access.id))
    }

    /// Emergency accesses for follow-up, oldest first (administrators only).
    pub async fn emergency_accesses(
        &self,
        staff: &StaffAccess,
        unreviewed_only: bool,
        limit: u32,
    ) -> Result<Vec<EmergencyAccess>, CareError> {
        require_administrator(staff)?;
        Ok(emergency::list(&self.db, unreviewed_only, limit).await?)
    }

    /// Records an administrator's follow-up of one emergency access, with a note.
    pub async fn review(
        &self,
        staff: &StaffAccess,
        id: &str,
        note: &str,
    ) -> Result<EmergencyAccess, CareError> {
        require_administrator(staff)?;
        let note = check_text(note, 1, MAX_REASON_CHARS).map_err(CareError::InvalidNote)?;
        match emergency::review(&self.db, id, &staff.actor.id, &note, self.now()).await? {
            Some(reviewed) => Ok(reviewed),
            None if emergency::exists(&self.db, id).await? => Err(CareError::AlreadyReviewed),
            None => Err(CareError::NotFound),
        }
    }
}

/// Logs one staff (or system) access to a patient's data, with the ground it was allowed on:
/// the one path from accounts, bookings and messages to the access log. Callers log before they
/// show or change anything, and fail the request if this fails.
#[allow(clippy::too_many_arguments)]
pub async fn log(
    db: &Db,
    clock: &dyn Clock,
    staff: &StaffAccess,
    patient: &Personnummer,
    action: Action,
    resource: &str,
    purpose: Option<&str>,
    basis: Basis,
) -> Result<(), AuditError> {
    let entry = NewEntry {
        actor: staff.actor.clone(),
        patient: *patient,
        action,
        resource: resource.into(),
        purpose: purpose.map(str::to_owned),
        client_ip: staff.client_ip,
        user_agent: staff.user_agent.clone(),
        basis,
    };
    audit::append(db, clock, &entry).await?;
    Ok(())
}

fn require_administrator(staff: &StaffAccess) -> Result<(), CareError> {
    if staff.actor.kind == ActorKind::Staff && staff.actor.role == "administrator" {
        Ok(())
    } else {
        Err(CareError::NotAdministrator)
    }
}

fn check_reason(reason: &str) -> Result<String, CareError> {
    check_text(reason, MIN_REASON_CHARS, MAX_REASON_CHARS).map_err(CareError::InvalidReason)
}

/// Trimmed free text between `min` and `max` characters without control or invisible ones.
fn check_text(text: &str, min: usize, max: usize) -> Result<String, &'static str> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars < min {
        return Err("too short: say what the emergency is");
    }
    if chars > max {
        return Err("too long");
    }
    if text.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err("contains control or invisible characters");
    }
    Ok(text.to_owned())
}

/// Emergency accesses in export and deletion: kept with the access log they belong to.
#[derive(Debug)]
pub struct EmergencyAccessData;

impl PersonalData for EmergencyAccessData {
    fn section(&self) -> Option<&'static str> {
        // The person sees each emergency access as such in their access log (the export's
        // `access_log` section); the reason is staff's note for the follow-up.
        None
    }

    fn holdings(&self) -> &'static [Holding] {
        const HOLDINGS: &[Holding] = &[Holding::new(
            "emergency_accesses",
            "patient",
            OnDelete::Kept("emergency accesses are part of the PDL access log, kept five years"),
        )];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        _db: &'a Db,
        _owner: &'a Owner,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>>
    {
        Box::pin(async { Ok(None) })
    }

    fn delete<'a>(
        &'a self,
        _conn: &'a mut sqlx::AnyConnection,
        _owner: &'a Owner,
    ) -> futures_util::future::BoxFuture<'a, Result<(), PersonalDataError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_checked_without_echoing_them() {
        assert!(check_reason("akut").is_err());
        assert!(check_reason(&"x".repeat(501)).is_err());
        assert!(check_reason("medvetslös patient på akuten\u{202e}").is_err());
        assert_eq!(
            check_reason("  medvetslös patient på akuten  ").unwrap(),
            "medvetslös patient på akuten"
        );
        let err = check_reason("kort").unwrap_err().to_string();
        assert!(!err.contains("kort"), "{err}");
    }
}
