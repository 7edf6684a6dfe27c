//! Bookings of slots: made, rescheduled and cancelled by the patient (or a guardian acting for
//! a child), booked in, moved, cancelled and ended by clinicians of the care unit, and listed
//! for the patient and in the unit's calendar.

use std::fmt;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::portal::accounts::StaffAccess;
use crate::portal::accounts::contact::{EmailAddress, PhoneNumber};
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::audit::Action;
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::notifications;

use super::error::is_unique_violation;
use super::slots::{SLOT_COLUMNS, Slot, SlotKind, SlotMode, check_range};
use super::time::{self, LocalTime};
use super::{
    BookingError, Bookings, PatientRecord, new_id, patient_side, require_clinician, stored_email,
    stored_mobile,
};

/// Where a booking stands. Anything but `Booked` is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Booked,
    /// The visit took place.
    Done,
    Cancelled,
    /// The patient did not come.
    NoShow,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Booked => "booked",
            BookingStatus::Done => "done",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::NoShow => "no_show",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "booked" => Some(BookingStatus::Booked),
            "done" => Some(BookingStatus::Done),
            "cancelled" => Some(BookingStatus::Cancelled),
            "no_show" => Some(BookingStatus::NoShow),
            _ => None,
        }
    }
}

/// Who made the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookedBy {
    Patient,
    /// A guardian acting for the child.
    Guardian,
    /// A clinician booked the patient in (their id is in `booked_by_staff`).
    Staff,
}

impl BookedBy {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            BookedBy::Patient => "patient",
            BookedBy::Guardian => "guardian",
            BookedBy::Staff => "staff",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(BookedBy::Patient),
            "guardian" => Some(BookedBy::Guardian),
            "staff" => Some(BookedBy::Staff),
            _ => None,
        }
    }

    fn ended_by(self) -> EndedBy {
        match self {
            BookedBy::Patient => EndedBy::Patient,
            BookedBy::Guardian => EndedBy::Guardian,
            BookedBy::Staff => EndedBy::Staff,
        }
    }
}

/// Who ended the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    Patient,
    Guardian,
    /// A clinician (their id is in `ended_by_staff`).
    Staff,
    /// A job (e.g. the call closing a visit), when one is wired.
    System,
}

impl EndedBy {
    fn as_str(self) -> &'static str {
        match self {
            EndedBy::Patient => "patient",
            EndedBy::Guardian => "guardian",
            EndedBy::Staff => "staff",
            EndedBy::System => "system",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(EndedBy::Patient),
            "guardian" => Some(EndedBy::Guardian),
            "staff" => Some(EndedBy::Staff),
            "system" => Some(EndedBy::System),
            _ => None,
        }
    }
}

/// The patient as the booking holds them: copied from the account when booked.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PatientDetails {
    pub account_id: String,
    pub personnummer: Personnummer,
    pub given_name: String,
    pub family_name: String,
    pub mobile: Option<PhoneNumber>,
    pub email: Option<EmailAddress>,
}

impl fmt::Debug for PatientDetails {
    /// Nothing personal: `Debug` output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientDetails")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// One patient's booking of a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Booking {
    /// Opaque and stable: the same after a reschedule.
    pub id: String,
    pub slot_id: String,
    pub care_unit: String,
    pub kind: SlotKind,
    pub place: Option<String>,
    pub mode: SlotMode,
    /// Unix seconds, and the same on a Stockholm wall clock.
    pub starts_at: i64,
    pub ends_at: i64,
    pub starts: LocalTime,
    pub ends: LocalTime,
    /// Staff ids of the slot's clinicians.
    pub clinicians: Vec<String>,
    /// Their names ("Anna Läkarsson"), in the order of `clinicians`. Patients get an empty list
    /// where the region does not show patients staff names ([`PatientLens`](super::PatientLens)).
    pub clinician_names: Vec<String>,
    pub patient: PatientDetails,
    /// The video room of a digital booking.
    pub room: Option<String>,
    pub status: BookingStatus,
    pub booked_by: BookedBy,
    pub booked_by_staff: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When and by whom it ended (done, cancelled, no-show): retention counts from here.
    pub ended_at: Option<i64>,
    pub ended_by: Option<EndedBy>,
    pub ended_by_staff: Option<String>,
}

impl Booking {
    pub fn is_ended(&self) -> bool {
        self.status != BookingStatus::Booked
    }
}

