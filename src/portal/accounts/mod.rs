//! Patient accounts: created on first login (or by staff for a patient), keyed on the
//! personnummer, pre-filled from the population register, edited by their owner, read by staff
//! under the PDL access log, exported and deleted by their owner.
//!
//! ```text
//!   first login ──────▶ login() ─────────────────┐  register lookup: prefill and protected
//!   staff registers ──▶ register_for_patient() ──┤  identity (region rule: deny / allow_and_mark)
//!                                                ▼
//!                                    accounts + account_settings
//!   owner ──▶ account(), update_profile(), export_own_data(), delete_account()
//!   staff ──▶ staff_read_account() ── one access-log entry per read (audit::append)
//! ```
//!
//! What the two regions' privacy policies promise, and where it is kept:
//!
//! - **Prefill, once.** Name, mobile and e-mail come from the register when the account is
//!   created and are *not* updated from it afterwards ("Dina uppgifter uppdateras däremot inte
//!   automatiskt"): later logins never touch them. Register values that do not validate (a
//!   landline in the mobile field, say) are left out for the person to fill in, rather than
//!   refusing the registration.
//! - **Everything but the personnummer is editable.** [`ProfileUpdate`] has no personnummer
//!   field at all, and refuses unknown fields when deserialised, so a request that tries to
//!   change it fails instead of being silently ignored. No statement here updates that column.
//! - **Protected identity** (skyddade personuppgifter) is not profile data but a safety marker,
//!   so unlike the contact details it is read from the register at *every* login and at staff
//!   registration. Under `deny` (Västerbotten) the person is refused with the region's own text
//!   (call 1177 or the health centre); under `allow_and_mark` (Jönköping) the account is marked
//!   and staff see the region's marker text. If the register cannot be asked, login fails
//!   (closed): letting a person in whose protection status is unknown is the one outcome both
//!   rules forbid.
//! - **A person not in the register** cannot register: without the register we know neither
//!   their name nor whether their identity is protected.
//! - **Times.** `created_at`, `updated_at` and `last_login_at` are recorded from day one: the
//!   retention job deletes accounts not logged into for the region's number of days.
//! - **Deletion** removes every row of the account in one transaction: every capability that
//!   keeps personal data answers [`PersonalData`] and is listed once in
//!   [`personal_data::REGISTRY`], which deletion and export walk (a test fails when a table
//!   refers to an account and no capability declares it). The PDL access log is not the
//!   account's: the law keeps it for five years, so it stays.
//! - **Staff access.** Every staff (or system job) read of an account writes exactly one
//!   access-log entry, before the data is read: an access that cannot be documented does not
//!   happen. A staff registration the register's answer refuses is logged as a read of the
//!   register: "not in the register" and "protected identity" are facts about the person.
//!
//! Identity numbers stay out of errors and `Debug` output; [`Account`]'s `Debug` shows no
//! personal data at all.

pub mod contact;
pub mod events;
pub mod guardians;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::clock::Clock;
use crate::db::Db;

use crate::portal::audit::{Action, Actor, AuditError, Basis};
use crate::portal::care;
use crate::portal::identity::personnummer::{Date, Personnummer};
use crate::portal::identity::register::{PopulationRegister, RegisterError, RegisterPerson};
use crate::portal::personal_data::{
    self, Holding, OnDelete, OwnData, Owner, PersonalData, PersonalDataError,
};
use crate::portal::region::{Language, Localized, ProtectedIdentityRule, RegionConfig};
use contact::{EmailAddress, FieldError, PhoneNumber, Problem};
use guardians::{ActingAs, ChildChoice, ProxyError};

/// The access-log resource name for an account.
pub const RESOURCE: &str = "account";

/// The access-log resource name for what the population register says about a person, when
/// staff learn it without an account being read or created (a refused registration).
pub const REGISTER_RESOURCE: &str = "population_register";

/// An account's id: a random UUID. Other tables refer to accounts by this rather than by the
/// personnummer. The number itself is kept in `accounts`, the access log, `account_events`
/// (who acted: the owner or their guardian) and `sessions.acting_for` (the child a guardian
/// acts for); `docs/privacy.md` says what deletion does with each.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who created the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisteredBy {
    /// The person, at their first login with e-legitimation.
    Patient,
    /// Staff, for a patient ("Vårdpersonal kan också registrera ditt användarkonto åt dig").
    Staff,
    /// A guardian, when first acting for the child.
    Guardian,
}

