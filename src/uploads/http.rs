//! The HTTP surface of uploads (contract: *Files in a call* in `docs/portal-api.md`):
//!
//! - `POST /api/v1/calls/{room}/uploads?name=FILE[&booking=ID]`, the raw file as the body;
//! - `GET /api/v1/calls/{room}/uploads/{id}`, the file as a download;
//!
//! both with `Authorization: Bearer <join token>`. Every refusal is one [`Refusal`], answered in
//! the API's one error shape; the checks run in the documented order, the cheap ones and those
//! that need no body first, so that nobody who may not upload gets to send megabytes.
//!
//! Downloads are served so that a browser never runs what someone uploaded: as an attachment,
//! with the type sniffed at upload, `nosniff`, and `Content-Security-Policy: sandbox`, which
//! puts even a file opened in a tab into an opaque origin without scripts.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Serialize;
use vardrum_signalling::{ChatFile, JoinClaims, TokenError};

use super::{NewUpload, StoreError, sniff};
use crate::portal::api::error::ApiError;
use crate::server::AppState;

/// The two routes, on the server's state (the SFU, the token verifier, the uploads).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/calls/{room}/uploads", post(upload))
        .route("/api/v1/calls/{room}/uploads/{id}", get(download))
        .with_state(state)
}

/// Every way an upload or a download is refused: status, stable code, message.
#[derive(Debug)]
pub enum Refusal {
    /// No `Authorization: Bearer …` header.
    TokenMissing,
    /// The join token is forged, malformed, expired, not valid yet, or for another room.
    Token(TokenError),
    UnknownParameter(String),
    RepeatedParameter(String),
    NameMissing,
    NameEmpty,
    /// The token names no booking: there is nothing to keep the file with.
    NoBooking,
    /// `?booking=` (or the booking the participant joined with) is not the token's.
    BookingMismatch,
    /// Not in the visit now: in the waiting room, reconnecting, or never joined.
    NotAdmitted,
    VisitEnded,
    TooLarge(u64),
    Incomplete,
    Empty,
    UnsupportedType,
    NotFound,
    Internal,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::TokenMissing => StatusCode::UNAUTHORIZED,
            Refusal::Token(TokenError::WrongRoom) => StatusCode::FORBIDDEN,
            Refusal::Token(_) => StatusCode::UNAUTHORIZED,
            Refusal::UnknownParameter(_)
            | Refusal::RepeatedParameter(_)
            | Refusal::NameMissing
            | Refusal::NameEmpty
            | Refusal::Incomplete
            | Refusal::Empty => StatusCode::BAD_REQUEST,
            Refusal::NoBooking | Refusal::BookingMismatch | Refusal::NotAdmitted => {
                StatusCode::FORBIDDEN
            }
            Refusal::VisitEnded => StatusCode::GONE,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TokenMissing => "token_missing",
            Refusal::Token(e) => e.code().as_str(),
            Refusal::UnknownParameter(_) => "unknown_field",
            Refusal::RepeatedParameter(_) | Refusal::NameEmpty => "invalid_field",
            Refusal::NameMissing => "missing_field",
            Refusal::NoBooking => "no_booking",
            Refusal::BookingMismatch => "booking_mismatch",
            Refusal::NotAdmitted => "not_admitted",
            Refusal::VisitEnded => "visit_ended",
            Refusal::TooLarge(_) => "file_too_large",
            Refusal::Incomplete => "upload_incomplete",
            Refusal::Empty => "empty_file",
            Refusal::UnsupportedType => "unsupported_file_type",
            Refusal::NotFound => "not_found",
            Refusal::Internal => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::TokenMissing => {
                "send the join token as `Authorization: Bearer <token>`".into()
            }
            Refusal::Token(TokenError::Invalid(_)) => "the join token is not valid".into(),
            Refusal::Token(e) => e.to_string(),
            Refusal::UnknownParameter(p) => format!("unknown query parameter `{p}`"),
            Refusal::RepeatedParameter(p) => format!("the query parameter `{p}` is repeated"),
            Refusal::NameMissing => "the query parameter `name` (the file name) is required".into(),
            Refusal::NameEmpty => "the file name is empty".into(),
            Refusal::NoBooking => {
                "the join token names no booking, so there is nothing to keep the file with".into()
            }
            Refusal::BookingMismatch => "the booking is not the one of the join token".into(),
            Refusal::NotAdmitted => "only a participant who is in the visit right now may do this (not from the waiting room)".into(),
            Refusal::VisitEnded => "this visit has ended".into(),
            Refusal::TooLarge(max) => format!("the file is larger than {max} bytes"),
            Refusal::Incomplete => "the file did not arrive in full".into(),
            Refusal::Empty => "the file is empty".into(),
            Refusal::UnsupportedType => "only JPEG and PNG images and PDF documents can be uploaded (the type is read from the content, not the name)".into(),
            Refusal::NotFound => "not found".into(),
            Refusal::Internal => "something went wrong on our side".into(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Refusal::UnknownParameter(p) | Refusal::RepeatedParameter(p) => Some(p),
            Refusal::NameMissing | Refusal::NameEmpty => Some("name"),
            Refusal::BookingMismatch => Some("booking"),
            _ => None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        // Refusals are logged by code only: never the name, the bytes, a booking or a token.
        tracing::debug!(code = self.code(), "call upload refused");
        let mut error = ApiError::new(self.status(), self.code(), self.message());
        if let Some(field) = self.field() {
            error = error.field(field);
        }
        error.into_response()
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Empty => Refusal::Empty,
            StoreError::TooLarge(max) => Refusal::TooLarge(max),
            StoreError::UnsupportedType => Refusal::UnsupportedType,
            StoreError::Store(_) | StoreError::Database(_) => {
                tracing::error!(error = %e, "could not keep an uploaded file");
                Refusal::Internal
            }
        }
    }
}

