//! Browser sessions after an e-legitimation (or staff IdP) login: a random token in an HttpOnly
//! cookie, its SHA-256 in the database, a CSRF token per session, and idle and absolute
//! timeouts measured by the injected clock.
//!
//! Sessions live in the database rather than in memory so that a restart or a second portal
//! node behind the same load balancer does not log everyone out (scale-out is on the roadmap).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::clock::Clock;
use crate::db::Db;

use crate::portal::identity::personnummer::Personnummer;
use crate::portal::personal_data::{
    self, Holding, OnDelete, Owner, PersonalData, PersonalDataError,
};

/// The cookie that carries the session token.
pub const COOKIE: &str = "vardrum_session";

/// `last_seen_at` is written at most this often, so that a busy page is not a write per request.
/// The idle timeout is therefore exact to within this many seconds.
const TOUCH_EVERY_SECS: i64 = 30;

/// Who logged in, and through which identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Realm {
    /// Patients and guardians, with e-legitimation.
    Patient,
    /// Staff, with the hospital's identity provider.
    Staff,
}

impl Realm {
    pub fn as_str(self) -> &'static str {
        match self {
            Realm::Patient => "patient",
            Realm::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Realm::Patient),
            "staff" => Some(Realm::Staff),
            _ => None,
        }
    }
}

/// A live session.
#[derive(Clone)]
pub struct Session {
    pub token_hash: String,
    pub realm: Realm,
    /// `accounts.id` (patients) or `staff.id` (staff).
    pub principal: String,
    /// The child a guardian acts for.
    pub acting_for: Option<Personnummer>,
    /// Staff: the care unit they work in now.
    pub care_unit: Option<String>,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("realm", &self.realm)
            .field("acting_for", &self.acting_for.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("stored session is corrupt: column {0}")]
    Corrupt(&'static str),
    #[error("sessions: database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Idle and absolute session lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle_secs: i64,
    pub absolute_secs: i64,
}

#[derive(Clone)]
pub struct Sessions {
    db: Db,
    clock: Arc<dyn Clock>,
    lifetimes: Lifetimes,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("lifetimes", &self.lifetimes)
            .finish_non_exhaustive()
    }
}

/// 32 random bytes, URL-safe base64: a session token, CSRF token, OIDC state or PKCE verifier.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 hex of a token: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    pub fn new(db: Db, clock: Arc<dyn Clock>, lifetimes: Lifetimes) -> Self {
        Self {
            db,
            clock,
            lifetimes,
        }
    }

    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }

    /// Starts a session; returns the token for the cookie (never stored) and the session.
    pub async fn create(
        &self,
        realm: Realm,
        principal: &str,
        care_unit: Option<&str>,
    ) -> Result<(String, Session), SessionError> {
        let token = random_token();
        let now = self.now();
        let session = Session {
            token_hash: token_hash(&token),
            realm,
            principal: principal.to_owned(),
            acting_for: None,
            care_unit: care_unit.map(str::to_owned),
            csrf_token: random_token(),
            created_at: now,
            last_seen_at: now,
        };
        // Expired sessions of anyone are removed here, at a login, so the table stays small
        // without a job of its own.
        self.purge_expired(now).await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, realm, principal, acting_for, care_unit, \
             csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, NULL, $4, $5, $6, $6)",
        )
        .bind(&session.token_hash)
        .bind(realm.as_str())
        .bind(&session.principal)
        .bind(session.care_unit.as_deref())
        .bind(&session.csrf_token)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok((token, session))
    }

    /// The live session for a cookie token, or `None` when there is none or it has timed out
    /// (then it is deleted). Records the activity for the idle timeout.
    pub async fn resume(&self, token: &str) -> Result<Option<Session>, SessionError> {
        let hash = token_hash(token);
        let row = sqlx::query(
            "SELECT realm, principal, acting_for, care_unit, csrf_token, created_at, \
             last_seen_at FROM sessions WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let realm: String = row.try_get("realm")?;
        let acting_for: Option<String> = row.try_get("acting_for")?;
        let mut session = Session {
            token_hash: hash,
            realm: Realm::parse(&realm).ok_or(SessionError::Corrupt("realm"))?,
            principal: row.try_get("principal")?,
            acting_for: acting_for
                .map(|p| Personnummer::from_canonical(&p))
                .transpose()
                .map_err(|_| SessionError::Corrupt("acting_for"))?,
            care_unit: row.try_get("care_unit")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
        };
        let now = self.now();
        if now >= self.expires_at(&session) {
            self.end(&session.token_hash).await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_EVERY_SECS {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(&session.token_hash)
                .execute(self.db.pool())
                .await?;
            session.last_seen_at = now;
        }
        Ok(Some(session))
    }

    /// When the session ends unless used again: the earlier of the idle and absolute limits.
    pub fn expires_at(&self, session: &Session) -> i64 {
        (session.last_seen_at + self.lifetimes.idle_secs)
            .min(session.created_at + self.lifetimes.absolute_secs)
    }

    /// Logs out.
    pub async fn end(&self, token_hash: &str) -> Result<(), SessionError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn set_acting_for(
        &self,
        token_hash: &str,
        child: Option<&Personnummer>,
    ) -> Result<(), SessionError> {
        sqlx::query("UPDATE sessions SET acting_for = $1 WHERE token_hash = $2")
            .bind(child.map(Personnummer::as_str))
            .bind(token_hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn set_care_unit(&self, token_hash: &str, unit: &str) -> Result<(), SessionError> {
        sqlx::query("UPDATE sessions SET care_unit = $1 WHERE token_hash = $2")
            .bind(unit)
            .bind(token_hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> Result<(), SessionError> {
        sqlx::query("DELETE FROM sessions WHERE last_seen_at <= $1 OR created_at <= $2")
            .bind(now - self.lifetimes.idle_secs)
            .bind(now - self.lifetimes.absolute_secs)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

/// Sessions' part in deletion: the person is logged in nowhere any more. Nothing to export:
/// a session is login state, not something the portal knows about the person.
#[derive(Debug)]
pub struct SessionData;

impl PersonalData for SessionData {
    fn section(&self) -> Option<&'static str> {
        None
    }

    fn holdings(&self) -> &'static [Holding] {
        const HOLDINGS: &[Holding] = &[
            // Not a foreign key: the principal is a staff id in staff sessions.
            Holding::new("sessions", "principal", OnDelete::Deleted),
            Holding::new(
                "sessions",
                "acting_for",
                OnDelete::Kept(
                    "a guardian's session acting for the deleted person keeps the number until \
                     it ends; its calls on the gone account answer not_found",
                ),
            ),
        ];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        _db: &'a Db,
        _owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>> {
        Box::pin(async { Ok(None) })
    }

    fn delete<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>> {
        Box::pin(personal_data::delete_by_account(
            conn,
            "DELETE FROM sessions WHERE realm = 'patient' AND principal = $1",
            owner,
        ))
    }
}