/// A slot of the unit's calendar with its bookings (ended ones included, with their status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarSlot {
    pub slot: Slot,
    pub bookings: Vec<Booking>,
}

/// The video room a booking in this slot owns: one per single digital booking, one per group
/// slot shared by its bookings, none for physical visits.
pub(super) fn room_for(slot: &Slot, booking_id: &str) -> Option<String> {
    match (slot.kind, slot.mode) {
        (SlotKind::Physical, _) => None,
        (SlotKind::Digital, SlotMode::Single) => Some(format!("visit-{booking_id}")),
        (SlotKind::Digital, SlotMode::Group) => Some(format!("group-{}", slot.id)),
    }
}

const BOOKING_SELECT: &str = "SELECT b.id, b.slot_id, b.care_unit, b.account_id, \
     a.personnummer, b.given_name, b.family_name, b.mobile, b.email, b.room, b.booked_by, \
     b.booked_by_staff, b.created_at, b.updated_at, b.status, b.ended_at, b.ended_by, \
     b.ended_by_staff, s.kind, s.place, s.mode, s.starts_at, s.ends_at \
     FROM bookings b JOIN booking_slots s ON s.id = b.slot_id \
     JOIN accounts a ON a.id = b.account_id ";

/// How a booking ends.
#[derive(Clone, Copy)]
enum Ending {
    Cancel,
    Done,
    NoShow,
}

impl Bookings {
    // ----- the patient's side (the session's ActingAs: themself, or a guardian for a child)

    /// The patient (or their guardian) books a place in a slot.
    pub async fn book(&self, acting: &ActingAs, slot_id: &str) -> Result<Booking, BookingError> {
        let patient = self.patient(acting.subject()).await?;
        let slot = self.bookable_slot(slot_id).await?;
        // A guardian's booking for a child notifies the guardian (notifications/mod.rs says why).
        let guardian = acting.is_proxy().then(|| acting.actor());
        self.create(
            &patient,
            &slot,
            patient_side(acting),
            None,
            guardian,
            &new_id(),
        )
        .await
    }

    /// The patient's bookings (the child's, for a guardian), by start time.
    pub async fn my_bookings(&self, acting: &ActingAs) -> Result<Vec<Booking>, BookingError> {
        let patient = self.patient(acting.subject()).await?;
        self.bookings_of_account(&patient.account_id).await
    }

    /// One of the patient's bookings.
    pub async fn my_booking(
        &self,
        acting: &ActingAs,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        let booking = self.load(booking_id).await?;
        check_owner(acting, &booking)?;
        Ok(booking)
    }

    /// The patient moves their booking to another slot of the same care unit, before it
    /// starts. The booking keeps its id.
    pub async fn reschedule(
        &self,
        acting: &ActingAs,
        booking_id: &str,
        new_slot_id: &str,
    ) -> Result<Booking, BookingError> {
        let booking = self.load(booking_id).await?;
        check_owner(acting, &booking)?;
        if booking.is_ended() {
            return Err(BookingError::BookingEnded);
        }
        if booking.starts_at <= self.now() {
            return Err(BookingError::TooLateToChange);
        }
        self.move_to(&booking, new_slot_id).await
    }

    /// The patient cancels their booking, before it starts. The place goes back to the slot.
    pub async fn cancel(
        &self,
        acting: &ActingAs,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        let booking = self.load(booking_id).await?;
        check_owner(acting, &booking)?;
        if booking.is_ended() {
            return Err(BookingError::BookingEnded);
        }
        if booking.starts_at <= self.now() {
            return Err(BookingError::TooLateToChange);
        }
        let by = patient_side(acting).ended_by();
        self.end(&booking, Ending::Cancel, by, None).await
    }

    // ----- the staff side (a clinician in their active care unit; every access logged)

    /// A clinician books a patient (who has an account) into a slot of their unit.
    pub async fn book_in(
        &self,
        staff: &StaffAccess,
        patient: &Personnummer,
        slot_id: &str,
    ) -> Result<Booking, BookingError> {
        require_clinician(staff)?;
        let slot = self.bookable_slot(slot_id).await?;
        if slot.care_unit != staff.actor.care_unit {
            return Err(BookingError::WrongCareUnit);
        }
        // Logged before the account is looked up: whether the patient has one is itself
        // information about them. The entry stands for the attempt if the booking is refused.
        let booking_id = new_id();
        self.log(staff, patient, Action::Create, &booking_id)
            .await?;
        let record = self.patient(patient).await?;
        self.create(
            &record,
            &slot,
            BookedBy::Staff,
            Some(&staff.actor.id),
            None,
            &booking_id,
        )
        .await
    }