impl RegisteredBy {
    fn as_str(self) -> &'static str {
        match self {
            RegisteredBy::Patient => "patient",
            RegisteredBy::Staff => "staff",
            RegisteredBy::Guardian => "guardian",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(RegisteredBy::Patient),
            "staff" => Some(RegisteredBy::Staff),
            "guardian" => Some(RegisteredBy::Guardian),
            _ => None,
        }
    }
}

/// The account's settings. Notices are off until the person turns them on: both policies say
/// notices are sent only to those who have activated and approved them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub notify_sms: bool,
    pub notify_email: bool,
    pub language: Language,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            notify_sms: false,
            notify_email: false,
            language: Language::Sv,
        }
    }
}

/// A patient's account, as its owner sees it (and exports it).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: AccountId,
    /// Never changes after creation.
    pub personnummer: Personnummer,
    pub given_name: String,
    pub family_name: String,
    pub mobile: Option<PhoneNumber>,
    pub email: Option<EmailAddress>,
    pub settings: Settings,
    /// Skyddade personuppgifter, as the register said at the last login or registration.
    pub protected_identity: bool,
    pub registered_by: RegisteredBy,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds: the last change of profile or settings (creation counts).
    pub updated_at: i64,
    /// Unix seconds; `None` until the person first logs in (staff-registered accounts).
    pub last_login_at: Option<i64>,
}

impl fmt::Debug for Account {
    /// Nothing personal: `Debug` output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("personnummer", &self.personnummer)
            .field("settings", &self.settings)
            .field("protected_identity", &self.protected_identity)
            .field("registered_by", &self.registered_by)
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .finish_non_exhaustive()
    }
}

/// Everything its owner may change: all of the account but the personnummer, which has no
/// field here. Replaces the profile as a whole (the caller merges partial edits first).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub given_name: String,
    pub family_name: String,
    /// E.164 or Swedish national form; `None` or blank removes the number.
    #[serde(default)]
    pub mobile: Option<String>,
    /// `None` or blank removes the address.
    #[serde(default)]
    pub email: Option<String>,
    pub settings: Settings,
}

impl fmt::Debug for ProfileUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileUpdate")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ProfileUpdate {
    /// The account's current profile, to edit and send back.
    pub fn from_account(account: &Account) -> Self {
        Self {
            given_name: account.given_name.clone(),
            family_name: account.family_name.clone(),
            mobile: account.mobile.as_ref().map(|m| m.as_str().to_owned()),
            email: account.email.as_ref().map(|e| e.as_str().to_owned()),
            settings: account.settings,
        }
    }

    /// Validates every field, in form order, and reports the first one at fault.
    fn validate(&self) -> Result<ValidProfile, FieldError> {
        let given_name = contact::name_part("given_name", &self.given_name)?;
        let family_name = contact::name_part("family_name", &self.family_name)?;
        let mobile = match blank_is_none(self.mobile.as_deref()) {
            None => None,
            Some(m) => Some(PhoneNumber::parse(m).map_err(|p| FieldError::new("mobile", p))?),
        };
        let email = match blank_is_none(self.email.as_deref()) {
            None => None,
            Some(e) => Some(EmailAddress::parse(e).map_err(|p| FieldError::new("email", p))?),
        };
        // A notice with nowhere to go would be a promise the portal cannot keep.
        if self.settings.notify_sms && mobile.is_none() {
            return Err(FieldError::new(
                "settings.notify_sms",
                Problem::Requires("mobile"),
            ));
        }
        if self.settings.notify_email && email.is_none() {
            return Err(FieldError::new(
                "settings.notify_email",
                Problem::Requires("email"),
            ));
        }
        Ok(ValidProfile {
            given_name,
            family_name,
            mobile,
            email,
            settings: self.settings,
        })
    }
}

