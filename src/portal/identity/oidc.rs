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

use crate::portal::identity::sessions::{Realm, random_token, token_hash};

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
        // The library checks `iss` and `aud` only when the token has them: without these
        // required, a token that simply left them out would pass both checks. OIDC Core §2
        // makes all four mandatory in an ID token.
        validation.required_spec_claims = ["iss", "aud", "sub", "exp"]
            .into_iter()
            .map(String::from)
            .collect();
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
        // OpenID Connect Core 3.1.3.7, steps 4 and 5: a token for several audiences must name
        // the party it was issued to (`azp`), and whenever `azp` is there it must be us; else
        // a token issued to another client that merely lists us could log someone in here.
        let audiences = match claims.get("aud") {
            Some(serde_json::Value::Array(list)) => list.len(),
            _ => 1,
        };
        match claims.get("azp") {
            Some(azp) if azp.as_str() != Some(self.config.client_id.as_str()) => {
                return Err(OidcError::InvalidToken(
                    "issued to another party (azp)".into(),
                ));
            }
            None if audiences > 1 => {
                return Err(OidcError::InvalidToken(
                    "several audiences and no azp".into(),
                ));
            }
            _ => {}
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

    use jsonwebtoken::{EncodingKey, Header};
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePrivateKey;
    use serde_json::{Value, json};

    use crate::clock::ManualClock;
    use crate::config::Mode;
    use crate::portal::identity::test_idp::{ClientRegistration, TestIdp, TestPerson};

    /// 2026-03-15T12:00:00Z.
    const NOW: u64 = 1_773_576_000;
    const ISSUER: &str = "https://broker.example/oidc";
    const CLIENT_ID: &str = "vardrum-portal";
    const SECRET: &str = "the-client-secret";
    const NONCE: &str = "the-nonce-of-this-login";
    const KID: &str = "broker-key-1";
    /// A broker that does not call the claim what the built-in test IdP calls it.
    const CLAIM: &str = "personalIdentityNumber";
    /// A Skatteverket test number.
    const ELSA: &str = "199006022397";

    #[test]
    fn pkce_challenge_is_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    /// An ES256 key as a provider has it: the private half to sign, the public half as a JWK.
    struct Key {
        signing: EncodingKey,
        jwk: Value,
    }

    fn es256_key(kid: &str) -> Key {
        let secret = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let der = secret.to_pkcs8_der().expect("pkcs8");
        let point = secret.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            panic!("an uncompressed point has both coordinates");
        };
        Key {
            signing: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
            }),
        }
    }

    fn client_config(issuer: &str, claim: &str) -> ClientConfig {
        ClientConfig {
            realm: Realm::Patient,
            issuer: issuer.into(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            redirect_uri: "http://127.0.0.1:1/api/v1/auth/patient/callback".into(),
            identity_claim: claim.into(),
            scopes: "openid profile".into(),
        }
    }

    async fn test_db(dir: &tempfile::TempDir) -> Db {
        Db::open(&crate::db::default_url(dir.path()), dir.path())
            .await
            .expect("open SQLite")
    }

    /// A relying party for [`ISSUER`] whose metadata and keys are already cached, so that
    /// tokens are checked without a network: the provider publishes `trusted` only.
    async fn client_trusting(
        trusted: &Key,
        clock: Arc<ManualClock>,
        dir: &tempfile::TempDir,
    ) -> Client {
        let client = Client::new(client_config(ISSUER, CLAIM), test_db(dir).await, clock);
        *client.cache.lock().await = Some(Cached {
            metadata: Metadata {
                issuer: ISSUER.into(),
                authorization_endpoint: format!("{ISSUER}/authorize"),
                token_endpoint: format!("{ISSUER}/token"),
                jwks_uri: format!("{ISSUER}/jwks"),
            },
            keys: serde_json::from_value(json!({ "keys": [trusted.jwk] })).expect("jwks"),
            fetched_at: NOW,
        });
        client
    }

    /// The claims of a good ID token for this login.
    fn claims() -> serde_json::Map<String, Value> {
        let Value::Object(claims) = json!({
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "broker-subject-17",
            "iat": NOW,
            "exp": NOW + 300,
            "nonce": NONCE,
            CLAIM: ELSA,
        }) else {
            unreachable!("a JSON object literal")
        };
        claims
    }

    fn sign(key: &Key, claims: &serde_json::Map<String, Value>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(KID.into());
        jsonwebtoken::encode(&header, claims, &key.signing).expect("sign")
    }

    /// A token with a header of our choosing and no valid signature: `alg` values the
    /// library cannot sign with (`none`, say) are exactly the ones an attacker sends.
    fn unsigned(header: Value, claims: &serde_json::Map<String, Value>, signature: &str) -> String {
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
        format!(
            "{}.{}.{signature}",
            part(&header),
            part(&Value::Object(claims.clone()))
        )
    }

    async fn refusal(client: &Client, token: &str) -> String {
        match client.verify_id_token(token, NONCE).await {
            Err(OidcError::InvalidToken(why)) => why,
            Err(other) => panic!("refused, but not as an invalid token: {other}"),
            Ok(_) => panic!("accepted a token that must be refused"),
        }
    }

    #[tokio::test]
    async fn an_id_token_is_refused_unless_issuer_audience_nonce_and_times_check_out() {
        let dir = tempfile::tempdir().expect("dir");
        let clock = Arc::new(ManualClock::new(NOW));
        let key = es256_key(KID);
        let client = client_trusting(&key, clock.clone(), &dir).await;

        // The control: a good token passes, so each refusal below is the one change's doing.
        let good = client
            .verify_id_token(&sign(&key, &claims()), NONCE)
            .await
            .expect("a good token");
        assert_eq!(good.get(CLAIM), Some(&json!(ELSA)));

        let changed = |name: &str, value: Value| {
            let mut c = claims();
            c.insert(name.into(), value);
            c
        };
        let without = |name: &str| {
            let mut c = claims();
            c.remove(name);
            c
        };
        let cases: Vec<(&str, serde_json::Map<String, Value>, &str)> = vec![
            (
                "wrong nonce",
                changed("nonce", json!("another-login")),
                "nonce",
            ),
            ("no nonce", without("nonce"), "nonce"),
            (
                "wrong issuer",
                changed("iss", json!("https://evil.example/oidc")),
                "InvalidIssuer",
            ),
            (
                "issuer differing only by a trailing slash",
                changed("iss", json!(format!("{ISSUER}/"))),
                "InvalidIssuer",
            ),
            (
                "wrong audience",
                changed("aud", json!("another-client")),
                "InvalidAudience",
            ),
            (
                "audience list without us",
                changed("aud", json!(["another-client", "a-third"])),
                "InvalidAudience",
            ),
            (
                "several audiences and no azp",
                changed("aud", json!([CLIENT_ID, "another-client"])),
                "several audiences and no azp",
            ),
            (
                "issued to another party",
                changed("azp", json!("another-client")),
                "azp",
            ),
            // Without these required, the library skips the issuer and audience checks.
            ("no issuer", without("iss"), "Missing required claim: iss"),
            ("no audience", without("aud"), "Missing required claim: aud"),
            ("no subject", without("sub"), "Missing required claim: sub"),
            ("no expiry", without("exp"), "Missing required claim: exp"),
            (
                "expired beyond the leeway",
                changed("exp", json!(NOW - 61)),
                "expired",
            ),
            (
                "issued in the future beyond the leeway",
                changed("iat", json!(NOW + 61)),
                "issued in the future",
            ),
        ];
        for (case, claims, expected) in cases {
            let why = refusal(&client, &sign(&key, &claims)).await;
            assert!(why.contains(expected), "{case}: refused with {why:?}");
        }

        // Several audiences are fine when the token says it was issued to us.
        let mut ours = changed("aud", json!([CLIENT_ID, "another-client"]));
        ours.insert("azp".into(), json!(CLIENT_ID));
        client
            .verify_id_token(&sign(&key, &ours), NONCE)
            .await
            .expect("several audiences, issued to us");

        // Within the leeway is clock skew, not expiry.
        client
            .verify_id_token(&sign(&key, &changed("exp", json!(NOW - 60))), NONCE)
            .await
            .expect("expired by exactly the leeway");
        // Expiry is read from the injected clock: the good token expires when it moves on.
        let token = sign(&key, &claims());
        clock.advance(300 + LEEWAY_SECS as u64 + 1);
        assert_eq!(refusal(&client, &token).await, "expired");
    }

    #[tokio::test]
    async fn an_id_token_is_refused_unless_signed_by_the_providers_key_with_an_asymmetric_alg() {
        let dir = tempfile::tempdir().expect("dir");
        let clock = Arc::new(ManualClock::new(NOW));
        let key = es256_key(KID);
        let client = client_trusting(&key, clock, &dir).await;
        let good = sign(&key, &claims());
        client
            .verify_id_token(&good, NONCE)
            .await
            .expect("the control: a good token");

        // Signed by someone else's key that claims the provider's key id.
        let forged = sign(&es256_key(KID), &claims());
        assert!(refusal(&client, &forged).await.contains("InvalidSignature"));

        // The provider's signature over other claims: the identity swapped after signing.
        let mut parts = good.split('.');
        let (Some(header), Some(_), Some(signature)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("a JWS has three parts");
        };
        let mut other = claims();
        other.insert(CLAIM.into(), json!("199602292386"));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).expect("json"));
        let swapped = format!("{header}.{payload}.{signature}");
        assert!(
            refusal(&client, &swapped)
                .await
                .contains("InvalidSignature")
        );

        // HS256 "signed" with our own client secret, which anyone with the secret (or a
        // confused provider) could make: refused by algorithm before any key is looked at.
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(KID.into());
        let symmetric =
            jsonwebtoken::encode(&hs, &claims(), &EncodingKey::from_secret(SECRET.as_bytes()))
                .expect("sign HS256");
        assert_eq!(
            refusal(&client, &symmetric).await,
            "algorithm HS256 is not accepted"
        );

        // `alg: none` with no signature at all.
        let none = unsigned(
            json!({ "alg": "none", "typ": "JWT", "kid": KID }),
            &claims(),
            "",
        );
        refusal(&client, &none).await;
        // An asymmetric algorithm outside the list.
        let eddsa = unsigned(json!({ "alg": "EdDSA", "kid": KID }), &claims(), signature);
        assert_eq!(
            refusal(&client, &eddsa).await,
            "algorithm EdDSA is not accepted"
        );
        // An accepted algorithm that does not fit the provider's key (RSA named, EC key).
        let confused = unsigned(json!({ "alg": "RS256", "kid": KID }), &claims(), signature);
        refusal(&client, &confused).await;
    }

    /// A test IdP on a port of its own, known to the relying party only by its issuer URL, as
    /// a configured broker is; it puts the personnummer under [`CLAIM`].
    async fn broker(clock: Arc<ManualClock>) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}/", listener.local_addr().expect("addr"));
        let mut idp = TestIdp::new(Mode::Development, clock).expect("test IdP");
        let mut claims = serde_json::Map::new();
        claims.insert(CLAIM.into(), json!(ELSA));
        let issuer = idp
            .add_issuer(
                &base,
                "broker",
                ClientRegistration {
                    client_id: CLIENT_ID.into(),
                    client_secret: SECRET.into(),
                },
                client_config(ISSUER, CLAIM).redirect_uri,
                vec![TestPerson {
                    subject: "elsa".into(),
                    label: "Elsa".into(),
                    claims,
                }],
                None,
            )
            .issuer
            .clone();
        let router = Arc::new(idp).router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (issuer, task)
    }

    /// One login through the provider's pages as a browser would make it: start, pick the
    /// person, follow the redirect back to the callback, finish.
    async fn log_in(client: &Client) -> Result<String, OidcError> {
        let started = client.start().await.expect("start");
        let authorize = url::Url::parse(&started.redirect_to).expect("authorize URL");
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("subject".into(), "elsa".into()));
        let mut action = authorize.clone();
        action.set_query(None);
        let picked = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .post(action)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(serde_urlencoded::to_string(&form).expect("form"))
            .send()
            .await
            .expect("pick");
        let location = picked
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("redirect to the callback");
        let callback = url::Url::parse(location).expect("callback URL");
        let param = |name: &str| {
            callback
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .expect("callback parameter")
        };
        let state = param("state");
        assert_eq!(state, started.state);
        client.finish(&state, Some(&state), &param("code")).await
    }

    #[tokio::test]
    async fn the_identity_is_read_from_the_configured_claim_and_only_from_it() {
        let dir = tempfile::tempdir().expect("dir");
        let clock = Arc::new(ManualClock::new(NOW));
        let (issuer, idp) = broker(clock.clone()).await;
        let db = test_db(&dir).await;

        let matching = Client::new(client_config(&issuer, CLAIM), db.clone(), clock.clone());
        assert_eq!(log_in(&matching).await.expect("login"), ELSA);

        // The built-in test IdP's claim name, against a broker that uses another: refused,
        // saying which claim was missing (and not what the token held instead).
        let mismatched = Client::new(
            client_config(&issuer, "personal_identity_number"),
            db,
            clock,
        );
        match log_in(&mismatched).await {
            Err(OidcError::InvalidToken(why)) => {
                assert_eq!(why, "the claim personal_identity_number is missing");
            }
            other => panic!("expected a missing claim, got {other:?}"),
        }
        idp.abort();
    }
}