    /// A clinician reads a booking of their unit.
    pub async fn staff_booking(
        &self,
        staff: &StaffAccess,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        let booking = self.staff_load(staff, booking_id).await?;
        self.log(
            staff,
            &booking.patient.personnummer,
            Action::Read,
            &booking.id,
        )
        .await?;
        Ok(booking)
    }

    /// A clinician moves a booking of their unit to another slot of it.
    pub async fn staff_move(
        &self,
        staff: &StaffAccess,
        booking_id: &str,
        new_slot_id: &str,
    ) -> Result<Booking, BookingError> {
        let booking = self.staff_load(staff, booking_id).await?;
        self.log(
            staff,
            &booking.patient.personnummer,
            Action::Update,
            &booking.id,
        )
        .await?;
        if booking.is_ended() {
            return Err(BookingError::BookingEnded);
        }
        self.move_to(&booking, new_slot_id).await
    }

    /// A clinician cancels a booking of their unit (also after its start).
    pub async fn staff_cancel(
        &self,
        staff: &StaffAccess,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        self.staff_end(staff, booking_id, Ending::Cancel).await
    }

    /// A clinician records that the visit took place. Ends the booking (and closes its Join).
    pub async fn mark_done(
        &self,
        staff: &StaffAccess,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        self.staff_end(staff, booking_id, Ending::Done).await
    }

    /// A clinician records that the patient did not come.
    pub async fn mark_no_show(
        &self,
        staff: &StaffAccess,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        self.staff_end(staff, booking_id, Ending::NoShow).await
    }

