//! The messages API: the patient (or a guardian acting for a child) starts conversations with a
//! care unit, lists them with unread counts, reads one with its full history, writes, marks it
//! read, attaches files to their own messages and downloads attachments; clinicians of the
//! session's active care unit list its inbox (open or closed, unread for them, assigned to
//! them), read, answer, mark read, assign to a colleague and close, every read logged by the
//! domain before it is shown. The domain ([`crate::portal::messages`]) decides everything; this
//! file reads requests, maps each [`MessageError`] to its status with the domain's stable
//! `code()`, and shapes answers.
//!
//! Attachments travel as the raw body of `POST …/messages/{message}/attachments` (the file's
//! type in `Content-Type`, its name percent-encoded in `X-File-Name`, so that a name, which can
//! say what a file is about, stays out of URLs and access logs), read up to the server's
//! `uploads.max_bytes` and refused as soon as it passes it.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::portal::messages::{
    AttachmentView, InboxFilter, MessageError, NewAttachment, StatusFilter,
};
use crate::uploads::http::file_download;

use super::error::{ApiError, JsonBody};
use super::session::{Gate, PatientSession, StaffSession};
use super::{ClientInfo, Portal, no_store};

/// The request header carrying an attachment's file name, percent-encoded UTF-8.
pub const FILE_NAME_HEADER: &str = "x-file-name";

/// The messages routes, merged into the API router.
pub fn routes() -> Router<Arc<Portal>> {
    Router::new()
        .route(
            "/conversations",
            get(my_conversations).post(start_conversation),
        )
        .route("/conversations/{id}", get(my_conversation))
        .route("/conversations/{id}/messages", post(post_message))
        .route(
            "/conversations/{id}/messages/{message}/attachments",
            post(attach),
        )
        .route(
            "/conversations/{id}/attachments/{attachment}",
            get(download),
        )
        .route("/conversations/{id}/read", post(mark_read))
        .route("/staff/inbox", get(inbox))
        .route("/staff/conversations/{id}", get(staff_conversation))
        .route("/staff/conversations/{id}/messages", post(reply))
        .route(
            "/staff/conversations/{id}/messages/{message}/attachments",
            post(staff_attach),
        )
        .route(
            "/staff/conversations/{id}/attachments/{attachment}",
            get(staff_download),
        )
        .route("/staff/conversations/{id}/read", post(staff_mark_read))
        .route("/staff/conversations/{id}/assign", post(assign))
        .route("/staff/conversations/{id}/close", post(close))
}

