//! The PDL access log: every time staff or a system job reads or changes a patient's data, one
//! entry says who (staff id, role, care unit), whose (personnummer), what (action on a
//! resource), when, from where (IP, user agent) and why (purpose, if given). Patientdatalagen
//! (4 kap. 3 §) requires access to be documented and checkable, and the patient may ask who
//! has accessed their record (8 kap. 6 §); entries are kept five years.
//!
//! ```text
//!   staff handler / system job ──append()──▶ access_log (seq 1, 2, 3, ...)
//!                                                 │ each row: prev_hash ─▶ hash
//!   `vardrum audit verify` ──verify()─────────────┤ walks the chain in batches
//!   patient's portal page ──entries_for_patient()─┘ care unit, time, action only
//! ```
//!
//! **Append-only.** This module offers [`append`] and reads, nothing that updates or deletes.
//!
//! **Hash chain.** Entry `n` stores `prev_hash` (the hash of entry `n - 1`) and
//! `hash = SHA-256(encoding of every column of entry n, prev_hash included)`. The encoding is a
//! domain tag followed by each field in a fixed order: integers as 8 big-endian bytes, text as
//! an 8-byte big-endian length and its UTF-8 bytes, optional text as one byte 0 (absent) or 1
//! plus the text. No two different entries encode alike, so `("ab", "c")` and `("a", "bc")`
//! cannot collide the way they would in a plain concatenation. The hash covers the stored text
//! exactly as stored, so verification needs no parsing and catches even edits that leave a
//! field unparseable. The first entry's `prev_hash` is 64 zeros ([`GENESIS_HASH`]).
//!
//! **Concurrency.** `seq` is the primary key, and an append inserts `seq = last + 1` with the
//! last entry's hash as `prev_hash`. Two writers that read the same last entry (two tasks, two
//! server nodes on one PostgreSQL, or the CLI beside the server) cannot both insert: the second
//! gets a unique violation, reads the new last entry and tries again. The unique key is the
//! serialisation point on both SQLite and PostgreSQL, so no explicit transaction or lock is
//! needed: the only write is one INSERT, and a stale read can only lead to a refused insert,
//! never to a fork.
//!
//! **Retention.** A retention job (later) deletes the oldest entries, a prefix of the chain, and
//! in the same transaction inserts the last deleted entry's `seq` and `hash` into
//! `access_log_anchor`. Verification then starts at the highest anchor instead of at seq 1 with
//! zeros, and [`append`] continues from the anchor when every entry has been deleted.
//!
//! **What the chain cannot do.** Anyone who can write to the database and knows this (public)
//! algorithm can rewrite the tail of the chain from an edit onwards, or cut entries off the end,
//! and the chain alone will still verify. [`verify`] therefore reports the head (last seq and
//! hash): recording it outside the database (monitoring, an operations log) turns a rewritten
//! or truncated tail into a detectable mismatch.
//!
//! The patient's personnummer is stored in full here (this table is where the law needs it) but
//! never appears in an error message or `Debug` output: [`Personnummer`]'s `Debug` is masked.

mod basis;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Clock;
use crate::db::Db;
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::personal_data::{Holding, OnDelete, Owner, PersonalData, PersonalDataError};

pub use basis::Basis;

/// `prev_hash` of the very first entry when no anchor exists.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Entries per query when verifying: five years of a region's log never sit in memory at once.
pub const VERIFY_BATCH: u32 = 1000;

/// Versioned, so that a future change of the encoding can never produce a hash that also means
/// something under this one.
const DOMAIN_TAG: &[u8] = b"vardrum/access_log/v1";
/// Entries that record their [`Basis`] (every entry written since the care-relationship rule)
/// are hashed under this tag, with the basis after the user agent. An entry whose basis is
/// removed afterwards falls back to the v1 encoding and no longer matches its hash.
const DOMAIN_TAG_V2: &[u8] = b"vardrum/access_log/v2";

/// How often an append retries after losing the race for the next seq. Every round one of the
/// contenders wins, so this bounds the wait at a few hundred simultaneous writers, far above
/// what one region produces; past it something else is wrong and the caller hears about it.
const MAX_APPEND_ATTEMPTS: u32 = 500;