/// What the uploader hears back.
#[derive(Debug, Serialize)]
struct Uploaded {
    id: String,
    name: String,
    content_type: String,
    size: u64,
    booking: String,
    /// Whether it was announced in the chat; `false` when the uploader sent chat messages too
    /// fast (the file is kept all the same) or left the visit meanwhile.
    announced: bool,
}

/// `POST /api/v1/calls/{room}/uploads`.
async fn upload(
    State(app): State<Arc<AppState>>,
    room: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let Path(room) = room.map_err(|_| Refusal::NotFound)?;
    let claims = verified(&app, &headers, &room)?;
    let params = UploadParams::parse(query.as_deref())?;
    let booking = claims.booking.clone().ok_or(Refusal::NoBooking)?;
    if params.booking.as_ref().is_some_and(|b| *b != booking) {
        return Err(Refusal::BookingMismatch);
    }
    let admission = admitted(&app, &room, &claims).await?;
    if admission.booking.as_deref() != Some(booking.as_str()) {
        return Err(Refusal::BookingMismatch);
    }

    let max = app.uploads.max_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(Refusal::TooLarge(max));
    }
    let bytes = read_body(body, max).await?;
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    if sniff::sniff(&bytes).is_none() {
        return Err(Refusal::UnsupportedType);
    }
    // Sending took time: the uploader must still be in the visit now that the file is here.
    let admission = admitted(&app, &room, &claims).await?;

    let record = app
        .uploads
        .keep(NewUpload {
            room: &room,
            booking: &booking,
            uploader_participant: &admission.participant_id,
            uploader_role: admission.role,
            raw_name: &params.name,
            bytes: &bytes,
        })
        .await?;
    let announced = app
        .sfu
        .post_file(
            &room,
            &claims.sub,
            ChatFile {
                id: record.id.clone(),
                name: record.name.clone(),
                content_type: record.content_type.clone(),
                size: record.size,
            },
        )
        .await;
    tracing::info!(room = %room, upload = %record.id, size = record.size, announced,
        "file uploaded into a call's chat");

    let location = format!("/api/v1/calls/{room}/uploads/{}", record.id);
    let body = Uploaded {
        id: record.id,
        name: record.name,
        content_type: record.content_type,
        size: record.size,
        booking: record.booking,
        announced,
    };
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET /api/v1/calls/{room}/uploads/{id}`.
async fn download(
    State(app): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let Path((room, id)) = path.map_err(|_| Refusal::NotFound)?;
    let claims = verified(&app, &headers, &room)?;
    admitted(&app, &room, &claims).await?;
    let (record, bytes) = match app.uploads.open(&room, &id).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Refusal::NotFound),
        Err(e) => {
            tracing::error!(room = %room, upload = %id, error = %e, "could not read an upload");
            return Err(Refusal::Internal);
        }
    };
    tracing::debug!(room = %room, upload = %record.id, size = record.size, "upload downloaded");
    file_download(&record.content_type, &record.name, bytes).map_err(|_| Refusal::Internal)
}

/// A stored file as a download that a browser never runs: its sniffed type, as an attachment
/// under its cleaned name, `nosniff`, `no-store` and a sandboxing CSP. Files in a call, a
/// booking's files and message attachments all leave through here. Fails only on a type or
/// name that cannot be a header value (stored values are ours, so that is a fault).
pub fn file_download(
    content_type: &str,
    name: &str,
    bytes: Vec<u8>,
) -> Result<Response, axum::http::header::InvalidHeaderValue> {
    let content_type = HeaderValue::from_str(content_type)?;
    let disposition = HeaderValue::from_str(&content_disposition(name))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOWNLOAD_CSP),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A downloaded file is no page of ours: no scripts, no plugins, no forms, no same origin.
pub const DOWNLOAD_CSP: &str = "sandbox; default-src 'none'";

/// The join token from `Authorization: Bearer …`, verified for `room` now.
fn verified(app: &AppState, headers: &HeaderMap, room: &str) -> Result<JoinClaims, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::TokenMissing)?;
    app.verifier
        .verify(token, room, app.clock.now_unix())
        .map_err(Refusal::Token)
}

/// The participant, if the SFU has them in the visit right now; else why not.
async fn admitted(
    app: &AppState,
    room: &str,
    claims: &JoinClaims,
) -> Result<vardrum_sfu::Admission, Refusal> {
    if let Some(a) = app.sfu.admission(room, &claims.sub).await {
        return Ok(a);
    }
    // The SFU remembers a visit's end the moment it happens (when a clinician had been in it);
    // the call records also know the end of a visit no clinician entered, a moment later.
    if app.sfu.ended_since(room, claims.iat) {
        return Err(Refusal::VisitEnded);
    }
    match app.uploads.visit_ended(room).await {
        Ok(true) => Err(Refusal::VisitEnded),
        Ok(false) => Err(Refusal::NotAdmitted),
        Err(e) => {
            tracing::error!(room = %room, error = %e, "could not read the call's record");
            Err(Refusal::Internal)
        }
    }
}

/// Reads the body, refusing it as soon as it passes `max` bytes.
async fn read_body(body: Body, max: u64) -> Result<Vec<u8>, Refusal> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Refusal::Incomplete)?;
        if (bytes.len() + chunk.len()) as u64 > max {
            return Err(Refusal::TooLarge(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The query of an upload: `name` (required) and `booking` (optional), nothing else, once each.
#[derive(Debug, PartialEq, Eq)]
struct UploadParams {
    name: String,
    booking: Option<String>,
}

impl UploadParams {
    fn parse(query: Option<&str>) -> Result<Self, Refusal> {
        let (mut name, mut booking) = (None, None);
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match key.as_ref() {
                "name" => &mut name,
                "booking" => &mut booking,
                other => return Err(Refusal::UnknownParameter(other.chars().take(64).collect())),
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(Refusal::RepeatedParameter(key.into_owned()));
            }
        }
        let name = name.ok_or(Refusal::NameMissing)?;
        if name.trim().is_empty() {
            return Err(Refusal::NameEmpty);
        }
        Ok(Self { name, booking })
    }
}

/// `attachment` with the name twice: plain ASCII in `filename` for old clients (anything else
/// becomes `_`, so no quote or backslash can end the quoted string), and exact in `filename*`
/// (RFC 6266, RFC 8187 percent-encoding).
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_a_name_and_a_booking_once_each_and_nothing_else() {
        let parsed = UploadParams::parse(Some("name=utslag%20p%C3%A5%20armen.jpg&booking=b-1"));
        assert_eq!(
            parsed.unwrap(),
            UploadParams {
                name: "utslag på armen.jpg".into(),
                booking: Some("b-1".into())
            }
        );
        assert_eq!(
            UploadParams::parse(Some("name=a.pdf")).unwrap().booking,
            None
        );
        for (query, code, field) in [
            (None, "missing_field", Some("name")),
            (Some("booking=b-1"), "missing_field", Some("name")),
            (Some("name="), "invalid_field", Some("name")),
            (Some("name=%20"), "invalid_field", Some("name")),
            (Some("name=a&name=b"), "invalid_field", Some("name")),
            (Some("name=a&path=/etc"), "unknown_field", Some("path")),
        ] {
            let refusal = UploadParams::parse(query).unwrap_err();
            assert_eq!(
                (refusal.code(), refusal.field()),
                (code, field),
                "{query:?}"
            );
            assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn the_download_name_cannot_break_out_of_its_header() {
        assert_eq!(
            content_disposition("rash.jpg"),
            "attachment; filename=\"rash.jpg\"; filename*=UTF-8''rash.jpg"
        );
        assert_eq!(
            content_disposition("utslag på armen.jpg"),
            "attachment; filename=\"utslag p_ armen.jpg\"; \
             filename*=UTF-8''utslag%20p%C3%A5%20armen.jpg"
        );
        let nasty = content_disposition("a\"; filename=evil.html\\\r\n.pdf");
        assert!(nasty.starts_with("attachment; filename=\"a_; filename=evil.html___.pdf\";"));
        assert!(HeaderValue::from_str(&nasty).is_ok());
        assert!(!nasty[nasty.find("filename*").unwrap()..].contains(['"', ' ', ';', '\\']));
    }

    #[test]
    fn refusals_have_their_documented_status() {
        for (refusal, status, code) in [
            (Refusal::TokenMissing, 401, "token_missing"),
            (
                Refusal::Token(TokenError::Invalid("x".into())),
                401,
                "token_invalid",
            ),
            (Refusal::Token(TokenError::Expired), 401, "token_expired"),
            (
                Refusal::Token(TokenError::NotYetValid),
                401,
                "token_not_yet_valid",
            ),
            (
                Refusal::Token(TokenError::WrongRoom),
                403,
                "token_wrong_room",
            ),
            (Refusal::NoBooking, 403, "no_booking"),
            (Refusal::BookingMismatch, 403, "booking_mismatch"),
            (Refusal::NotAdmitted, 403, "not_admitted"),
            (Refusal::VisitEnded, 410, "visit_ended"),
            (Refusal::TooLarge(1), 413, "file_too_large"),
            (Refusal::Incomplete, 400, "upload_incomplete"),
            (Refusal::Empty, 400, "empty_file"),
            (Refusal::UnsupportedType, 415, "unsupported_file_type"),
            (Refusal::NotFound, 404, "not_found"),
            (Refusal::Internal, 500, "internal"),
        ] {
            assert_eq!((refusal.status().as_u16(), refusal.code()), (status, code));
        }
    }
}