    /// The unit's calendar: its slots (not withdrawn) starting in `[from, to)`, each with its
    /// bookings. One access-log entry per booking shown.
    pub async fn calendar(
        &self,
        staff: &StaffAccess,
        from: i64,
        to: i64,
    ) -> Result<Vec<CalendarSlot>, BookingError> {
        require_clinician(staff)?;
        check_range(from, to)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SLOT_COLUMNS} FROM booking_slots s WHERE s.care_unit = $1 \
             AND s.starts_at >= $2 AND s.starts_at < $3 AND s.withdrawn_at IS NULL \
             ORDER BY s.starts_at, s.id"
        )))
        .bind(&staff.actor.care_unit)
        .bind(from)
        .bind(to)
        .fetch_all(self.db.pool())
        .await?;
        let slots = self.slots_with_clinicians(&rows).await?;
        let mut calendar = Vec::with_capacity(slots.len());
        for slot in slots {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{BOOKING_SELECT} WHERE b.slot_id = $1 ORDER BY b.created_at, b.id"
            )))
            .bind(&slot.id)
            .fetch_all(self.db.pool())
            .await?;
            let mut bookings = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut b = booking_from_row(row)?;
                b.clinicians = slot.clinicians.clone();
                b.clinician_names = slot.clinician_names.clone();
                bookings.push(b);
            }
            calendar.push(CalendarSlot { slot, bookings });
        }
        // Logged before anything is shown; if logging fails, nothing is.
        for b in calendar.iter().flat_map(|c| &c.bookings) {
            self.log(staff, &b.patient.personnummer, Action::Read, &b.id)
                .await?;
        }
        Ok(calendar)
    }

    // ----- shared

    /// A booking by id, whoever's it is (callers check who may see it).
    pub(super) async fn load(&self, booking_id: &str) -> Result<Booking, BookingError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{BOOKING_SELECT} WHERE b.id = $1"
        )))
        .bind(booking_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(BookingError::BookingNotFound)?;
        let mut booking = booking_from_row(&row)?;
        booking.clinicians = self.clinicians_of(&booking.slot_id).await?;
        booking.clinician_names = self.names_of(&booking.clinicians).await?;
        Ok(booking)
    }

    async fn staff_load(
        &self,
        staff: &StaffAccess,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        require_clinician(staff)?;
        let booking = self.load(booking_id).await?;
        if booking.care_unit != staff.actor.care_unit {
            return Err(BookingError::WrongCareUnit);
        }
        Ok(booking)
    }

    async fn staff_end(
        &self,
        staff: &StaffAccess,
        booking_id: &str,
        ending: Ending,
    ) -> Result<Booking, BookingError> {
        let booking = self.staff_load(staff, booking_id).await?;
        self.log(
            staff,
            &booking.patient.personnummer,
            Action::Update,
            &booking.id,
        )
        .await?;
        if booking.is_ended() {
            return Err(BookingError::BookingEnded);
        }
        if matches!(ending, Ending::Done | Ending::NoShow) && self.now() < booking.starts_at {
            return Err(BookingError::NotStarted);
        }
        self.end(&booking, ending, EndedBy::Staff, Some(&staff.actor.id))
            .await
    }

    /// An account's bookings, by start time.
    pub(super) async fn bookings_of_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<Booking>, BookingError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{BOOKING_SELECT} WHERE b.account_id = $1 ORDER BY s.starts_at, b.id"
        )))
        .bind(account_id)
        .fetch_all(self.db.pool())
        .await?;
        self.bookings_from_rows(&rows).await
    }

    async fn bookings_from_rows(&self, rows: &[AnyRow]) -> Result<Vec<Booking>, BookingError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut b = booking_from_row(row)?;
            b.clinicians = self.clinicians_of(&b.slot_id).await?;
            b.clinician_names = self.names_of(&b.clinicians).await?;
            out.push(b);
        }
        Ok(out)
    }

    /// A slot that can be booked now: published, not withdrawn, not started.
    async fn bookable_slot(&self, slot_id: &str) -> Result<Slot, BookingError> {
        let slot = self.slot(slot_id).await?;
        if slot.withdrawn_at.is_some() {
            return Err(BookingError::SlotNotFound);
        }
        if slot.starts_at <= self.now() {
            return Err(BookingError::SlotInPast);
        }
        Ok(slot)
    }

    /// Refuses a booking of the same patient in the slot, or at an overlapping time
    /// (`except`: the booking being moved). Runs in the booking's transaction after
    /// [`lock_patient`], so that two requests of one patient (two tabs) for two overlapping
    /// slots cannot both pass it.
    async fn check_free(
        conn: &mut sqlx::AnyConnection,
        account_id: &str,
        slot: &Slot,
        except: Option<&str>,
    ) -> Result<(), BookingError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT b.id, b.slot_id FROM bookings b JOIN booking_slots s ON s.id = b.slot_id \
             WHERE b.account_id = $1 AND b.ended_at IS NULL \
             AND s.starts_at < $2 AND s.ends_at > $3",
        )
        .bind(account_id)
        .bind(slot.ends_at)
        .bind(slot.starts_at)
        .fetch_all(&mut *conn)
        .await?;
        for (id, slot_id) in rows {
            if Some(id.as_str()) == except {
                continue;
            }
            if slot_id == slot.id {
                return Err(BookingError::AlreadyBooked);
            }
            return Err(BookingError::Overlapping { booking_id: id });
        }
        Ok(())
    }

    async fn create(
        &self,
        patient: &PatientRecord,
        slot: &Slot,
        by: BookedBy,
        staff_id: Option<&str>,
        guardian: Option<&Personnummer>,
        booking_id: &str,
    ) -> Result<Booking, BookingError> {
        let now = self.now();
        let mut tx = self.db.pool().begin().await?;
        // The patient first: a write, so that SQLite takes its write lock at once, and on
        // PostgreSQL the row lock that serialises one patient's bookings (the overlap check
        // below then sees the other request's booking). The account before the slot, as
        // deleting an account takes them.
        lock_patient(&mut tx, &patient.account_id).await?;
        Self::check_free(&mut tx, &patient.account_id, slot, None).await?;
        take_place(&mut tx, &slot.id, now).await?;
        insert_booking(&mut tx, patient, slot, booking_id, by, staff_id, now).await?;
        // The confirmation and the reminder, committed with the booking or not at all.
        notifications::booked(&mut tx, booking_id, guardian, slot.starts_at, now).await?;
        tx.commit().await?;
        self.load(booking_id).await
    }

    /// Moves a booking to another slot of its care unit, taking a place there and giving one
    /// back in the old slot, in one transaction.
    async fn move_to(&self, booking: &Booking, new_slot_id: &str) -> Result<Booking, BookingError> {
        let slot = self.bookable_slot(new_slot_id).await?;
        if slot.care_unit != booking.care_unit {
            return Err(BookingError::WrongCareUnit);
        }
        if slot.id == booking.slot_id {
            return Err(BookingError::AlreadyBooked);
        }
        let now = self.now();
        let mut tx = self.db.pool().begin().await?;
        lock_patient(&mut tx, &booking.patient.account_id).await?;
        Self::check_free(
            &mut tx,
            &booking.patient.account_id,
            &slot,
            Some(&booking.id),
        )
        .await?;
        // Two slots in id order, so two opposite moves cannot deadlock on PostgreSQL.
        if slot.id < booking.slot_id {
            take_place(&mut tx, &slot.id, now).await?;
            release_place(&mut tx, &booking.slot_id).await?;
        } else {
            release_place(&mut tx, &booking.slot_id).await?;
            take_place(&mut tx, &slot.id, now).await?;
        }
        let moved = sqlx::query(
            "UPDATE bookings SET slot_id = $1, room = $2, updated_at = $3 \
             WHERE id = $4 AND slot_id = $5 AND ended_at IS NULL",
        )
        .bind(&slot.id)
        .bind(room_for(&slot, &booking.id))
        .bind(now)
        .bind(&booking.id)
        .bind(&booking.slot_id)
        .execute(&mut *tx)
        .await;
        match moved {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => return Err(BookingError::Conflict),
            Err(e) if is_unique_violation(&e) => return Err(BookingError::AlreadyBooked),
            Err(e) => return Err(e.into()),
        }
        // "Moved" and the reminder for the new time; the old time's reminder is cancelled.
        notifications::moved(&mut tx, &booking.id, slot.starts_at, now).await?;
        tx.commit().await?;
        self.load(&booking.id).await
    }

    async fn end(
        &self,
        booking: &Booking,
        ending: Ending,
        by: EndedBy,
        staff_id: Option<&str>,
    ) -> Result<Booking, BookingError> {
        let status = match ending {
            Ending::Cancel => BookingStatus::Cancelled,
            Ending::Done => BookingStatus::Done,
            Ending::NoShow => BookingStatus::NoShow,
        };
        let now = self.now();
        let mut tx = self.db.pool().begin().await?;
        if matches!(ending, Ending::Cancel) {
            // The slot before the booking, as everywhere (lock order).
            release_place(&mut tx, &booking.slot_id).await?;
        }
        let ended = sqlx::query(
            "UPDATE bookings SET status = $1, ended_at = $2, ended_by = $3, \
             ended_by_staff = $4, updated_at = $2 \
             WHERE id = $5 AND slot_id = $6 AND ended_at IS NULL",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(by.as_str())
        .bind(staff_id)
        .bind(&booking.id)
        .bind(&booking.slot_id)
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() == 0 {
            drop(tx);
            let again = self.load(&booking.id).await?;
            return Err(if again.is_ended() {
                BookingError::BookingEnded
            } else {
                BookingError::Conflict
            });
        }
        // Its reminder goes; a patient whom staff cancelled is told.
        let tell = matches!(ending, Ending::Cancel) && by == EndedBy::Staff;
        notifications::ended(&mut tx, &booking.id, tell, now).await?;
        tx.commit().await?;
        self.load(&booking.id).await
    }
}

