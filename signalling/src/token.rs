//! Join tokens: HS256 JWTs that grant one identity entry to one room for a limited time.
//!
//! The server pins the algorithm (a token that names another `alg`, `none` included, is
//! rejected) and checks time claims against a clock the caller passes in, so expiry is testable
//! without waiting.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::message::{ErrorCode, Role, RoomKind};

pub const ISSUER: &str = "vardrum";
pub const AUDIENCE: &str = "vardrum-call";

/// Allowed clock difference for `nbf`, for tokens minted on another machine.
const NBF_LEEWAY_SECS: u64 = 30;

/// The longest a join token may be valid (`exp` − `nbf`). A server remembers an ended visit for
/// this long, so no token minted before the end can reopen it.
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 7 * 24 * 3600;

/// The claims of a join token (see "Join tokens" in `docs/signalling.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub name: String,
    pub room: String,
    pub role: Role,
    /// A 1:1 visit (the default when absent) or a group visit.
    #[serde(default)]
    pub kind: RoomKind,
    /// The participant's own booking, which files they upload in the call are kept with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<String>,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
}

/// What a token grants, before times and ids are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub identity: String,
    pub name: String,
    pub room: String,
    pub role: Role,
    pub kind: RoomKind,
    pub booking: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another room")]
    WrongRoom,
}

impl TokenError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Invalid(_) => ErrorCode::TokenInvalid,
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::NotYetValid => ErrorCode::TokenNotYetValid,
            TokenError::WrongRoom => ErrorCode::TokenWrongRoom,
        }
    }
}

/// Checks that a room id is short and made of URL-safe characters, so that it can stand in a
/// path, a log line and a metric label without escaping.
pub fn validate_room_id(room: &str) -> Result<(), String> {
    if room.is_empty() || room.len() > 64 {
        return Err("a room id has 1 to 64 characters".into());
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("a room id may contain only A-Z, a-z, 0-9, '-', '_' and '.'".into());
    }
    Ok(())
}

