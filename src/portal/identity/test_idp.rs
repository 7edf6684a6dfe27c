//! The built-in test identity provider: a real OpenID Connect issuer (discovery, JWKS,
//! authorisation endpoint with PKCE, token endpoint issuing ES256-signed ID tokens) served by the
//! binary at `/dev-idp/{realm}/…` in development mode only, where one picks a test person
//! instead of proving who one is.
//!
//! It exists so that development and the end-to-end tests go through the same relying-party
//! code as production, with nothing mocked in between. [`TestIdp::new`] refuses production mode:
//! an issuer that logs anyone in as anyone must never run where real people are.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde::Deserialize;
use serde_json::json;

use crate::clock::Clock;
use crate::config::Mode;

use crate::portal::identity::oidc::pkce_challenge;
use crate::portal::identity::register::RegisterPerson;
use crate::portal::identity::sessions::random_token;

/// An authorisation code is good for this long, once.
const CODE_TTL_SECS: u64 = 60;
/// ID tokens it issues live this long.
const ID_TOKEN_TTL_SECS: u64 = 300;

/// Someone the test IdP lets you log in as.
#[derive(Clone)]
pub struct TestPerson {
    /// The `sub` claim.
    pub subject: String,
    /// What the picker shows.
    pub label: String,
    /// Extra claims in the ID token (e.g. the personnummer claim, names).
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The relying party an issuer knows: its client id and secret.
#[derive(Clone)]
pub struct ClientRegistration {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The register's persons as test-IdP persons whose ID token carries the personnummer under
/// `claim`. Brokers name that claim differently (`personal_identity_number`,
/// `personalIdentityNumber`, ...), so the claim is the caller's choice: the built-in issuer
/// uses the portal's default, and tests use others to prove the configured name is honoured.
pub fn register_persons<'a>(
    persons: impl IntoIterator<Item = &'a RegisterPerson>,
    claim: &str,
) -> Vec<TestPerson> {
    persons
        .into_iter()
        .map(|p| {
            let mut claims = serde_json::Map::new();
            claims.insert(claim.into(), p.personnummer.as_str().into());
            claims.insert("given_name".into(), p.given_name.clone().into());
            claims.insert("family_name".into(), p.family_name.clone().into());
            TestPerson {
                subject: format!("test-{}", p.personnummer.as_str()),
                label: format!("{} {} ({})", p.given_name, p.family_name, p.personnummer),
                claims,
            }
        })
        .collect()
}

/// One realm's issuer.
pub struct Issuer {
    /// `{base}/dev-idp/{realm}`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    persons: Vec<TestPerson>,
    /// When set, a free-text field lets one log in as any personnummer under this claim (to try
    /// people who are not in the register).
    free_text_claim: Option<String>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

struct Grant {
    realm: String,
    subject: String,
    claims: serde_json::Map<String, serde_json::Value>,
    nonce: String,
    challenge: String,
    redirect_uri: String,
    expires: u64,
}

/// The test IdP with its issuers (one per realm) and signing key.
pub struct TestIdp {
    issuers: HashMap<String, Issuer>,
    key: EncodingKey,
    kid: String,
    jwk: serde_json::Value,
    codes: DashMap<String, Grant>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TestIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIdp")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestIdpError {
    #[error(
        "the built-in test identity provider logs anyone in as anyone and cannot run in \
         production mode: configure real identity providers ([portal.patient_oidc], \
         [portal.staff_oidc])"
    )]
    Production,
    #[error("cannot make the test IdP's signing key: {0}")]
    Key(String),
}

