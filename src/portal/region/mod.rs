//! Region policy: what differs between the regions that run vardrum, read from
//! `config/regions/NAME.toml`.
//!
//! One deployment serves one region, and that region is the data controller. The two example
//! files, `vasterbotten.toml` and `jonkoping.toml`, carry the values from those regions'
//! published privacy policies (`shared/seeds/`); every setting below exists because the two
//! policies differ on it, or because the portal must show it to people:
//!
//! - who the data controller and its data protection officer (DPO) are, and where support is;
//! - protected identity (skyddade personuppgifter): refuse the person with an explanation
//!   (Västerbotten) or let them in and mark them clearly for staff (Jönköping);
//! - the age at which a guardian's proxy access to a child ends;
//! - retention: days without login before an idle account is deleted, days after a visit,
//!   conversation or booking ends before its data is deleted, and years the PDL access log is
//!   kept;
//! - which features the policy covers (the automated triage chat appears in one only);
//! - the privacy policy in force: version, date, whether it is significant (users must take a
//!   stand before continuing), and its text;
//! - region-specific texts people see, in Swedish and English.
//!
//! Unknown keys are refused, so a misspelt setting fails at start-up instead of silently taking
//! a default that may break the region's own policy.

pub mod policy;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::portal::bookings::BookingPolicy;
use crate::portal::identity::personnummer::Date;
use crate::portal::notifications::{MAX_REMINDER_HOURS, NotificationPolicy};

/// The policy of the region this deployment serves. Field names are the TOML keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Short identifier, e.g. `vasterbotten`: lower-case ASCII, digits and `-`.
    pub id: String,
    /// The region as it names itself, e.g. "Region Västerbotten".
    pub region_name: String,
    /// The service as people know it, e.g. "1177 direkt Västerbotten".
    pub service_name: String,
    pub data_controller: DataController,
    /// Where people get help with the service. Not every policy names one.
    #[serde(default)]
    pub support: Option<SupportContact>,
    pub identity: IdentityPolicy,
    pub retention: Retention,
    pub features: Features,
    /// Video visits: the waiting room and which names patients see.
    #[serde(default)]
    pub video: VideoPolicy,
    /// Bookings: when Join opens and closes, how long its token lasts, slot limits. Neither
    /// policy states these; each region sets its own (the defaults otherwise).
    #[serde(default)]
    pub bookings: BookingPolicy,
    /// Notices: how long before a booking its reminder goes out.
    #[serde(default)]
    pub notifications: NotificationPolicy,
    pub privacy_policy: PrivacyPolicy,
    pub texts: Texts,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataController {
    /// The legal person responsible (personuppgiftsansvarig), e.g. "Region Västerbotten".
    pub name: String,
    /// The body within the region that holds the responsibility, where the policy names one.
    #[serde(default)]
    pub responsible_body: Option<String>,
    /// How to reach the data protection officer: at least one of the two.
    #[serde(default)]
    pub dpo_email: Option<String>,
    #[serde(default)]
    pub dpo_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportContact {
    pub name: String,
    /// As people dial it in Sweden, e.g. "090-785 00 00".
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityPolicy {
    pub protected_identity: ProtectedIdentityRule,
    /// A guardian can act for a child until the child reaches this age (13 in Sweden today).
    pub proxy_age_limit: u8,
}

/// What the portal does with a person whose personal details are protected
/// (skyddade personuppgifter), as the population register reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtectedIdentityRule {
    /// Refuse, and tell them where to get care instead (`texts.protected_identity_refused`).
    Deny,
    /// Let them in and mark them clearly for staff (`texts.protected_identity_staff_marker`).
    AllowAndMark,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// An account with no login for this many days and no ongoing case is deleted.
    pub inactive_account_days: u32,
    /// Bookings, messages, files and other case data are deleted this many days after the
    /// visit, conversation or booking ended (sooner if the account goes first).
    pub case_data_days: u32,
    /// The PDL access log is kept this many years.
    pub access_log_years: u32,
}

impl Retention {
    pub fn inactive_account(&self) -> Duration {
        days(self.inactive_account_days)
    }

    pub fn case_data(&self) -> Duration {
        days(self.case_data_days)
    }
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 86_400)
}

