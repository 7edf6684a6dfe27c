//! What a patient (or a guardian) sees of a booking's or slot's clinicians: their names where
//! the region lets patients see staff names in that kind of visit, else only their initials, as
//! in the call itself (`vardrum_sfu::initials`). Every patient-facing answer with bookings or
//! slots passes through [`PatientLens`]; staff always see full names.

use crate::portal::region::VideoPolicy;

use super::{Booking, Slot, SlotMode};

/// The region's naming rule, applied to what patients are sent.
#[derive(Debug, Clone, Copy)]
pub struct PatientLens {
    names_in_visits: bool,
    names_in_groups: bool,
}

impl PatientLens {
    pub fn new(video: &VideoPolicy) -> Self {
        Self {
            names_in_visits: video.patients_see_staff_names_in_visits,
            names_in_groups: video.patients_see_staff_names_in_groups,
        }
    }

    fn shows_names(&self, mode: SlotMode) -> bool {
        match mode {
            SlotMode::Single => self.names_in_visits,
            SlotMode::Group => self.names_in_groups,
        }
    }

    fn names(&self, mode: SlotMode, names: Vec<String>) -> Vec<String> {
        if self.shows_names(mode) {
            names
        } else {
            names.iter().map(|n| vardrum_sfu::initials(n)).collect()
        }
    }

    pub fn booking(&self, mut b: Booking) -> Booking {
        b.clinician_names = self.names(b.mode, std::mem::take(&mut b.clinician_names));
        b
    }

    pub fn bookings(&self, bookings: Vec<Booking>) -> Vec<Booking> {
        bookings.into_iter().map(|b| self.booking(b)).collect()
    }

    pub fn slot(&self, mut s: Slot) -> Slot {
        s.clinician_names = self.names(s.mode, std::mem::take(&mut s.clinician_names));
        s
    }

    pub fn slots(&self, slots: Vec<Slot>) -> Vec<Slot> {
        slots.into_iter().map(|s| self.slot(s)).collect()
    }
}
