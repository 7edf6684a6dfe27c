//! The API's one error shape, `{"error": {"code", "field", "message", "user_message"}}`, and the
//! JSON body extractor that turns every way a body can be wrong into it, naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::portal::accounts::AccountError;
use crate::portal::accounts::contact::FieldError;
use crate::portal::accounts::guardians::ProxyError;
use crate::portal::care::CareError;
use crate::portal::identity::register::RegisterError;
use crate::portal::identity::sessions::SessionError;
use crate::portal::region::Localized;
use crate::portal::staff::StaffError;

/// Largest JSON body the API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
    pub user_message: Option<Localized>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_message: Option<UserMessage<'a>>,
}

#[derive(Serialize)]
struct UserMessage<'a> {
    sv: &'a str,
    en: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            field: None,
            message: message.into(),
            user_message: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", message).field(field)
    }

    pub fn not_logged_in() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_logged_in", "log in first")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Also the answer when the target exists but the session may not see it: the two are
    /// never told apart.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    pub fn unavailable(what: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{what} cannot be reached; try again shortly"),
        )
    }

    /// A server-side failure: logged here without personal data, answered without detail.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "portal request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                field: self.field.as_deref(),
                message: &self.message,
                user_message: self.user_message.as_ref().map(|m| UserMessage {
                    sv: &m.sv,
                    en: &m.en,
                }),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid(e.field, e.to_string())
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        tracing::warn!(error = %e, "population register unavailable");
        ApiError::unavailable("the population register")
    }
}

impl From<StaffError> for ApiError {
    fn from(e: StaffError) -> Self {
        match e {
            StaffError::Invalid { field, reason } => ApiError::invalid(field, reason),
            StaffError::AlreadyExists => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                "a staff member with this subject exists",
            )
            .field("subject"),
            other => ApiError::internal(&other),
        }
    }
}

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        match e {
            ProxyError::NotPermitted => ApiError::not_found(),
            ProxyError::GuardianProtected
            | ProxyError::AgeLimitReached { .. }
            | ProxyError::BirthDateUnknown => ApiError::forbidden(e.to_string()),
            ProxyError::Register(e) => e.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(e) => e.into(),
            AccountError::ProtectedIdentityRefused { message } => {
                let mut error = ApiError::new(
                    StatusCode::FORBIDDEN,
                    "protected_identity",
                    "the region does not serve people with protected identity in this service",
                );
                error.user_message = Some(message);
                error
            }
            AccountError::NotInRegister => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_in_register",
                "the person is not in the population register",
            ),
            AccountError::NotFound => ApiError::not_found(),
            AccountError::AlreadyExists => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                "the account already exists",
            ),
            AccountError::Register(e) => e.into(),
            AccountError::Proxy(e) => e.into(),
            AccountError::Care(e) => e.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<CareError> for ApiError {
    fn from(e: CareError) -> Self {
        match e {
            CareError::NoCareRelationship => ApiError::new(
                StatusCode::FORBIDDEN,
                "no_care_relationship",
                "the patient has no booking, conversation, drop-in place or case with your \
                 active care unit; give emergency_reason to open the data as an emergency access",
            ),
            CareError::InvalidReason(why) => ApiError::invalid("emergency_reason", why),
            CareError::InvalidNote(why) => ApiError::invalid("note", why),
            CareError::NotClinician => ApiError::forbidden("this needs the clinician role"),
            CareError::NotAdministrator => ApiError::forbidden("this needs the administrator role"),
            CareError::NoCareUnit => ApiError::new(
                StatusCode::CONFLICT,
                "no_care_unit",
                "choose the care unit you work in first (PUT /api/v1/staff/care-unit)",
            ),
            CareError::NotFound => ApiError::not_found(),
            CareError::AlreadyReviewed => ApiError::new(
                StatusCode::CONFLICT,
                "already_reviewed",
                "this emergency access is already followed up",
            ),
            other => ApiError::internal(&other),
        }
    }
}

