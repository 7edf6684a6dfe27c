//! Digital drop-in ("drop-in-mottagning"): a care unit opens a queue for a time window,
//! patients join it and see their place, a clinician takes the next patient, which creates a
//! digital booking starting now (and so its video room) and a `your_turn` notice.
//!
//! The notice is a row in `booking_notices`, written in the same transaction as the booking:
//! the hook for the notifications outbox, which will deliver it (SMS or e-mail to those who
//! opted in, with no health data in the text). Nothing is sent from here.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::portal::accounts::StaffAccess;
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::audit::{Action, ActorKind};
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::notifications;

use super::booking::{BookedBy, Booking, insert_booking};
use super::error::is_unique_violation;
use super::slots::{Slot, SlotKind, SlotMode, SlotOrigin, insert_slot, invalid};
use super::time::{self, LocalTime};
use super::{BookingError, Bookings, new_id, patient_side, require_clinician};

/// A queue as staff open it. Times are Europe/Stockholm wall-clock times.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewQueue {
    pub opens: String,
    pub closes: String,
    /// How long the booking of a taken patient lasts.
    pub visit_minutes: u32,
}

/// A drop-in queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queue {
    pub id: String,
    pub care_unit: String,
    /// Unix seconds, and the same on a Stockholm wall clock.
    pub opens_at: i64,
    pub closes_at: i64,
    pub opens: LocalTime,
    pub closes: LocalTime,
    pub visit_minutes: u32,
    /// When staff closed it early.
    pub closed_at: Option<i64>,
    /// Patients waiting now.
    pub waiting: u32,
}

/// Where a patient stands in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QueueState {
    /// `place` 1 is next.
    Waiting { place: u32 },
    /// A clinician took them: the booking to join.
    Taken { booking_id: String },
    /// They left the queue.
    Left,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuePlace {
    pub queue_id: String,
    pub entry_id: String,
    #[serde(flatten)]
    pub state: QueueState,
}

/// "Your turn": for the notifications outbox to tell the patient (a row in
/// `booking_notices`, not yet picked up by anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct YourTurn {
    pub notice_id: String,
    pub account_id: String,
    pub booking_id: String,
    pub created_at: i64,
}

/// What taking the next patient made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Taken {
    pub booking: Booking,
    pub notice: YourTurn,
}

/// The longest a drop-in window may be.
const MAX_WINDOW_SECS: i64 = 24 * 3600;
/// How often taking the next patient tries again after another clinician took the same one.
const MAX_TAKE_ATTEMPTS: u32 = 20;

const QUEUE_SELECT: &str = "SELECT q.id, q.care_unit, q.opens_at, q.closes_at, \
     q.visit_minutes, q.closed_at, (SELECT COUNT(*) FROM dropin_entries e \
     WHERE e.queue_id = q.id AND e.state = 'waiting') AS waiting FROM dropin_queues q ";