fn check_owner(acting: &ActingAs, booking: &Booking) -> Result<(), BookingError> {
    if booking.patient.personnummer == *acting.subject() {
        Ok(())
    } else {
        Err(BookingError::NotYourBooking)
    }
}

/// Takes one place of a slot, or says why there is none. Changes nothing when refused.
/// Takes the patient's account row for the rest of the transaction (a no-op update): one
/// patient's booking transactions run one at a time, whatever slots they touch.
async fn lock_patient(
    conn: &mut sqlx::AnyConnection,
    account_id: &str,
) -> Result<(), BookingError> {
    let locked = sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    if locked.rows_affected() == 1 {
        Ok(())
    } else {
        Err(BookingError::NoAccount)
    }
}

pub(super) async fn take_place(
    conn: &mut sqlx::AnyConnection,
    slot_id: &str,
    now: i64,
) -> Result<(), BookingError> {
    let taken = sqlx::query(
        "UPDATE booking_slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity \
         AND withdrawn_at IS NULL AND starts_at > $2",
    )
    .bind(slot_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(());
    }
    let row: Option<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT booked, capacity, starts_at, withdrawn_at FROM booking_slots WHERE id = $1",
    )
    .bind(slot_id)
    .fetch_optional(&mut *conn)
    .await?;
    Err(match row {
        None | Some((_, _, _, Some(_))) => BookingError::SlotNotFound,
        Some((_, _, starts_at, None)) if starts_at <= now => BookingError::SlotInPast,
        Some(_) => BookingError::SlotFull,
    })
}

