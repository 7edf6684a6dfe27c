//! Slots: the times a care unit publishes for booking, physical or digital, single or group,
//! with their clinicians; and the reads patients browse them with.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::portal::accounts::StaffAccess;
use crate::portal::audit::ActorKind;

use super::time::{self, LocalTime};
use super::{BookingError, Bookings, new_id};

/// Where the visit happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// At a place (a clinic's address or room).
    Physical,
    /// A video visit: the booking owns a room.
    Digital,
}

impl SlotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Physical => "physical",
            SlotKind::Digital => "digital",
        }
    }

    pub(super) fn from_stored(s: &str) -> Option<Self> {
        match s {
            "physical" => Some(SlotKind::Physical),
            "digital" => Some(SlotKind::Digital),
            _ => None,
        }
    }
}

/// One patient, or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotMode {
    Single,
    Group,
}

impl SlotMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotMode::Single => "single",
            SlotMode::Group => "group",
        }
    }

    pub(super) fn from_stored(s: &str) -> Option<Self> {
        match s {
            "single" => Some(SlotMode::Single),
            "group" => Some(SlotMode::Group),
            _ => None,
        }
    }
}

/// How the slot came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotOrigin {
    /// Published by staff for booking.
    Published,
    /// Made when a clinician took a patient from a drop-in queue.
    Dropin,
}

impl SlotOrigin {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            SlotOrigin::Published => "published",
            SlotOrigin::Dropin => "dropin",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "published" => Some(SlotOrigin::Published),
            "dropin" => Some(SlotOrigin::Dropin),
            _ => None,
        }
    }
}

/// A slot as staff publish it. Times are Europe/Stockholm wall-clock times
/// (`YYYY-MM-DDTHH:MM`); the care unit is the staff member's active one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSlot {
    pub kind: SlotKind,
    /// Required for physical slots, refused for digital ones.
    #[serde(default)]
    pub place: Option<String>,
    pub mode: SlotMode,
    /// Group slots: how many patients (2 up to the policy's `max_group_capacity`). Single
    /// slots: absent or 1.
    #[serde(default)]
    pub capacity: Option<u32>,
    pub starts: String,
    pub ends: String,
    /// Staff ids of the slot's clinicians (one or more), each a clinician of the care unit.
    pub clinicians: Vec<String>,
}

/// A published slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub id: String,
    pub care_unit: String,
    pub kind: SlotKind,
    pub place: Option<String>,
    pub mode: SlotMode,
    pub capacity: u32,
    /// Places taken (bookings not cancelled).
    pub booked: u32,
    /// Unix seconds.
    pub starts_at: i64,
    pub ends_at: i64,
    /// The same two instants on a Stockholm wall clock.
    pub starts: LocalTime,
    pub ends: LocalTime,
    /// Staff ids, sorted.
    pub clinicians: Vec<String>,
    /// Their names, in the same order (empty for patients where the region shows them no staff
    /// names: [`PatientLens`](super::PatientLens)).
    pub clinician_names: Vec<String>,
    pub origin: SlotOrigin,
    pub withdrawn_at: Option<i64>,
}

impl Slot {
    pub fn places_left(&self) -> u32 {
        self.capacity.saturating_sub(self.booked)
    }
}

/// Longest place text accepted, in characters.
const MAX_PLACE: usize = 200;
/// Most clinicians on one slot.
const MAX_CLINICIANS: usize = 10;
/// The widest range of time one listing covers.
const MAX_RANGE_SECS: i64 = 62 * 24 * 3600;

pub(super) const SLOT_COLUMNS: &str = "s.id, s.care_unit, s.kind, s.place, s.mode, s.capacity, \
     s.booked, s.starts_at, s.ends_at, s.origin, s.withdrawn_at";