/// A JSON request body: checks the content type and size, refuses unknown fields (the target
/// types say `deny_unknown_fields`) and names the field at fault.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                body_too_large()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    "cannot read the body",
                )
            }
        })?;
        if bytes.len() > MAX_JSON_BYTES {
            return Err(body_too_large());
        }
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is larger than {MAX_JSON_BYTES} bytes"),
    )
}

/// Parses JSON into `T`, turning serde's errors into the API's codes with the field's path.
/// Every body the API documents is a JSON object: anything else (an array, which serde would
/// otherwise read into a struct field by field, a string, a number) is `invalid_type`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntactically valid JSON first, so that every later failure is about the content.
    let shape: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body is not valid JSON",
        )
    })?;
    if !shape.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_type",
            "the body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        classify(&path, &inner)
    })?;
    // Trailing garbage after the value is malformed too.
    de.end().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "text after the JSON value",
        )
    })?;
    Ok(value)
}

fn classify(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let message = e.to_string();
    // serde_path_to_error's path ends in an unknown field's name already, but stops at the
    // parent of a missing one.
    let at = |name: &str| -> String {
        if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else if path.is_empty() || path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match e.classify() {
        // The body is valid JSON (checked before), so a "syntax" error here is serde_json
        // meeting a value of the wrong kind where an enum wants a string (an enum's
        // deserialiser reports that as a syntax error): a type error at `path`.
        Category::Syntax | Category::Eof => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_type",
            "this field has the wrong JSON type",
        )
        .field(path.to_owned()),
        Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body is not valid JSON",
        ),
        Category::Data => {
            // serde's messages are stable in form: "unknown field `x`, expected ...",
            // "missing field `x`", "invalid type: ...".
            if let Some(name) = backticked(&message, "unknown field `") {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_field",
                    format!("the field {name} is not accepted here"),
                )
                .field(at(name))
            } else if let Some(name) = backticked(&message, "missing field `") {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "missing_field",
                    format!("the field {name} is required"),
                )
                .field(at(name))
            } else if message.starts_with("invalid type") {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_type",
                    "this field has the wrong JSON type",
                )
                .field(path.to_owned())
            } else if message.starts_with("unknown variant") {
                // serde's text echoes the value sent; say only what the field takes.
                let expected = strip_position(&message)
                    .split_once(", expected ")
                    .map(|(_, e)| format!("must be {e}"))
                    .unwrap_or_else(|| "not one of the values this field takes".into());
                ApiError::invalid(path.to_owned(), expected)
            } else {
                ApiError::invalid(path.to_owned(), strip_position(&message))
            }
        }
    }
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        language: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        settings: Inner,
    }

    fn err(body: &str) -> ApiError {
        parse_json::<Outer>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn each_class_of_bad_body_has_its_code_and_field() {
        let e = err("{");
        assert_eq!(e.code, "malformed_json");
        let e = err(r#"{"name":"a","settings":{"language":"sv"},"personnummer":"1"}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("unknown_field", Some("personnummer"))
        );
        let e = err(r#"{"name":"a","settings":{"language":"sv","x":1}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("unknown_field", Some("settings.x"))
        );
        let e = err(r#"{"settings":{"language":"sv"}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("missing_field", Some("name"))
        );
        let e = err(r#"{"name":"a","settings":{"language":7}}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_type", Some("settings.language"))
        );
        let e = err(r#"{"name":"a","settings":{"language":"sv"}} x"#);
        assert_eq!(e.code, "malformed_json");
        for not_an_object in [r#"["a",{"language":"sv"}]"#, r#""a""#, "7", "null"] {
            let e = err(not_an_object);
            assert_eq!((e.code, e.field), ("invalid_type", None), "{not_an_object}");
        }
        assert!(parse_json::<Outer>(br#"{"name":"a","settings":{"language":"sv"}}"#).is_ok());
    }
}
