//! Contact details people type into their profile, validated and normalised: a mobile number
//! (E.164 or the Swedish national form) and an e-mail address.
//!
//! Both are where notifications go (SMS and e-mail opt-ins), so a value that cannot be a
//! reachable address is refused at the edge with the field named, instead of failing silently
//! the first time a booking reminder is sent. Errors never echo the value: contact details are
//! personal data and errors end up in logs.
//!
//! | typed                  | stored          |
//! |------------------------|-----------------|
//! | `070-123 45 67`        | `+46701234567`  |
//! | `0701234567`           | `+46701234567`  |
//! | `+46 70 123 45 67`     | `+46701234567`  |
//! | `0046701234567`        | `+46701234567`  |
//! | `+358 40 123 4567`     | `+358401234567` |
//!
//! Swedish numbers must be mobile numbers (`07` and eight more digits): SMS cannot reach a
//! landline. Numbers in other countries are accepted in E.164 form without knowing their
//! numbering plans.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a field's value was refused. The value itself is never part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Empty,
    TooLong,
    /// Not the shape the field needs (a phone number, an e-mail address).
    Format,
    /// A Swedish number that cannot receive SMS (not `07...`).
    NotMobile,
    ControlCharacters,
    /// The setting needs a value in another field first (SMS notices need a mobile number).
    Requires(&'static str),
}

impl Problem {
    /// A stable, machine-readable code for API error bodies; the field is reported beside it.
    pub fn code(self) -> &'static str {
        match self {
            Problem::Empty => "empty",
            Problem::TooLong => "too_long",
            Problem::Format => "format",
            Problem::NotMobile => "not_mobile",
            Problem::ControlCharacters => "control_characters",
            Problem::Requires(_) => "requires_other_field",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("must not be empty"),
            Problem::TooLong => f.write_str("is too long"),
            Problem::Format => f.write_str("is not in a valid format"),
            Problem::NotMobile => {
                f.write_str("is not a Swedish mobile number (070, 072, 073, 076, 079 ...)")
            }
            Problem::ControlCharacters => f.write_str("contains control or invisible characters"),
            Problem::Requires(other) => write!(f, "needs {other} to be set"),
        }
    }
}

/// A refused value: which field, and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct FieldError {
    /// The API's name for the field, e.g. `mobile`, `email`, `given_name`.
    pub field: &'static str,
    pub problem: Problem,
}

impl FieldError {
    pub fn new(field: &'static str, problem: Problem) -> Self {
        Self { field, problem }
    }
}

/// A mobile number in E.164 form: `+` and 8 to 15 digits, the first not 0.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// E.164 allows at most 15 digits, country code included.
const E164_MAX_DIGITS: usize = 15;
/// The shortest complete international numbers in use have 8 digits with their country code.
const E164_MIN_DIGITS: usize = 8;

impl PhoneNumber {
    /// Reads a number as people write it. Spaces and hyphens between digits are ignored;
    /// a leading `00` is the international prefix, a single leading `0` means Sweden.
    pub fn parse(input: &str) -> Result<PhoneNumber, Problem> {
        let typed = input.trim();
        if typed.is_empty() {
            return Err(Problem::Empty);
        }
        if typed.chars().any(char::is_control) {
            return Err(Problem::ControlCharacters);
        }
        // Long enough for any number with generous spacing; stops work on absurd input early.
        if typed.len() > 40 {
            return Err(Problem::TooLong);
        }
        let (international, rest) = if let Some(rest) = typed.strip_prefix('+') {
            (true, rest)
        } else if let Some(rest) = typed.strip_prefix("00") {
            (true, rest)
        } else {
            (false, typed)
        };
        let mut digits = String::with_capacity(rest.len());
        let mut previous_was_separator = true; // no separator right after the prefix
        for c in rest.chars() {
            match c {
                '0'..='9' => {
                    digits.push(c);
                    previous_was_separator = false;
                }
                ' ' | '-' if !previous_was_separator => previous_was_separator = true,
                _ => return Err(Problem::Format),
            }
        }
        if previous_was_separator {
            // Empty, or ending in a separator.
            return Err(Problem::Format);
        }
        let e164 = if international {
            digits
        } else {
            // The Swedish national form: trunk prefix 0, then the number without it.
            match digits.strip_prefix('0') {
                Some(national) if !national.starts_with('0') => format!("46{national}"),
                _ => return Err(Problem::Format),
            }
        };
        if e164.starts_with('0') || e164.len() < E164_MIN_DIGITS || e164.len() > E164_MAX_DIGITS {
            return Err(Problem::Format);
        }
        if let Some(national) = e164.strip_prefix("46") {
            // Swedish mobile numbers are 07X XXX XX XX: '7' and eight digits after +46.
            if !national.starts_with('7') {
                return Err(Problem::NotMobile);
            }
            if national.len() != 9 {
                return Err(Problem::Format);
            }
        }
        Ok(PhoneNumber(format!("+{e164}")))
    }