impl Bookings {
    /// Staff publish a slot in their active care unit. Every clinician named must be a
    /// clinician of that unit. Administrators may publish too: a slot holds no patient data.
    pub async fn publish_slot(
        &self,
        staff: &StaffAccess,
        new: &NewSlot,
    ) -> Result<Slot, BookingError> {
        if staff.actor.kind != ActorKind::Staff {
            return Err(BookingError::NotClinician);
        }
        let unit = staff.actor.care_unit.as_str();
        let place = match (new.kind, &new.place) {
            (SlotKind::Physical, Some(p)) => Some(check_place(p)?),
            (SlotKind::Physical, None) => {
                return Err(invalid("place", "a physical slot needs a place"));
            }
            (SlotKind::Digital, Some(_)) => {
                return Err(invalid("place", "a digital slot has no place"));
            }
            (SlotKind::Digital, None) => None,
        };
        let capacity = match (new.mode, new.capacity) {
            (SlotMode::Single, None | Some(1)) => 1,
            (SlotMode::Single, Some(_)) => {
                return Err(invalid("capacity", "a single slot has capacity 1"));
            }
            (SlotMode::Group, Some(c)) if (2..=self.policy.max_group_capacity).contains(&c) => c,
            (SlotMode::Group, _) => {
                return Err(invalid(
                    "capacity",
                    "a group slot needs a capacity from 2 up to the region's maximum",
                ));
            }
        };
        let starts_at = time::parse_local_to_unix(&new.starts)?;
        let ends_at = time::parse_local_to_unix(&new.ends)?;
        if ends_at <= starts_at {
            return Err(invalid("ends", "must be after the start"));
        }
        if ends_at - starts_at > i64::from(self.policy.max_slot_minutes) * 60 {
            return Err(invalid("ends", "the slot is too long"));
        }
        if starts_at <= self.now() {
            return Err(BookingError::SlotInPast);
        }
        let clinicians = self.check_clinicians(unit, &new.clinicians).await?;
        let slot = Slot {
            id: new_id(),
            care_unit: unit.to_owned(),
            kind: new.kind,
            place,
            mode: new.mode,
            capacity,
            booked: 0,
            starts_at,
            ends_at,
            starts: time::to_local(starts_at)?,
            ends: time::to_local(ends_at)?,
            clinician_names: self.names_of(&clinicians).await?,
            clinicians,
            origin: SlotOrigin::Published,
            withdrawn_at: None,
        };
        let mut tx = self.db.pool().begin().await?;
        insert_slot(&mut tx, &slot, &staff.actor.id, self.now()).await?;
        tx.commit().await?;
        Ok(slot)
    }

    /// Staff withdraw a slot of their unit that nobody has booked (cancel or move the
    /// bookings first).
    pub async fn withdraw_slot(
        &self,
        staff: &StaffAccess,
        slot_id: &str,
    ) -> Result<Slot, BookingError> {
        if staff.actor.kind != ActorKind::Staff {
            return Err(BookingError::NotClinician);
        }
        let slot = self.slot(slot_id).await?;
        if slot.care_unit != staff.actor.care_unit {
            return Err(BookingError::WrongCareUnit);
        }
        let changed = sqlx::query(
            "UPDATE booking_slots SET withdrawn_at = $1 \
             WHERE id = $2 AND booked = 0 AND withdrawn_at IS NULL",
        )
        .bind(self.now())
        .bind(slot_id)
        .execute(self.db.pool())
        .await?;
        if changed.rows_affected() == 0 {
            let again = self.slot(slot_id).await?;
            return Err(if again.booked > 0 {
                BookingError::SlotHasBookings
            } else {
                BookingError::SlotNotFound
            });
        }
        self.slot(slot_id).await
    }

    /// A slot by id, withdrawn or not ([`BookingError::SlotNotFound`] if there is none).
    pub async fn slot(&self, slot_id: &str) -> Result<Slot, BookingError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SLOT_COLUMNS} FROM booking_slots s WHERE s.id = $1"
        )))
        .bind(slot_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(BookingError::SlotNotFound)?;
        let mut slot = slot_from_row(&row)?;
        slot.clinicians = self.clinicians_of(&slot.id).await?;
        slot.clinician_names = self.names_of(&slot.clinicians).await?;
        Ok(slot)
    }

    /// What a patient can book in a care unit between two instants: slots not withdrawn, not
    /// started and not full, by start time.
    pub async fn open_slots(
        &self,
        care_unit: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<Slot>, BookingError> {
        check_range(from, to)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SLOT_COLUMNS} FROM booking_slots s WHERE s.care_unit = $1 \
             AND s.starts_at >= $2 AND s.starts_at < $3 AND s.starts_at > $4 \
             AND s.withdrawn_at IS NULL AND s.booked < s.capacity AND s.origin = 'published' \
             ORDER BY s.starts_at, s.id"
        )))
        .bind(care_unit)
        .bind(from)
        .bind(to)
        .bind(self.now())
        .fetch_all(self.db.pool())
        .await?;
        self.slots_with_clinicians(&rows).await
    }

    pub(super) async fn slots_with_clinicians(
        &self,
        rows: &[AnyRow],
    ) -> Result<Vec<Slot>, BookingError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut slot = slot_from_row(row)?;
            slot.clinicians = self.clinicians_of(&slot.id).await?;
            slot.clinician_names = self.names_of(&slot.clinicians).await?;
            out.push(slot);
        }
        Ok(out)
    }

    /// The staff members' names ("Given Family"), in the order of `ids`; an id without a staff
    /// row (removed since) reads as an empty name rather than failing the page.
    pub(super) async fn names_of(&self, ids: &[String]) -> Result<Vec<String>, BookingError> {
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<(String, String)> =
                sqlx::query_as("SELECT given_name, family_name FROM staff WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.db.pool())
                    .await?;
            names.push(row.map_or_else(String::new, |(g, f)| format!("{g} {f}")));
        }
        Ok(names)
    }

    pub(super) async fn clinicians_of(&self, slot_id: &str) -> Result<Vec<String>, BookingError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT staff_id FROM booking_slot_clinicians WHERE slot_id = $1 ORDER BY staff_id",
        )
        .bind(slot_id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Each id must be a clinician of the unit; returns them sorted and without repeats.
    async fn check_clinicians(
        &self,
        unit: &str,
        ids: &[String],
    ) -> Result<Vec<String>, BookingError> {
        let mut ids: Vec<String> = ids.iter().map(|i| i.trim().to_owned()).collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Err(invalid("clinicians", "at least one clinician is needed"));
        }
        if ids.len() > MAX_CLINICIANS {
            return Err(invalid("clinicians", "too many clinicians"));
        }
        for id in &ids {
            if !self.is_clinician_of(id, unit).await? {
                return Err(BookingError::NotAClinicianOfUnit {
                    staff_id: id.chars().take(64).collect(),
                });
            }
        }
        Ok(ids)
    }

    pub(super) async fn is_clinician_of(
        &self,
        staff_id: &str,
        unit: &str,
    ) -> Result<bool, BookingError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT role, care_units FROM staff WHERE id = $1")
                .bind(staff_id)
                .fetch_optional(self.db.pool())
                .await?;
        let Some((role, units)) = row else {
            return Ok(false);
        };
        let units: Vec<String> =
            serde_json::from_str(&units).map_err(|_| BookingError::Corrupt("staff care_units"))?;
        Ok(role == "clinician" && units.iter().any(|u| u == unit))
    }
}

