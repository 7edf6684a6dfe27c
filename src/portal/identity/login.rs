//! What a login means, once the identity provider has vouched for someone: in the patient realm
//! a personnummer, whose account is found (or created from the register) under the region's
//! protected-identity rule; in the staff realm a subject that must be a provisioned staff
//! member, who starts in their first care unit. Either way a fresh session follows.
//!
//! The HTTP layer only turns the outcome into a redirect: [`LoginError::code`] is what the
//! login page is told. Failures of our own (the database, a corrupt row) are logged here,
//! without the identity, so that "login_failed" on the page always has a line in the log.

use std::fmt;

use crate::db::Db;
use crate::portal::accounts::events::{self, EventAction};
use crate::portal::accounts::{AccountError, Accounts};
use crate::portal::identity::personnummer::{Date, Personnummer};
use crate::portal::identity::sessions::{Realm, Sessions};
use crate::portal::staff::Staff;

/// Why a login did not end in a session.
#[derive(Debug)]
pub enum LoginError {
    /// The identity provider sent no 12-digit, valid personnummer.
    NoPersonnummer,
    /// The region does not serve people with protected identity here (`deny`).
    ProtectedIdentity,
    /// The population register does not know the person.
    NotInRegister,
    /// The population register could not be asked.
    RegisterUnavailable,
    /// The staff identity provider vouched for someone who is not provisioned as staff.
    NotStaff,
    /// Our own failure (database, stored data); already logged.
    Internal,
}

impl LoginError {
    /// The code the login page shows (`/portal/login.html?error=...`; docs/portal-api.md).
    pub fn code(&self) -> &'static str {
        match self {
            LoginError::NoPersonnummer | LoginError::Internal => "login_failed",
            LoginError::ProtectedIdentity => "protected_identity",
            LoginError::NotInRegister => "not_in_register",
            LoginError::RegisterUnavailable => "unavailable",
            LoginError::NotStaff => "not_staff",
        }
    }
}

/// Logs one of our own failures on the login path and answers [`LoginError::Internal`]. The
/// errors logged here name tables and columns, never the identity.
fn internal(realm: Realm, step: &'static str, error: &dyn fmt::Display) -> LoginError {
    tracing::error!(realm = realm.as_str(), step, error = %error, "login failed on our side");
    LoginError::Internal
}

/// What a login needs from the portal.
pub struct Logins<'a> {
    pub db: &'a Db,
    pub accounts: &'a Accounts,
    pub staff: &'a Staff,
    pub sessions: &'a Sessions,
    pub today: Date,
    pub now: i64,
}

impl Logins<'_> {
    /// Completes a login of `identity` (the identity provider's claim) in `realm`: returns the
    /// new session's token for the cookie.
    pub async fn complete(&self, realm: Realm, identity: &str) -> Result<String, LoginError> {
        match realm {
            Realm::Patient => self.patient(identity).await,
            Realm::Staff => self.staff(identity).await,
        }
    }

    async fn patient(&self, identity: &str) -> Result<String, LoginError> {
        // Brokers send the number in the 12-digit form; anything else is refused here rather
        // than guessed at (a 10-digit form's century is a guess, and a wrong guess is somebody
        // else's account).
        let twelve_digits = identity.len() == 12 && identity.bytes().all(|b| b.is_ascii_digit());
        let personnummer = twelve_digits
            .then(|| Personnummer::parse(identity, self.today))
            .and_then(Result::ok)
            .ok_or_else(|| {
                tracing::warn!("login refused: the identity provider sent no valid personnummer");
                LoginError::NoPersonnummer
            })?;
        let login = self
            .accounts
            .login(&personnummer)
            .await
            .map_err(|e| match e {
                AccountError::ProtectedIdentityRefused { .. } => LoginError::ProtectedIdentity,
                AccountError::NotInRegister => LoginError::NotInRegister,
                AccountError::Register(e) => {
                    tracing::warn!(error = %e, "login: population register unavailable");
                    LoginError::RegisterUnavailable
                }
                other => internal(Realm::Patient, "account", &other),
            })?;
        let (token, _) = self
            .sessions
            .create(Realm::Patient, login.account.id.as_str(), None)
            .await
            .map_err(|e| internal(Realm::Patient, "session", &e))?;
        // The login happened; a history entry that cannot be written is logged, not fatal.
        if let Err(e) = events::record(
            self.db,
            login.account.id.as_str(),
            &personnummer,
            EventAction::Login,
            self.now,
        )
        .await
        {
            tracing::error!(error = %e, "could not record a login on the account");
        }
        Ok(token)
    }

    async fn staff(&self, subject: &str) -> Result<String, LoginError> {
        let member = self
            .staff
            .by_subject(subject)
            .await
            .map_err(|e| internal(Realm::Staff, "staff", &e))?
            .ok_or(LoginError::NotStaff)?;
        let (token, _) = self
            .sessions
            .create(Realm::Staff, &member.id, member.first_care_unit())
            .await
            .map_err(|e| internal(Realm::Staff, "session", &e))?;
        Ok(token)
    }
}