fn validate_text(field: &str, value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n == 0 || n > 128 {
        return Err(format!("`{field}` must have 1 to 128 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("`{field}` must not contain control characters"));
    }
    Ok(())
}

/// A booking id has the same shape as a room id: short, URL-safe.
pub fn validate_booking_id(booking: &str) -> Result<(), String> {
    validate_room_id(booking).map_err(|e| e.replace("room id", "booking id"))
}

impl Grant {
    /// A grant for a 1:1 visit without a booking.
    pub fn visit(identity: &str, name: &str, room: &str, role: Role) -> Self {
        Self {
            identity: identity.into(),
            name: name.into(),
            room: room.into(),
            role,
            kind: RoomKind::Visit,
            booking: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        validate_text("identity", &self.identity)?;
        validate_text("name", &self.name)?;
        validate_room_id(&self.room)?;
        if let Some(b) = &self.booking {
            validate_booking_id(b)?;
        }
        Ok(())
    }
}

/// Mints join tokens.
pub struct TokenIssuer {
    key: EncodingKey,
}

impl TokenIssuer {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
        }
    }

    /// Mints a token valid from `now_unix` for `ttl_secs` seconds.
    pub fn mint(&self, grant: &Grant, now_unix: u64, ttl_secs: u64) -> Result<String, TokenError> {
        grant.validate().map_err(TokenError::Invalid)?;
        if ttl_secs > MAX_TOKEN_LIFETIME_SECS {
            return Err(TokenError::Invalid(
                "a join token may be valid for at most 7 days".into(),
            ));
        }
        let claims = JoinClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: grant.identity.clone(),
            name: grant.name.clone(),
            room: grant.room.clone(),
            role: grant.role,
            kind: grant.kind,
            booking: grant.booking.clone(),
            exp: now_unix.saturating_add(ttl_secs),
            nbf: now_unix,
            iat: now_unix,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

/// Verifies join tokens with the algorithm pinned to HS256.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time claims are checked below against the injected clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Verifies `token` for entry to `room` at time `now_unix`.
    pub fn verify(&self, token: &str, room: &str, now_unix: u64) -> Result<JoinClaims, TokenError> {
        // Decoded as JSON first, so that a claim of the wrong type or value can be named in
        // our own words rather than in the JWT or JSON library's.
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &self.validation)
            .map_err(|e| TokenError::Invalid(describe(&e)))?;
        let claims: JoinClaims = serde_json::from_value(data.claims.clone())
            .map_err(|_| TokenError::Invalid(claim_at_fault(&data.claims)))?;
        validate_text("sub", &claims.sub).map_err(TokenError::Invalid)?;
        validate_text("name", &claims.name).map_err(TokenError::Invalid)?;
        validate_room_id(&claims.room).map_err(TokenError::Invalid)?;
        if let Some(b) = &claims.booking {
            validate_booking_id(b).map_err(TokenError::Invalid)?;
        }
        // The cap holds however the token states its times: from when it becomes valid, from
        // when it was issued, and from now (with the clock difference allowed for `nbf`), so
        // no token from any minter opens a room for longer than an ended visit is remembered.
        if claims.exp.saturating_sub(claims.nbf) > MAX_TOKEN_LIFETIME_SECS
            || claims.exp.saturating_sub(claims.iat) > MAX_TOKEN_LIFETIME_SECS
            || claims.exp.saturating_sub(now_unix) > MAX_TOKEN_LIFETIME_SECS + NBF_LEEWAY_SECS
        {
            return Err(TokenError::Invalid(
                "the token is valid for longer than 7 days".into(),
            ));
        }
        if now_unix >= claims.exp {
            return Err(TokenError::Expired);
        }
        if now_unix.saturating_add(NBF_LEEWAY_SECS) < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if claims.room != room {
            return Err(TokenError::WrongRoom);
        }
        Ok(claims)
    }
}

/// What is wrong with a token the JWT library refused, in our words (its own name the library's
/// internals: "JSON error: ...", "Base64 error: ...").
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "not a JSON Web Token (three base64url parts: header, claims, signature)".into()
        }
        ErrorKind::Json(_) => "the token's header or claims are not the JSON expected".into(),
        ErrorKind::InvalidSignature => "the signature does not match".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "not signed with HS256".into()
        }
        // The library also calls a time claim that is not a number missing.
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" || claim == "nbf" => {
            format!("the claim {claim} is missing or not a whole number of seconds")
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the claim {claim} is missing"),
        ErrorKind::InvalidIssuer => format!("the claim iss is not {ISSUER}"),
        ErrorKind::InvalidAudience => format!("the claim aud is not {AUDIENCE}"),
        ErrorKind::InvalidSubject => "the claim sub is not accepted".into(),
        _ => "the token cannot be read".into(),
    }
}

