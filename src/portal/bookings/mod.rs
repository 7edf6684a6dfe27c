//! Bookings: the slots care units publish, patients' bookings of them (made by the patient, a
//! guardian acting for a child, or staff), the video room a digital booking owns and who may
//! join it when, and digital drop-in queues. Domain and storage only; the HTTP API sits on top.
//!
//! ```text
//!   staff ──publish_slot()──▶ booking_slots ─┬─ booking_slot_clinicians (1..n staff ids)
//!                                            │  capacity, booked (the race-safe counter)
//!   patient / guardian ──book()──────────────┤
//!   staff ──book_in()────────────────────────▼
//!                                        bookings ── room: visit-<booking> | group-<slot>
//!   reschedule / move ── same row, same id, another slot     │
//!   cancel / mark_done / mark_no_show ── status + ended_at   │ join(): window + Grant
//!                                                            ▼
//!   staff ──open_queue()──▶ dropin_queues ◀──join_queue()── patient (ticket, place)
//!   clinician ──take_next()──▶ a digital slot + booking starting now + booking_notices(your_turn)
//! ```
//!
//! **Data model.** A *slot* ([`Slot`]) is a bookable time of one care unit: physical (with a
//! place) or digital (video), single (capacity 1) or group (capacity ≥ 2), with one or more
//! clinicians (staff ids, as [`crate::portal::staff`] keeps them). A *booking* ([`Booking`])
//! is one patient's place in a slot: it refers to the patient's account (accounts.id) and holds
//! what the seeds say a booking holds: the patient's name and contact details (copied from the
//! account when booked), date, time, place or digital, care unit and, through the slot, the
//! clinicians. Its id is random and opaque, never changes (a reschedule moves the booking to
//! another slot), and is the join token's `booking` claim. Rows of bookings, drop-in entries
//! and notices are deleted with the account (`ON DELETE CASCADE`); [`Bookings::forget_account`]
//! first gives the patient's places back to their slots.
//!
//! **Time.** Instants are stored as Unix seconds (UTC); they are entered and shown as
//! Europe/Stockholm wall-clock time ([`time`]): a local time in the spring-forward gap is
//! refused, one in the fall-back fold means its first occurrence. The clock is injected.
//!
//! **Capacity under races.** Taking a place is `UPDATE booking_slots SET booked = booked + 1
//! WHERE id = ? AND booked < capacity`, the first statement of the booking's transaction. Both
//! SQLite (one writer at a time) and PostgreSQL (the row lock, and the condition re-checked on
//! the newest row version) let exactly as many such updates succeed as there are places; the
//! loser's transaction changes nothing. A partial unique index on (slot, account) among
//! bookings not ended refuses the same patient twice, also when two tabs race; and two tabs
//! booking two *different* slots at overlapping times are serialised by a no-op update of the
//! patient's account row, the first statement of the transaction, before the overlap check. Statements that
//! touch a slot and a booking always take the slot first, and two slots in id order, so
//! PostgreSQL never deadlocks on them.
//!
//! **Ended.** A booking ends as `done`, `cancelled` or `no_show`; `ended_at` and who ended it
//! are recorded, since retention counts from then. Cancelling gives the place back.
//!
//! **Video.** A digital single booking's room is `visit-<booking id>`; all bookings of a
//! digital group slot share `group-<slot id>`, each patient with their own booking.
//! [`Bookings::join`] decides whether a person may join *now* (the booking's patient, a
//! guardian acting for them, or a clinician of its slot): from
//! [`BookingPolicy::join_opens_minutes_before`] before the start until the booking ends or
//! [`BookingPolicy::join_closes_minutes_after`] after its end, and returns a
//! [`JoinPermit`]: the `vardrum_signalling` [`Grant`](vardrum_signalling::token::Grant) and a
//! lifetime of at most [`BookingPolicy::join_token_max_secs`], for the signalling crate's
//! `TokenIssuer` to mint.
//!
//! **Drop-in.** A care unit opens a queue for a time window; patients join it and see their
//! place; a clinician takes the next, which in one transaction creates a digital single slot
//! starting now with a booking in it (so its room) and a `your_turn` row in `booking_notices`.
//! That table is the hook for the notifications outbox (a later slice): nothing is sent here.
//!
//! **Who may.** Patient operations take the session's [`ActingAs`] and act on its subject's
//! account; staff operations take [`StaffAccess`] and act in its active care unit. Touching
//! patients' bookings needs the clinician role, and writes one PDL access-log entry per patient
//! and operation before the data is shown or changed. Every refusal is its own
//! [`BookingError`] and changes nothing.

