//! Personal data, capability by capability: the one interface, [`PersonalData`], through which
//! "export my data" and "delete my account" reach every table that holds something of a
//! person, and the one list, [`REGISTRY`], of every capability that implements it.
//!
//! ```text
//!   GET /me/export ──▶ export() ──┐                       ┌─▶ accounts   (accounts, settings)
//!   DELETE /me ──────▶ delete() ──┴─▶ for each in REGISTRY ├─▶ events     (account_events)
//!                                                         ├─▶ policy     (policy_decisions)
//!                                                         ├─▶ sessions   (sessions)
//!                                                         ├─▶ bookings   (bookings, drop-in)
//!                                                         └─▶ access log (kept: PDL, 5 years)
//! ```
//!
//! Each implementation declares the columns through which its tables refer to a person
//! ([`Holding`]) and what deletion does with each: deleted by its own statement, removed by the
//! database's `ON DELETE CASCADE` from `accounts`, or kept on purpose with the reason.
//! `schema_references` reads the live schema (SQLite or PostgreSQL), and the test in
//! `tests/accounts.rs` fails when a table refers to an account (a foreign key to `accounts`, an
//! `account_id` column, or one of the identity columns in [`IDENTITY_COLUMNS`]) that no
//! registered implementation declares, or when a declared cascade is not one. A capability that
//! adds such a table therefore adds itself here, and cannot be forgotten by either path.
//!
//! Deletion runs in one transaction, in registry order, the account row last; export reads each
//! section outside any transaction (it is a snapshot for the person, not an invariant).

use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::AnyConnection;

use crate::db::{Backend, Db};
use crate::portal::bookings::{self, BookingError, Bookings};
use crate::portal::identity::personnummer::Personnummer;

/// Identifies the export format, so a later change of it can be told apart.
pub const EXPORT_FORMAT: &str = "vardrum/own-data/v1";

/// Columns that hold a person's identity (a personnummer, or an account or staff id whose kind
/// another column says) without a foreign key to `accounts`. Together with foreign keys to
/// `accounts` and columns named `account_id`, these are what the schema check looks for.
pub const IDENTITY_COLUMNS: &[&str] = &[
    "personnummer",
    "actor_personnummer",
    "patient",
    "principal",
    "acting_for",
];

/// The person whose data is exported or deleted: their account and its personnummer.
#[derive(Debug, Clone)]
pub struct Owner {
    pub account_id: String,
    pub personnummer: Personnummer,
}

/// What deleting the account does with a column's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The implementation's [`PersonalData::delete`] removes them.
    Deleted,
    /// A foreign key to `accounts` with `ON DELETE CASCADE` removes them with the account row
    /// (the schema check verifies that the key is one).
    Cascades,
    /// Kept on purpose; the text says why (and `docs/privacy.md` says it to people).
    Kept(&'static str),
}

/// A column through which a table refers to a person, and what deletion does with its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    pub table: &'static str,
    pub column: &'static str,
    pub on_delete: OnDelete,
}