const MAX_ID_CHARS: usize = 200;
const MAX_RESOURCE_CHARS: usize = 500;
const MAX_PURPOSE_CHARS: usize = 1000;
const MAX_USER_AGENT_CHARS: usize = 512;

/// Every column of `access_log`, in the order the queries below bind and read them. A macro, so
/// that the SQL stays a `&'static str` built with `concat!` rather than a runtime string.
macro_rules! columns {
    () => {
        "seq, at, actor_kind, actor_id, actor_role, care_unit, patient, action, resource, \
         purpose, client_ip, user_agent, prev_hash, hash, basis"
    };
}

/// Who accessed the data: staff, or a system job. A patient looking at their own data is not a
/// PDL access and has no kind here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Staff,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Staff => "staff",
            ActorKind::System => "system",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "staff" => Some(ActorKind::Staff),
            "system" => Some(ActorKind::System),
            _ => None,
        }
    }
}

/// What was done to the patient's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
    Export,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Export => "export",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Action::Read),
            "create" => Some(Action::Create),
            "update" => Some(Action::Update),
            "delete" => Some(Action::Delete),
            "export" => Some(Action::Export),
            _ => None,
        }
    }
}

/// The staff member or system job behind an access, and the care unit it happened in (the part a
/// patient sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// Staff id (HSA-id or the hospital IdP's subject), or the job's name.
    pub id: String,
    /// The staff member's role (e.g. `clinician`), or `system` for a job.
    pub role: String,
    pub care_unit: String,
}

impl Actor {
    pub fn staff(
        id: impl Into<String>,
        role: impl Into<String>,
        care_unit: impl Into<String>,
    ) -> Self {
        Self {
            kind: ActorKind::Staff,
            id: id.into(),
            role: role.into(),
            care_unit: care_unit.into(),
        }
    }

    /// A system job, e.g. `Actor::system("retention", "Region Västerbotten")`.
    pub fn system(job: impl Into<String>, care_unit: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::System,
            id: job.into(),
            role: "system".into(),
            care_unit: care_unit.into(),
        }
    }
}

/// One access to record. Time and position in the chain are added by [`append`].
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: Actor,
    pub patient: Personnummer,
    pub action: Action,
    /// What was touched: `account`, `booking:<id>`, ...
    pub resource: String,
    pub purpose: Option<String>,
    /// `None` for system jobs.
    pub client_ip: Option<IpAddr>,
    /// As the client sent it; control characters are blanked and it is cut at 512 characters,
    /// since it is the client's to choose and must not stop the access from being logged.
    pub user_agent: Option<String>,
    /// What allowed the access: a care relationship, an emergency access, a registration or a
    /// system job's duty. Required, so that no access is logged without saying why it was allowed.
    pub basis: Basis,
}

/// A stored entry, as the care provider's follow-up sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor: Actor,
    pub patient: Personnummer,
    pub action: Action,
    pub resource: String,
    pub purpose: Option<String>,
    /// As stored (the canonical text of an address).
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `None` for entries written before the basis was recorded.
    pub basis: Option<Basis>,
    pub prev_hash: String,
    pub hash: String,
}

/// What a patient may see of an access to their data: where and when, and what kind of access;
/// never who, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientViewEntry {
    /// Unix seconds.
    pub at: i64,
    pub care_unit: String,
    pub action: Action,
    /// True when the access was an emergency access (nödåtkomst): staff without a care
    /// relationship opened the data, stating a reason that is followed up.
    pub emergency_access: bool,
}

/// A point in the chain: an entry's (or an anchor's) seq and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPoint {
    pub seq: i64,
    pub hash: String,
}

