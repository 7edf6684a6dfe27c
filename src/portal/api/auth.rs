//! Logging in and out: the redirect to the realm's identity provider, its callback (account or
//! staff lookup, then a fresh session), logout, and the session description pages start from.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use crate::portal::accounts::{Account, AccountError};
use crate::portal::identity::login::Logins;
use crate::portal::identity::oidc::{LOGIN_TIMEOUT_SECS, OidcError};
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::identity::sessions::{self, Realm, Session};
use crate::portal::region::policy::{self, Decision};
use crate::portal::staff::StaffMember;

use super::error::ApiError;
use super::session::AnySession;
use super::{Portal, cookie};

/// Holds the OIDC `state` between the redirect and the callback, binding the login to this
/// browser (login CSRF).
fn login_cookie_name(realm: Realm) -> String {
    format!("vardrum_login_{}", realm.as_str())
}

fn login_cookie_path(realm: Realm) -> String {
    format!("/api/v1/auth/{}/", realm.as_str())
}

fn parse_realm(realm: &str) -> Result<Realm, ApiError> {
    Realm::parse(realm).ok_or_else(ApiError::not_found)
}

/// Where a failed login sends the browser: the login page, told why.
fn login_failed(code: &str) -> Response {
    Redirect::to(&format!("/portal/login.html?error={code}")).into_response()
}

pub async fn login(
    State(portal): State<Arc<Portal>>,
    Path(realm): Path<String>,
) -> Result<Response, ApiError> {
    let realm = parse_realm(&realm)?;
    let started = match portal.oidc(realm).start().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(realm = realm.as_str(), error = %e, "login could not start");
            return Ok(login_failed("unavailable"));
        }
    };
    let mut response = Redirect::to(&started.redirect_to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        portal.expiring_cookie(
            &login_cookie_name(realm),
            &started.state,
            &login_cookie_path(realm),
            LOGIN_TIMEOUT_SECS,
        ),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(portal): State<Arc<Portal>>,
    Path(realm): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let realm = parse_realm(&realm)?;
    let mut response = match finish_login(&portal, realm, &query, &headers).await {
        Ok((token, landing)) => {
            let mut response = Redirect::to(landing).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, portal.session_cookie(Some(&token)));
            response
        }
        Err(code) => login_failed(code),
    };
    // The login cookie is used up either way.
    response.headers_mut().append(
        header::SET_COOKIE,
        portal.cookie_header(&login_cookie_name(realm), None, &login_cookie_path(realm)),
    );
    Ok(response)
}

/// Completes a login; returns the new session's token and the page to land on, or the error
/// code for the login page.
async fn finish_login(
    portal: &Portal,
    realm: Realm,
    query: &CallbackQuery,
    headers: &HeaderMap,
) -> Result<(String, &'static str), &'static str> {
    if query.error.is_some() {
        return Err("login_failed");
    }
    let (Some(code), Some(state)) = (&query.code, &query.state) else {
        return Err("login_failed");
    };
    let cookie_state = cookie(headers, &login_cookie_name(realm));
    let identity = portal
        .oidc(realm)
        .finish(state, cookie_state.as_deref(), code)
        .await
        .map_err(|e| {
            tracing::warn!(realm = realm.as_str(), error = %e, "login failed");
            match e {
                OidcError::Unreachable(_) => "unavailable",
                _ => "login_failed",
            }
        })?;
    // A session from before the login is not carried over (session fixation).
    if let Some(old) = cookie(headers, sessions::COOKIE)
        && let Err(e) = portal.sessions.end(&sessions::token_hash(&old)).await
    {
        tracing::warn!(error = %e, "login: could not end the session it replaces");
    }
    let logins = Logins {
        db: &portal.db,
        accounts: &portal.accounts,
        staff: &portal.staff,
        sessions: &portal.sessions,
        today: portal.today(),
        now: portal.now(),
    };
    let token = logins
        .complete(realm, &identity)
        .await
        .map_err(|e| e.code())?;
    let landing = match realm {
        Realm::Patient => "/portal/",
        Realm::Staff => "/portal/staff.html",
    };
    Ok((token, landing))
}

pub async fn logout(
    State(portal): State<Arc<Portal>>,
    AnySession(session): AnySession,
) -> Result<Response, ApiError> {
    portal.sessions.end(&session.token_hash).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, portal.session_cookie(None))],
    )
        .into_response())
}