impl Holding {
    pub const fn new(table: &'static str, column: &'static str, on_delete: OnDelete) -> Self {
        Self {
            table,
            column,
            on_delete,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    /// A stored value does not read back as its type. Names the column, never the value.
    #[error("stored personal data is corrupt: column {0}")]
    Corrupt(&'static str),
    /// A section could not be turned into JSON.
    #[error("personal data export: {0}")]
    Export(#[from] serde_json::Error),
    #[error("personal data: database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A capability that keeps personal data.
pub trait PersonalData: Send + Sync {
    /// Where its export goes in the download (`"account"`, `"events"`, ...), or `None` when
    /// there is nothing to show the person (login state).
    fn section(&self) -> Option<&'static str>;

    /// Every column through which its tables refer to a person.
    fn holdings(&self) -> &'static [Holding];

    /// The owner's data, for the download (`None` when [`Self::section`] is).
    fn export<'a>(
        &'a self,
        db: &'a Db,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>>;

    /// Removes the owner's rows that [`Self::holdings`] marks [`OnDelete::Deleted`], inside the
    /// deletion's transaction. Writes only: a read first would make SQLite upgrade its lock
    /// later, which fails under concurrent writers.
    fn delete<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>>;
}

/// Every capability that keeps personal data, in deletion order: rows that refer to the
/// account before the account itself.
pub static REGISTRY: &[&dyn PersonalData] = &[
    &crate::portal::identity::sessions::SessionData,
    &crate::portal::accounts::events::EventData,
    &crate::portal::region::policy::DecisionData,
    &crate::portal::audit::AccessLogData,
    &crate::portal::care::EmergencyAccessData,
    &crate::portal::notifications::NotificationData,
    &BookingData,
    &crate::portal::messages::MessageData,
    &crate::portal::accounts::AccountData,
];

/// Everything the portal holds about the owner, for them to download (GDPR articles 15 and 20):
/// the format, the time, and one section per capability.
#[derive(Debug, Clone, Serialize)]
pub struct OwnData {
    pub format: &'static str,
    /// Unix seconds.
    pub exported_at: i64,
    #[serde(flatten)]
    pub sections: serde_json::Map<String, serde_json::Value>,
}

/// Collects every registered capability's section.
pub async fn export(db: &Db, owner: &Owner, now: i64) -> Result<OwnData, PersonalDataError> {
    let mut sections = serde_json::Map::new();
    for capability in REGISTRY {
        if let (Some(name), Some(value)) =
            (capability.section(), capability.export(db, owner).await?)
        {
            sections.insert(name.to_owned(), value);
        }
    }
    Ok(OwnData {
        format: EXPORT_FORMAT,
        exported_at: now,
        sections,
    })
}

/// Removes what every registered capability holds of the owner, in registry order, inside the
/// caller's transaction.
pub async fn delete(conn: &mut AnyConnection, owner: &Owner) -> Result<(), PersonalDataError> {
    for capability in REGISTRY {
        capability.delete(conn, owner).await?;
    }
    Ok(())
}

/// A column of the live schema that refers to a person.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SchemaReference {
    pub table: String,
    pub column: String,
    /// A foreign key to `accounts` with `ON DELETE CASCADE`.
    pub cascades: bool,
}

/// Every column of the schema that refers to a person: foreign keys to `accounts`, columns named
/// `account_id`, and [`IDENTITY_COLUMNS`] (outside `accounts` itself only for foreign keys and
/// `account_id`; its own `personnummer` is the account's, declared by the accounts capability).
pub async fn schema_references(db: &Db) -> Result<Vec<SchemaReference>, sqlx::Error> {
    let (columns_sql, keys_sql) = match db.backend() {
        Backend::Sqlite => (
            "SELECT m.name, c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
            "SELECT m.name, k.\"from\", k.\"table\", k.on_delete FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) k WHERE m.type = 'table'",
        ),
        Backend::Postgres => (
            "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            "SELECT CAST(k.table_name AS TEXT), CAST(k.column_name AS TEXT), \
             CAST(u.table_name AS TEXT), CAST(r.delete_rule AS TEXT) \
             FROM information_schema.referential_constraints r \
             JOIN information_schema.key_column_usage k \
               ON k.constraint_name = r.constraint_name \
              AND k.constraint_schema = r.constraint_schema \
             JOIN information_schema.constraint_column_usage u \
               ON u.constraint_name = r.constraint_name \
              AND u.constraint_schema = r.constraint_schema \
             WHERE r.constraint_schema = current_schema()",
        ),
    };
    let columns: Vec<(String, String)> = sqlx::query_as(columns_sql).fetch_all(db.pool()).await?;
    let keys: Vec<(String, String, String, String)> =
        sqlx::query_as(keys_sql).fetch_all(db.pool()).await?;
    let mut found: Vec<SchemaReference> = Vec::new();
    for (table, column, target, on_delete) in &keys {
        if target == "accounts" {
            found.push(SchemaReference {
                table: table.clone(),
                column: column.clone(),
                cascades: on_delete.eq_ignore_ascii_case("CASCADE"),
            });
        }
    }
    for (table, column) in columns {
        let named = column == "account_id" || IDENTITY_COLUMNS.contains(&column.as_str());
        if named && !found.iter().any(|r| r.table == table && r.column == column) {
            found.push(SchemaReference {
                table,
                column,
                cascades: false,
            });
        }
    }
    found.sort();
    Ok(found)
}

/// Runs one statement per table, binding the owner's account id: the common shape of
/// [`PersonalData::delete`]. The SQL is the implementation's own text, not input.
pub async fn delete_by_account(
    conn: &mut AnyConnection,
    sql: &'static str,
    owner: &Owner,
) -> Result<(), PersonalDataError> {
    sqlx::query(sql)
        .bind(owner.account_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Bookings' part in export and deletion, through the bookings module's public API. It lives
/// here only until `portal::bookings` (written beside this change) answers the interface
/// itself; then this adapter goes and the registry names that module's implementation.
#[derive(Debug)]
pub struct BookingData;

impl PersonalData for BookingData {
    fn section(&self) -> Option<&'static str> {
        Some("bookings")
    }

    fn holdings(&self) -> &'static [Holding] {
        // `Bookings::forget_account` gives not-ended places back to their slots and deletes
        // these (the keys cascade too, but a cascade alone would leave the places taken).
        const HOLDINGS: &[Holding] = &[
            Holding::new("bookings", "account_id", OnDelete::Deleted),
            Holding::new("dropin_entries", "account_id", OnDelete::Deleted),
            Holding::new("booking_notices", "account_id", OnDelete::Deleted),
        ];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        db: &'a Db,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>> {
        Box::pin(async move {
            let own = bookings::own_data(db, &owner.account_id)
                .await
                .map_err(booking_error)?;
            Ok(Some(serde_json::to_value(own)?))
        })
    }

    fn delete<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>> {
        Box::pin(async move {
            Bookings::forget_account(conn, &owner.account_id)
                .await
                .map_err(booking_error)
        })
    }
}

fn booking_error(e: BookingError) -> PersonalDataError {
    match e {
        BookingError::Database(e) => PersonalDataError::Database(e),
        _ => PersonalDataError::Corrupt("bookings"),
    }
}