impl TestIdp {
    pub fn new(mode: Mode, clock: Arc<dyn Clock>) -> Result<Self, TestIdpError> {
        if mode == Mode::Production {
            return Err(TestIdpError::Production);
        }
        // A fresh key per process: tokens from an earlier run are worthless.
        let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| TestIdpError::Key(e.to_string()))?;
        let point = signing.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(TestIdpError::Key("no affine coordinates".into()));
        };
        let kid = random_token()[..16].to_owned();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        Ok(Self {
            issuers: HashMap::new(),
            key: EncodingKey::from_ec_der(der.as_bytes()),
            kid,
            jwk,
            codes: DashMap::new(),
            clock,
        })
    }

    /// Adds a realm's issuer at `{base_url}dev-idp/{realm}` with a fresh client secret;
    /// returns the issuer to configure the relying party with.
    pub fn add_realm(
        &mut self,
        base_url: &str,
        realm: &str,
        redirect_uri: String,
        persons: Vec<TestPerson>,
        free_text_claim: Option<String>,
    ) -> &Issuer {
        let client = ClientRegistration {
            client_id: format!("vardrum-{realm}"),
            client_secret: random_token(),
        };
        self.add_issuer(
            base_url,
            realm,
            client,
            redirect_uri,
            persons,
            free_text_claim,
        )
    }

    /// Like [`TestIdp::add_realm`], with client credentials chosen by the caller. Lets a test
    /// run this issuer as a separate provider that a portal is *configured* against
    /// (`[portal.patient_oidc]` with a `client_secret_file`), where the secret has to exist
    /// before the portal starts and so cannot be the random one `add_realm` makes.
    pub fn add_issuer(
        &mut self,
        base_url: &str,
        realm: &str,
        client: ClientRegistration,
        redirect_uri: String,
        persons: Vec<TestPerson>,
        free_text_claim: Option<String>,
    ) -> &Issuer {
        let issuer = Issuer {
            issuer: format!("{base_url}dev-idp/{realm}"),
            client_id: client.client_id,
            client_secret: client.client_secret,
            redirect_uri,
            persons,
            free_text_claim,
        };
        self.issuers.insert(realm.to_owned(), issuer);
        &self.issuers[realm]
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(
                "/dev-idp/{realm}/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/dev-idp/{realm}/jwks", get(jwks))
            .route(
                "/dev-idp/{realm}/authorize",
                get(authorize_page).post(authorize),
            )
            .route("/dev-idp/{realm}/token", post(token))
            .with_state(self)
    }

    fn issuer(&self, realm: &str) -> Result<&Issuer, Reject> {
        self.issuers
            .get(realm)
            .ok_or_else(|| Reject(StatusCode::NOT_FOUND, "no such realm".into()))
    }
}

/// A request the test IdP refuses: shown as text, never redirected (the redirect target is
/// not trusted until checked).
struct Reject(StatusCode, String);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

async fn discovery(
    State(idp): State<Arc<TestIdp>>,
    Path(realm): Path<String>,
) -> Result<Response, Reject> {
    let issuer = idp.issuer(&realm)?;
    let base = &issuer.issuer;
    Ok(Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile"],
    }))
    .into_response())
}

async fn jwks(
    State(idp): State<Arc<TestIdp>>,
    Path(realm): Path<String>,
) -> Result<Response, Reject> {
    idp.issuer(&realm)?;
    Ok(Json(json!({ "keys": [idp.jwk] })).into_response())
}

/// The authorisation request's parameters (OIDC core §3.1.2.1, RFC 7636).
#[derive(Debug, Deserialize)]
struct AuthRequest {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
    #[serde(default)]
    scope: String,
    /// Only in the form posted back from the picker.
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    free_text: Option<String>,
}

fn check_request<'a>(
    idp: &'a TestIdp,
    realm: &str,
    req: &AuthRequest,
) -> Result<&'a Issuer, Reject> {
    let issuer = idp.issuer(realm)?;
    let bad = |why: &str| {
        Err(Reject(
            StatusCode::BAD_REQUEST,
            format!("invalid request: {why}"),
        ))
    };
    // Never redirect to an unregistered URI: errors here are shown, not sent back.
    if req.client_id != issuer.client_id {
        return bad("unknown client_id");
    }
    if req.redirect_uri != issuer.redirect_uri {
        return bad("redirect_uri is not registered");
    }
    if req.response_type != "code" {
        return bad("response_type must be code");
    }
    if req.code_challenge_method != "S256" || req.code_challenge.len() < 43 {
        return bad("PKCE with S256 is required");
    }
    if !req.scope.split(' ').any(|s| s == "openid") {
        return bad("scope must include openid");
    }
    if req.state.is_empty() || req.nonce.is_empty() {
        return bad("state and nonce are required");
    }
    Ok(issuer)
}