fn blank_is_none(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

struct ValidProfile {
    given_name: String,
    family_name: String,
    mobile: Option<PhoneNumber>,
    email: Option<EmailAddress>,
    settings: Settings,
}

/// The outcome of a successful login.
#[derive(Debug, Clone)]
pub struct Login {
    pub account: Account,
    /// True when this login created the account (first login).
    pub created: bool,
}

/// Who is accessing a patient's data from the staff side, and from where: what the PDL access
/// log records besides the patient and the purpose. Also used for system jobs.
#[derive(Debug, Clone)]
pub struct StaffAccess {
    pub actor: Actor,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// The protected-identity marker staff see, in both languages, from the region's texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Marker {
    pub sv: String,
    pub en: String,
}

impl From<&Localized> for Marker {
    fn from(l: &Localized) -> Self {
        Self {
            sv: l.sv.clone(),
            en: l.en.clone(),
        }
    }
}

/// An account as staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct StaffAccountView {
    pub account: Account,
    /// Set when the patient has protected identity and the region has a marker text for staff
    /// (`allow_and_mark`); `account.protected_identity` says it in every region.
    pub protected_identity_marker: Option<Marker>,
    /// What allowed this read (as the access log records it): `booking:<id>`,
    /// `emergency:<id>`, ….
    pub basis: Basis,
}