async fn release_place(conn: &mut sqlx::AnyConnection, slot_id: &str) -> Result<(), BookingError> {
    sqlx::query("UPDATE booking_slots SET booked = booked - 1 WHERE id = $1 AND booked > 0")
        .bind(slot_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Inserts a booking in the caller's transaction, after its place has been taken.
pub(super) async fn insert_booking(
    conn: &mut sqlx::AnyConnection,
    patient: &PatientRecord,
    slot: &Slot,
    booking_id: &str,
    by: BookedBy,
    staff_id: Option<&str>,
    now: i64,
) -> Result<(), BookingError> {
    let inserted = sqlx::query(
        "INSERT INTO bookings (id, slot_id, account_id, care_unit, given_name, family_name, \
         mobile, email, room, booked_by, booked_by_staff, created_at, updated_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 'booked')",
    )
    .bind(booking_id)
    .bind(&slot.id)
    .bind(&patient.account_id)
    .bind(&slot.care_unit)
    .bind(&patient.given_name)
    .bind(&patient.family_name)
    .bind(patient.mobile.as_deref())
    .bind(patient.email.as_deref())
    .bind(room_for(slot, booking_id))
    .bind(by.as_str())
    .bind(staff_id)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        // The same patient in the same slot from two tabs at once: the index decides.
        Err(e) if is_unique_violation(&e) => Err(BookingError::AlreadyBooked),
        Err(e) => Err(e.into()),
    }
}

fn booking_from_row(row: &AnyRow) -> Result<Booking, BookingError> {
    let pnr: String = row.try_get("personnummer")?;
    let kind: String = row.try_get("kind")?;
    let mode: String = row.try_get("mode")?;
    let status: String = row.try_get("status")?;
    let booked_by: String = row.try_get("booked_by")?;
    let ended_by: Option<String> = row.try_get("ended_by")?;
    let starts_at: i64 = row.try_get("starts_at")?;
    let ends_at: i64 = row.try_get("ends_at")?;
    Ok(Booking {
        id: row.try_get("id")?,
        slot_id: row.try_get("slot_id")?,
        care_unit: row.try_get("care_unit")?,
        kind: SlotKind::from_stored(&kind).ok_or(BookingError::Corrupt("slot kind"))?,
        place: row.try_get("place")?,
        mode: SlotMode::from_stored(&mode).ok_or(BookingError::Corrupt("slot mode"))?,
        starts_at,
        ends_at,
        starts: time::to_local(starts_at).map_err(|_| BookingError::Corrupt("starts_at"))?,
        ends: time::to_local(ends_at).map_err(|_| BookingError::Corrupt("ends_at"))?,
        clinicians: Vec::new(),
        clinician_names: Vec::new(),
        patient: PatientDetails {
            account_id: row.try_get("account_id")?,
            personnummer: Personnummer::from_canonical(&pnr)
                .map_err(|_| BookingError::Corrupt("personnummer"))?,
            given_name: row.try_get("given_name")?,
            family_name: row.try_get("family_name")?,
            mobile: stored_mobile(row.try_get("mobile")?)?,
            email: stored_email(row.try_get("email")?)?,
        },
        room: row.try_get("room")?,
        status: BookingStatus::from_stored(&status).ok_or(BookingError::Corrupt("status"))?,
        booked_by: BookedBy::from_stored(&booked_by).ok_or(BookingError::Corrupt("booked_by"))?,
        booked_by_staff: row.try_get("booked_by_staff")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        ended_at: row.try_get("ended_at")?,
        ended_by: ended_by
            .map(|s| EndedBy::from_stored(&s).ok_or(BookingError::Corrupt("ended_by")))
            .transpose()?,
        ended_by_staff: row.try_get("ended_by_staff")?,
    })
}