fn esc(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

async fn authorize_page(
    State(idp): State<Arc<TestIdp>>,
    Path(realm): Path<String>,
    Query(req): Query<AuthRequest>,
) -> Result<Response, Reject> {
    let issuer = check_request(&idp, &realm, &req)?;
    let hidden: String = [
        ("response_type", &req.response_type),
        ("client_id", &req.client_id),
        ("redirect_uri", &req.redirect_uri),
        ("state", &req.state),
        ("nonce", &req.nonce),
        ("code_challenge", &req.code_challenge),
        ("code_challenge_method", &req.code_challenge_method),
        ("scope", &req.scope),
    ]
    .iter()
    .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
    .collect();
    let buttons: String = issuer
        .persons
        .iter()
        .map(|p| {
            format!(
                "<li><button type=\"submit\" name=\"subject\" value=\"{}\">{}</button></li>",
                esc(&p.subject),
                esc(&p.label)
            )
        })
        .collect();
    let free_text = if issuer.free_text_claim.is_some() {
        "<p><label for=\"free_text\">Annan identitet / other identity</label> \
         <input id=\"free_text\" name=\"free_text\" autocomplete=\"off\"> \
         <button type=\"submit\" name=\"subject\" value=\"\">Logga in / Log in</button></p>"
    } else {
        ""
    };
    Ok(Html(format!(
        "<!doctype html><html lang=\"sv\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Test-IdP ({realm})</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/style.css\"></head>\
         <body><main id=\"main\"><h1>Testinloggning ({realm})</h1>\
         <p role=\"note\">Endast för utveckling och test. Development and testing only: pick a \
         test person.</p><form method=\"post\">{hidden}<ul class=\"idp-persons\">{buttons}</ul>\
         {free_text}</form></main></body></html>",
        realm = esc(&realm)
    ))
    .into_response())
}

async fn authorize(
    State(idp): State<Arc<TestIdp>>,
    Path(realm): Path<String>,
    Form(req): Form<AuthRequest>,
) -> Result<Response, Reject> {
    let issuer = check_request(&idp, &realm, &req)?;
    let chosen = req.subject.as_deref().unwrap_or("");
    let (subject, claims) =
        if let Some(person) = issuer.persons.iter().find(|p| p.subject == chosen) {
            (person.subject.clone(), person.claims.clone())
        } else if let (Some(claim), Some(text)) = (&issuer.free_text_claim, &req.free_text)
            && chosen.is_empty()
            && !text.trim().is_empty()
        {
            // Passed on as typed: the relying party must validate what a provider sends.
            let text = text.trim();
            if claim == "sub" {
                (text.to_owned(), serde_json::Map::new())
            } else {
                let mut claims = serde_json::Map::new();
                claims.insert(claim.clone(), json!(text));
                (format!("free-{}", &random_token()[..12]), claims)
            }
        } else {
            return Err(Reject(
                StatusCode::BAD_REQUEST,
                "invalid request: pick a person".into(),
            ));
        };
    let code = random_token();
    let now = idp.clock.now_unix();
    // Codes nobody redeemed go when the next one is made.
    idp.codes.retain(|_, g| g.expires >= now);
    idp.codes.insert(
        code.clone(),
        Grant {
            realm,
            subject,
            claims,
            nonce: req.nonce,
            challenge: req.code_challenge,
            redirect_uri: req.redirect_uri.clone(),
            expires: now + CODE_TTL_SECS,
        },
    );
    let mut target = url::Url::parse(&req.redirect_uri)
        .map_err(|_| Reject(StatusCode::BAD_REQUEST, "invalid redirect_uri".into()))?;
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &req.state);
    Ok(Redirect::to(target.as_str()).into_response())
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// The client's credentials from Basic auth (form-encoded inside, RFC 6749 §2.3.1) or the body.
fn client_credentials(headers: &HeaderMap, req: &TokenRequest) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = STANDARD.decode(basic).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((decode(id)?, decode(secret)?));
    }
    Some((req.client_id.clone()?, req.client_secret.clone()?))
}

async fn token(
    State(idp): State<Arc<TestIdp>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    Form(req): Form<TokenRequest>,
) -> Response {
    let Ok(issuer) = idp.issuer(&realm) else {
        return token_error(StatusCode::NOT_FOUND, "invalid_request");
    };
    let Some((client_id, secret)) = client_credentials(&headers, &req) else {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if client_id != issuer.client_id || secret != issuer.client_secret {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if req.grant_type != "authorization_code" {
        return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Single use: the code is gone whatever happens next.
    let Some((_, grant)) = idp.codes.remove(&req.code) else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let now = idp.clock.now_unix();
    if grant.realm != realm
        || grant.expires < now
        || grant.redirect_uri != req.redirect_uri
        || pkce_challenge(&req.code_verifier) != grant.challenge
    {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let mut claims = grant.claims;
    claims.insert("iss".into(), json!(issuer.issuer));
    claims.insert("sub".into(), json!(grant.subject));
    claims.insert("aud".into(), json!(issuer.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ID_TOKEN_TTL_SECS));
    claims.insert("nonce".into(), json!(grant.nonce));
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(idp.kid.clone());
    let id_token = match jsonwebtoken::encode(&header, &claims, &idp.key) {
        Ok(t) => t,
        Err(_) => return token_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": random_token(),
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_TTL_SECS,
            "id_token": id_token,
        })),
    )
        .into_response()
}