/// Why the chain is broken at [`Broken::seq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No entry has this seq although later entries exist: deleted (or its seq edited).
    Missing {
        /// The next seq that is present.
        next_present: i64,
    },
    /// The stored hash does not match the entry's contents: a column was edited.
    Edited,
    /// The entry is consistent in itself but does not point at the previous entry's hash: the
    /// previous entry was replaced or rehashed, or entries were reordered.
    Unlinked,
    /// A column cannot be read as its type (e.g. text written into a number column).
    Unreadable,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { next_present } => write!(
                f,
                "entry missing (deleted or renumbered; the next present is {next_present})"
            ),
            Problem::Edited => f.write_str("entry edited (its hash does not match its contents)"),
            Problem::Unlinked => f.write_str(
                "entry does not link to the one before it (that one was replaced, or entries \
                 were reordered)",
            ),
            Problem::Unreadable => f.write_str("entry unreadable (a column has the wrong type)"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken {
    /// The first sequence number at which the chain does not hold.
    pub seq: i64,
    pub problem: Problem,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Where the chain starts: the retention anchor, if the oldest entries have been deleted.
    pub anchor: Option<ChainPoint>,
    /// Entries found intact, in order, before the break (all of them when intact).
    pub intact_entries: u64,
    /// The last intact entry: when the chain is intact, its head. Record it outside the database
    /// to detect a rewritten or truncated tail later.
    pub last_intact: Option<ChainPoint>,
    pub broken: Option<Broken>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

impl fmt::Display for VerifyReport {
    /// One line, for people and scripts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.anchor.as_ref().map_or(1, |a| a.seq + 1);
        let from = match &self.anchor {
            Some(a) => format!(" (after retention anchor seq {})", a.seq),
            None => String::new(),
        };
        match (&self.broken, &self.last_intact) {
            (None, None) => write!(f, "access log intact: no entries{from}"),
            (None, Some(head)) => write!(
                f,
                "access log intact: {} entries, seq {first}..{}{from}, head hash {}",
                self.intact_entries, head.seq, head.hash
            ),
            (Some(b), _) => write!(
                f,
                "access log BROKEN at seq {}: {}; {} entries before it are intact{from}",
                b.seq, b.problem, self.intact_entries
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The entry to append is unusable; says which field, never its value.
    #[error("access-log entry: {field} {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("the clock is outside the range the access log can store")]
    Clock,
    #[error("access log: gave up appending after {0} attempts lost to concurrent appends")]
    Contention(u32),
    /// A stored entry cannot be read back into its type. Names the column, not its value.
    #[error("access-log entry {seq}: the {column} column holds an invalid value")]
    Corrupt { seq: i64, column: &'static str },
    #[error("access log: database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Records one access. Returns the stored entry (with its seq and hash).
///
/// Callers log the access as part of serving it and fail the request if this fails: an access
/// that cannot be documented must not happen.
pub async fn append(db: &Db, clock: &dyn Clock, entry: &NewEntry) -> Result<Entry, AuditError> {
    let fields = Fields::from_new(entry)?;
    // Taken once: a retried append still records when the access happened, so `at` may run a
    // second behind `seq` order under contention (and between nodes' clocks); `seq` is the order.
    let at = i64::try_from(clock.now_unix()).map_err(|_| AuditError::Clock)?;
    for attempt in 0..MAX_APPEND_ATTEMPTS {
        let last = chain_end(db).await?;
        let seq = last.seq + 1;
        let hash = entry_hash(seq, at, &fields.as_ref(), &last.hash);
        let inserted = sqlx::query(concat!(
            "INSERT INTO access_log (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(seq)
        .bind(at)
        .bind(fields.actor_kind)
        .bind(&fields.actor_id)
        .bind(&fields.actor_role)
        .bind(&fields.care_unit)
        .bind(&fields.patient)
        .bind(fields.action)
        .bind(&fields.resource)
        .bind(&fields.purpose)
        .bind(&fields.client_ip)
        .bind(&fields.user_agent)
        .bind(&last.hash)
        .bind(&hash)
        .bind(&fields.basis)
        .execute(db.pool())
        .await;
        match inserted {
            Ok(_) => {
                return Ok(Entry {
                    seq,
                    at,
                    actor: entry.actor.clone(),
                    patient: entry.patient,
                    action: entry.action,
                    resource: fields.resource,
                    purpose: fields.purpose,
                    client_ip: fields.client_ip,
                    user_agent: fields.user_agent,
                    basis: Some(entry.basis.clone()),
                    prev_hash: last.hash,
                    hash,
                });
            }
            Err(e) if lost_race(&e) => {
                // Someone else took this seq. Back off a random, growing little while so that
                // the losers of one round do not all collide again in the next.
                let ceiling_ms = 1u64 << attempt.min(5);
                let pause = rand::random_range(0..=ceiling_ms);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AuditError::Contention(MAX_APPEND_ATTEMPTS))
}

/// Walks the whole chain, [`VERIFY_BATCH`] entries at a time, and reports the first place it
/// does not hold.
pub async fn verify(db: &Db) -> Result<VerifyReport, AuditError> {
    verify_in_batches(db, VERIFY_BATCH).await
}

/// [`verify`] with a chosen batch size (tests use small ones to cross batch boundaries).
pub async fn verify_in_batches(db: &Db, batch: u32) -> Result<VerifyReport, AuditError> {
    let batch = i64::from(batch.max(1));
    let anchor = latest_anchor(db).await?;
    let start = anchor.clone().unwrap_or_else(genesis);
    let mut report = VerifyReport {
        anchor,
        intact_entries: 0,
        last_intact: None,
        broken: None,
    };
    let mut expected = start;
    loop {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM access_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(expected.seq)
        .bind(batch)
        .fetch_all(db.pool())
        .await?;
        let fetched = rows.len();
        for row in &rows {
            // Without a readable seq there is no position to report a finding at, so that one
            // is an error; every other column that does not read is a finding (Unreadable).
            let seq: i64 = row.try_get("seq")?;
            let next = expected.seq + 1;
            let problem = if seq != next {
                Some(Problem::Missing { next_present: seq })
            } else {
                match StoredRow::read(row) {
                    Err(_) => Some(Problem::Unreadable),
                    Ok(stored) => {
                        let recomputed =
                            entry_hash(seq, stored.at, &stored.fields(), &stored.prev_hash);
                        if recomputed != stored.hash {
                            Some(Problem::Edited)
                        } else if stored.prev_hash != expected.hash {
                            Some(Problem::Unlinked)
                        } else {
                            expected = ChainPoint {
                                seq,
                                hash: stored.hash,
                            };
                            None
                        }
                    }
                }
            };
            if let Some(problem) = problem {
                report.broken = Some(Broken { seq: next, problem });
                return Ok(report);
            }
            report.intact_entries += 1;
            report.last_intact = Some(expected.clone());
        }
        if (fetched as i64) < batch {
            return Ok(report);
        }
    }
}

/// The access log's part in export and deletion: the person sees who accessed their data in
/// their export, and the entries outlive their account (patientdatalagen keeps them five years).
#[derive(Debug)]
pub struct AccessLogData;

impl PersonalData for AccessLogData {
    fn section(&self) -> Option<&'static str> {
        Some("access_log")
    }

    fn holdings(&self) -> &'static [Holding] {
        const HOLDINGS: &[Holding] = &[Holding::new(
            "access_log",
            "patient",
            OnDelete::Kept("the PDL access log is kept five years, account or not"),
        )];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        db: &'a Db,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>> {
        Box::pin(async move {
            let entries =
                entries_for_patient(db, &owner.personnummer)
                    .await
                    .map_err(|e| match e {
                        AuditError::Database(e) => PersonalDataError::Database(e),
                        _ => PersonalDataError::Corrupt("access_log"),
                    })?;
            Ok(Some(serde_json::to_value(entries)?))
        })
    }

    fn delete<'a>(
        &'a self,
        _conn: &'a mut AnyConnection,
        _owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>> {
        Box::pin(async { Ok(()) })
    }
}

/// What the patient may see of the accesses to their data, newest first.
pub async fn entries_for_patient(
    db: &Db,
    patient: &Personnummer,
) -> Result<Vec<PatientViewEntry>, AuditError> {
    let rows = sqlx::query(
        "SELECT seq, at, care_unit, action, basis FROM access_log WHERE patient = $1 \
         ORDER BY seq DESC",
    )
    .bind(patient.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get("seq")?;
            let action: String = row.try_get("action")?;
            let basis: Option<String> = row.try_get("basis")?;
            Ok(PatientViewEntry {
                emergency_access: basis
                    .as_deref()
                    .and_then(Basis::from_stored)
                    .is_some_and(|b| b.is_emergency()),
                at: row.try_get("at")?,
                care_unit: row.try_get("care_unit")?,
                action: Action::from_stored(&action).ok_or(AuditError::Corrupt {
                    seq,
                    column: "action",
                })?,
            })
        })
        .collect()
}

/// Entries after `after_seq` in chain order, at most `limit`: the care provider's follow-up of
/// the log reads it page by page with this.
pub async fn entries_after(db: &Db, after_seq: i64, limit: u32) -> Result<Vec<Entry>, AuditError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM access_log WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(entry_from_row).collect()
}

/// The last entry of the chain (or the anchor, or genesis): what the next entry links to.
async fn chain_end(db: &Db) -> Result<ChainPoint, AuditError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(db.pool())
            .await?;
    if let Some((seq, hash)) = last {
        return Ok(ChainPoint { seq, hash });
    }
    Ok(latest_anchor(db).await?.unwrap_or_else(genesis))
}

async fn latest_anchor(db: &Db) -> Result<Option<ChainPoint>, AuditError> {
    let anchor: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM access_log_anchor ORDER BY seq DESC LIMIT 1")
            .fetch_optional(db.pool())
            .await?;
    Ok(anchor.map(|(seq, hash)| ChainPoint { seq, hash }))
}

fn genesis() -> ChainPoint {
    ChainPoint {
        seq: 0,
        hash: GENESIS_HASH.to_owned(),
    }
}

/// A unique violation (another append took the seq), or a transient conflict the database asks
/// us to retry: SQLite's busy codes, PostgreSQL's serialisation failure and deadlock.
fn lost_race(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    if db.is_unique_violation() {
        return true;
    }
    matches!(
        db.code().as_deref(),
        Some("5" | "261" | "517" | "773" | "40001" | "40P01")
    )
}

/// The columns an entry's hash covers besides seq, at and prev_hash, as stored.
struct FieldsRef<'a> {
    actor_kind: &'a str,
    actor_id: &'a str,
    actor_role: &'a str,
    care_unit: &'a str,
    patient: &'a str,
    action: &'a str,
    resource: &'a str,
    purpose: Option<&'a str>,
    client_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    /// Absent only in entries written before the basis was recorded (hashed as v1).
    basis: Option<&'a str>,
}

/// A [`NewEntry`] validated and turned into the text that will be stored (and hashed).
struct Fields {
    actor_kind: &'static str,
    actor_id: String,
    actor_role: String,
    care_unit: String,
    patient: String,
    action: &'static str,
    resource: String,
    purpose: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    basis: Option<String>,
}

impl Fields {
    fn from_new(entry: &NewEntry) -> Result<Self, AuditError> {
        Ok(Self {
            actor_kind: entry.actor.kind.as_str(),
            actor_id: identifier("actor id", &entry.actor.id, MAX_ID_CHARS)?,
            actor_role: identifier("actor role", &entry.actor.role, MAX_ID_CHARS)?,
            care_unit: identifier("care unit", &entry.actor.care_unit, MAX_ID_CHARS)?,
            patient: entry.patient.as_str().to_owned(),
            action: entry.action.as_str(),
            resource: identifier("resource", &entry.resource, MAX_RESOURCE_CHARS)?,
            purpose: match entry.purpose.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(p) if p.chars().count() > MAX_PURPOSE_CHARS => {
                    return Err(AuditError::Invalid {
                        field: "purpose",
                        reason: "is longer than 1000 characters",
                    });
                }
                Some(p) => Some(blank_controls(p)),
            },
            client_ip: entry.client_ip.map(|ip| ip.to_canonical().to_string()),
            user_agent: entry
                .user_agent
                .as_deref()
                .map(|ua| blank_controls(ua.trim()))
                .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>())
                .filter(|ua| !ua.is_empty()),
            basis: Some(identifier(
                "basis",
                &entry.basis.to_stored(),
                MAX_RESOURCE_CHARS,
            )?),
        })
    }

    fn as_ref(&self) -> FieldsRef<'_> {
        FieldsRef {
            actor_kind: self.actor_kind,
            actor_id: &self.actor_id,
            actor_role: &self.actor_role,
            care_unit: &self.care_unit,
            patient: &self.patient,
            action: self.action,
            resource: &self.resource,
            purpose: self.purpose.as_deref(),
            client_ip: self.client_ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            basis: self.basis.as_deref(),
        }
    }
}

/// Ids, roles, care units and resources: set by our own code, so a bad one is a bug to refuse
/// rather than to tidy up.
fn identifier(field: &'static str, value: &str, max_chars: usize) -> Result<String, AuditError> {
    if value.trim().is_empty() {
        return Err(AuditError::Invalid {
            field,
            reason: "is empty",
        });
    }
    if value.chars().count() > max_chars {
        return Err(AuditError::Invalid {
            field,
            reason: "is too long",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(AuditError::Invalid {
            field,
            reason: "contains control characters",
        });
    }
    Ok(value.to_owned())
}

/// Free text keeps its words but loses control characters (PostgreSQL refuses NUL in text, and
/// log viewers should not be steered by escape sequences).
fn blank_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A row as stored, every column as text or number, for hashing.
struct StoredRow {
    at: i64,
    actor_kind: String,
    actor_id: String,
    actor_role: String,
    care_unit: String,
    patient: String,
    action: String,
    resource: String,
    purpose: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    basis: Option<String>,
    prev_hash: String,
    hash: String,
}

impl StoredRow {
    /// Reads every column, or names the first that does not decode as its type.
    fn read(row: &AnyRow) -> Result<Self, &'static str> {
        fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, &'static str>
        where
            T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
        {
            row.try_get(column).map_err(|_| column)
        }
        Ok(Self {
            at: get(row, "at")?,
            actor_kind: get(row, "actor_kind")?,
            actor_id: get(row, "actor_id")?,
            actor_role: get(row, "actor_role")?,
            care_unit: get(row, "care_unit")?,
            patient: get(row, "patient")?,
            action: get(row, "action")?,
            resource: get(row, "resource")?,
            purpose: get(row, "purpose")?,
            client_ip: get(row, "client_ip")?,
            user_agent: get(row, "user_agent")?,
            basis: get(row, "basis")?,
            prev_hash: get(row, "prev_hash")?,
            hash: get(row, "hash")?,
        })
    }

    fn fields(&self) -> FieldsRef<'_> {
        FieldsRef {
            actor_kind: &self.actor_kind,
            actor_id: &self.actor_id,
            actor_role: &self.actor_role,
            care_unit: &self.care_unit,
            patient: &self.patient,
            action: &self.action,
            resource: &self.resource,
            purpose: self.purpose.as_deref(),
            client_ip: self.client_ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            basis: self.basis.as_deref(),
        }
    }
}

fn entry_from_row(row: &AnyRow) -> Result<Entry, AuditError> {
    let seq: i64 = row.try_get("seq")?;
    let corrupt = |column| AuditError::Corrupt { seq, column };
    let stored = StoredRow::read(row).map_err(corrupt)?;
    Ok(Entry {
        seq,
        at: stored.at,
        actor: Actor {
            kind: ActorKind::from_stored(&stored.actor_kind).ok_or(corrupt("actor_kind"))?,
            id: stored.actor_id,
            role: stored.actor_role,
            care_unit: stored.care_unit,
        },
        patient: Personnummer::from_canonical(&stored.patient).map_err(|_| corrupt("patient"))?,
        action: Action::from_stored(&stored.action).ok_or(corrupt("action"))?,
        resource: stored.resource,
        purpose: stored.purpose,
        client_ip: stored.client_ip,
        user_agent: stored.user_agent,
        basis: match stored.basis.as_deref() {
            None => None,
            Some(b) => Some(Basis::from_stored(b).ok_or(corrupt("basis"))?),
        },
        prev_hash: stored.prev_hash,
        hash: stored.hash,
    })
}

/// The entry's hash, lowercase hex: SHA-256 over the canonical encoding described in the module
/// documentation. The field order here is the format; changing it means a new domain tag.
fn entry_hash(seq: i64, at: i64, f: &FieldsRef<'_>, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(if f.basis.is_some() {
        DOMAIN_TAG_V2
    } else {
        DOMAIN_TAG
    });
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    for text in [
        f.actor_kind,
        f.actor_id,
        f.actor_role,
        f.care_unit,
        f.patient,
        f.action,
        f.resource,
    ] {
        put_text(&mut h, text);
    }
    for optional in [f.purpose, f.client_ip, f.user_agent] {
        match optional {
            None => h.update([0u8]),
            Some(text) => {
                h.update([1u8]);
                put_text(&mut h, text);
            }
        }
    }
    if let Some(basis) = f.basis {
        put_text(&mut h, basis);
    }
    put_text(&mut h, prev_hash);
    hex(&h.finalize())
}