impl From<MessageError> for ApiError {
    fn from(e: MessageError) -> Self {
        let code = e.code();
        let status = match &e {
            MessageError::Invalid { field, reason } => return ApiError::invalid(*field, *reason),
            MessageError::NoSuchSeq(_) => {
                return ApiError::invalid("seq", "beyond the conversation's last message");
            }
            MessageError::Corrupt(_)
            | MessageError::FileDamaged
            | MessageError::Store(_)
            | MessageError::Audit(_)
            | MessageError::Database(_) => return ApiError::internal(&e),
            MessageError::UnknownCareUnit => {
                return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
                    .field("care_unit");
            }
            MessageError::NotAColleague => {
                return ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string())
                    .field("staff_id");
            }
            MessageError::NoAccount => StatusCode::UNPROCESSABLE_ENTITY,
            MessageError::NotClinician | MessageError::NotYourMessage => StatusCode::FORBIDDEN,
            MessageError::ConversationNotFound
            | MessageError::MessageNotFound
            | MessageError::AttachmentNotFound => StatusCode::NOT_FOUND,
            MessageError::ConversationClosed | MessageError::TooManyAttachments(_) => {
                StatusCode::CONFLICT
            }
            MessageError::EmptyFile => StatusCode::BAD_REQUEST,
            MessageError::FileTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            MessageError::UnsupportedType | MessageError::TypeMismatch { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
        };
        // The domain's messages name no person, no text and no file name.
        ApiError::new(status, code, e.to_string())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    care_unit: String,
    subject: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadMark {
    /// The seq of the last message the reader has seen.
    seq: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    staff_id: String,
}

// ----- the patient's side (the session's acting-as: themself, or a child)

/// `GET /conversations`: the person's conversations (the child's, for a guardian).
async fn my_conversations(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let list = portal
        .messages
        .my_conversations(&acting, &patient.me)
        .await?;
    Ok(no_store(Json(list)))
}

/// `POST /conversations {care_unit, subject, text}`.
async fn start_conversation(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    JsonBody(body): JsonBody<NewConversation>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let conversation = portal
        .messages
        .start(
            &acting,
            &patient.me,
            &body.care_unit,
            &body.subject,
            &body.text,
        )
        .await?;
    Ok(no_store((StatusCode::CREATED, Json(conversation))))
}

/// `GET /conversations/{id}`: the full history. Reading does not mark it read.
async fn my_conversation(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let conversation = portal
        .messages
        .my_conversation(&acting, &patient.me, &id)
        .await?;
    Ok(no_store(Json(conversation)))
}

/// `POST /conversations/{id}/messages {text}`.
async fn post_message(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewMessage>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let message = portal
        .messages
        .post(&acting, &patient.me, &id, &body.text)
        .await?;
    Ok(no_store((StatusCode::CREATED, Json(message))))
}

/// `POST /conversations/{id}/read {seq}`: the patient side has read up to message `seq`.
async fn mark_read(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReadMark>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let summary = portal
        .messages
        .mark_read(&acting, &patient.me, &id, body.seq)
        .await?;
    Ok(no_store(Json(summary)))
}

/// `POST /conversations/{id}/messages/{message}/attachments`, the file as the body.
async fn attach(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path((id, message)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let upload = Upload::read(&portal, &headers, body).await?;
    let view = portal
        .messages
        .attach(&acting, &patient.me, &id, &message, upload.as_new())
        .await?;
    Ok(no_store((StatusCode::CREATED, Json(view))))
}

/// `GET /conversations/{id}/attachments/{attachment}`: the file as a download.
async fn download(
    State(portal): State<Arc<Portal>>,
    patient: PatientSession,
    Path((id, attachment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let acting = patient.acting(&portal, Gate::PolicyAccepted).await?;
    let (view, bytes) = portal
        .messages
        .open_attachment(&acting, &patient.me, &id, &attachment)
        .await?;
    file_response(&view, bytes)
}

// ----- staff: the session's active care unit; the clinician role

/// `GET /staff/inbox?status=open|closed|all&unread=true|false&assigned=me`.
async fn inbox(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let filter = inbox_filter(raw.as_deref())?;
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(
        portal.messages.inbox(&access, filter).await?,
    )))
}

/// `GET /staff/conversations/{id}`.
async fn staff_conversation(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(
        portal.messages.staff_conversation(&access, &id).await?,
    )))
}

/// `POST /staff/conversations/{id}/messages {text}`.
async fn reply(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewMessage>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let message = portal.messages.reply(&access, &id, &body.text).await?;
    Ok(no_store((StatusCode::CREATED, Json(message))))
}

/// `POST /staff/conversations/{id}/read {seq}`.
async fn staff_mark_read(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReadMark>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    portal
        .messages
        .staff_mark_read(&access, &id, body.seq)
        .await?;
    Ok(no_store(StatusCode::NO_CONTENT))
}

/// `POST /staff/conversations/{id}/assign {staff_id}`.
async fn assign(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Assignment>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(
        portal
            .messages
            .assign(&access, &id, body.staff_id.trim())
            .await?,
    )))
}

/// `POST /staff/conversations/{id}/close`.
async fn close(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    Ok(no_store(Json(portal.messages.close(&access, &id).await?)))
}