#[derive(Debug, Serialize)]
pub struct SessionBody {
    realm: Realm,
    csrf_token: String,
    expires_at: i64,
    idle_timeout_secs: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    person: Option<PersonName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acting_as: Option<Option<ActingAsBody>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    staff: Option<StaffBody>,
}

#[derive(Debug, Serialize)]
struct PersonName {
    given_name: String,
    family_name: String,
}

#[derive(Debug, Serialize)]
struct ActingAsBody {
    personnummer: Personnummer,
    given_name: String,
    family_name: String,
}

#[derive(Debug, Serialize)]
pub struct PolicyState {
    pub version: String,
    pub significant: bool,
    pub decision: Option<Decision>,
    pub decision_required: bool,
}

#[derive(Debug, Serialize)]
struct StaffBody {
    #[serde(flatten)]
    member: StaffMember,
    care_unit: Option<String>,
}

/// The person's standing on the policy in force.
pub async fn policy_state(portal: &Portal, account_id: &str) -> Result<PolicyState, ApiError> {
    let policy = &portal.region.privacy_policy;
    let decision = policy::decision(&portal.db, account_id, &policy.version)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(PolicyState {
        version: policy.version.clone(),
        significant: policy.significant,
        decision,
        decision_required: policy.significant && decision != Some(Decision::Accepted),
    })
}

/// The body of `GET /session` (and of calls that change the session).
pub async fn session_body(portal: &Portal, session: &Session) -> Result<SessionBody, ApiError> {
    let mut body = SessionBody {
        realm: session.realm,
        csrf_token: session.csrf_token.clone(),
        expires_at: portal.sessions.expires_at(session),
        idle_timeout_secs: portal.sessions.lifetimes().idle_secs,
        person: None,
        acting_as: None,
        policy: None,
        staff: None,
    };
    match session.realm {
        Realm::Patient => {
            let account = portal.session_account(session).await?;
            body.policy = Some(policy_state(portal, account.id.as_str()).await?);
            let acting = match &session.acting_for {
                Some(child) => acting_as_body(portal, session, &account, child).await?,
                None => None,
            };
            body.acting_as = Some(acting);
            body.person = Some(PersonName {
                given_name: account.given_name,
                family_name: account.family_name,
            });
        }
        Realm::Staff => {
            let member = portal.session_staff(session).await?;
            body.staff = Some(StaffBody {
                member,
                care_unit: session.care_unit.clone(),
            });
        }
    }
    Ok(body)
}

/// The child a guardian's session acts for, as `GET /session` shows it. The rules are checked
/// again, as on every patient request, and a child whose account has gone since (deleted, or
/// removed by retention) is no longer acted for: the session goes back to the guardian's own,
/// rather than failing until it ends. Acting for the child again opens their account anew.
async fn acting_as_body(
    portal: &Portal,
    session: &Session,
    guardian: &Account,
    child: &Personnummer,
) -> Result<Option<ActingAsBody>, ApiError> {
    let still = match portal.accounts.act_for(&guardian.personnummer, child).await {
        Ok(_) => match portal.accounts.account(child).await {
            Ok(account) => Some(account),
            Err(AccountError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    let Some(account) = still else {
        portal
            .sessions
            .set_acting_for(&session.token_hash, None)
            .await?;
        return Ok(None);
    };
    Ok(Some(ActingAsBody {
        personnummer: *child,
        given_name: account.given_name,
        family_name: account.family_name,
    }))
}

pub async fn session(
    State(portal): State<Arc<Portal>>,
    AnySession(session): AnySession,
) -> Result<Response, ApiError> {
    let body = session_body(&portal, &session).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