/// Features whose processing the region's privacy policy must describe before they may run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// The automated triage chat (questions, urgency and diagnosis suggestions seen by staff
    /// only). Västerbotten's policy describes it; Jönköping's does not.
    pub automated_triage: bool,
}

/// What the region's policy says of video visits. Both policies say that in a group visit staff
/// see every participant's first and last name and a patient sees the others' initials; they
/// differ on whether that holds in every call (Jönköping: it is said of video calls in general).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoPolicy {
    /// A patient or guest in a 1:1 visit sees the clinician's full name (else initials).
    pub patients_see_staff_names_in_visits: bool,
    /// A patient or guest in a group visit sees clinicians' full names (else initials).
    pub patients_see_staff_names_in_groups: bool,
    /// Patients and guests of 1:1 visits wait in the waiting room until a clinician admits
    /// them (group visits always have one).
    pub waiting_room_in_visits: bool,
}

impl Default for VideoPolicy {
    fn default() -> Self {
        Self {
            patients_see_staff_names_in_visits: true,
            patients_see_staff_names_in_groups: false,
            waiting_room_in_visits: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyPolicy {
    /// Identifies the version users take a stand on; change it with every published text.
    pub version: String,
    /// The date the region gives as "last updated", a TOML date such as `2025-11-12`.
    #[serde(deserialize_with = "toml_date")]
    pub published: Date,
    /// A significant change: users are shown the policy and must take a stand before they
    /// continue. Both policies promise this for significant changes.
    pub significant: bool,
    /// The Swedish text (Markdown); relative paths are relative to the region file.
    pub text_sv: PathBuf,
    /// An English text, if the region has published one; otherwise the Swedish one is shown.
    #[serde(default)]
    pub text_en: Option<PathBuf>,
}

impl PrivacyPolicy {
    /// The policy text's file for a language, falling back to Swedish.
    pub fn text_path(&self, lang: Language) -> &Path {
        match (lang, &self.text_en) {
            (Language::En, Some(en)) => en,
            _ => &self.text_sv,
        }
    }
}

/// The portal's two languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Sv,
    En,
}

/// One text in both languages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub sv: String,
    pub en: String,
}

impl Localized {
    pub fn get(&self, lang: Language) -> &str {
        match lang {
            Language::Sv => &self.sv,
            Language::En => &self.en,
        }
    }
}

/// Region-specific texts people see. Which ones are required depends on the rules above.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    /// Shown instead of the portal to a person with protected identity when the rule is `deny`.
    #[serde(default)]
    pub protected_identity_refused: Option<Localized>,
    /// The marker staff see on a patient with protected identity when the rule is
    /// `allow_and_mark`.
    #[serde(default)]
    pub protected_identity_staff_marker: Option<Localized>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegionConfigError {
    #[error("cannot read region config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("region config {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("region config: {field} {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("region config: privacy policy text {path} cannot be read: {source}")]
    PolicyText {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> RegionConfigError {
    RegionConfigError::Invalid {
        field,
        problem: problem.into(),
    }
}

impl RegionConfig {
    /// Reads, validates and checks a region file, resolving the policy text paths against the
    /// file's directory; the texts must exist, so a deployment cannot start without its policy.
    pub fn load(path: &Path) -> Result<RegionConfig, RegionConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegionConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let config = RegionConfig::from_toml(&text, base).map_err(|e| match e {
            RegionConfigError::Parse { message, .. } => RegionConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        for text in [
            Some(&config.privacy_policy.text_sv),
            config.privacy_policy.text_en.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            std::fs::metadata(text)
                .and_then(|m| {
                    if m.is_file() {
                        Ok(())
                    } else {
                        Err(std::io::Error::other("not a file"))
                    }
                })
                .map_err(|source| RegionConfigError::PolicyText {
                    path: text.clone(),
                    source,
                })?;
        }
        Ok(config)
    }

    /// Parses and validates TOML text; relative policy text paths are joined to `base`.
    /// Does not touch the file system.
    pub fn from_toml(text: &str, base: &Path) -> Result<RegionConfig, RegionConfigError> {
        let mut config: RegionConfig =
            toml::from_str(text).map_err(|e| RegionConfigError::Parse {
                // `load` puts the file's path here; text from elsewhere has none.
                path: PathBuf::from("(region TOML)"),
                message: e.to_string(),
            })?;
        let policy = &mut config.privacy_policy;
        policy.text_sv = base.join(&policy.text_sv);
        policy.text_en = policy.text_en.as_ref().map(|p| base.join(p));
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types cannot: ranges, required contacts, and the texts each rule needs.
    pub fn validate(&self) -> Result<(), RegionConfigError> {
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "id",
                "must be lower-case ASCII letters, digits and '-'",
            ));
        }
        non_empty("region_name", &self.region_name)?;
        non_empty("service_name", &self.service_name)?;

        let dc = &self.data_controller;
        non_empty("data_controller.name", &dc.name)?;
        if let Some(body) = &dc.responsible_body {
            non_empty("data_controller.responsible_body", body)?;
        }
        match (&dc.dpo_email, &dc.dpo_url) {
            (None, None) => {
                return Err(invalid(
                    "data_controller",
                    "needs dpo_email or dpo_url: people must be able to reach the DPO",
                ));
            }
            (email, url) => {
                if let Some(e) = email {
                    email_like("data_controller.dpo_email", e)?;
                }
                if let Some(u) = url {
                    https_url("data_controller.dpo_url", u)?;
                }
            }
        }

        if let Some(s) = &self.support {
            non_empty("support.name", &s.name)?;
            if s.phone.is_none() && s.email.is_none() && s.url.is_none() {
                return Err(invalid("support", "needs a phone, email or url"));
            }
            if let Some(p) = &s.phone {
                non_empty("support.phone", p)?;
            }
            if let Some(e) = &s.email {
                email_like("support.email", e)?;
            }
            if let Some(u) = &s.url {
                https_url("support.url", u)?;
            }
        }

        if self.identity.proxy_age_limit > 18 {
            return Err(invalid(
                "identity.proxy_age_limit",
                "must be 0..=18: guardianship ends at 18",
            ));
        }

        let r = &self.retention;
        for (field, value) in [
            ("retention.inactive_account_days", r.inactive_account_days),
            ("retention.case_data_days", r.case_data_days),
            ("retention.access_log_years", r.access_log_years),
        ] {
            if value == 0 {
                return Err(invalid(
                    field,
                    "must be above 0: 0 would delete data as soon as it is written",
                ));
            }
        }

        let p = &self.privacy_policy;
        non_empty("privacy_policy.version", &p.version)?;
        if p.text_sv.as_os_str().is_empty() {
            return Err(invalid("privacy_policy.text_sv", "must name a file"));
        }

        let t = &self.texts;
        match self.identity.protected_identity {
            ProtectedIdentityRule::Deny => localized(
                "texts.protected_identity_refused",
                t.protected_identity_refused.as_ref(),
                "protected_identity = \"deny\"",
            )?,
            ProtectedIdentityRule::AllowAndMark => localized(
                "texts.protected_identity_staff_marker",
                t.protected_identity_staff_marker.as_ref(),
                "protected_identity = \"allow_and_mark\"",
            )?,
        }
        self.validate_bookings()
    }

    /// The `[bookings]` limits. A Join token is a bearer credential to a visit: it must stay
    /// short-lived whatever a region writes, and Join must not open hours ahead.
    fn validate_bookings(&self) -> Result<(), RegionConfigError> {
        let b = &self.bookings;
        let within = |field: &'static str, value: u64, range: std::ops::RangeInclusive<u64>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(invalid(
                    field,
                    format!(
                        "must be from {} to {} (is {value})",
                        range.start(),
                        range.end()
                    ),
                ))
            }
        };
        within(
            "bookings.join_opens_minutes_before",
            b.join_opens_minutes_before.into(),
            0..=60,
        )?;
        within(
            "bookings.join_closes_minutes_after",
            b.join_closes_minutes_after.into(),
            0..=240,
        )?;
        within(
            "bookings.join_token_max_secs",
            b.join_token_max_secs,
            60..=3600,
        )?;
        within(
            "bookings.max_group_capacity",
            b.max_group_capacity.into(),
            2..=100,
        )?;
        within(
            "bookings.max_slot_minutes",
            b.max_slot_minutes.into(),
            5..=24 * 60,
        )?;
        // 0 turns reminders off; more than a week ahead is not a reminder.
        within(
            "notifications.reminder_hours_before",
            self.notifications.reminder_hours_before.into(),
            0..=MAX_REMINDER_HOURS.into(),
        )
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), RegionConfigError> {
    if value.trim().is_empty() {
        Err(invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

fn email_like(field: &'static str, value: &str) -> Result<(), RegionConfigError> {
    match value.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(()),
        _ => Err(invalid(field, "must be an e-mail address")),
    }
}

fn https_url(field: &'static str, value: &str) -> Result<(), RegionConfigError> {
    if value.starts_with("https://") && value.len() > "https://".len() {
        Ok(())
    } else {
        Err(invalid(field, "must be an https:// URL"))
    }
}

fn localized(
    field: &'static str,
    text: Option<&Localized>,
    because: &str,
) -> Result<(), RegionConfigError> {
    match text {
        None => Err(invalid(field, format!("is required by {because}"))),
        Some(t) if t.sv.trim().is_empty() || t.en.trim().is_empty() => {
            Err(invalid(field, "needs both sv and en"))
        }
        Some(_) => Ok(()),
    }
}

/// A TOML local date (`2025-11-12`, no time, no offset) as a [`Date`].
fn toml_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
    use serde::de::Error;
    let dt = toml::value::Datetime::deserialize(deserializer)?;
    match (dt.date, dt.time, dt.offset) {
        (Some(d), None, None) => Date::new(i32::from(d.year), d.month, d.day)
            .ok_or_else(|| D::Error::custom("the date does not exist")),
        _ => Err(D::Error::custom(
            "expected a date without time, e.g. 2025-11-12",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> RegionConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/regions")
            .join(format!("{name}.toml"));
        RegionConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::new(y, m, d).expect("test date exists")
    }

    #[test]
    fn both_shipped_regions_load_and_validate() {
        for name in ["vasterbotten", "jonkoping"] {
            let c = shipped(name);
            assert_eq!(c.id, name);
            c.validate().expect("validates again after load");
            for lang in [Language::Sv, Language::En] {
                let text = std::fs::read_to_string(c.privacy_policy.text_path(lang))
                    .expect("policy text readable");
                assert!(
                    text.contains(&c.region_name),
                    "{name}: policy names the region"
                );
            }
        }
    }

    #[test]
    fn vasterbotten_matches_its_policy() {
        let c = shipped("vasterbotten");
        assert_eq!(c.region_name, "Region Västerbotten");
        assert_eq!(c.service_name, "1177 direkt Västerbotten");
        assert_eq!(c.data_controller.name, "Region Västerbotten");
        assert_eq!(
            c.data_controller.dpo_email.as_deref(),
            Some("dataskyddsombud@regionvasterbotten.se")
        );
        let support = c.support.as_ref().expect("support contact");
        assert_eq!(support.name, "Servicecenter Region Västerbotten");
        assert_eq!(support.phone.as_deref(), Some("090-785 00 00"));
        assert_eq!(c.identity.protected_identity, ProtectedIdentityRule::Deny);
        assert_eq!(c.identity.proxy_age_limit, 13);
        assert_eq!(c.retention.inactive_account_days, 60);
        assert_eq!(c.retention.case_data_days, 60);
        assert_eq!(c.retention.access_log_years, 5);
        assert_eq!(
            c.retention.inactive_account(),
            Duration::from_secs(60 * 86_400)
        );
        assert!(c.features.automated_triage);
        assert_eq!(c.privacy_policy.published, date(2025, 11, 12));
        let refused = c
            .texts
            .protected_identity_refused
            .as_ref()
            .expect("deny needs a refusal text");
        for needle in ["1177", "hälsocentral", "jourmottagning"] {
            assert!(refused.get(Language::Sv).contains(needle), "{needle}");
        }
        assert!(refused.get(Language::En).contains("1177"));
    }

    #[test]
    fn jonkoping_matches_its_policy() {
        let c = shipped("jonkoping");
        assert_eq!(c.region_name, "Region Jönköpings län");
        assert_eq!(c.service_name, "Min vård Region Jönköpings län");
        assert_eq!(c.data_controller.name, "Region Jönköpings län");
        assert_eq!(
            c.data_controller.responsible_body.as_deref(),
            Some("Nämnden för folkhälsa och sjukvård")
        );
        assert!(c.data_controller.dpo_url.is_some());
        assert_eq!(
            c.identity.protected_identity,
            ProtectedIdentityRule::AllowAndMark
        );
        assert_eq!(c.identity.proxy_age_limit, 13);
        assert_eq!(c.retention.inactive_account_days, 730);
        assert_eq!(c.retention.case_data_days, 30);
        assert_eq!(c.retention.access_log_years, 5);
        assert_eq!(c.retention.case_data(), Duration::from_secs(30 * 86_400));
        assert!(!c.features.automated_triage);
        assert_eq!(c.privacy_policy.published, date(2026, 1, 12));
        assert!(c.texts.protected_identity_staff_marker.is_some());
    }

    #[test]
    fn the_regions_differ_where_their_policies_do() {
        let v = shipped("vasterbotten");
        let j = shipped("jonkoping");
        assert_ne!(v.identity.protected_identity, j.identity.protected_identity);
        assert_ne!(
            v.retention.inactive_account_days,
            j.retention.inactive_account_days
        );
        assert_ne!(v.retention.case_data_days, j.retention.case_data_days);
        assert_ne!(v.features.automated_triage, j.features.automated_triage);
    }

    /// A minimal valid region, for tests that break one thing at a time.
    const MINIMAL: &str = r#"
id = "test"
region_name = "Region Test"
service_name = "Test"

[data_controller]
name = "Region Test"
dpo_email = "dpo@example.org"

[identity]
protected_identity = "deny"
proxy_age_limit = 13

[retention]
inactive_account_days = 60
case_data_days = 60
access_log_years = 5

[features]
automated_triage = false

[privacy_policy]
version = "2025-11-12"
published = 2025-11-12
significant = false
text_sv = "policy.sv.md"

[texts.protected_identity_refused]
sv = "Ring 1177."
en = "Call 1177."
"#;

    fn parse(text: &str) -> Result<RegionConfig, RegionConfigError> {
        RegionConfig::from_toml(text, Path::new("/etc/vardrum/regions"))
    }

    #[test]
    fn minimal_region_parses_and_resolves_paths_against_the_file() {
        let c = parse(MINIMAL).expect("minimal region");
        assert_eq!(
            c.privacy_policy.text_sv,
            Path::new("/etc/vardrum/regions/policy.sv.md")
        );
        // No English text: English readers get the Swedish one.
        assert_eq!(
            c.privacy_policy.text_path(Language::En),
            c.privacy_policy.text_path(Language::Sv)
        );
        assert!(c.support.is_none());
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        for (after, extra) in [
            ("service_name = \"Test\"\n", "colour = \"blue\"\n"),
            ("proxy_age_limit = 13\n", "proxy_age_limt = 14\n"),
            ("access_log_years = 5\n", "access_log_days = 1825\n"),
            (
                "text_sv = \"policy.sv.md\"\n",
                "text_de = \"policy.de.md\"\n",
            ),
            ("en = \"Call 1177.\"\n", "fi = \"Soita 1177.\"\n"),
        ] {
            let text = MINIMAL.replacen(after, &format!("{after}{extra}"), 1);
            assert_ne!(text, MINIMAL, "{extra}");
            match parse(&text) {
                Err(RegionConfigError::Parse { message, .. }) => {
                    assert!(message.contains("unknown field"), "{message}")
                }
                other => panic!("{extra}: expected a parse error, got {other:?}"),
            }
        }
    }

    #[test]
    fn bad_values_are_refused() {
        let cases: &[(&str, &str)] = &[
            // Types and enums: refused by the parser.
            (
                "protected_identity = \"deny\"",
                "protected_identity = \"maybe\"",
            ),
            ("proxy_age_limit = 13", "proxy_age_limit = -1"),
            ("proxy_age_limit = 13", "proxy_age_limit = \"13\""),
            ("inactive_account_days = 60", "inactive_account_days = 60.5"),
            ("published = 2025-11-12", "published = \"2025-11-12\""),
            ("published = 2025-11-12", "published = 2025-11-12T10:00:00Z"),
            ("published = 2025-11-12", "published = 2025-02-30"),
            ("significant = false", "significant = \"no\""),
        ];
        for (from, to) in cases {
            let text = MINIMAL.replacen(from, to, 1);
            assert!(
                matches!(parse(&text), Err(RegionConfigError::Parse { .. })),
                "{to}"
            );
        }
        // Well-typed but out of range or inconsistent: refused by validate().
        let cases: &[(&str, &str, &str)] = &[
            (
                "proxy_age_limit = 13",
                "proxy_age_limit = 19",
                "identity.proxy_age_limit",
            ),
            (
                "inactive_account_days = 60",
                "inactive_account_days = 0",
                "retention.inactive_account_days",
            ),
            (
                "case_data_days = 60",
                "case_data_days = 0",
                "retention.case_data_days",
            ),
            (
                "access_log_years = 5",
                "access_log_years = 0",
                "retention.access_log_years",
            ),
            ("id = \"test\"", "id = \"Test Region\"", "id"),
            (
                "region_name = \"Region Test\"",
                "region_name = \" \"",
                "region_name",
            ),
            (
                "dpo_email = \"dpo@example.org\"",
                "dpo_email = \"dpo\"",
                "data_controller.dpo_email",
            ),
            ("dpo_email = \"dpo@example.org\"", "", "data_controller"),
            (
                "dpo_email = \"dpo@example.org\"",
                "dpo_url = \"http://example.org\"",
                "data_controller.dpo_url",
            ),
            (
                "version = \"2025-11-12\"",
                "version = \"\"",
                "privacy_policy.version",
            ),
            (
                "en = \"Call 1177.\"",
                "en = \"\"",
                "texts.protected_identity_refused",
            ),
            (
                "[texts.protected_identity_refused]\nsv = \"Ring 1177.\"\nen = \"Call 1177.\"\n",
                "[texts]\n",
                "texts.protected_identity_refused",
            ),
            (
                "protected_identity = \"deny\"",
                "protected_identity = \"allow_and_mark\"",
                "texts.protected_identity_staff_marker",
            ),
            (
                "[identity]",
                "[bookings]\njoin_token_max_secs = 86400\n[identity]",
                "bookings.join_token_max_secs",
            ),
            (
                "[identity]",
                "[bookings]\njoin_opens_minutes_before = 600\n[identity]",
                "bookings.join_opens_minutes_before",
            ),
            (
                "[identity]",
                "[bookings]\nmax_group_capacity = 1\n[identity]",
                "bookings.max_group_capacity",
            ),
            (
                "[identity]",
                "[notifications]\nreminder_hours_before = 169\n[identity]",
                "notifications.reminder_hours_before",
            ),
        ];
        for (from, to, field) in cases {
            let text = MINIMAL.replacen(from, to, 1);
            assert_ne!(&text, MINIMAL, "{from}");
            match parse(&text) {
                Err(RegionConfigError::Invalid { field: f, .. }) => assert_eq!(&f, field, "{to}"),
                other => panic!("{to}: expected {field} to be invalid, got {other:?}"),
            }
        }
        // The limits themselves are fine.
        for ok in ["proxy_age_limit = 0", "proxy_age_limit = 18"] {
            assert!(parse(&MINIMAL.replacen("proxy_age_limit = 13", ok, 1)).is_ok());
        }
    }

    #[test]
    fn bookings_come_from_the_region_file_or_the_defaults() {
        let config = parse(MINIMAL).expect("minimal region");
        assert_eq!(config.bookings, BookingPolicy::default());
        let text = MINIMAL.replacen(
            "[identity]",
            "[bookings]\njoin_opens_minutes_before = 15\njoin_token_max_secs = 300\n[identity]",
            1,
        );
        let config = parse(&text).expect("region with [bookings]");
        assert_eq!(config.bookings.join_opens_minutes_before, 15);
        assert_eq!(config.bookings.join_token_max_secs, 300);
        // What the file leaves out keeps its default.
        assert_eq!(
            config.bookings.join_closes_minutes_after,
            BookingPolicy::default().join_closes_minutes_after
        );
        let unknown = MINIMAL.replacen("[identity]", "[bookings]\nopens = 1\n[identity]", 1);
        assert!(matches!(
            parse(&unknown),
            Err(RegionConfigError::Parse { .. })
        ));
    }

    #[test]
    fn support_needs_a_way_to_reach_it() {
        let with = |extra: &str| {
            let text = MINIMAL.replacen(
                "[identity]",
                &format!("[support]\nname = \"Servicecenter\"\n{extra}\n[identity]"),
                1,
            );
            parse(&text)
        };
        assert!(with("phone = \"090-785 00 00\"").is_ok());
        assert!(matches!(
            with(""),
            Err(RegionConfigError::Invalid {
                field: "support",
                ..
            })
        ));
        assert!(matches!(
            with("url = \"ftp://x\""),
            Err(RegionConfigError::Invalid {
                field: "support.url",
                ..
            })
        ));
    }

    #[test]
    fn load_reports_missing_files_and_policy_texts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nowhere.toml");
        assert!(matches!(
            RegionConfig::load(&missing),
            Err(RegionConfigError::Read { .. })
        ));

        let file = dir.path().join("test.toml");
        std::fs::write(&file, MINIMAL).expect("write region");
        match RegionConfig::load(&file) {
            Err(RegionConfigError::PolicyText { path, .. }) => {
                assert_eq!(path, dir.path().join("policy.sv.md"))
            }
            other => panic!("expected a missing policy text, got {other:?}"),
        }
        std::fs::write(dir.path().join("policy.sv.md"), "# Policy").expect("write policy");
        let c = RegionConfig::load(&file).expect("loads once the text exists");
        assert_eq!(c.id, "test");

        std::fs::write(&file, "id = ").expect("write broken region");
        match RegionConfig::load(&file) {
            Err(RegionConfigError::Parse { path, .. }) => assert_eq!(path, file),
            other => panic!("expected a parse error naming the file, got {other:?}"),
        }
    }
}