    /// `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads the stored form back; anything else is refused (the caller reports corruption).
    pub fn from_stored(s: &str) -> Option<PhoneNumber> {
        match PhoneNumber::parse(s) {
            Ok(p) if p.0 == s => Some(p),
            _ => None,
        }
    }
}

impl fmt::Debug for PhoneNumber {
    /// Masked: `Debug` output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(****)")
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        PhoneNumber::parse(&s).map_err(|p| serde::de::Error::custom(format_args!("mobile {p}")))
    }
}

/// An e-mail address in the common `local@domain` form, domain lower-cased.
///
/// Deliberately narrower than RFC 5322 (no quoted local parts, comments or IP-literal domains):
/// what people actually use, and what every mail provider can deliver to. International domain
/// names (`åre.se`) are accepted as typed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// RFC 5321: 64 octets of local part, 254 for the whole address in a path.
const EMAIL_MAX_LOCAL: usize = 64;
const EMAIL_MAX_TOTAL: usize = 254;
const EMAIL_MAX_LABEL: usize = 63;

impl EmailAddress {
    pub fn parse(input: &str) -> Result<EmailAddress, Problem> {
        let typed = input.trim();
        if typed.is_empty() {
            return Err(Problem::Empty);
        }
        if typed.chars().any(char::is_control) {
            return Err(Problem::ControlCharacters);
        }
        if typed.len() > EMAIL_MAX_TOTAL {
            return Err(Problem::TooLong);
        }
        let Some((local, domain)) = typed.rsplit_once('@') else {
            return Err(Problem::Format);
        };
        if local.is_empty() || local.len() > EMAIL_MAX_LOCAL || !valid_local_part(local) {
            return Err(Problem::Format);
        }
        let domain = domain.to_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        // At least `name.tld`: a bare host name is not deliverable from the internet.
        if labels.len() < 2 || !labels.iter().all(|l| valid_domain_label(l)) {
            return Err(Problem::Format);
        }
        let tld = labels.last().copied().unwrap_or_default();
        if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
            return Err(Problem::Format);
        }
        Ok(EmailAddress(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads the stored form back; anything else is refused (the caller reports corruption).
    pub fn from_stored(s: &str) -> Option<EmailAddress> {
        match EmailAddress::parse(s) {
            Ok(e) if e.0 == s => Some(e),
            _ => None,
        }
    }
}

/// Dot-separated atoms of the characters RFC 5322 allows unquoted.
fn valid_local_part(local: &str) -> bool {
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
    })
}

/// Letters (any script, for international domain names), digits and inner hyphens.
fn valid_domain_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= EMAIL_MAX_LABEL
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_alphanumeric() || c == '-')
}

impl fmt::Debug for EmailAddress {
    /// Masked: `Debug` output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(****)")
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        EmailAddress::parse(&s).map_err(|p| serde::de::Error::custom(format_args!("email {p}")))
    }
}