mod booking;
mod dropin;
mod error;
mod join;
mod lens;
mod slots;
pub mod time;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::portal::accounts::StaffAccess;
use crate::portal::accounts::contact::{EmailAddress, PhoneNumber};
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::audit::{Action, ActorKind, Basis};
use crate::portal::care;
use crate::portal::identity::personnummer::Personnummer;

pub use booking::{BookedBy, Booking, BookingStatus, CalendarSlot, EndedBy, PatientDetails};
pub use dropin::{NewQueue, Queue, QueuePlace, QueueState, Taken, YourTurn};
pub use error::BookingError;
pub use join::{JoinPermit, Joiner};
pub use lens::PatientLens;
pub use slots::{NewSlot, Slot, SlotKind, SlotMode, SlotOrigin};
pub use time::{LocalTime, TimeError};

/// The access-log resource of a booking: `booking:<id>`.
pub fn resource(booking_id: &str) -> String {
    format!("booking:{booking_id}")
}

/// The region's rules for bookings: the `[bookings]` section of the region file, every key
/// optional (`RegionConfig::validate` holds them within bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingPolicy {
    /// Join opens this many minutes before the start.
    pub join_opens_minutes_before: u32,
    /// Join closes this many minutes after the end (or when the booking ends, if earlier).
    pub join_closes_minutes_after: u32,
    /// The longest a join token minted from a booking is valid, in seconds.
    pub join_token_max_secs: u64,
    /// The most patients a group slot takes (the group room also holds its clinicians; the
    /// server's `rooms.max_group_participants` is 40 by default).
    pub max_group_capacity: u32,
    /// The longest a slot may last, in minutes.
    pub max_slot_minutes: u32,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        Self {
            join_opens_minutes_before: 10,
            join_closes_minutes_after: 30,
            join_token_max_secs: 600,
            max_group_capacity: 30,
            max_slot_minutes: 8 * 60,
        }
    }
}

/// The bookings of one region's portal: database, clock and policy, shared by every request.
#[derive(Clone)]
pub struct Bookings {
    db: Db,
    clock: Arc<dyn Clock>,
    policy: BookingPolicy,
}

impl fmt::Debug for Bookings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bookings")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The account a patient operation acts on, with what a booking copies from it.
struct PatientRecord {
    account_id: String,
    given_name: String,
    family_name: String,
    mobile: Option<String>,
    email: Option<String>,
}

impl Bookings {
    pub fn new(db: Db, clock: Arc<dyn Clock>, policy: BookingPolicy) -> Self {
        Self { db, clock, policy }
    }

    pub fn policy(&self) -> &BookingPolicy {
        &self.policy
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }

