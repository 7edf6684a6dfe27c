//! The patient's (and guardian's) side of the API: the region and its privacy policy, the
//! policy decision, the person's own account (or the child's, while a guardian acts for one),
//! their access log, export, deletion and the proxy choice.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::portal::accounts::events::{self, EventAction};
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::accounts::{Account, ProfileUpdate};
use crate::portal::identity::sessions::Session;
use crate::portal::region::Language;
use crate::portal::region::policy::{self, Decision};

use super::auth::session_body;
use super::error::{ApiError, JsonBody};
use super::session::{Gate, PatientSession};
use super::{Portal, no_store};

pub async fn region(State(portal): State<Arc<Portal>>) -> Response {
    let r = &portal.region;
    Json(json!({
        "id": r.id,
        "region_name": r.region_name,
        "service_name": r.service_name,
        "data_controller": {
            "name": r.data_controller.name,
            "responsible_body": r.data_controller.responsible_body,
            "dpo_email": r.data_controller.dpo_email,
            "dpo_url": r.data_controller.dpo_url,
        },
        "support": r.support.as_ref().map(|s| json!({
            "name": s.name, "phone": s.phone, "email": s.email, "url": s.url,
        })),
        "protected_identity_rule": match r.identity.protected_identity {
            crate::portal::region::ProtectedIdentityRule::Deny => "deny",
            crate::portal::region::ProtectedIdentityRule::AllowAndMark => "allow_and_mark",
        },
        "proxy_age_limit": r.identity.proxy_age_limit,
        "bookings": {
            "join_opens_minutes_before": r.bookings.join_opens_minutes_before,
            "join_closes_minutes_after": r.bookings.join_closes_minutes_after,
        },
        "texts": {
            "protected_identity_refused": r.texts.protected_identity_refused.as_ref().map(|t| json!({
                "sv": t.sv, "en": t.en,
            })),
        },
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct PolicyQuery {
    lang: Option<String>,
}

pub async fn policy(
    State(portal): State<Arc<Portal>>,
    Query(query): Query<PolicyQuery>,
) -> Result<Response, ApiError> {
    let lang = match query.lang.as_deref() {
        None | Some("sv") => Language::Sv,
        Some("en") => Language::En,
        Some(_) => return Err(ApiError::invalid("lang", "must be sv or en")),
    };
    let p = &portal.region.privacy_policy;
    let path = p.text_path(lang);
    let served = if p.text_en.is_some() && lang == Language::En {
        "en"
    } else {
        "sv"
    };
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({
        "version": p.version,
        "published": p.published.to_string(),
        "significant": p.significant,
        "language": served,
        "text": text,
    }))
    .into_response())
}

/// Records an event on the account acted on, done by whoever acts. The request has already
/// succeeded: an event that cannot be written is logged, not the person's failure.
async fn record(portal: &Portal, acting: &ActingAs, subject: &Account, action: EventAction) {
    if let Err(e) = events::record(
        &portal.db,
        subject.id.as_str(),
        acting.actor(),
        action,
        portal.now(),
    )
    .await
    {
        tracing::error!(error = %e, "could not record an account event");
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    version: String,
    decision: Decision,
}

pub async fn policy_decision(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Response, ApiError> {
    patient.pass(&portal, Gate::Always).await?;
    if body.version != portal.region.privacy_policy.version {
        return Err(ApiError::invalid(
            "version",
            "not the version in force; reload the policy",
        ));
    }
    policy::decide(
        &portal.db,
        patient.me.id.as_str(),
        &body.version,
        body.decision,
        portal.now(),
    )
    .await
    .map_err(|e| ApiError::internal(&e))?;
    // The decision is the logged-in person's own, also while acting for a child.
    events::record(
        &portal.db,
        patient.me.id.as_str(),
        &patient.me.personnummer,
        EventAction::PolicyDecision,
        portal.now(),
    )
    .await
    .map_err(|e| ApiError::internal(&e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn me(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let account = portal.accounts.account(acting.subject()).await?;
    Ok(no_store(Json(account)))
}

pub async fn update_me(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    JsonBody(update): JsonBody<ProfileUpdate>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let account = portal
        .accounts
        .update_profile(acting.subject(), &update)
        .await?;
    record(&portal, &acting, &account, EventAction::ProfileUpdate).await;
    Ok(no_store(Json(account)))
}

pub async fn delete_me(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::Always).await?;
    if acting.is_proxy() {
        return Err(ApiError::forbidden(
            "a guardian cannot delete a child's account; stop acting for the child first",
        ));
    }
    // Deletes the account's sessions too, this one included.
    portal
        .accounts
        .delete_account(&patient.me.personnummer)
        .await?;
    // The rows are gone; now the files of their message attachments. If this fails, the
    // files stay queued and go at the next start (src/portal/messages/attachments.rs).
    if let Err(e) = portal.messages.purge_removed_files().await {
        tracing::warn!(error = %e, "could not remove the files of a deleted account's attachments");
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, portal.session_cookie(None))],
    )
        .into_response())
}

pub async fn access_log(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let entries = crate::portal::audit::entries_for_patient(&portal.db, acting.subject())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(no_store(Json(entries)))
}

pub async fn export(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::Always).await?;
    let subject_account = portal.accounts.account(acting.subject()).await?;
    // Recorded first, so the export contains its own event.
    record(&portal, &acting, &subject_account, EventAction::Export).await;
    let data = portal.accounts.export_own_data(acting.subject()).await?;
    let body = serde_json::to_vec_pretty(&data).map_err(|e| ApiError::internal(&e))?;
    let date = portal.today();
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                // The file name carries the date, never the personnummer.
                format!("attachment; filename=\"vardrum-data-{date}.json\""),
            ),
        ],
        body,
    )
        .into_response())
}

pub async fn children(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
) -> Result<Response, ApiError> {
    patient.acting(&portal, Gate::PolicyAccepted).await?;
    let children = portal.accounts.children(&patient.me.personnummer).await?;
    Ok(no_store(Json(children)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActingAsRequest {
    child: Option<String>,
}

pub async fn acting_as(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    JsonBody(body): JsonBody<ActingAsRequest>,
) -> Result<Response, ApiError> {
    // The gate only, not the proxy check: the current proxy may be the very thing being ended.
    patient.pass(&portal, Gate::PolicyAccepted).await?;
    let PatientSession { session, me } = patient;
    let child = match &body.child {
        None => None,
        Some(input) => {
            let child = portal.parse_personnummer("child", input)?;
            let acting = portal.accounts.act_for(&me.personnummer, &child).await?;
            let child_account = portal.accounts.open_for_proxy(&acting).await?;
            events::record(
                &portal.db,
                child_account.id.as_str(),
                acting.actor(),
                EventAction::ProxyStart,
                portal.now(),
            )
            .await
            .map_err(|e| ApiError::internal(&e))?;
            Some(child)
        }
    };
    portal
        .sessions
        .set_acting_for(&session.token_hash, child.as_ref())
        .await?;
    let session = Session {
        acting_for: child,
        ..session
    };
    let body = session_body(&portal, &session).await?;
    Ok(no_store(Json(body)))
}