/// Checks a person's name part (given or family name): trimmed, not empty, no control
/// characters, at most 100 characters. Returns the trimmed text.
pub fn name_part(field: &'static str, input: &str) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, Problem::Empty));
    }
    if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(FieldError::new(field, Problem::ControlCharacters));
    }
    // Sweden allows long double-barrelled names; 100 characters is far beyond any registered
    // one and keeps pages and notices readable.
    if name.chars().count() > 100 {
        return Err(FieldError::new(field, Problem::TooLong));
    }
    Ok(name.to_owned())
}

/// Characters that change how text around them is shown without being seen themselves: the
/// Unicode general categories Cf (format: zero-width spaces and joiners, the byte-order mark,
/// bidirectional embeddings, overrides and isolates, invisible operators, tags), Zl (U+2028)
/// and Zp (U+2029). In a name they hide or reorder what staff read ("Anna\u{202E}nossretteP"
/// shows as another name), so they are refused like control characters. The list is Unicode
/// 15.1's Cf, written out since the standard library does not expose general categories.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_bidirectional_characters_in_names_are_refused() {
        for bad in [
            "An\u{200B}na",
            "\u{FEFF}Anna",
            "Anna\u{202E}nossretteP",
            "An\u{2028}na",
            "An\u{2029}na",
            "An\u{2066}na\u{2069}",
            "An\u{00AD}na",
            "Anna\u{E0041}",
        ] {
            assert_eq!(
                name_part("given_name", bad),
                Err(FieldError::new("given_name", Problem::ControlCharacters)),
                "{bad:?}"
            );
        }
        // Letters of every script, and combining marks, are names.
        for good in [
            "Åsa-Britt",
            "Zoë",
            "Nguyễn",
            "Σοφία",
            "Ærøskøbing",
            "Ol\u{0301}af",
        ] {
            assert!(name_part("given_name", good).is_ok(), "{good:?}");
        }
    }

    // Numbers from PTS's series reserved for fiction (070-174 06 05 ... 070-174 06 99), so no
    // real person's number is written down here.
    #[test]
    fn swedish_forms_become_e164() {
        for typed in [
            "070-174 06 05",
            "0701740605",
            "070 174 06 05",
            "070-1740605",
            "+46 70 174 06 05",
            "+46701740605",
            "0046701740605",
            "  +46-70-174-06-05 ",
        ] {
            assert_eq!(
                PhoneNumber::parse(typed).map(|p| p.as_str().to_owned()),
                Ok("+46701740605".to_owned()),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn foreign_numbers_are_accepted_in_international_form() {
        assert_eq!(
            PhoneNumber::parse("+358 40 123 4567").unwrap().as_str(),
            "+358401234567"
        );
        assert_eq!(
            PhoneNumber::parse("0047 412 34 567").unwrap().as_str(),
            "+4741234567"
        );
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        for (typed, problem) in [
            ("", Problem::Empty),
            ("   ", Problem::Empty),
            ("070-174 06 0x", Problem::Format),
            ("070--1740605", Problem::Format),
            ("070-1740605-", Problem::Format),
            ("+ 46701740605", Problem::Format),
            ("(070) 1740605", Problem::Format),
            ("070174060", Problem::Format),         // a digit short
            ("07017406055", Problem::Format),       // a digit too many
            ("+4670174060", Problem::Format),       // the same, international
            ("+0701740605", Problem::Format),       // no country code starts with 0
            ("+1234567", Problem::Format),          // too short for any country
            ("+1234567890123456", Problem::Format), // 16 digits
            ("701740605", Problem::Format),         // neither national nor international
            ("000701740605", Problem::Format),
            ("090-785 00 00", Problem::NotMobile), // a landline: SMS cannot reach it
            ("+46 8 123 456 78", Problem::NotMobile),
            ("070\u{0}1740605", Problem::ControlCharacters),
            ("０７０１７４０６０５", Problem::Format), // full-width digits
        ] {
            assert_eq!(PhoneNumber::parse(typed), Err(problem), "{typed:?}");
        }
        assert_eq!(PhoneNumber::parse(&"1".repeat(41)), Err(Problem::TooLong));
    }

    #[test]
    fn stored_forms_read_back_only_when_canonical() {
        assert!(PhoneNumber::from_stored("+46701740605").is_some());
        assert!(PhoneNumber::from_stored("070-1740605").is_none());
        assert!(EmailAddress::from_stored("anna@example.org").is_some());
        assert!(EmailAddress::from_stored("anna@Example.org").is_none());
    }

    #[test]
    fn emails_are_checked_and_the_domain_lower_cased() {
        for (typed, stored) in [
            ("anna@example.org", "anna@example.org"),
            (
                "  Anna.Svensson+vard@Example.ORG ",
                "Anna.Svensson+vard@example.org",
            ),
            ("o'brien@mail.example.org", "o'brien@mail.example.org"),
            ("test@åre.se", "test@åre.se"),
            ("x@sub-domain.example.co", "x@sub-domain.example.co"),
        ] {
            assert_eq!(
                EmailAddress::parse(typed).map(|e| e.as_str().to_owned()),
                Ok(stored.to_owned()),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn bad_emails_are_refused() {
        for (typed, problem) in [
            ("", Problem::Empty),
            ("anna", Problem::Format),
            ("anna@", Problem::Format),
            ("@example.org", Problem::Format),
            ("anna@example", Problem::Format),
            ("anna@@example.org", Problem::Format),
            ("anna svensson@example.org", Problem::Format),
            ("anna@exa mple.org", Problem::Format),
            (".anna@example.org", Problem::Format),
            ("anna.@example.org", Problem::Format),
            ("an..na@example.org", Problem::Format),
            ("anna@-example.org", Problem::Format),
            ("anna@example..org", Problem::Format),
            ("anna@example.o", Problem::Format),
            ("anna@192.168.1.1", Problem::Format),
            ("\"anna\"@example.org", Problem::Format),
            ("an\u{7}na@example.org", Problem::ControlCharacters),
        ] {
            assert_eq!(EmailAddress::parse(typed), Err(problem), "{typed:?}");
        }
        // Surrounding whitespace, a trailing newline included, is trimmed like spaces are.
        assert!(EmailAddress::parse("anna@example.org\n").is_ok());
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert_eq!(EmailAddress::parse(&long_local), Err(Problem::Format));
        let long = format!("a@{}.org", "b".repeat(260));
        assert_eq!(EmailAddress::parse(&long), Err(Problem::TooLong));
    }

    #[test]
    fn debug_never_shows_the_value_and_errors_never_echo_it() {
        let p = PhoneNumber::parse("070-174 06 05").unwrap();
        let e = EmailAddress::parse("anna@example.org").unwrap();
        assert_eq!(
            format!("{p:?} {e:?}"),
            "PhoneNumber(****) EmailAddress(****)"
        );
        let err = FieldError::new("mobile", Problem::Format).to_string();
        assert_eq!(err, "mobile is not in a valid format");
        let de = serde_json::from_str::<PhoneNumber>("\"070-174 06 0x\"")
            .unwrap_err()
            .to_string();
        assert!(de.starts_with("mobile") && !de.contains("174"), "{de}");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            name_part("given_name", "  Anna Maria "),
            Ok("Anna Maria".into())
        );
        assert_eq!(
            name_part("family_name", " "),
            Err(FieldError::new("family_name", Problem::Empty))
        );
        assert_eq!(
            name_part("given_name", "An\u{1b}na"),
            Err(FieldError::new("given_name", Problem::ControlCharacters))
        );
        assert_eq!(
            name_part("given_name", &"Å".repeat(101)),
            Err(FieldError::new("given_name", Problem::TooLong))
        );
    }
}
