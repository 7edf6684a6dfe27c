//! The OpenID Connect relying party: logs people in at an identity provider with the
//! authorisation code flow and PKCE (S256), then verifies the ID token (signature against the
//! provider's JWKS, issuer, audience, expiry by the injected clock, nonce).
//!
//! One client per realm: patients log in through an e-legitimation broker, staff through the
//! hospital's IdP; each has its own issuer, client credentials and the claim that carries the
//! identity (brokers differ in what they call the personnummer claim).
//!
//! The provider's metadata and keys are fetched lazily at the first login and cached; an ID
//! token signed with a key id we do not know triggers one refresh (key rotation).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::db::Db;

use super::sessions::{Realm, random_token, token_hash};

/// How long a login may take between the redirect to the provider and its callback.
pub const LOGIN_TIMEOUT_SECS: i64 = 600;
/// Clock skew allowed between us and the provider on `exp`/`iat`.
const LEEWAY_SECS: i64 = 60;
/// Metadata and keys are fetched again after this long.
const METADATA_TTL_SECS: u64 = 3600;

/// One realm's identity provider, as configured.
#[derive(Clone)]
pub struct ClientConfig {
    pub realm: Realm,
    /// The issuer URL exactly as the provider states it in its metadata and tokens.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Our callback, registered at the provider.
    pub redirect_uri: String,
    /// The ID-token claim holding the identity: the personnummer for patients (e.g.
    /// `personal_identity_number`), the staff member's subject for staff (e.g. `sub`).
    pub identity_claim: String,
    pub scopes: String,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("realm", &self.realm)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("identity_claim", &self.identity_claim)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider's answer is not valid: {0}")]
    Protocol(String),
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    /// The callback does not match a login this browser started (unknown, used or stale state).
    #[error("no such login in progress")]
    UnknownLogin,
    /// The provider reported an error instead of a code (the person cancelled, say).
    #[error("the identity provider refused the login: {0}")]
    Refused(String),
    #[error("oidc: database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Cached {
    metadata: Metadata,
    keys: JwkSet,
    fetched_at: u64,
}

/// A login started: where to send the browser, and the state to bind to it in a cookie.
#[derive(Debug)]
pub struct Started {
    pub redirect_to: String,
    pub state: String,
}

/// The relying party for one realm.
pub struct Client {
    config: ClientConfig,
    http: reqwest::Client,
    db: Db,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<Cached>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
}