impl Bookings {
    /// Staff open a drop-in queue in their active care unit.
    pub async fn open_queue(
        &self,
        staff: &StaffAccess,
        new: &NewQueue,
    ) -> Result<Queue, BookingError> {
        if staff.actor.kind != ActorKind::Staff {
            return Err(BookingError::NotClinician);
        }
        let opens_at = time::parse_local_to_unix(&new.opens)?;
        let closes_at = time::parse_local_to_unix(&new.closes)?;
        if closes_at <= opens_at {
            return Err(invalid("closes", "must be after the opening"));
        }
        if closes_at - opens_at > MAX_WINDOW_SECS {
            return Err(invalid("closes", "a drop-in window lasts at most a day"));
        }
        if closes_at <= self.now() {
            return Err(BookingError::SlotInPast);
        }
        if new.visit_minutes == 0 || new.visit_minutes > self.policy.max_slot_minutes {
            return Err(invalid("visit_minutes", "out of range"));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO dropin_queues (id, care_unit, opens_at, closes_at, visit_minutes, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&staff.actor.care_unit)
        .bind(opens_at)
        .bind(closes_at)
        .bind(i64::from(new.visit_minutes))
        .bind(&staff.actor.id)
        .bind(self.now())
        .execute(self.db.pool())
        .await?;
        self.queue(&id).await
    }

    /// Staff close a queue of their unit early: nobody more can join; those waiting can still
    /// be taken.
    pub async fn close_queue(
        &self,
        staff: &StaffAccess,
        queue_id: &str,
    ) -> Result<Queue, BookingError> {
        let queue = self.queue(queue_id).await?;
        if staff.actor.kind != ActorKind::Staff || queue.care_unit != staff.actor.care_unit {
            return Err(BookingError::WrongCareUnit);
        }
        sqlx::query("UPDATE dropin_queues SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL")
            .bind(self.now())
            .bind(queue_id)
            .execute(self.db.pool())
            .await?;
        self.queue(queue_id).await
    }

    pub async fn queue(&self, queue_id: &str) -> Result<Queue, BookingError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{QUEUE_SELECT} WHERE q.id = $1"
        )))
        .bind(queue_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(BookingError::QueueNotFound)?;
        queue_from_row(&row)
    }

    /// The unit's queues a patient can join now.
    pub async fn open_queues(&self, care_unit: &str) -> Result<Vec<Queue>, BookingError> {
        let now = self.now();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{QUEUE_SELECT} WHERE q.care_unit = $1 AND q.opens_at <= $2 AND q.closes_at > $2 \
             AND q.closed_at IS NULL ORDER BY q.opens_at, q.id"
        )))
        .bind(care_unit)
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(queue_from_row).collect()
    }

    /// The patient (or their guardian) joins a queue that is open now.
    pub async fn join_queue(
        &self,
        acting: &ActingAs,
        queue_id: &str,
    ) -> Result<QueuePlace, BookingError> {
        let patient = self.patient(acting.subject()).await?;
        let queue = self.queue(queue_id).await?;
        let now = self.now();
        if queue.closed_at.is_some() || now < queue.opens_at || now >= queue.closes_at {
            return Err(BookingError::QueueNotOpen);
        }
        let entry_id = new_id();
        let mut tx = self.db.pool().begin().await?;
        // The next ticket, as the transaction's first (writing) statement.
        let (ticket,): (i64,) = sqlx::query_as(
            "UPDATE dropin_queues SET next_ticket = next_ticket + 1 WHERE id = $1 \
             RETURNING next_ticket",
        )
        .bind(queue_id)
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO dropin_entries (id, queue_id, account_id, ticket, state, joined_by, \
             joined_at) VALUES ($1, $2, $3, $4, 'waiting', $5, $6)",
        )
        .bind(&entry_id)
        .bind(queue_id)
        .bind(&patient.account_id)
        .bind(ticket)
        .bind(patient_side(acting).as_str())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(BookingError::AlreadyQueued),
            Err(e) => return Err(e.into()),
        }
        if acting.is_proxy() {
            // "Your turn" will go to the guardian who queued for the child.
            notifications::queued_by_guardian(&mut tx, &entry_id, acting.actor(), now).await?;
        }
        tx.commit().await?;
        self.queue_place(acting, queue_id).await
    }

    /// Where the patient stands in the queue (their latest entry in it).
    pub async fn queue_place(
        &self,
        acting: &ActingAs,
        queue_id: &str,
    ) -> Result<QueuePlace, BookingError> {
        let patient = self.patient(acting.subject()).await?;
        let row: Option<(String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, ticket, state, booking_id FROM dropin_entries \
             WHERE queue_id = $1 AND account_id = $2 ORDER BY ticket DESC LIMIT 1",
        )
        .bind(queue_id)
        .bind(&patient.account_id)
        .fetch_optional(self.db.pool())
        .await?;
        let (entry_id, ticket, state, booking_id) = row.ok_or(BookingError::NotQueued)?;
        let state = match (state.as_str(), booking_id) {
            ("waiting", _) => {
                let (place,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM dropin_entries WHERE queue_id = $1 \
                     AND state = 'waiting' AND ticket <= $2",
                )
                .bind(queue_id)
                .bind(ticket)
                .fetch_one(self.db.pool())
                .await?;
                QueueState::Waiting {
                    place: u32::try_from(place).map_err(|_| BookingError::Corrupt("place"))?,
                }
            }
            ("taken", Some(booking_id)) => QueueState::Taken { booking_id },
            ("left", _) => QueueState::Left,
            _ => return Err(BookingError::Corrupt("dropin entry state")),
        };
        Ok(QueuePlace {
            queue_id: queue_id.to_owned(),
            entry_id,
            state,
        })
    }

    /// The patient leaves the queue.
    pub async fn leave_queue(
        &self,
        acting: &ActingAs,
        queue_id: &str,
    ) -> Result<QueuePlace, BookingError> {
        let patient = self.patient(acting.subject()).await?;
        let left = sqlx::query(
            "UPDATE dropin_entries SET state = 'left', ended_at = $1 \
             WHERE queue_id = $2 AND account_id = $3 AND state = 'waiting'",
        )
        .bind(self.now())
        .bind(queue_id)
        .bind(&patient.account_id)
        .execute(self.db.pool())
        .await?;
        if left.rows_affected() == 0 {
            return Err(BookingError::NotQueued);
        }
        self.queue_place(acting, queue_id).await
    }

    /// A clinician of the queue's unit takes the next patient: one transaction marks the entry
    /// taken, creates a digital single slot from now for the queue's visit length with this
    /// clinician, the patient's booking in it (and so its room), and the `your_turn` notice.
    /// Two clinicians taking at once get different patients.
    pub async fn take_next(
        &self,
        staff: &StaffAccess,
        queue_id: &str,
    ) -> Result<Taken, BookingError> {
        require_clinician(staff)?;
        let queue = self.queue(queue_id).await?;
        if queue.care_unit != staff.actor.care_unit {
            return Err(BookingError::WrongCareUnit);
        }
        for _ in 0..MAX_TAKE_ATTEMPTS {
            let next: Option<(String, String)> = sqlx::query_as(
                "SELECT e.id, a.personnummer FROM dropin_entries e \
                 JOIN accounts a ON a.id = e.account_id \
                 WHERE e.queue_id = $1 AND e.state = 'waiting' ORDER BY e.ticket LIMIT 1",
            )
            .bind(queue_id)
            .fetch_optional(self.db.pool())
            .await?;
            let Some((entry_id, pnr)) = next else {
                return Err(BookingError::QueueEmpty);
            };
            let pnr = Personnummer::from_canonical(&pnr)
                .map_err(|_| BookingError::Corrupt("personnummer"))?;
            // Logged before the booking is made; if another clinician wins this patient, the
            // entry stands for the attempt.
            let booking_id = new_id();
            self.log(staff, &pnr, Action::Create, &booking_id).await?;
            let patient = self.patient(&pnr).await?;
            let now = self.now();
            let slot = Slot {
                id: new_id(),
                care_unit: queue.care_unit.clone(),
                kind: SlotKind::Digital,
                place: None,
                mode: SlotMode::Single,
                capacity: 1,
                booked: 1,
                starts_at: now,
                ends_at: now + i64::from(queue.visit_minutes) * 60,
                starts: time::to_local(now)?,
                ends: time::to_local(now + i64::from(queue.visit_minutes) * 60)?,
                clinicians: vec![staff.actor.id.clone()],
                clinician_names: self.names_of(std::slice::from_ref(&staff.actor.id)).await?,
                origin: SlotOrigin::Dropin,
                withdrawn_at: None,
            };
            let mut tx = self.db.pool().begin().await?;
            let taken = sqlx::query(
                "UPDATE dropin_entries SET state = 'taken', ended_at = $1, taken_by = $2 \
                 WHERE id = $3 AND state = 'waiting'",
            )
            .bind(now)
            .bind(&staff.actor.id)
            .bind(&entry_id)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 0 {
                // Another clinician took them, or they left: try the next one.
                continue;
            }
            insert_slot(&mut tx, &slot, &staff.actor.id, now).await?;
            insert_booking(
                &mut tx,
                &patient,
                &slot,
                &booking_id,
                BookedBy::Staff,
                Some(&staff.actor.id),
                now,
            )
            .await?;
            sqlx::query("UPDATE dropin_entries SET booking_id = $1 WHERE id = $2")
                .bind(&booking_id)
                .bind(&entry_id)
                .execute(&mut *tx)
                .await?;
            let notice = YourTurn {
                notice_id: new_id(),
                account_id: patient.account_id.clone(),
                booking_id: booking_id.clone(),
                created_at: now,
            };
            sqlx::query(
                "INSERT INTO booking_notices (id, account_id, booking_id, kind, created_at) \
                 VALUES ($1, $2, $3, 'your_turn', $4)",
            )
            .bind(&notice.notice_id)
            .bind(&notice.account_id)
            .bind(&notice.booking_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // The outbox delivers it (SMS or e-mail to those who opted in).
            notifications::your_turn(&mut tx, &entry_id, &booking_id, now).await?;
            tx.commit().await?;
            let booking = self.load(&booking_id).await?;
            return Ok(Taken { booking, notice });
        }
        Err(BookingError::Conflict)
    }

    /// Notices not yet picked up, oldest first: what the notifications outbox will read.
    pub async fn pending_notices(&self, limit: u32) -> Result<Vec<YourTurn>, BookingError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT id, account_id, booking_id, created_at FROM booking_notices \
             WHERE picked_at IS NULL AND kind = 'your_turn' ORDER BY created_at, id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(notice_id, account_id, booking_id, created_at)| YourTurn {
                notice_id,
                account_id,
                booking_id,
                created_at,
            })
            .collect())
    }
}

fn queue_from_row(row: &AnyRow) -> Result<Queue, BookingError> {
    let opens_at: i64 = row.try_get("opens_at")?;
    let closes_at: i64 = row.try_get("closes_at")?;
    let visit_minutes: i64 = row.try_get("visit_minutes")?;
    let waiting: i64 = row.try_get("waiting")?;
    Ok(Queue {
        id: row.try_get("id")?,
        care_unit: row.try_get("care_unit")?,
        opens_at,
        closes_at,
        opens: time::to_local(opens_at).map_err(|_| BookingError::Corrupt("opens_at"))?,
        closes: time::to_local(closes_at).map_err(|_| BookingError::Corrupt("closes_at"))?,
        visit_minutes: u32::try_from(visit_minutes)
            .map_err(|_| BookingError::Corrupt("visit_minutes"))?,
        closed_at: row.try_get("closed_at")?,
        waiting: u32::try_from(waiting).map_err(|_| BookingError::Corrupt("waiting"))?,
    })
}