fn put_text(h: &mut Sha256, text: &str) {
    // usize always fits in u64 on the platforms we build for.
    h.update((text.len() as u64).to_be_bytes());
    h.update(text.as_bytes());
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(actor_id: &'a str, care_unit: &'a str) -> FieldsRef<'a> {
        FieldsRef {
            actor_kind: "staff",
            actor_id,
            actor_role: "clinician",
            care_unit,
            patient: "189001019802",
            action: "read",
            resource: "account",
            purpose: None,
            client_ip: None,
            user_agent: None,
            basis: None,
        }
    }

    #[test]
    fn field_boundaries_are_part_of_the_hash() {
        // Plain concatenation would make these two entries the same text.
        let a = entry_hash(1, 0, &fields("ab", "c"), GENESIS_HASH);
        let b = entry_hash(1, 0, &fields("a", "bc"), GENESIS_HASH);
        assert_ne!(a, b);
    }

    #[test]
    fn an_absent_optional_differs_from_an_empty_one() {
        let absent = fields("s1", "u1");
        let mut empty = fields("s1", "u1");
        empty.purpose = Some("");
        assert_ne!(
            entry_hash(1, 0, &absent, GENESIS_HASH),
            entry_hash(1, 0, &empty, GENESIS_HASH)
        );
    }

    #[test]
    fn the_hash_is_lowercase_hex_sha256_and_stable() {
        let h = entry_hash(1, 1_800_000_000, &fields("s1", "u1"), GENESIS_HASH);
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(
            h,
            entry_hash(1, 1_800_000_000, &fields("s1", "u1"), GENESIS_HASH)
        );
        assert_eq!(hex(&[0x00, 0x7f, 0xff]), "007fff");
    }

    #[test]
    fn the_encoding_is_the_documented_one() {
        // Computed independently (Python's hashlib over the encoding in the module docs). If this
        // changes, every stored chain stops verifying: a new encoding needs a new domain tag.
        let mut f = fields("s1", "u1");
        f.client_ip = Some("192.0.2.1");
        assert_eq!(
            entry_hash(1, 1_800_000_000, &f, GENESIS_HASH),
            "2b43ffe68db04877646cbf231d8cfafcdc3bd6f34428e9d39e9364353873a4d4"
        );
    }

    #[test]
    fn an_entry_with_a_basis_has_the_documented_v2_encoding() {
        // Computed independently (Python's hashlib): the v2 tag, the v1 fields, then the basis.
        let mut f = fields("s1", "u1");
        f.client_ip = Some("192.0.2.1");
        f.basis = Some("booking:b1");
        let v2 = entry_hash(1, 1_800_000_000, &f, GENESIS_HASH);
        assert_eq!(
            v2,
            "cd3fedb86e4f5bbbf683b5a0b552c6c0cada6a3fb845ed0ea92d6b33a11f71af"
        );
        // Removing the basis afterwards does not give back a hash that verifies.
        f.basis = None;
        assert_ne!(entry_hash(1, 1_800_000_000, &f, GENESIS_HASH), v2);
    }

    #[test]
    fn identifiers_are_refused_without_echoing_them() {
        let err = identifier("actor id", "bad\u{0}id", MAX_ID_CHARS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "access-log entry: actor id contains control characters"
        );
        assert!(identifier("care unit", "  ", MAX_ID_CHARS).is_err());
        assert!(identifier("resource", &"x".repeat(501), MAX_RESOURCE_CHARS).is_err());
        assert_eq!(
            identifier("resource", "booking:42", MAX_RESOURCE_CHARS).unwrap(),
            "booking:42"
        );
    }
}
