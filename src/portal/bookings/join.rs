//! Joining a digital booking's video room: who may, from when until when, and what their join
//! token grants. The token itself is minted by the signalling crate's `TokenIssuer` from the
//! [`Grant`] returned here, there and then; no long-lived join link is ever sent.

use vardrum_signalling::token::{Grant, TokenError, TokenIssuer};
use vardrum_signalling::{Role, RoomKind};

use crate::portal::accounts::StaffAccess;
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::audit::Action;

use super::booking::Booking;
use super::slots::{SlotKind, SlotMode};
use super::{BookingError, Bookings, require_clinician};

/// Who asks to join.
#[derive(Debug, Clone, Copy)]
pub enum Joiner<'a> {
    /// The booking's patient, or a guardian acting for them (from the session).
    Patient(&'a ActingAs),
    /// A staff member: must be a clinician of the booking's slot, in its care unit.
    Staff(&'a StaffAccess),
}

/// Permission to join now: what the join token grants, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinPermit {
    /// Identity, display name, room, role, kind (visit or group) and the booking claim. For a
    /// clinician in a group room the booking claim is absent: the room is shared, and files
    /// they upload must not be kept with one patient's booking.
    pub grant: Grant,
    /// The token's lifetime in seconds: at most the policy's `join_token_max_secs`, and never
    /// past the moment the join window closes.
    pub ttl_secs: u64,
    /// Unix seconds: `now + ttl_secs`.
    pub expires_at: i64,
}

impl JoinPermit {
    /// Mints the join token with the signalling crate's issuer.
    pub fn mint(&self, issuer: &TokenIssuer, now_unix: u64) -> Result<String, TokenError> {
        issuer.mint(&self.grant, now_unix, self.ttl_secs)
    }
}

impl Bookings {
    /// Decides whether `who` may join the booking's video room now. The window opens
    /// `join_opens_minutes_before` the start and closes `join_closes_minutes_after` the end,
    /// or as soon as the booking has ended (done, cancelled, no-show).
    pub async fn join(
        &self,
        who: Joiner<'_>,
        booking_id: &str,
    ) -> Result<JoinPermit, BookingError> {
        let booking = self.load(booking_id).await?;
        // Whose booking first: a stranger learns nothing about its times.
        match who {
            Joiner::Patient(acting) => {
                if booking.patient.personnummer != *acting.subject() {
                    return Err(BookingError::NotYourBooking);
                }
            }
            Joiner::Staff(staff) => {
                require_clinician(staff)?;
                if booking.care_unit != staff.actor.care_unit {
                    return Err(BookingError::WrongCareUnit);
                }
                if !booking.clinicians.contains(&staff.actor.id) {
                    return Err(BookingError::NotYourBooking);
                }
            }
        }
        let (ttl_secs, expires_at) = self.window(&booking)?;
        let (identity, name, role) = match who {
            // A guardian joins as the child's party: the clinician sees the patient.
            Joiner::Patient(_) => (
                format!("patient-{}", booking.patient.account_id),
                format!(
                    "{} {}",
                    booking.patient.given_name, booking.patient.family_name
                ),
                Role::Patient,
            ),
            Joiner::Staff(staff) => {
                self.log(
                    staff,
                    &booking.patient.personnummer,
                    Action::Read,
                    &booking.id,
                )
                .await?;
                let name = self.staff_name(&staff.actor.id).await?;
                (format!("staff-{}", staff.actor.id), name, Role::Clinician)
            }
        };
        let (Some(room), SlotKind::Digital) = (booking.room.clone(), booking.kind) else {
            return Err(BookingError::NotDigital);
        };
        let kind = match booking.mode {
            SlotMode::Single => RoomKind::Visit,
            SlotMode::Group => RoomKind::Group,
        };
        let booking_claim = match (role, kind) {
            (Role::Clinician, RoomKind::Group) => None,
            _ => Some(booking.id.clone()),
        };
        Ok(JoinPermit {
            grant: Grant {
                identity,
                name,
                room,
                role,
                kind,
                booking: booking_claim,
            },
            ttl_secs,
            expires_at,
        })
    }

    /// The token's lifetime and expiry if the window is open now.
    fn window(&self, booking: &Booking) -> Result<(u64, i64), BookingError> {
        if booking.kind != SlotKind::Digital {
            return Err(BookingError::NotDigital);
        }
        if booking.is_ended() {
            return Err(BookingError::BookingEnded);
        }
        let now = self.now();
        let opens_at = booking.starts_at - i64::from(self.policy.join_opens_minutes_before) * 60;
        let closes_at = booking.ends_at + i64::from(self.policy.join_closes_minutes_after) * 60;
        if now < opens_at {
            return Err(BookingError::JoinNotOpen { opens_at });
        }
        if now >= closes_at {
            return Err(BookingError::JoinClosed);
        }
        let left = u64::try_from(closes_at - now).unwrap_or(0);
        let ttl = left.min(self.policy.join_token_max_secs).max(1);
        Ok((ttl, now.saturating_add(i64::try_from(ttl).unwrap_or(0))))
    }

    async fn staff_name(&self, staff_id: &str) -> Result<String, BookingError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT given_name, family_name FROM staff WHERE id = $1")
                .bind(staff_id)
                .fetch_optional(self.db.pool())
                .await?;
        let (given, family) = row.ok_or(BookingError::NotClinician)?;
        Ok(format!("{given} {family}"))
    }
}
