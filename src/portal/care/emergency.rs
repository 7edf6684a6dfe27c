//! Emergency access (nödåtkomst): a staff member without a care relationship opens a patient's
//! data, stating why. Each one is stored for follow-up by an administrator, lets that member
//! read that patient's data from that care unit for [`EMERGENCY_ACCESS_SECS`], and shows in the
//! patient's own access log as an emergency access.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;
use crate::portal::identity::personnummer::Personnummer;

/// How long one emergency access lets its member go on reading the patient's data without
/// stating a reason again: a working shift's emergency, not a standing permission.
pub const EMERGENCY_ACCESS_SECS: i64 = 4 * 3600;

/// The longest reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The shortest: "akut" alone says nothing a follow-up can check.
pub const MIN_REASON_CHARS: usize = 10;

/// One emergency access, as the follow-up sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmergencyAccess {
    pub id: String,
    /// Unix seconds.
    pub opened_at: i64,
    pub expires_at: i64,
    pub staff_id: String,
    pub staff_role: String,
    pub care_unit: String,
    /// The patient's personnummer, 12 digits: the follow-up must know whose data was opened.
    pub patient: String,
    pub reason: String,
    pub reviewed_at: Option<i64>,
    pub reviewed_by: Option<String>,
    pub review_note: Option<String>,
}

const COLUMNS: &str = "id, opened_at, expires_at, staff_id, staff_role, care_unit, patient, \
                       reason, reviewed_at, reviewed_by, review_note";

fn from_row(row: &AnyRow) -> Result<EmergencyAccess, sqlx::Error> {
    Ok(EmergencyAccess {
        id: row.try_get("id")?,
        opened_at: row.try_get("opened_at")?,
        expires_at: row.try_get("expires_at")?,
        staff_id: row.try_get("staff_id")?,
        staff_role: row.try_get("staff_role")?,
        care_unit: row.try_get("care_unit")?,
        patient: row.try_get("patient")?,
        reason: row.try_get("reason")?,
        reviewed_at: row.try_get("reviewed_at")?,
        reviewed_by: row.try_get("reviewed_by")?,
        review_note: row.try_get("review_note")?,
    })
}

/// The member's emergency access to the patient from `care_unit` that is still open at `now`.
pub async fn open_one(
    db: &Db,
    staff_id: &str,
    patient: &Personnummer,
    care_unit: &str,
    now: i64,
) -> Result<Option<EmergencyAccess>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM emergency_accesses WHERE staff_id = $1 AND patient = $2 \
         AND care_unit = $3 AND opened_at <= $4 AND expires_at > $4 \
         ORDER BY opened_at DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(staff_id)
        .bind(patient.as_str())
        .bind(care_unit)
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Stores a new emergency access.
pub async fn insert(db: &Db, access: &EmergencyAccess) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO emergency_accesses (id, opened_at, expires_at, staff_id, staff_role, \
         care_unit, patient, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&access.id)
    .bind(access.opened_at)
    .bind(access.expires_at)
    .bind(&access.staff_id)
    .bind(&access.staff_role)
    .bind(&access.care_unit)
    .bind(&access.patient)
    .bind(&access.reason)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Emergency accesses for follow-up, oldest first: only those not yet reviewed, or all.
pub async fn list(
    db: &Db,
    unreviewed_only: bool,
    limit: u32,
) -> Result<Vec<EmergencyAccess>, sqlx::Error> {
    let filter = if unreviewed_only {
        "WHERE reviewed_at IS NULL "
    } else {
        ""
    };
    let sql =
        format!("SELECT {COLUMNS} FROM emergency_accesses {filter}ORDER BY opened_at, id LIMIT $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Records the follow-up of one emergency access, once: a second review of the same one changes
/// nothing and answers `None`, as does an unknown id.
pub async fn review(
    db: &Db,
    id: &str,
    reviewer: &str,
    note: &str,
    at: i64,
) -> Result<Option<EmergencyAccess>, sqlx::Error> {
    let sql = format!(
        "UPDATE emergency_accesses SET reviewed_at = $1, reviewed_by = $2, review_note = $3 \
         WHERE id = $4 AND reviewed_at IS NULL RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(at)
        .bind(reviewer)
        .bind(note)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether an emergency access with this id exists (to tell "already reviewed" from "unknown").
pub async fn exists(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<(String,)> =
        sqlx::query_as("SELECT id FROM emergency_accesses WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(found.is_some())
}
