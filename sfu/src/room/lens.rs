//! Who sees what of whom: the one place a participant's name is turned into what a viewer may
//! see. Staff see every participant's first and last name; a patient or guest sees other
//! patients and guests only by their initials (both regions' privacy policies say so of group
//! visits), and a clinician's full name only where the region allows it for that kind of room.
//!
//! Every message that names a person (participant objects, chat senders) is built through a
//! [`Lens`] made for its recipient, so a name a viewer may not see never leaves the server.

use vardrum_signalling::{Role, RoomKind};

/// The region's rule for clinicians' names as patients and guests see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamePolicy {
    /// Patients and guests see a clinician's full name in a 1:1 visit.
    pub staff_names_in_visits: bool,
    /// Patients and guests see a clinician's full name in a group visit.
    pub staff_names_in_groups: bool,
}

impl Default for NamePolicy {
    fn default() -> Self {
        Self {
            staff_names_in_visits: true,
            staff_names_in_groups: false,
        }
    }
}

/// How one viewer sees the others in one room.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lens {
    viewer: Role,
    kind: RoomKind,
    policy: NamePolicy,
}

impl Lens {
    pub fn new(viewer: Role, kind: RoomKind, policy: NamePolicy) -> Self {
        Self {
            viewer,
            kind,
            policy,
        }
    }

    /// The name of a person with `role` and `full_name` as this viewer may see it.
    pub fn name(&self, role: Role, full_name: &str) -> String {
        let full = match (self.viewer, role) {
            (Role::Clinician, _) => true,
            (_, Role::Clinician) => match self.kind {
                RoomKind::Visit => self.policy.staff_names_in_visits,
                RoomKind::Group => self.policy.staff_names_in_groups,
            },
            _ => false,
        };
        if full {
            full_name.to_owned()
        } else {
            initials(full_name)
        }
    }
}

/// "Anna Berg" → "A. B."; at most three initials, so a long name does not become a clue.
pub fn initials(name: &str) -> String {
    let letters: Vec<String> = name
        .split_whitespace()
        .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
        .take(3)
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect();
    if letters.is_empty() {
        "?".into()
    } else {
        letters.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_of_names_people_have() {
        assert_eq!(initials("Anna Berg"), "A. B.");
        assert_eq!(initials("  åsa   öberg "), "Å. Ö.");
        assert_eq!(initials("Karl-Johan von Essen Ek"), "K. V. E.");
        assert_eq!(initials("Pat"), "P.");
        assert_eq!(initials("(Anna) Berg"), "A. B.");
        assert_eq!(initials(""), "?");
    }

    #[test]
    fn staff_see_names_and_patients_see_initials_of_patients() {
        let policy = NamePolicy::default();
        for kind in [RoomKind::Visit, RoomKind::Group] {
            let staff = Lens::new(Role::Clinician, kind, policy);
            assert_eq!(staff.name(Role::Patient, "Patient Pat"), "Patient Pat");
            for viewer in [Role::Patient, Role::Guest] {
                let lens = Lens::new(viewer, kind, policy);
                assert_eq!(lens.name(Role::Patient, "Patient Pat"), "P. P.");
                assert_eq!(lens.name(Role::Guest, "Tolk Ali Hassan"), "T. A. H.");
            }
        }
    }

    #[test]
    fn a_clinicians_name_follows_the_region_rule_per_kind_of_room() {
        let default = NamePolicy::default();
        let visit = Lens::new(Role::Patient, RoomKind::Visit, default);
        let group = Lens::new(Role::Patient, RoomKind::Group, default);
        assert_eq!(visit.name(Role::Clinician, "Anna Berg"), "Anna Berg");
        assert_eq!(group.name(Role::Clinician, "Anna Berg"), "A. B.");
        let strict = NamePolicy {
            staff_names_in_visits: false,
            staff_names_in_groups: false,
        };
        let visit = Lens::new(Role::Guest, RoomKind::Visit, strict);
        assert_eq!(visit.name(Role::Clinician, "Anna Berg"), "A. B.");
        let open = NamePolicy {
            staff_names_in_visits: true,
            staff_names_in_groups: true,
        };
        let group = Lens::new(Role::Patient, RoomKind::Group, open);
        assert_eq!(group.name(Role::Clinician, "Anna Berg"), "Anna Berg");
        assert_eq!(group.name(Role::Patient, "Patient Pat"), "P. P.");
    }
}