/// What a deletion removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub account_id: AccountId,
    /// Unix seconds.
    pub at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field of a profile is refused; names the field, never the value.
    #[error("invalid profile: {0}")]
    Invalid(#[from] FieldError),
    /// The region refuses people with protected identity (`deny`). `message` is the region's
    /// text for the person: where to get care instead.
    #[error("refused: the region does not serve people with protected identity in this service")]
    ProtectedIdentityRefused { message: Localized },
    /// The register does not know the person, so their name and protection status are unknown.
    #[error("the person is not in the population register")]
    NotInRegister,
    #[error("no such account")]
    NotFound,
    /// Staff without a care relationship (or a valid emergency reason).
    #[error(transparent)]
    Care(#[from] care::CareError),
    /// Staff tried to register a patient who already has an account.
    #[error("the account already exists")]
    AlreadyExists,
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// Writing the access log failed, so the access did not happen.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A stored value does not read back as its type. Names the column, not the value.
    #[error("stored account is corrupt: column {0}")]
    Corrupt(&'static str),
    #[error("the clock is outside the range accounts can store")]
    Clock,
    #[error("accounts: database: {0}")]
    Database(#[from] sqlx::Error),
    /// Exporting or deleting another capability's part of the person's data failed.
    #[error(transparent)]
    PersonalData(#[from] PersonalDataError),
}

impl AccountError {
    /// The text to show the person, in their language, when there is one from the region.
    pub fn user_message(&self, lang: Language) -> Option<&str> {
        match self {
            AccountError::ProtectedIdentityRefused { message } => Some(message.get(lang)),
            _ => None,
        }
    }
}

/// The columns of an account, joined with its settings, in the order [`account_from_row`]
/// reads them.
macro_rules! account_select {
    () => {
        "SELECT a.id, a.personnummer, a.given_name, a.family_name, a.mobile, a.email, \
         a.protected_identity, a.registered_by, a.created_at, a.updated_at, a.last_login_at, \
         s.notify_sms, s.notify_email, s.language \
         FROM accounts a JOIN account_settings s ON s.account_id = a.id "
    };
}

/// Accounts of one region's portal: the database, the population register, the region's
/// policy and the clock, shared by every request.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    register: Arc<dyn PopulationRegister>,
    region: Arc<RegionConfig>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("region", &self.region.id)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    pub fn new(
        db: Db,
        register: Arc<dyn PopulationRegister>,
        region: Arc<RegionConfig>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            register,
            region,
            clock,
        }
    }

    pub fn region(&self) -> &RegionConfig {
        &self.region
    }

    /// A person has logged in with e-legitimation as `personnummer`. Creates their account on
    /// the first login, pre-filled from the register; on later logins records the login and
    /// refreshes the protected-identity marker, and nothing else.
    pub async fn login(&self, personnummer: &Personnummer) -> Result<Login, AccountError> {
        let person = self.lookup(personnummer).await?;
        let now = self.now()?;
        // The marker follows the register in every region, so staff see a change even when the
        // login itself is then refused.
        let refused = self.protected_identity_refusal(&person);
        if let Some(refusal) = refused {
            self.refresh_marker(personnummer, person.protected_identity)
                .await?;
            return Err(refusal);
        }
        // Two first logins at once (two tabs) race on the unique personnummer: the loser finds
        // the winner's account on its second pass.
        for _ in 0..2 {
            if let Some(account) = self
                .record_login(personnummer, person.protected_identity, now)
                .await?
            {
                return Ok(Login {
                    account,
                    created: false,
                });
            }
            match self
                .insert(&person, RegisteredBy::Patient, now, Some(now))
                .await
            {
                Ok(account) => {
                    return Ok(Login {
                        account,
                        created: true,
                    });
                }
                Err(AccountError::AlreadyExists) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(AccountError::AlreadyExists)
    }

    /// Staff register an account for a patient, pre-filled from the register like a first
    /// login. Writes exactly one access-log entry: `create` on the account before it is
    /// created; `read` of the account when it turns out to exist already; `read` of the
    /// population register ([`REGISTER_RESOURCE`]) when the register's answer refuses the
    /// registration (not in the register, or protected identity under `deny`), since the
    /// refusal tells staff something about the person. When the register cannot be asked,
    /// staff learn nothing and nothing is logged.
    pub async fn register_for_patient(
        &self,
        staff: &StaffAccess,
        patient: &Personnummer,
        purpose: Option<&str>,
    ) -> Result<Account, AccountError> {
        // The register is asked before the entry is written (which entry depends on its
        // answer), but its answer reaches staff only after: if the entry cannot be written,
        // the request fails with the audit error and the refusal is never shown.
        let person = match self.lookup(patient).await {
            Ok(person) => person,
            Err(AccountError::NotInRegister) => {
                self.log(
                    staff,
                    patient,
                    Action::Read,
                    REGISTER_RESOURCE,
                    purpose,
                    Basis::Registration,
                )
                .await?;
                return Err(AccountError::NotInRegister);
            }
            Err(e) => return Err(e),
        };
        if let Some(refusal) = self.protected_identity_refusal(&person) {
            // The entry says the register was consulted, not what it said: "protected
            // identity" must not become readable to everyone who follows up the log.
            self.log(
                staff,
                patient,
                Action::Read,
                REGISTER_RESOURCE,
                purpose,
                Basis::Registration,
            )
            .await?;
            return Err(refusal);
        }
        // Finding that the account exists is itself a read of the patient's data: logged as
        // one, so the log never claims a creation that did not happen.
        if self.find(patient).await?.is_some() {
            self.log(
                staff,
                patient,
                Action::Read,
                RESOURCE,
                purpose,
                Basis::Registration,
            )
            .await?;
            return Err(AccountError::AlreadyExists);
        }
        self.log(
            staff,
            patient,
            Action::Create,
            RESOURCE,
            purpose,
            Basis::Registration,
        )
        .await?;
        let now = self.now()?;
        // Two staff members registering the same patient at once: the loser's create entry
        // stands for an attempt, and it gets AlreadyExists.
        self.insert(&person, RegisteredBy::Staff, now, None).await
    }

    /// The owner's own account. `owner` is the logged-in person's number from their session,
    /// never one taken from a request. Not a PDL access: nothing is logged.
    pub async fn account(&self, owner: &Personnummer) -> Result<Account, AccountError> {
        self.find(owner).await?.ok_or(AccountError::NotFound)
    }

    /// The owner edits their profile and settings. Validates every field first and changes
    /// nothing if one is refused.
    pub async fn update_profile(
        &self,
        owner: &Personnummer,
        update: &ProfileUpdate,
    ) -> Result<Account, AccountError> {
        let valid = update.validate()?;
        let now = self.now()?;
        let mut tx = self.db.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE accounts SET given_name = $1, family_name = $2, mobile = $3, email = $4, \
             updated_at = $5 WHERE personnummer = $6",
        )
        .bind(&valid.given_name)
        .bind(&valid.family_name)
        .bind(valid.mobile.as_ref().map(PhoneNumber::as_str))
        .bind(valid.email.as_ref().map(EmailAddress::as_str))
        .bind(now)
        .bind(owner.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(AccountError::NotFound);
        }
        sqlx::query(
            "UPDATE account_settings SET notify_sms = $1, notify_email = $2, language = $3, \
             updated_at = $4 WHERE account_id = (SELECT id FROM accounts WHERE personnummer = $5)",
        )
        .bind(flag(valid.settings.notify_sms))
        .bind(flag(valid.settings.notify_email))
        .bind(language_str(valid.settings.language))
        .bind(now)
        .bind(owner.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.account(owner).await
    }

    /// Staff read a patient's account, on the ground [`Care::authorize`](care::Care::authorize)
    /// finds (their care relationship with the active care unit, or an emergency access opened
    /// with `emergency_reason`). Refused with [`AccountError::Care`] before anything is shown
    /// or logged when there is none; otherwise exactly one access-log entry, written before the
    /// account is shown, also when the patient has no account, since the answer "no account" is
    /// itself information about them.
    pub async fn staff_read_account(
        &self,
        care: &care::Care,
        staff: &StaffAccess,
        patient: &Personnummer,
        purpose: Option<&str>,
        emergency_reason: Option<&str>,
    ) -> Result<StaffAccountView, AccountError> {
        // Found, not shown: the relationship is looked up by the account's id.
        let found = self.find(patient).await?;
        let basis = care
            .authorize(
                staff,
                patient,
                found.as_ref().map(|a| a.id.0.as_str()),
                emergency_reason,
            )
            .await?;
        self.log(
            staff,
            patient,
            Action::Read,
            RESOURCE,
            purpose,
            basis.clone(),
        )
        .await?;
        let account = found.ok_or(AccountError::NotFound)?;
        let protected_identity_marker = if account.protected_identity {
            self.region
                .texts
                .protected_identity_staff_marker
                .as_ref()
                .map(Marker::from)
        } else {
            None
        };
        Ok(StaffAccountView {
            account,
            protected_identity_marker,
            basis,
        })
    }

    /// Everything the portal holds about the owner, for download: one section per capability
    /// in [`personal_data::REGISTRY`].
    pub async fn export_own_data(&self, owner: &Personnummer) -> Result<OwnData, AccountError> {
        let account = self.account(owner).await?;
        let owner = Owner {
            account_id: account.id.0,
            personnummer: *owner,
        };
        Ok(personal_data::export(&self.db, &owner, self.now()?).await?)
    }

    /// The owner deletes their account and everything that belongs to it, in one transaction:
    /// every capability in [`personal_data::REGISTRY`] removes its part, the account row last
    /// (which the database cascades to the rows that hang on it). The PDL access log about
    /// them is kept (patientdatalagen; five years).
    pub async fn delete_account(&self, owner: &Personnummer) -> Result<Deletion, AccountError> {
        let at = self.now()?;
        let mut tx = self.db.pool().begin().await?;
        // Writes only, from the first statement: SQLite takes its write lock there (a read first
        // would have to upgrade its lock later, which fails under concurrent writers). This one
        // changes nothing but finds the account's id.
        let found: Option<(String,)> = sqlx::query_as(
            "UPDATE accounts SET updated_at = updated_at WHERE personnummer = $1 RETURNING id",
        )
        .bind(owner.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        // No account: dropping the transaction rolls back (there was nothing to delete anyway).
        let Some((id,)) = found else {
            return Err(AccountError::NotFound);
        };
        let subject = Owner {
            account_id: id.clone(),
            personnummer: *owner,
        };
        personal_data::delete(&mut tx, &subject).await?;
        tx.commit().await?;
        Ok(Deletion {
            account_id: AccountId(id),
            at,
        })
    }

    /// A guardian starts acting for a child (see [`guardians::act_for`]), on today's date by
    /// this portal's clock.
    pub async fn act_for(
        &self,
        guardian: &Personnummer,
        child: &Personnummer,
    ) -> Result<ActingAs, AccountError> {
        let today = Date::today(self.clock.as_ref());
        Ok(
            guardians::act_for(self.register.as_ref(), &self.region, today, guardian, child)
                .await?,
        )
    }

    /// The account with this id (a session's principal), if it still exists.
    pub async fn account_by_id(&self, id: &str) -> Result<Option<Account>, AccountError> {
        let row = sqlx::query(concat!(account_select!(), "WHERE a.id = $1"))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The child's account for a guardian acting for it ([`Accounts::act_for`] has checked the
    /// rules): created from the register the first time, like a first login, and otherwise left
    /// as it is. The region's protected-identity rule applies to the child as to anyone.
    pub async fn open_for_proxy(&self, acting: &ActingAs) -> Result<Account, AccountError> {
        let child = acting.subject();
        if let Some(account) = self.find(child).await? {
            return Ok(account);
        }
        let person = self.lookup(child).await?;
        if let Some(refusal) = self.protected_identity_refusal(&person) {
            return Err(refusal);
        }
        let now = self.now()?;
        match self
            .insert(&person, RegisteredBy::Guardian, now, None)
            .await
        {
            // Two tabs at once: the other made it.
            Err(AccountError::AlreadyExists) => self.account(child).await,
            other => other,
        }
    }

    /// The children a guardian can act for today (see [`guardians::children`]).
    pub async fn children(
        &self,
        guardian: &Personnummer,
    ) -> Result<Vec<ChildChoice>, AccountError> {
        let today = Date::today(self.clock.as_ref());
        Ok(guardians::children(self.register.as_ref(), &self.region, today, guardian).await?)
    }

    async fn lookup(&self, personnummer: &Personnummer) -> Result<RegisterPerson, AccountError> {
        self.register
            .lookup(personnummer)
            .await?
            .ok_or(AccountError::NotInRegister)
    }

    /// The refusal the region's rule demands for this person, if any.
    fn protected_identity_refusal(&self, person: &RegisterPerson) -> Option<AccountError> {
        if !person.protected_identity {
            return None;
        }
        match self.region.identity.protected_identity {
            ProtectedIdentityRule::AllowAndMark => None,
            ProtectedIdentityRule::Deny => Some(AccountError::ProtectedIdentityRefused {
                // validate() guarantees the text exists under `deny`; a generic one is a
                // fallback for a config built in code without it.
                message: self
                    .region
                    .texts
                    .protected_identity_refused
                    .clone()
                    .unwrap_or_else(|| Localized {
                        sv: "Ring 1177 eller kontakta din hälsocentral.".into(),
                        en: "Call 1177 or contact your health centre.".into(),
                    }),
            }),
        }
    }

    /// One PDL access-log entry, through the care-relationship rule's one path to the log.
    async fn log(
        &self,
        staff: &StaffAccess,
        patient: &Personnummer,
        action: Action,
        resource: &str,
        purpose: Option<&str>,
        basis: Basis,
    ) -> Result<(), AccountError> {
        care::log(
            &self.db,
            self.clock.as_ref(),
            staff,
            patient,
            action,
            resource,
            purpose,
            basis,
        )
        .await?;
        Ok(())
    }

    async fn find(&self, personnummer: &Personnummer) -> Result<Option<Account>, AccountError> {
        let row = sqlx::query(concat!(account_select!(), "WHERE a.personnummer = $1"))
            .bind(personnummer.as_str())
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Records a login on an existing account; `None` when there is no account yet.
    async fn record_login(
        &self,
        personnummer: &Personnummer,
        protected_identity: bool,
        now: i64,
    ) -> Result<Option<Account>, AccountError> {
        let changed = sqlx::query(
            "UPDATE accounts SET last_login_at = $1, protected_identity = $2 \
             WHERE personnummer = $3",
        )
        .bind(now)
        .bind(flag(protected_identity))
        .bind(personnummer.as_str())
        .execute(self.db.pool())
        .await?;
        if changed.rows_affected() == 0 {
            return Ok(None);
        }
        self.find(personnummer).await
    }

    async fn refresh_marker(
        &self,
        personnummer: &Personnummer,
        protected_identity: bool,
    ) -> Result<(), AccountError> {
        sqlx::query("UPDATE accounts SET protected_identity = $1 WHERE personnummer = $2")
            .bind(flag(protected_identity))
            .bind(personnummer.as_str())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Creates the account and its settings from the register's data, in one transaction.
    async fn insert(
        &self,
        person: &RegisterPerson,
        registered_by: RegisteredBy,
        now: i64,
        last_login_at: Option<i64>,
    ) -> Result<Account, AccountError> {
        let prefill = Prefill::from_register(person)?;
        let id = AccountId(uuid::Uuid::new_v4().simple().to_string());
        let settings = Settings::default();
        let mut tx = self.db.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, personnummer, given_name, family_name, mobile, email, \
             protected_identity, registered_by, created_at, updated_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.as_str())
        .bind(person.personnummer.as_str())
        .bind(&prefill.given_name)
        .bind(&prefill.family_name)
        .bind(prefill.mobile.as_ref().map(PhoneNumber::as_str))
        .bind(prefill.email.as_ref().map(EmailAddress::as_str))
        .bind(flag(person.protected_identity))
        .bind(registered_by.as_str())
        .bind(now)
        .bind(now)
        .bind(last_login_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(AccountError::AlreadyExists);
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "INSERT INTO account_settings (account_id, notify_sms, notify_email, language, \
             updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(flag(settings.notify_sms))
        .bind(flag(settings.notify_email))
        .bind(language_str(settings.language))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Account {
            id,
            personnummer: person.personnummer,
            given_name: prefill.given_name,
            family_name: prefill.family_name,
            mobile: prefill.mobile,
            email: prefill.email,
            settings,
            protected_identity: person.protected_identity,
            registered_by,
            created_at: now,
            updated_at: now,
            last_login_at,
        })
    }

    fn now(&self) -> Result<i64, AccountError> {
        i64::try_from(self.clock.now_unix()).map_err(|_| AccountError::Clock)
    }
}

/// The account's part in export and deletion: the profile and settings; the account row goes
/// last, and the database cascades to the rows that refer to it.
#[derive(Debug)]
pub struct AccountData;

impl PersonalData for AccountData {
    fn section(&self) -> Option<&'static str> {
        Some("account")
    }

    fn holdings(&self) -> &'static [Holding] {
        const HOLDINGS: &[Holding] = &[
            Holding::new("accounts", "personnummer", OnDelete::Deleted),
            Holding::new("account_settings", "account_id", OnDelete::Cascades),
        ];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        db: &'a Db,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>> {
        Box::pin(async move {
            let row = sqlx::query(concat!(account_select!(), "WHERE a.id = $1"))
                .bind(owner.account_id.as_str())
                .fetch_optional(db.pool())
                .await?;
            let account = row
                .as_ref()
                .map(account_from_row)
                .transpose()
                .map_err(|e| match e {
                    AccountError::Database(e) => PersonalDataError::Database(e),
                    AccountError::Corrupt(column) => PersonalDataError::Corrupt(column),
                    _ => PersonalDataError::Corrupt("accounts"),
                })?;
            Ok(account.map(serde_json::to_value).transpose()?)
        })
    }

    fn delete<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>> {
        Box::pin(personal_data::delete_by_account(
            conn,
            "DELETE FROM accounts WHERE id = $1",
            owner,
        ))
    }
}

/// What the register pre-fills.
struct Prefill {
    given_name: String,
    family_name: String,
    mobile: Option<PhoneNumber>,
    email: Option<EmailAddress>,
}

impl Prefill {
    fn from_register(person: &RegisterPerson) -> Result<Self, AccountError> {
        // Every account has a name; a register answer without one is not usable.
        let name = |field, value: &str| {
            contact::name_part(field, value).map_err(|e| {
                AccountError::Register(RegisterError::InvalidResponse(format!(
                    "{} {}",
                    e.field, e.problem
                )))
            })
        };
        Ok(Self {
            given_name: name("given_name", &person.given_name)?,
            family_name: name("family_name", &person.family_name)?,
            // Contact details that do not validate are left for the person to fill in.
            mobile: person
                .mobile
                .as_deref()
                .and_then(|m| PhoneNumber::parse(m).ok()),
            email: person
                .email
                .as_deref()
                .and_then(|e| EmailAddress::parse(e).ok()),
        })
    }
}

fn language_str(lang: Language) -> &'static str {
    match lang {
        Language::Sv => "sv",
        Language::En => "en",
    }
}

fn language_from_stored(s: &str) -> Option<Language> {
    match s {
        "sv" => Some(Language::Sv),
        "en" => Some(Language::En),
        _ => None,
    }
}

/// Flags are stored as INTEGER 0/1: sqlx's Any driver cannot read SQLite's BOOLEAN, and one
/// schema serves both databases.
fn flag(value: bool) -> i32 {
    i32::from(value)
}

fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, AccountError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column)
        .map_err(|_| AccountError::Corrupt(column))
}

fn get_flag(row: &AnyRow, column: &'static str) -> Result<bool, AccountError> {
    match get::<i64>(row, column)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(AccountError::Corrupt(column)),
    }
}

fn account_from_row(row: &AnyRow) -> Result<Account, AccountError> {
    let personnummer: String = get(row, "personnummer")?;
    let mobile: Option<String> = get(row, "mobile")?;
    let email: Option<String> = get(row, "email")?;
    let registered_by: String = get(row, "registered_by")?;
    let language: String = get(row, "language")?;
    Ok(Account {
        id: AccountId(get(row, "id")?),
        personnummer: Personnummer::from_canonical(&personnummer)
            .map_err(|_| AccountError::Corrupt("personnummer"))?,
        given_name: get(row, "given_name")?,
        family_name: get(row, "family_name")?,
        mobile: match mobile {
            None => None,
            Some(m) => Some(PhoneNumber::from_stored(&m).ok_or(AccountError::Corrupt("mobile"))?),
        },
        email: match email {
            None => None,
            Some(e) => Some(EmailAddress::from_stored(&e).ok_or(AccountError::Corrupt("email"))?),
        },
        settings: Settings {
            notify_sms: get_flag(row, "notify_sms")?,
            notify_email: get_flag(row, "notify_email")?,
            language: language_from_stored(&language).ok_or(AccountError::Corrupt("language"))?,
        },
        protected_identity: get_flag(row, "protected_identity")?,
        registered_by: RegisteredBy::from_stored(&registered_by)
            .ok_or(AccountError::Corrupt("registered_by"))?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        last_login_at: get(row, "last_login_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> ProfileUpdate {
        ProfileUpdate {
            given_name: "Anna".into(),
            family_name: "Testsson".into(),
            mobile: Some("070-174 06 05".into()),
            email: Some("anna@example.org".into()),
            settings: Settings::default(),
        }
    }

    #[test]
    fn a_profile_update_names_the_first_field_at_fault() {
        let mut u = update();
        u.mobile = Some("070-12".into());
        u.email = Some("nope".into());
        let err = u.validate().err();
        assert_eq!(err, Some(FieldError::new("mobile", Problem::Format)));
        u.mobile = None;
        assert_eq!(
            u.validate().err(),
            Some(FieldError::new("email", Problem::Format))
        );
    }

    #[test]
    fn blank_contact_details_remove_them_but_notices_then_need_them() {
        let mut u = update();
        u.mobile = Some("  ".into());
        u.email = None;
        let v = u.validate().expect("blank removes");
        assert!(v.mobile.is_none() && v.email.is_none());
        u.settings.notify_sms = true;
        assert_eq!(
            u.validate().err(),
            Some(FieldError::new(
                "settings.notify_sms",
                Problem::Requires("mobile")
            ))
        );
        u.settings.notify_sms = false;
        u.settings.notify_email = true;
        assert_eq!(
            u.validate().err().map(|e| e.field),
            Some("settings.notify_email")
        );
    }

    #[test]
    fn a_profile_update_cannot_carry_a_personnummer() {
        let json = r#"{"given_name":"A","family_name":"B","personnummer":"199006022397",
            "settings":{"notify_sms":false,"notify_email":false,"language":"sv"}}"#;
        let err = serde_json::from_str::<ProfileUpdate>(json)
            .expect_err("unknown field refused")
            .to_string();
        assert!(err.contains("unknown field `personnummer`"), "{err}");
        assert!(!err.contains("2397"), "{err}");
    }

    #[test]
    fn debug_of_an_update_shows_no_personal_data() {
        let shown = format!("{:?}", update());
        assert!(
            !shown.contains("Anna") && !shown.contains("1740605"),
            "{shown}"
        );
    }
}