/// Inserts a slot and its clinicians in the caller's transaction.
pub(super) async fn insert_slot(
    conn: &mut sqlx::AnyConnection,
    slot: &Slot,
    created_by: &str,
    now: i64,
) -> Result<(), BookingError> {
    sqlx::query(
        "INSERT INTO booking_slots (id, care_unit, kind, place, mode, capacity, booked, \
         starts_at, ends_at, origin, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&slot.id)
    .bind(&slot.care_unit)
    .bind(slot.kind.as_str())
    .bind(slot.place.as_deref())
    .bind(slot.mode.as_str())
    .bind(i64::from(slot.capacity))
    .bind(i64::from(slot.booked))
    .bind(slot.starts_at)
    .bind(slot.ends_at)
    .bind(slot.origin.as_str())
    .bind(created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for staff_id in &slot.clinicians {
        sqlx::query("INSERT INTO booking_slot_clinicians (slot_id, staff_id) VALUES ($1, $2)")
            .bind(&slot.id)
            .bind(staff_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(super) fn slot_from_row(row: &AnyRow) -> Result<Slot, BookingError> {
    let kind: String = row.try_get("kind")?;
    let mode: String = row.try_get("mode")?;
    let origin: String = row.try_get("origin")?;
    let capacity: i64 = row.try_get("capacity")?;
    let booked: i64 = row.try_get("booked")?;
    let starts_at: i64 = row.try_get("starts_at")?;
    let ends_at: i64 = row.try_get("ends_at")?;
    Ok(Slot {
        id: row.try_get("id")?,
        care_unit: row.try_get("care_unit")?,
        kind: SlotKind::from_stored(&kind).ok_or(BookingError::Corrupt("slot kind"))?,
        place: row.try_get("place")?,
        mode: SlotMode::from_stored(&mode).ok_or(BookingError::Corrupt("slot mode"))?,
        capacity: u32::try_from(capacity).map_err(|_| BookingError::Corrupt("capacity"))?,
        booked: u32::try_from(booked).map_err(|_| BookingError::Corrupt("booked"))?,
        starts_at,
        ends_at,
        starts: time::to_local(starts_at).map_err(|_| BookingError::Corrupt("starts_at"))?,
        ends: time::to_local(ends_at).map_err(|_| BookingError::Corrupt("ends_at"))?,
        clinicians: Vec::new(),
        clinician_names: Vec::new(),
        origin: SlotOrigin::from_stored(&origin).ok_or(BookingError::Corrupt("slot origin"))?,
        withdrawn_at: row.try_get("withdrawn_at")?,
    })
}

pub(super) fn check_range(from: i64, to: i64) -> Result<(), BookingError> {
    if to <= from {
        return Err(invalid("to", "must be after from"));
    }
    if to - from > MAX_RANGE_SECS {
        return Err(invalid("to", "the range may cover at most 62 days"));
    }
    Ok(())
}

fn check_place(place: &str) -> Result<String, BookingError> {
    let p = place.trim();
    if p.is_empty() {
        return Err(invalid("place", "must not be empty"));
    }
    if p.chars().count() > MAX_PLACE || p.chars().any(char::is_control) {
        return Err(invalid("place", "too long or contains control characters"));
    }
    Ok(p.to_owned())
}

pub(super) fn invalid(field: &'static str, reason: &'static str) -> BookingError {
    BookingError::Invalid { field, reason }
}
