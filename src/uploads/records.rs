//! The `call_uploads` table (migration `0005_call_uploads.sql`): what is known about each file
//! uploaded in a call, keyed by the id that also names its bytes in the file store. Plain SQL
//! that SQLite and PostgreSQL both run, checked by `tests/uploads.rs` on both.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::Db;

/// One uploaded file's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// 32 lowercase hex digits; the file's key in the store.
    pub id: String,
    /// The uploader's booking.
    pub booking: String,
    /// The room it was uploaded in.
    pub room: String,
    /// The uploader's opaque participant id in that room.
    pub uploader_participant: String,
    /// `patient`, `clinician` or `guest`.
    pub uploader_role: String,
    /// The sanitised name.
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Unix seconds.
    pub created_at: i64,
}

macro_rules! columns {
    () => {
        "id, booking, room, uploader_participant, uploader_role, name, content_type, size, \
         sha256, created_at"
    };
}

fn from_row(row: &AnyRow) -> Result<UploadRecord, sqlx::Error> {
    let size: i64 = row.try_get("size")?;
    Ok(UploadRecord {
        id: row.try_get("id")?,
        booking: row.try_get("booking")?,
        room: row.try_get("room")?,
        uploader_participant: row.try_get("uploader_participant")?,
        uploader_role: row.try_get("uploader_role")?,
        name: row.try_get("name")?,
        content_type: row.try_get("content_type")?,
        size: u64::try_from(size).unwrap_or_default(),
        sha256: row.try_get("sha256")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert(db: &Db, r: &UploadRecord) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO call_uploads (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&r.id)
    .bind(&r.booking)
    .bind(&r.room)
    .bind(&r.uploader_participant)
    .bind(&r.uploader_role)
    .bind(&r.name)
    .bind(&r.content_type)
    .bind(i64::try_from(r.size).unwrap_or(i64::MAX))
    .bind(&r.sha256)
    .bind(r.created_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<UploadRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM call_uploads WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A booking's files, oldest first.
pub async fn for_booking(db: &Db, booking: &str) -> Result<Vec<UploadRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM call_uploads WHERE booking = $1 ORDER BY created_at, id"
    ))
    .bind(booking)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Removes a row; whether there was one.
pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM call_uploads WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether the newest recorded lifetime of `room` has closed: the visit has ended (a host ended
/// it, or everyone was gone past the reconnect grace). `false` while it is open and for a room
/// that never opened. The SFU's lifecycle events are recorded a moment after they happen
/// (`server.rs`, `record_calls`), so right at the end this can still say `false`.
pub async fn visit_ended(db: &Db, room: &str) -> Result<bool, sqlx::Error> {
    let newest: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT ended_at FROM call_sessions WHERE room = $1 \
         ORDER BY started_at DESC, ended_at IS NULL DESC LIMIT 1",
    )
    .bind(room)
    .fetch_optional(db.pool())
    .await?;
    Ok(matches!(newest, Some((Some(_),))))
}
