//! Why a booking operation was refused: one typed error per reason, each with a stable code for
//! the API, and each leaving the database as it was.

use crate::portal::audit::AuditError;

use super::time::TimeError;

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// A field of a request is refused; names the field, never echoes the value.
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error(transparent)]
    Time(#[from] TimeError),
    /// The patient has no account in the portal (a guardian's child gets one when the guardian
    /// first acts for it; staff can register one).
    #[error("the patient has no account")]
    NoAccount,
    /// Only clinicians book, move, cancel and see patients' bookings; administrators are not
    /// given patient data by their role alone.
    #[error("only a clinician may do this")]
    NotClinician,
    /// The slot, booking or queue belongs to another care unit than the staff member's active
    /// one (or a reschedule goes to another unit's slot).
    #[error("this belongs to another care unit")]
    WrongCareUnit,
    /// A clinician named for a slot is not a clinician of the care unit.
    #[error("clinician {staff_id} does not work as a clinician in this care unit")]
    NotAClinicianOfUnit { staff_id: String },
    /// No bookable slot with this id (never published, or withdrawn).
    #[error("no such slot")]
    SlotNotFound,
    /// The slot has started or passed: bookings are for the future.
    #[error("the slot is in the past")]
    SlotInPast,
    /// Every place of the slot is taken.
    #[error("the slot is fully booked")]
    SlotFull,
    /// A slot with bookings cannot be withdrawn; move or cancel them first.
    #[error("the slot has bookings")]
    SlotHasBookings,
    /// The patient already has a booking in this slot.
    #[error("the patient already has a booking in this slot")]
    AlreadyBooked,
    /// The patient has another booking at an overlapping time.
    #[error("the patient has another booking at that time")]
    Overlapping { booking_id: String },
    #[error("no such booking")]
    BookingNotFound,
    /// The booking is someone else's: not the patient's (or the child's the guardian acts for),
    /// or, for staff joining, one they are not booked on.
    #[error("this is not your booking")]
    NotYourBooking,
    /// The booking has ended (done, cancelled or no-show) and cannot change or be joined.
    #[error("the booking has ended")]
    BookingEnded,
    /// A patient changes or cancels a booking only before it starts.
    #[error("the booking has started; contact the care unit")]
    TooLateToChange,
    /// Done or no-show can be recorded only once the booking has started.
    #[error("the booking has not started yet")]
    NotStarted,
    /// A physical booking has no video room.
    #[error("the booking is not a video visit")]
    NotDigital,
    /// Join opens a few minutes before the start.
    #[error("the visit can be joined from {opens_at}")]
    JoinNotOpen { opens_at: i64 },
    /// Join closed some time after the end.
    #[error("the visit can no longer be joined")]
    JoinClosed,
    #[error("no such drop-in queue")]
    QueueNotFound,
    /// Joining a queue outside its window, or one staff have closed.
    #[error("the drop-in queue is not open")]
    QueueNotOpen,
    #[error("the patient is already in this queue")]
    AlreadyQueued,
    #[error("the patient is not waiting in this queue")]
    NotQueued,
    #[error("nobody is waiting in the queue")]
    QueueEmpty,
    /// Someone changed the booking at the same moment; nothing was changed, try again.
    #[error("the booking changed meanwhile; try again")]
    Conflict,
    #[error("stored booking data is corrupt: {0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("bookings: database: {0}")]
    Database(#[from] sqlx::Error),
}

impl BookingError {
    /// A stable, machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            BookingError::Invalid { .. } => "invalid_field",
            BookingError::Time(TimeError::Nonexistent { .. }) => "nonexistent_local_time",
            BookingError::Time(TimeError::Format) => "invalid_local_time",
            BookingError::Time(TimeError::OutOfRange) => "time_out_of_range",
            BookingError::Time(TimeError::ZoneUnavailable) => "internal",
            BookingError::NoAccount => "no_account",
            BookingError::NotClinician => "not_clinician",
            BookingError::WrongCareUnit => "wrong_care_unit",
            BookingError::NotAClinicianOfUnit { .. } => "not_a_clinician_of_unit",
            BookingError::SlotNotFound => "slot_not_found",
            BookingError::SlotInPast => "slot_in_past",
            BookingError::SlotFull => "slot_full",
            BookingError::SlotHasBookings => "slot_has_bookings",
            BookingError::AlreadyBooked => "already_booked",
            BookingError::Overlapping { .. } => "overlapping_booking",
            BookingError::BookingNotFound => "booking_not_found",
            BookingError::NotYourBooking => "not_your_booking",
            BookingError::BookingEnded => "booking_ended",
            BookingError::TooLateToChange => "too_late_to_change",
            BookingError::NotStarted => "not_started",
            BookingError::NotDigital => "not_digital",
            BookingError::JoinNotOpen { .. } => "join_not_open",
            BookingError::JoinClosed => "join_closed",
            BookingError::QueueNotFound => "queue_not_found",
            BookingError::QueueNotOpen => "queue_not_open",
            BookingError::AlreadyQueued => "already_queued",
            BookingError::NotQueued => "not_queued",
            BookingError::QueueEmpty => "queue_empty",
            BookingError::Conflict => "conflict",
            BookingError::Corrupt(_) | BookingError::Audit(_) | BookingError::Database(_) => {
                "internal"
            }
        }
    }
}

/// Whether a database error is a unique-index violation (the race arbiter on both backends).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