/// The first claim of a signed token that does not read as its type, said in our words.
fn claim_at_fault(claims: &serde_json::Value) -> String {
    use serde::de::DeserializeOwned;
    use serde_json::Value;
    fn reads<T: DeserializeOwned>(v: &Value) -> bool {
        serde_json::from_value::<T>(v.clone()).is_ok()
    }
    let Some(map) = claims.as_object() else {
        return "the claims are not a JSON object".into();
    };
    /// A claim, whether it is required, whether a value reads as its type, what it must be.
    type Check = (&'static str, bool, fn(&Value) -> bool, &'static str);
    let checks: [Check; 12] = [
        ("iss", true, reads::<String>, "a string"),
        ("aud", true, reads::<String>, "a string"),
        ("sub", true, reads::<String>, "a string"),
        ("name", true, reads::<String>, "a string"),
        ("room", true, reads::<String>, "a string"),
        ("role", true, reads::<Role>, "patient, clinician or guest"),
        ("kind", false, reads::<RoomKind>, "visit or group"),
        ("booking", false, reads::<Option<String>>, "a string"),
        ("exp", true, reads::<u64>, "a whole number of seconds"),
        ("nbf", true, reads::<u64>, "a whole number of seconds"),
        ("iat", true, reads::<u64>, "a whole number of seconds"),
        ("jti", true, reads::<String>, "a string"),
    ];
    for (claim, required, ok, expected) in checks {
        match map.get(claim) {
            None if required => return format!("the claim {claim} is missing"),
            None => {}
            Some(v) if !ok(v) => return format!("the claim {claim} must be {expected}"),
            Some(_) => {}
        }
    }
    "the claims are not the ones a join token carries".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    fn grant() -> Grant {
        Grant::visit("anna", "Anna Berg", "visit-42", Role::Clinician)
    }

    #[test]
    fn kind_and_booking_travel_in_the_token_and_old_tokens_mean_a_visit() {
        let issuer = TokenIssuer::new(SECRET);
        let v = TokenVerifier::new(SECRET);
        let group = Grant {
            kind: RoomKind::Group,
            booking: Some("b-123".into()),
            ..grant()
        };
        let claims = v
            .verify(&issuer.mint(&group, NOW, 600).unwrap(), "visit-42", NOW)
            .unwrap();
        assert_eq!(claims.kind, RoomKind::Group);
        assert_eq!(claims.booking.as_deref(), Some("b-123"));
        let plain = v
            .verify(&issuer.mint(&grant(), NOW, 600).unwrap(), "visit-42", NOW)
            .unwrap();
        assert_eq!(plain.kind, RoomKind::Visit);
        assert_eq!(plain.booking, None);
        // A token without the claims at all (minted before they existed) is a 1:1 visit.
        let old = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "name": "A",
            "room": "visit-42", "role": "patient", "exp": NOW + 60, "nbf": NOW, "iat": NOW,
            "jti": "j"});
        let old = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &old,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            v.verify(&old, "visit-42", NOW).unwrap().kind,
            RoomKind::Visit
        );
    }

    #[test]
    fn bad_bookings_kinds_and_lifetimes_are_refused() {
        let issuer = TokenIssuer::new(SECRET);
        let bad_booking = Grant {
            booking: Some("../etc".into()),
            ..grant()
        };
        assert!(issuer.mint(&bad_booking, NOW, 60).is_err());
        assert!(
            issuer
                .mint(&grant(), NOW, MAX_TOKEN_LIFETIME_SECS + 1)
                .is_err()
        );
        let v = TokenVerifier::new(SECRET);
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap()
        };
        let base = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "name": "A",
            "room": "visit-42", "role": "patient", "exp": NOW + 60, "nbf": NOW, "iat": NOW,
            "jti": "j"});
        let mut kind = base.clone();
        kind["kind"] = "party".into();
        assert!(matches!(
            v.verify(&sign(kind), "visit-42", NOW),
            Err(TokenError::Invalid(_))
        ));
        let mut booking = base.clone();
        booking["booking"] = "a/b".into();
        assert!(matches!(
            v.verify(&sign(booking), "visit-42", NOW),
            Err(TokenError::Invalid(_))
        ));
        let mut long = base.clone();
        long["exp"] = (NOW + MAX_TOKEN_LIFETIME_SECS + 1).into();
        assert!(matches!(
            v.verify(&sign(long), "visit-42", NOW),
            Err(TokenError::Invalid(_))
        ));
        // The cap also counts from when the token was issued and from now.
        let seven_days = Err(TokenError::Invalid(
            "the token is valid for longer than 7 days".into(),
        ));
        let mut from_iat = base.clone();
        from_iat["iat"] = (NOW - MAX_TOKEN_LIFETIME_SECS).into();
        assert_eq!(v.verify(&sign(from_iat), "visit-42", NOW), seven_days);
        let mut from_now = base.clone();
        from_now["nbf"] = (NOW + 30).into();
        from_now["iat"] = (NOW + 30).into();
        from_now["exp"] = (NOW + 30 + MAX_TOKEN_LIFETIME_SECS).into();
        assert!(v.verify(&sign(from_now.clone()), "visit-42", NOW).is_ok());
        from_now["nbf"] = (NOW + 61).into();
        from_now["iat"] = (NOW + 61).into();
        from_now["exp"] = (NOW + 61 + MAX_TOKEN_LIFETIME_SECS).into();
        assert_eq!(v.verify(&sign(from_now), "visit-42", NOW), seven_days);
    }

    #[test]
    fn a_refused_token_is_explained_in_our_words() {
        let v = TokenVerifier::new(SECRET);
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap()
        };
        let base = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "name": "A",
            "room": "visit-42", "role": "patient", "exp": NOW + 60, "nbf": NOW, "iat": NOW,
            "jti": "j"});
        let with = |claim: &str, value: serde_json::Value| {
            let mut c = base.clone();
            c[claim] = value;
            sign(c)
        };
        let without = |claim: &str| {
            let mut c = base.clone();
            c.as_object_mut().unwrap().remove(claim);
            sign(c)
        };
        let cases = [
            (
                with("role", "doctor".into()),
                "the claim role must be patient, clinician or guest",
            ),
            (
                with("kind", 7.into()),
                "the claim kind must be visit or group",
            ),
            (
                with("exp", "soon".into()),
                "the claim exp is missing or not a whole number of seconds",
            ),
            (
                with("iat", "soon".into()),
                "the claim iat must be a whole number of seconds",
            ),
            (without("jti"), "the claim jti is missing"),
            (without("aud"), "the claim aud is missing"),
            (
                with("aud", "elsewhere".into()),
                "the claim aud is not vardrum-call",
            ),
            (
                "not-a-token".into(),
                "not a JSON Web Token (three base64url parts: header, claims, signature)",
            ),
        ];
        for (token, expected) in cases {
            let why = match v.verify(&token, "visit-42", NOW) {
                Err(TokenError::Invalid(why)) => why,
                other => panic!("{expected}: {other:?}"),
            };
            assert_eq!(why, expected);
        }
        let forged = TokenIssuer::new(b"another secret of 32 bytes or more")
            .mint(&grant(), NOW, 60)
            .unwrap();
        assert_eq!(
            v.verify(&forged, "visit-42", NOW),
            Err(TokenError::Invalid("the signature does not match".into()))
        );
    }

    #[test]
    fn a_minted_token_verifies_for_its_room_until_it_expires() {
        let token = TokenIssuer::new(SECRET).mint(&grant(), NOW, 600).unwrap();
        let v = TokenVerifier::new(SECRET);
        let claims = v.verify(&token, "visit-42", NOW + 10).unwrap();
        assert_eq!(claims.sub, "anna");
        assert_eq!(claims.role, Role::Clinician);
        assert_eq!(
            v.verify(&token, "visit-42", NOW + 600),
            Err(TokenError::Expired)
        );
        assert_eq!(
            v.verify(&token, "visit-43", NOW),
            Err(TokenError::WrongRoom)
        );
        assert_eq!(
            v.verify(&token, "visit-42", NOW - 31),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_rejected() {
        let v = TokenVerifier::new(SECRET);
        let other = TokenIssuer::new(b"another secret, also 32 bytes!!!")
            .mint(&grant(), NOW, 600)
            .unwrap();
        assert!(matches!(
            v.verify(&other, "visit-42", NOW),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            v.verify("garbage", "visit-42", NOW),
            Err(TokenError::Invalid(_))
        ));

        // alg=none with the same claims: must not pass.
        let token = TokenIssuer::new(SECRET).mint(&grant(), NOW, 600).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        let forged = format!("{none_header}.{payload}.");
        assert!(matches!(
            v.verify(&forged, "visit-42", NOW),
            Err(TokenError::Invalid(_))
        ));

        // HS384 with the right secret: the algorithm is pinned, so still rejected.
        let claims = v.verify(&token, "visit-42", NOW).unwrap();
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(matches!(
            v.verify(&hs384, "visit-42", NOW),
            Err(TokenError::Invalid(_))
        ));

        // A tampered payload breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let tampered_claims = JoinClaims {
            room: "visit-99".into(),
            ..claims
        };
        let tampered_payload = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &tampered_claims,
            &EncodingKey::from_secret(b"x"),
        )
        .unwrap();
        let tp = tampered_payload.split('.').nth(1).unwrap().to_string();
        parts[1] = &tp;
        assert!(matches!(
            v.verify(&parts.join("."), "visit-99", NOW),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn grants_with_bad_fields_are_refused() {
        let issuer = TokenIssuer::new(SECRET);
        for bad in [
            Grant {
                room: "".into(),
                ..grant()
            },
            Grant {
                room: "a/b".into(),
                ..grant()
            },
            Grant {
                room: "x".repeat(65),
                ..grant()
            },
            Grant {
                name: "".into(),
                ..grant()
            },
            Grant {
                identity: "a\nb".into(),
                ..grant()
            },
        ] {
            assert!(issuer.mint(&bad, NOW, 60).is_err(), "{bad:?}");
        }
    }
}