/// `POST /staff/conversations/{id}/messages/{message}/attachments`, the file as the body.
async fn staff_attach(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path((id, message)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let upload = Upload::read(&portal, &headers, body).await?;
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let view = portal
        .messages
        .staff_attach(&access, &id, &message, upload.as_new())
        .await?;
    Ok(no_store((StatusCode::CREATED, Json(view))))
}

/// `GET /staff/conversations/{id}/attachments/{attachment}`.
async fn staff_download(
    State(portal): State<Arc<Portal>>,
    staff: StaffSession,
    client: ClientInfo,
    Path((id, attachment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let access = portal.staff_access(&staff.member, &staff.session, &client);
    let (view, bytes) = portal
        .messages
        .staff_open_attachment(&access, &id, &attachment)
        .await?;
    file_response(&view, bytes)
}

// ----- helpers

/// An attachment's body and headers, as received.
struct Upload {
    declared: Option<String>,
    name: Option<String>,
    bytes: Vec<u8>,
}

impl Upload {
    /// Reads the name header and the body, refusing a body past the size limit as soon as it
    /// is (by its `Content-Length` before a byte is read).
    async fn read(portal: &Portal, headers: &HeaderMap, body: Body) -> Result<Self, ApiError> {
        let name = match headers.get(FILE_NAME_HEADER) {
            None => None,
            Some(v) => Some(percent_decoded(v.as_bytes()).ok_or_else(|| {
                ApiError::invalid(
                    "X-File-Name",
                    "must be percent-encoded UTF-8 (RFC 3986), like encodeURIComponent() makes",
                )
            })?),
        };
        let declared = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let max = portal.messages.max_attachment_bytes();
        let too_large = || ApiError::from(MessageError::FileTooLarge(max));
        let announced = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "upload_incomplete",
                    "the file did not arrive in full",
                )
            })?;
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Self {
            declared,
            name,
            bytes,
        })
    }

    fn as_new(&self) -> NewAttachment<'_> {
        NewAttachment {
            declared: self.declared.as_deref(),
            raw_name: self.name.as_deref(),
            bytes: &self.bytes,
        }
    }
}

/// Percent-decodes a header value into UTF-8 text; `None` for a bad escape or bad UTF-8.
fn percent_decoded(value: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A download that a browser never runs: the sniffed type, as an attachment under its cleaned
/// name, `nosniff`, `no-store` and a sandboxing CSP.
fn file_response(view: &AttachmentView, bytes: Vec<u8>) -> Result<Response, ApiError> {
    file_download(&view.content_type, &view.name, bytes).map_err(|e| ApiError::internal(&e))
}

/// The inbox's query: `status` (`open`, the default, `closed` or `all`), `unread` (`true` or
/// `false`, the default) and `assigned` (`me`), each at most once, nothing else.
fn inbox_filter(raw: Option<&str>) -> Result<InboxFilter, ApiError> {
    let mut filter = InboxFilter::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if seen.iter().any(|s| *s == name) {
            return Err(ApiError::invalid(name.into_owned(), "given more than once"));
        }
        match name.as_ref() {
            "status" => {
                filter.status = match value.as_ref() {
                    "open" => StatusFilter::Open,
                    "closed" => StatusFilter::Closed,
                    "all" => StatusFilter::All,
                    _ => return Err(ApiError::invalid("status", "must be open, closed or all")),
                }
            }
            "unread" => {
                filter.unread_only = match value.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::invalid("unread", "must be true or false")),
                }
            }
            "assigned" => {
                if value != "me" {
                    return Err(ApiError::invalid("assigned", "must be me"));
                }
                filter.assigned_to_me = true;
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_field",
                    "a query parameter this endpoint does not take",
                )
                .field(name.chars().take(64).collect::<String>()));
            }
        }
        seen.push(name.into_owned());
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_arrive_percent_encoded() {
        assert_eq!(
            percent_decoded(b"utslag%20p%C3%A5%20armen.jpg").as_deref(),
            Some("utslag på armen.jpg")
        );
        assert_eq!(percent_decoded(b"plain.pdf").as_deref(), Some("plain.pdf"));
        for bad in [&b"%"[..], b"%4", b"%zz", b"%C3"] {
            assert_eq!(percent_decoded(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_inbox_query_takes_its_three_filters_once_each() {
        assert_eq!(inbox_filter(None).unwrap(), InboxFilter::default());
        let f = inbox_filter(Some("status=all&unread=true&assigned=me")).unwrap();
        assert_eq!(
            f,
            InboxFilter {
                status: StatusFilter::All,
                unread_only: true,
                assigned_to_me: true
            }
        );
        for (bad, field) in [
            ("status=maybe", "status"),
            ("unread=1", "unread"),
            ("assigned=bo", "assigned"),
            ("status=open&status=closed", "status"),
            ("limit=5", "limit"),
        ] {
            let e = inbox_filter(Some(bad)).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{bad}");
        }
    }
}
