//! Notices that failed, for an administrator to see and send again: what kind of notice on
//! which channel, how many attempts and why the last one failed. Nothing of the recipient (no
//! account, address or booking): the follow-up needs to know that notices fail and why, not
//! whose.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;

use super::NotifyError;

/// A notice in the `failed` state, as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedNotice {
    /// Also its idempotency key (the e-mail's Message-ID, the SMS gateway's Idempotency-Key).
    pub id: String,
    pub channel: String,
    pub kind: String,
    pub attempts: i64,
    /// A short code: `smtp_permanent 550`, `sms_http 500`, `smtp_connection`, ….
    pub reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// When it failed.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, channel, kind, attempts, reason, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<FailedNotice, sqlx::Error> {
    Ok(FailedNotice {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        kind: row.try_get("kind")?,
        attempts: row.try_get("attempts")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Failed notices, the most recently failed first, at most `limit`.
pub async fn failed(db: &Db, limit: u32) -> Result<Vec<FailedNotice>, NotifyError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE state = 'failed' \
         ORDER BY updated_at DESC, id LIMIT $1"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Puts a failed notice back in the outbox with a fresh round of attempts (it was due already,
/// so the worker takes it at its next pass, and skips it as too late if its moment has gone);
/// the same id, so the receiver can still drop a duplicate. `None` when there is no failed notice with this
/// id (unknown, or not failed: one cannot resend what was sent or is still pending).
pub async fn retry(db: &Db, id: &str, now: i64) -> Result<Option<FailedNotice>, NotifyError> {
    let sql = format!(
        "UPDATE notifications SET state = 'pending', attempts = 0, retry_at = NULL, \
         claimed_until = NULL, claim = NULL, reason = NULL, updated_at = $1 \
         WHERE id = $2 AND state = 'failed' RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}