    /// The account of a patient (by personnummer), or [`BookingError::NoAccount`].
    async fn patient(&self, personnummer: &Personnummer) -> Result<PatientRecord, BookingError> {
        let row = sqlx::query(
            "SELECT id, given_name, family_name, mobile, email FROM accounts \
             WHERE personnummer = $1",
        )
        .bind(personnummer.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(BookingError::NoAccount)?;
        Ok(PatientRecord {
            account_id: row.try_get("id")?,
            given_name: row.try_get("given_name")?,
            family_name: row.try_get("family_name")?,
            mobile: row.try_get("mobile")?,
            email: row.try_get("email")?,
        })
    }

    /// One PDL access-log entry for a staff access to a patient's booking. The booking is the
    /// care relationship: every staff operation here first finds it in the active care unit.
    async fn log(
        &self,
        staff: &StaffAccess,
        patient: &Personnummer,
        action: Action,
        booking_id: &str,
    ) -> Result<(), BookingError> {
        care::log(
            &self.db,
            self.clock.as_ref(),
            staff,
            patient,
            action,
            &resource(booking_id),
            None,
            Basis::Booking(booking_id.to_owned()),
        )
        .await?;
        Ok(())
    }

    /// Forgets a patient's bookings before their account is deleted, in the deletion's
    /// transaction: gives the places of bookings not ended back to their slots, then deletes
    /// the account's notices, drop-in entries and bookings. (The foreign keys cascade too, but a
    /// cascade alone would leave the places counted as taken.)
    pub async fn forget_account(
        conn: &mut sqlx::AnyConnection,
        account_id: &str,
    ) -> Result<(), BookingError> {
        sqlx::query(
            "UPDATE booking_slots SET booked = booked - 1 WHERE id IN \
             (SELECT slot_id FROM bookings WHERE account_id = $1 AND ended_at IS NULL)",
        )
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
        for table in ["booking_notices", "dropin_entries", "bookings"] {
            // The table names are ours, from the list above, not input.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE account_id = $1"
            )))
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// What bookings hold about one account, for "export my data": its bookings, its drop-in queue
/// entries and the notices left for it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnBookings {
    pub bookings: Vec<Booking>,
    pub dropin_entries: Vec<OwnDropinEntry>,
    pub notices: Vec<OwnNotice>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnDropinEntry {
    pub queue_id: String,
    pub ticket: i64,
    /// `waiting`, `taken` or `left`.
    pub state: String,
    pub joined_at: i64,
    pub ended_at: Option<i64>,
    pub booking_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnNotice {
    pub booking_id: String,
    /// `your_turn`.
    pub kind: String,
    pub created_at: i64,
    pub picked_at: Option<i64>,
}

/// Everything bookings hold about the account (see [`OwnBookings`]); with
/// [`Bookings::forget_account`], what the personal-data interface needs.
pub async fn own_data(db: &Db, account_id: &str) -> Result<OwnBookings, BookingError> {
    // Reads only: the clock and policy play no part.
    let bookings = Bookings::new(db.clone(), Arc::new(SystemClock), BookingPolicy::default());
    // The export knows no region: clinicians appear by initials, as the stricter regions show
    // them to patients.
    let strict = PatientLens::new(&crate::portal::region::VideoPolicy {
        patients_see_staff_names_in_visits: false,
        patients_see_staff_names_in_groups: false,
        ..Default::default()
    });
    let bookings = strict.bookings(bookings.bookings_of_account(account_id).await?);
    type EntryRow = (String, i64, String, i64, Option<i64>, Option<String>);
    let entries: Vec<EntryRow> = sqlx::query_as(
        "SELECT queue_id, ticket, state, joined_at, ended_at, booking_id FROM dropin_entries \
         WHERE account_id = $1 ORDER BY joined_at, id",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    let notices: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT booking_id, kind, created_at, picked_at FROM booking_notices \
         WHERE account_id = $1 ORDER BY created_at, id",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    Ok(OwnBookings {
        bookings,
        dropin_entries: entries
            .into_iter()
            .map(
                |(queue_id, ticket, state, joined_at, ended_at, booking_id)| OwnDropinEntry {
                    queue_id,
                    ticket,
                    state,
                    joined_at,
                    ended_at,
                    booking_id,
                },
            )
            .collect(),
        notices: notices
            .into_iter()
            .map(|(booking_id, kind, created_at, picked_at)| OwnNotice {
                booking_id,
                kind,
                created_at,
                picked_at,
            })
            .collect(),
    })
}

/// Staff touching patients' bookings must be clinicians, acting as staff.
fn require_clinician(staff: &StaffAccess) -> Result<(), BookingError> {
    if staff.actor.kind == ActorKind::Staff && staff.actor.role == "clinician" {
        Ok(())
    } else {
        Err(BookingError::NotClinician)
    }
}

/// Who did a patient-side action: the patient, or a guardian acting for them.
fn patient_side(acting: &ActingAs) -> BookedBy {
    if acting.is_proxy() {
        BookedBy::Guardian
    } else {
        BookedBy::Patient
    }
}

fn stored_mobile(s: Option<String>) -> Result<Option<PhoneNumber>, BookingError> {
    s.map(|s| PhoneNumber::from_stored(&s).ok_or(BookingError::Corrupt("mobile")))
        .transpose()
}

fn stored_email(s: Option<String>) -> Result<Option<EmailAddress>, BookingError> {
    s.map(|s| EmailAddress::from_stored(&s).ok_or(BookingError::Corrupt("email")))
        .transpose()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
