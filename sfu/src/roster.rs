//! Who sees what of whom. Staff see every participant's full name; a patient or guest sees the
//! others only by their initials (both regions' privacy policies say so). The room renders the
//! roster per viewer, so a name a viewer may not see never leaves the server.

use vardrum_signalling::{ParticipantInfo, Role};

/// `subject` as `viewer` may see it.
pub fn as_seen_by(viewer: Role, subject: &ParticipantInfo) -> ParticipantInfo {
    match viewer {
        Role::Clinician => subject.clone(),
        Role::Patient | Role::Guest => ParticipantInfo {
            name: initials(&subject.name),
            ..subject.clone()
        },
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
    use vardrum_signalling::ParticipantState;

    fn person(name: &str, role: Role) -> ParticipantInfo {
        ParticipantInfo {
            id: "x".into(),
            name: name.into(),
            role,
            state: ParticipantState::Active,
            audio_muted: false,
            video_muted: false,
        }
    }

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
    fn staff_see_names_and_patients_see_initials() {
        let pat = person("Patient Pat", Role::Patient);
        assert_eq!(as_seen_by(Role::Clinician, &pat).name, "Patient Pat");
        assert_eq!(as_seen_by(Role::Patient, &pat).name, "P. P.");
        assert_eq!(as_seen_by(Role::Guest, &pat).name, "P. P.");
        let anna = person("Anna Berg", Role::Clinician);
        assert_eq!(as_seen_by(Role::Patient, &anna).name, "A. B.");
        // Everything but the name is the same for every viewer.
        assert_eq!(as_seen_by(Role::Patient, &anna).role, Role::Clinician);
    }
}