/// PKCE S256: the challenge sent with the authorisation request for a verifier kept here.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Client {
    pub fn new(config: ClientConfig, db: Db, clock: Arc<dyn Clock>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // The provider must answer, not send us elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            config,
            http,
            db,
            clock,
            cache: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }

    /// Begins a login: stores state, nonce and PKCE verifier, and returns the provider's
    /// authorisation URL.
    pub async fn start(&self) -> Result<Started, OidcError> {
        let metadata = self.metadata(false).await?;
        let state = random_token();
        let nonce = random_token();
        let verifier = random_token();
        let now = self.now();
        sqlx::query("DELETE FROM oidc_logins WHERE created_at <= $1")
            .bind(now - LOGIN_TIMEOUT_SECS)
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO oidc_logins (state_hash, realm, nonce, pkce_verifier, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&state))
        .bind(self.config.realm.as_str())
        .bind(&nonce)
        .bind(&verifier)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        let mut url = url::Url::parse(&metadata.authorization_endpoint)
            .map_err(|e| OidcError::Protocol(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", &self.config.scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(Started {
            redirect_to: url.into(),
            state,
        })
    }

    /// Finishes a login at the callback: `state` from the query must equal the one bound to the
    /// browser's cookie, and a login with it must be in progress (it is used up here). Returns
    /// the verified ID token's identity claim.
    pub async fn finish(
        &self,
        state: &str,
        cookie_state: Option<&str>,
        code: &str,
    ) -> Result<String, OidcError> {
        // Login CSRF: a callback for a login this browser did not start is refused.
        if cookie_state != Some(state) {
            return Err(OidcError::UnknownLogin);
        }
        let row = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_hash = $1 AND realm = $2 \
             RETURNING nonce, pkce_verifier, created_at",
        )
        .bind(token_hash(state))
        .bind(self.config.realm.as_str())
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(OidcError::UnknownLogin)?;
        let nonce: String = row.try_get("nonce")?;
        let verifier: String = row.try_get("pkce_verifier")?;
        let created_at: i64 = row.try_get("created_at")?;
        if self.now() - created_at > LOGIN_TIMEOUT_SECS {
            return Err(OidcError::UnknownLogin);
        }
        let metadata = self.metadata(false).await?;
        let response = self
            .http
            .post(&metadata.token_endpoint)
            .basic_auth(
                form_encode(&self.config.client_id),
                Some(form_encode(&self.config.client_secret)),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(
                serde_urlencoded::to_string([
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", self.config.redirect_uri.as_str()),
                    ("code_verifier", verifier.as_str()),
                    ("client_id", self.config.client_id.as_str()),
                ])
                .map_err(|e| OidcError::Protocol(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(OidcError::Refused(format!(
                "token endpoint answered {}",
                response.status()
            )));
        }
        let tokens: TokenResponse = response
            .json()
            .await
            .map_err(|e| OidcError::Protocol(format!("token response: {e}")))?;
        let claims = self.verify_id_token(&tokens.id_token, &nonce).await?;
        claims
            .get(&self.config.identity_claim)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                OidcError::InvalidToken(format!(
                    "the claim {} is missing",
                    self.config.identity_claim
                ))
            })
    }

    async fn verify_id_token(
        &self,
        token: &str,
        nonce: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        // Asymmetric algorithms only: an `HS256` token would be "signed" with our client secret.
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
        ) {
            return Err(OidcError::InvalidToken(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = match self.key_for(header.kid.as_deref(), false).await? {
            Some(key) => key,
            None => self
                .key_for(header.kid.as_deref(), true)
                .await?
                .ok_or_else(|| OidcError::InvalidToken("unknown signing key".into()))?,
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        // Expiry is checked below by our clock, which tests can move.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        let claims = data.claims;
        let now = self.now();
        let exp = claims
            .get("exp")
            .and_then(|v| v.as_i64())
            .ok_or_else(|| OidcError::InvalidToken("no exp".into()))?;
        if now > exp + LEEWAY_SECS {
            return Err(OidcError::InvalidToken("expired".into()));
        }
        if let Some(iat) = claims.get("iat").and_then(|v| v.as_i64())
            && iat > now + LEEWAY_SECS
        {
            return Err(OidcError::InvalidToken("issued in the future".into()));
        }
        if claims.get("nonce").and_then(|v| v.as_str()) != Some(nonce) {
            return Err(OidcError::InvalidToken("nonce does not match".into()));
        }
        Ok(claims)
    }

    /// The provider's key for `kid` (or its only key when the token names none).
    async fn key_for(
        &self,
        kid: Option<&str>,
        refresh: bool,
    ) -> Result<Option<DecodingKey>, OidcError> {
        self.metadata(refresh).await?;
        let cache = self.cache.lock().await;
        let Some(cached) = cache.as_ref() else {
            return Ok(None);
        };
        let jwk = match kid {
            Some(kid) => cached.keys.find(kid),
            None if cached.keys.keys.len() == 1 => cached.keys.keys.first(),
            None => None,
        };
        jwk.map(|jwk| {
            DecodingKey::from_jwk(jwk).map_err(|e| OidcError::Protocol(format!("jwks: {e}")))
        })
        .transpose()
    }

    async fn metadata(&self, refresh: bool) -> Result<Metadata, OidcError> {
        let mut cache = self.cache.lock().await;
        let now = self.clock.now_unix();
        if !refresh
            && let Some(cached) = cache.as_ref()
            && now.saturating_sub(cached.fetched_at) < METADATA_TTL_SECS
        {
            return Ok(cached.metadata.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self.get_json(&url).await?;
        if metadata.issuer != self.config.issuer {
            return Err(OidcError::Protocol(format!(
                "metadata names issuer {}, configured {}",
                metadata.issuer, self.config.issuer
            )));
        }
        let keys: JwkSet = self.get_json(&metadata.jwks_uri).await?;
        *cache = Some(Cached {
            metadata: metadata.clone(),
            keys,
            fetched_at: now,
        });
        Ok(metadata)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(OidcError::Unreachable(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| OidcError::Protocol(format!("{url}: {e}")))
    }
}

/// RFC 6749 §2.3.1: client credentials are form-encoded before they go into Basic auth.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
