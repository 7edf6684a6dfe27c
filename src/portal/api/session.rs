//! The request's session, as axum extractors: a handler lists [`PatientSession`],
//! [`StaffSession`] or [`AnySession`] among its arguments and receives the live session of that
//! realm (with the CSRF check every state-changing method needs), plus the account or staff
//! member behind it; no handler fetches a session itself. [`ClientInfo`] is extracted the same
//! way for the access log.
//!
//! Rejections are the API's own errors: no session, a timed-out one, one of the other realm, or
//! one whose account is gone answer `401 not_logged_in`; a missing or wrong CSRF token `403 csrf`.
//! Extractors run before the body is read, so an unauthenticated request learns nothing about
//! what its body would have been told.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::portal::accounts::Account;
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::identity::sessions::{Realm, Session};
use crate::portal::staff::{Role, StaffMember};

use super::auth::policy_state;
use super::error::ApiError;
use super::{ClientInfo, Portal};

/// Any live session, whatever its realm (`GET /session`, logout).
pub struct AnySession(pub Session);

impl FromRequestParts<Arc<Portal>> for AnySession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            portal.any_session(&parts.method, &parts.headers).await?,
        ))
    }
}

/// A patient's (or guardian's) session and their own account.
pub struct PatientSession {
    pub session: Session,
    pub me: Account,
}

impl FromRequestParts<Arc<Portal>> for PatientSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let session = portal
            .session(&parts.method, &parts.headers, Realm::Patient)
            .await?;
        let me = portal.session_account(&session).await?;
        Ok(Self { session, me })
    }
}

/// Whether a patient request waits for the person's decision on a significant policy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Using the service needs the policy accepted.
    PolicyAccepted,
    /// Seeing and deleting one's own data never waits.
    Always,
}

impl PatientSession {
    /// Refuses with `403 policy_decision_required` while the policy in force waits for the
    /// person's stand on it (under [`Gate::PolicyAccepted`]).
    pub async fn pass(&self, portal: &Portal, gate: Gate) -> Result<(), ApiError> {
        if gate == Gate::PolicyAccepted
            && policy_state(portal, self.me.id.as_str())
                .await?
                .decision_required
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "policy_decision_required",
                "take a stand on the privacy policy in force first",
            ));
        }
        Ok(())
    }

    /// Whom the request acts as, after the gate: the person themself, or the child the session
    /// acts for while the guardian rules ([`crate::portal::accounts::guardians`]) still allow
    /// it. They are checked again on every request: a child who turned 13 since the session
    /// started is no longer acted for, and the session goes back to the guardian's own.
    pub async fn acting(&self, portal: &Portal, gate: Gate) -> Result<ActingAs, ApiError> {
        self.pass(portal, gate).await?;
        let Some(child) = &self.session.acting_for else {
            return Ok(ActingAs::myself(self.me.personnummer));
        };
        match portal.accounts.act_for(&self.me.personnummer, child).await {
            Ok(acting) => Ok(acting),
            Err(e) => {
                portal
                    .sessions
                    .set_acting_for(&self.session.token_hash, None)
                    .await?;
                Err(ApiError::from(e))
            }
        }
    }
}

/// A staff member's session and the member behind it.
pub struct StaffSession {
    pub session: Session,
    pub member: StaffMember,
}

impl FromRequestParts<Arc<Portal>> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let session = portal
            .session(&parts.method, &parts.headers, Realm::Staff)
            .await?;
        let member = portal.session_staff(&session).await?;
        Ok(Self { session, member })
    }
}

impl StaffSession {
    /// Refuses with `403 forbidden` unless the member has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.member.role == role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )))
        }
    }
}

impl FromRequestParts<Arc<Portal>> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| *peer);
        Ok(ClientInfo::from_request(
            peer,
            &parts.headers,
            &portal.trusted_proxies,
        ))
    }
}
