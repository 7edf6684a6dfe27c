//! Why an access to a patient's data was allowed, as the access log records it: the care
//! relationship the portal knows, an emergency access with its stated reason, the registration
//! of a new patient, or a system job's duty (patientdatalagen 4 kap. 1 § and 6 kap. 3 a §).

use std::fmt;

use serde::{Serialize, Serializer};

/// The ground for one logged access. Stored as text: `booking:<id>`, `conversation:<id>`,
/// `dropin:<queue id>`, `triage:<case id>`, `emergency:<emergency access id>`, `registration`
/// or `system`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Basis {
    /// A booking of the patient with the actor's care unit.
    Booking(String),
    /// A conversation of the patient with the actor's care unit.
    Conversation(String),
    /// The patient's place in a drop-in queue of the actor's care unit.
    DropIn(String),
    /// A triage case of the patient sent to the actor's care unit.
    TriageCase(String),
    /// No care relationship: an emergency access (nödåtkomst) with a stated reason, by its id.
    Emergency(String),
    /// Registering a patient who has no account yet: the start of a care relationship.
    Registration,
    /// A system job acting on the data (retention, delivery of notices).
    System,
}

impl Basis {
    /// The stored text.
    pub fn to_stored(&self) -> String {
        match self {
            Basis::Booking(id) => format!("booking:{id}"),
            Basis::Conversation(id) => format!("conversation:{id}"),
            Basis::DropIn(id) => format!("dropin:{id}"),
            Basis::TriageCase(id) => format!("triage:{id}"),
            Basis::Emergency(id) => format!("emergency:{id}"),
            Basis::Registration => "registration".into(),
            Basis::System => "system".into(),
        }
    }

    /// Reads a stored text back; `None` for text no version of this module writes.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "registration" => return Some(Basis::Registration),
            "system" => return Some(Basis::System),
            _ => {}
        }
        let (kind, id) = s.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        let id = id.to_owned();
        Some(match kind {
            "booking" => Basis::Booking(id),
            "conversation" => Basis::Conversation(id),
            "dropin" => Basis::DropIn(id),
            "triage" => Basis::TriageCase(id),
            "emergency" => Basis::Emergency(id),
            _ => return None,
        })
    }

    pub fn is_emergency(&self) -> bool {
        matches!(self, Basis::Emergency(_))
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored())
    }
}

impl Serialize for Basis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_stored())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_basis_reads_back_as_stored() {
        for basis in [
            Basis::Booking("b1".into()),
            Basis::Conversation("c1".into()),
            Basis::DropIn("q1".into()),
            Basis::TriageCase("t1".into()),
            Basis::Emergency("e1".into()),
            Basis::Registration,
            Basis::System,
        ] {
            assert_eq!(Basis::from_stored(&basis.to_stored()), Some(basis));
        }
        assert_eq!(Basis::from_stored("booking:"), None);
        assert_eq!(Basis::from_stored("friendship:1"), None);
        assert_eq!(Basis::from_stored(""), None);
    }
}
