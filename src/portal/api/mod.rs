//! The portal's JSON API under `/api/v1` (contract: `docs/portal-api.md`, served as OpenAPI at
//! `/api/v1/openapi.json`), with what every handler shares: the [`Portal`] state, the session
//! cookie, CSRF checks, and the client's address and user agent for the access log.

mod auth;
mod bookings;
pub mod error;
mod messages;
mod patient;
pub mod session;
mod staff;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};

use crate::clock::Clock;
use crate::config::{Config, Mode, OidcConfig};
use crate::db::Db;
use crate::uploads::Uploads;
use vardrum_signalling::TokenIssuer;

use super::accounts::{Account, Accounts, StaffAccess};
use super::audit::Actor;
use super::bookings::Bookings;
use super::care::Care;
use super::identity::oidc::{self, ClientConfig};
use super::identity::personnummer::{Date, Personnummer};
use super::identity::register::{FileRegister, FileRegisterError, PopulationRegister};
use super::identity::sessions::{self, Lifetimes, Realm, Session, Sessions};
use super::identity::test_idp::{TestIdp, TestIdpError, TestPerson, register_persons};
use super::messages::Messages;
use super::region::{RegionConfig, RegionConfigError};
use super::staff::{Staff, StaffFileError, StaffMember, read_staff_file};
use error::{ApiError, MAX_JSON_BYTES};

/// The OpenAPI document, kept beside the code it describes.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The ID-token claim the built-in test IdP puts the personnummer in.
const TEST_IDP_PERSONNUMMER_CLAIM: &str = "personal_identity_number";

/// Everything the portal's handlers share.
pub struct Portal {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub region: Arc<RegionConfig>,
    pub accounts: Accounts,
    pub staff: Staff,
    pub sessions: Sessions,
    pub bookings: Bookings,
    /// Conversations with care units and their attachments.
    pub messages: Messages,
    /// The care-relationship rule: on what ground staff open a patient's data.
    pub care: Care,
    /// Mints the join tokens a booking's Join answers with (the server's signing secret).
    pub issuer: TokenIssuer,
    pub patient_oidc: oidc::Client,
    pub staff_oidc: oidc::Client,
    /// Cookies carry `Secure` (always, except plain-HTTP development).
    pub secure_cookies: bool,
    /// `scheme://host[:port]` of the public URL: state-changing requests must come from here.
    pub origin: String,
    /// The URL people open, ending in `/`.
    pub base_url: String,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`http.trusted_proxies`).
    pub trusted_proxies: Vec<IpAddr>,
}

impl fmt::Debug for Portal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portal")
            .field("region", &self.region.id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(transparent)]
    Region(#[from] RegionConfigError),
    #[error(transparent)]
    Register(#[from] FileRegisterError),
    #[error(transparent)]
    StaffFile(#[from] StaffFileError),
    #[error(transparent)]
    TestIdp(#[from] TestIdpError),
    #[error("no population register configured: set portal.register_file")]
    NoRegister,
    #[error("cannot read the client secret file {0}: {1}")]
    ClientSecret(PathBuf, std::io::Error),
    #[error("the public URL {0} is not a valid URL")]
    BaseUrl(String),
    #[error("cannot open the message attachment store {0}: {1}")]
    MessageStore(PathBuf, std::io::Error),
}

/// Messages with their own attachment store, `<data_dir>/message-attachments` (not the call
/// uploads' directory, whose sweep removes files without a `call_uploads` row), taking files
/// up to `uploads.max_bytes`. Files left by a crash are cleared in the background.
async fn open_messages(
    config: &Config,
    db: &Db,
    clock: &Arc<dyn Clock>,
) -> Result<Messages, PortalError> {
    let dir = config.data_dir.join("message-attachments");
    let store = crate::uploads::store::DirStore::open(&dir)
        .map_err(|e| PortalError::MessageStore(dir.clone(), e))?;
    let messages = Messages::new(
        db.clone(),
        clock.clone(),
        Arc::new(store),
        config.uploads.max_bytes,
    );
    let cleaner = messages.clone();
    tokio::spawn(async move {
        if let Err(e) = cleaner.purge_removed_files().await {
            tracing::warn!(error = %e, "could not remove the files of deleted attachments");
        }
        if let Err(e) = cleaner.sweep(crate::uploads::ORPHAN_AGE_SECS).await {
            tracing::warn!(error = %e, "could not sweep the message attachment store");
        }
    });
    Ok(messages)
}

/// A built portal: its state, and the test IdP when one serves this process.
pub struct Built {
    pub portal: Arc<Portal>,
    pub test_idp: Option<Arc<TestIdp>>,
}

impl Portal {
    /// Loads the region, the register and the identity providers for a server reachable at
    /// `base_url`; `token_secret` signs the join tokens minted from bookings.
    pub async fn build(
        config: &Config,
        base_url: &str,
        db: Db,
        clock: Arc<dyn Clock>,
        token_secret: &[u8],
    ) -> Result<Built, PortalError> {
        let region = Arc::new(RegionConfig::load(&config.portal.region)?);
        let register_path = config
            .portal
            .register_file(config.mode)
            .ok_or(PortalError::NoRegister)?;
        let register = FileRegister::load(&register_path)?;
        let staff = Staff::new(db.clone());
        let now = i64::try_from(clock.now_unix()).unwrap_or(i64::MAX);
        let staff_file = config.portal.staff_file(config.mode);
        if let Some(path) = &staff_file {
            staff.seed_from_file(path, now).await?;
        }

        let url = url::Url::parse(base_url).map_err(|_| PortalError::BaseUrl(base_url.into()))?;
        let origin = url.origin().ascii_serialization();
        let secure_cookies = cookies_need_secure(&url, config.mode);

        let redirect = |realm: Realm| format!("{base_url}api/v1/auth/{}/callback", realm.as_str());
        let needs_test_idp =
            config.portal.patient_oidc.is_none() || config.portal.staff_oidc.is_none();
        let mut test_idp = if needs_test_idp {
            Some(TestIdp::new(config.mode, clock.clone())?)
        } else {
            None
        };

        let patient_config = match &config.portal.patient_oidc {
            Some(c) => client_config(Realm::Patient, c, redirect(Realm::Patient))?,
            None => {
                let persons = register_persons(register.persons(), TEST_IDP_PERSONNUMMER_CLAIM);
                let idp = test_idp.as_mut().ok_or(TestIdpError::Production)?;
                let issuer = idp.add_realm(
                    base_url,
                    Realm::Patient.as_str(),
                    redirect(Realm::Patient),
                    persons,
                    Some(TEST_IDP_PERSONNUMMER_CLAIM.into()),
                );
                test_client(Realm::Patient, issuer, TEST_IDP_PERSONNUMMER_CLAIM)
            }
        };
        let staff_config = match &config.portal.staff_oidc {
            Some(c) => client_config(Realm::Staff, c, redirect(Realm::Staff))?,
            None => {
                let listed = match &staff_file {
                    Some(path) => read_staff_file(path)?,
                    None => Vec::new(),
                };
                let persons = listed
                    .into_iter()
                    .map(|s| TestPerson {
                        label: format!("{} {} ({})", s.given_name, s.family_name, s.role.as_str()),
                        subject: s.subject,
                        claims: serde_json::Map::new(),
                    })
                    .collect();
                let idp = test_idp.as_mut().ok_or(TestIdpError::Production)?;
                let issuer = idp.add_realm(
                    base_url,
                    Realm::Staff.as_str(),
                    redirect(Realm::Staff),
                    persons,
                    // Free text too: a subject the staff table does not know must be refused.
                    Some("sub".into()),
                );
                test_client(Realm::Staff, issuer, "sub")
            }
        };

        let lifetimes = Lifetimes {
            idle_secs: secs(config.portal.session_idle_minutes * 60),
            absolute_secs: secs(config.portal.session_absolute_hours * 3600),
        };
        let register: Arc<dyn PopulationRegister> = Arc::new(register);
        let messages = open_messages(config, &db, &clock).await?;
        let portal = Portal {
            accounts: Accounts::new(db.clone(), register, region.clone(), clock.clone()),
            staff,
            sessions: Sessions::new(db.clone(), clock.clone(), lifetimes),
            bookings: Bookings::new(db.clone(), clock.clone(), region.bookings),
            messages,
            care: Care::new(db.clone(), clock.clone()),
            issuer: TokenIssuer::new(token_secret),
            patient_oidc: oidc::Client::new(patient_config, db.clone(), clock.clone()),
            staff_oidc: oidc::Client::new(staff_config, db.clone(), clock.clone()),
            db,
            clock,
            region,
            secure_cookies,
            origin,
            base_url: base_url.to_owned(),
            trusted_proxies: config.http.trusted_proxies.clone(),
        };
        Ok(Built {
            portal: Arc::new(portal),
            test_idp: test_idp.map(Arc::new),
        })
    }

    pub fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }

    pub fn today(&self) -> Date {
        Date::today(self.clock.as_ref())
    }

    pub fn oidc(&self, realm: Realm) -> &oidc::Client {
        match realm {
            Realm::Patient => &self.patient_oidc,
            Realm::Staff => &self.staff_oidc,
        }
    }

    /// The live session of the request, of the given realm, with the CSRF checks a
    /// state-changing method needs. No session, a timed-out one, or one of the other realm:
    /// `401 not_logged_in`.
    pub async fn session(
        &self,
        method: &Method,
        headers: &HeaderMap,
        realm: Realm,
    ) -> Result<Session, ApiError> {
        let token = cookie(headers, sessions::COOKIE).ok_or_else(ApiError::not_logged_in)?;
        let session = self
            .sessions
            .resume(&token)
            .await?
            .ok_or_else(ApiError::not_logged_in)?;
        if session.realm != realm {
            return Err(ApiError::not_logged_in());
        }
        if !matches!(*method, Method::GET | Method::HEAD) {
            self.check_csrf(headers, &session)?;
        }
        Ok(session)
    }

    /// Any live session, whatever its realm (for `GET /session` and logout).
    pub async fn any_session(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Session, ApiError> {
        let token = cookie(headers, sessions::COOKIE).ok_or_else(ApiError::not_logged_in)?;
        let session = self
            .sessions
            .resume(&token)
            .await?
            .ok_or_else(ApiError::not_logged_in)?;
        if !matches!(*method, Method::GET | Method::HEAD) {
            self.check_csrf(headers, &session)?;
        }
        Ok(session)
    }

    /// The synchroniser token must come back in a header (a cross-site form cannot set one),
    /// and a browser-sent `Origin`, when present, must be ours.
    fn check_csrf(&self, headers: &HeaderMap, session: &Session) -> Result<(), ApiError> {
        let refuse = || {
            ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong X-CSRF-Token header, or a request from another site",
            )
        };
        if let Some(origin) = headers.get(header::ORIGIN)
            && origin.as_bytes() != self.origin.as_bytes()
        {
            return Err(refuse());
        }
        let sent = headers
            .get("x-csrf-token")
            .map(HeaderValue::as_bytes)
            .ok_or_else(refuse)?;
        if !constant_time_eq(sent, session.csrf_token.as_bytes()) {
            return Err(refuse());
        }
        Ok(())
    }

    /// The logged-in patient's own account (the session's principal). A session whose account
    /// is gone is no session.
    pub async fn session_account(&self, session: &Session) -> Result<Account, ApiError> {
        self.accounts
            .account_by_id(&session.principal)
            .await?
            .ok_or_else(ApiError::not_logged_in)
    }

    /// The staff member behind a staff session.
    pub async fn session_staff(&self, session: &Session) -> Result<StaffMember, ApiError> {
        self.staff
            .by_id(&session.principal)
            .await?
            .ok_or_else(ApiError::not_logged_in)
    }

    /// What the access log needs about a staff request.
    pub fn staff_access(
        &self,
        member: &StaffMember,
        session: &Session,
        client: &ClientInfo,
    ) -> StaffAccess {
        StaffAccess {
            actor: Actor::staff(
                member.id.clone(),
                member.role.as_str(),
                session.care_unit.clone().unwrap_or_default(),
            ),
            client_ip: client.ip,
            user_agent: client.user_agent.clone(),
        }
    }

    /// A `Set-Cookie` value for the session (or, with `None`, one that clears it).
    pub fn session_cookie(&self, token: Option<&str>) -> HeaderValue {
        self.cookie_header(sessions::COOKIE, token, "/")
    }

    /// A `Set-Cookie` value for a browser-session cookie (or, with `None`, one that clears it).
    pub fn cookie_header(&self, name: &str, value: Option<&str>, path: &str) -> HeaderValue {
        let text = match value {
            Some(v) => cookie_text(name, v, path, None, self.secure_cookies),
            None => cookie_text(name, "", path, Some(0), self.secure_cookies),
        };
        header_value(&text)
    }

    /// A `Set-Cookie` value for a cookie the browser drops after `max_age_secs`.
    pub fn expiring_cookie(
        &self,
        name: &str,
        value: &str,
        path: &str,
        max_age_secs: i64,
    ) -> HeaderValue {
        header_value(&cookie_text(
            name,
            value,
            path,
            Some(max_age_secs),
            self.secure_cookies,
        ))
    }

    /// Reads a personnummer from a request field, naming the field when it is refused.
    pub fn parse_personnummer(&self, field: &str, input: &str) -> Result<Personnummer, ApiError> {
        Personnummer::parse(input, self.today()).map_err(|e| {
            ApiError::invalid(field, format!("not a valid personnummer ({})", e.code()))
        })
    }
}

/// Whether cookies carry `Secure`: whenever people reach the portal over HTTPS, and always in
/// production, where a plain-HTTP public URL is a misconfiguration behind a TLS proxy that must
/// not make the session cookie travel in clear. Only plain-HTTP development (loopback) goes
/// without, since a browser would not send a `Secure` cookie back over `http://`.
fn cookies_need_secure(public_url: &url::Url, mode: Mode) -> bool {
    public_url.scheme() == "https" || mode == Mode::Production
}

/// Every portal cookie's attributes in one place: script cannot read it (`HttpOnly`), other
/// sites' requests do not carry it except top-level navigations, which the OIDC callback is
/// (`SameSite=Lax`), and over HTTPS it never goes out in clear (`Secure`).
fn cookie_text(name: &str, value: &str, path: &str, max_age: Option<i64>, secure: bool) -> String {
    let max_age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax{max_age}{secure}")
}

fn header_value(text: &str) -> HeaderValue {
    // Names, paths and tokens (URL-safe base64) are all header-safe, so this never falls back.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn client_config(
    realm: Realm,
    config: &OidcConfig,
    redirect_uri: String,
) -> Result<ClientConfig, PortalError> {
    let secret = std::fs::read_to_string(&config.client_secret_file)
        .map_err(|e| PortalError::ClientSecret(config.client_secret_file.clone(), e))?;
    Ok(ClientConfig {
        realm,
        issuer: config.issuer.clone(),
        client_id: config.client_id.clone(),
        client_secret: secret.trim().to_owned(),
        redirect_uri,
        identity_claim: config.identity_claim.clone(),
        scopes: config.scopes.clone(),
    })
}

fn test_client(
    realm: Realm,
    issuer: &super::identity::test_idp::Issuer,
    claim: &str,
) -> ClientConfig {
    ClientConfig {
        realm,
        issuer: issuer.issuer.clone(),
        client_id: issuer.client_id.clone(),
        client_secret: issuer.client_secret.clone(),
        redirect_uri: issuer.redirect_uri.clone(),
        identity_claim: claim.to_owned(),
        scopes: "openid profile".into(),
    }
}

/// The value of one cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clock::ManualClock;

    /// A portal built as the server builds it, reached at `base_url`. Production needs real
    /// identity providers and a register; nothing here contacts them.
    async fn built(mode: Mode, base_url: &str, dir: &std::path::Path) -> Arc<Portal> {
        let mut config = Config {
            mode,
            data_dir: dir.to_owned(),
            ..Config::default()
        };
        if mode == Mode::Production {
            let secret = dir.join("client-secret");
            std::fs::write(&secret, "a-secret\n").expect("write secret");
            let oidc = OidcConfig {
                issuer: "https://idp.example".into(),
                client_id: "vardrum".into(),
                client_secret_file: secret,
                identity_claim: "sub".into(),
                scopes: "openid".into(),
            };
            config.portal.patient_oidc = Some(oidc.clone());
            config.portal.staff_oidc = Some(oidc);
            config.portal.register_file = Some(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("config/dev/population-register.json"),
            );
        }
        let db = Db::open(&crate::db::default_url(dir), dir)
            .await
            .expect("open SQLite");
        Portal::build(
            &config,
            base_url,
            db,
            Arc::new(ManualClock::new(1_773_576_000)),
            b"a-test-secret-of-enough-length-0123456789",
        )
        .await
        .expect("portal builds")
        .portal
    }

    /// Every cookie the portal sets: the session, its clearing, and the login state.
    fn cookies(portal: &Portal) -> Vec<String> {
        [
            portal.session_cookie(Some("token")),
            portal.session_cookie(None),
            portal.cookie_header("vardrum_login_patient", None, "/api/v1/auth/patient/"),
            portal.expiring_cookie(
                "vardrum_login_patient",
                "state",
                "/api/v1/auth/patient/",
                600,
            ),
        ]
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_owned())
        .collect()
    }

    #[tokio::test]
    async fn cookies_are_secure_over_https_and_in_production_but_not_in_plain_http_development() {
        for (mode, base_url, secure) in [
            (Mode::Development, "http://127.0.0.1:8080/", false),
            (Mode::Development, "https://portal.region.example/", true),
            // Production behind a TLS proxy that was given a plain-HTTP public URL by mistake.
            (Mode::Production, "http://portal.region.example/", true),
            (Mode::Production, "https://portal.region.example/", true),
        ] {
            let dir = tempfile::tempdir().expect("dir");
            let portal = built(mode, base_url, dir.path()).await;
            for cookie in cookies(&portal) {
                assert!(
                    cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Lax"),
                    "{cookie}"
                );
                let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
                assert_eq!(
                    attributes.contains(&"Secure"),
                    secure,
                    "{mode:?} at {base_url}: {cookie}"
                );
            }
            portal.db.pool().close().await;
        }
    }

    #[test]
    fn the_cookie_text_is_the_documented_one() {
        assert_eq!(
            cookie_text("vardrum_session", "t", "/", None, true),
            "vardrum_session=t; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            cookie_text("vardrum_session", "", "/", Some(0), false),
            "vardrum_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }

    fn info(peer: &str, xff: Option<&str>, trusted: &[&str]) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        if let Some(x) = xff {
            headers.insert("x-forwarded-for", HeaderValue::from_str(x).unwrap());
        }
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        ClientInfo::from_request(Some(peer.parse().unwrap()), &headers, &trusted).ip
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // No proxy configured: the header is anyone's to write.
        assert_eq!(
            info("203.0.113.9:5000", Some("198.51.100.1"), &[]),
            ip("203.0.113.9")
        );
        // Through our proxy: the address it saw.
        assert_eq!(
            info("10.0.0.2:5000", Some("198.51.100.1"), &["10.0.0.2"]),
            ip("198.51.100.1")
        );
        // A client that sends its own header first cannot choose its logged address.
        assert_eq!(
            info(
                "10.0.0.2:5000",
                Some("1.2.3.4, 198.51.100.1"),
                &["10.0.0.2"]
            ),
            ip("198.51.100.1")
        );
        // Two proxies of ours in a row.
        assert_eq!(
            info(
                "10.0.0.2:5000",
                Some("198.51.100.1, 10.0.0.3"),
                &["10.0.0.2", "10.0.0.3"]
            ),
            ip("198.51.100.1")
        );
        // A trusted proxy that sent no header: the proxy itself.
        assert_eq!(info("10.0.0.2:5000", None, &["10.0.0.2"]), ip("10.0.0.2"));
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where a request came from, for the access log.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client's address is the connection's peer, unless that is a trusted reverse proxy:
    /// then it is the rightmost `X-Forwarded-For` address that is not itself a trusted proxy
    /// (everything left of that was written by parties we cannot vouch for).
    pub fn from_request(
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
        trusted_proxies: &[IpAddr],
    ) -> Self {
        let peer_ip = peer.map(|p| p.ip());
        let ip = match peer_ip {
            Some(ip) if trusted_proxies.contains(&ip) => {
                let forwarded = headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .collect::<Vec<_>>();
                forwarded
                    .iter()
                    .rev()
                    .filter_map(|a| a.parse::<IpAddr>().ok())
                    .find(|a| !trusted_proxies.contains(a))
                    .or(Some(ip))
            }
            other => other,
        };
        Self {
            ip,
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                // The log keeps what identifies a browser, not an essay.
                .map(|v| v.chars().take(256).collect()),
        }
    }
}

/// The API routes, and the test IdP's when one runs.
pub fn router(built: &Built, uploads: Arc<Uploads>) -> Router {
    let portal = built.portal.clone();
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/region", get(patient::region))
        .route("/policy", get(patient::policy))
        .route("/auth/{realm}/login", get(auth::login))
        .route("/auth/{realm}/callback", get(auth::callback))
        .route("/auth/logout", post(auth::logout))
        .route("/session", get(auth::session))
        .route("/policy/decision", post(patient::policy_decision))
        .route(
            "/me",
            get(patient::me)
                .put(patient::update_me)
                .delete(patient::delete_me),
        )
        .route("/me/access-log", get(patient::access_log))
        .route("/me/export", get(patient::export))
        .route("/me/children", get(patient::children))
        .route("/acting-as", put(patient::acting_as))
        .route("/slots", get(bookings::open_slots))
        .route("/bookings", get(bookings::my_bookings).post(bookings::book))
        .route("/bookings/{id}", get(bookings::my_booking))
        .route("/bookings/{id}/reschedule", post(bookings::reschedule))
        .route("/bookings/{id}/cancel", post(bookings::cancel))
        .route("/bookings/{id}/join", post(bookings::join))
        .route("/staff/slots", post(bookings::publish_slot))
        .route("/staff/slots/{id}", delete(bookings::withdraw_slot))
        .route("/staff/calendar", get(bookings::calendar))
        .route("/staff/bookings", post(bookings::book_in))
        .route("/staff/bookings/{id}", get(bookings::staff_booking))
        .route("/staff/bookings/{id}/move", post(bookings::staff_move))
        .route("/staff/bookings/{id}/cancel", post(bookings::staff_cancel))
        .route("/staff/bookings/{id}/done", post(bookings::mark_done))
        .route("/staff/bookings/{id}/no-show", post(bookings::mark_no_show))
        .route(
            "/staff/queues",
            get(bookings::staff_queues).post(bookings::open_queue),
        )
        .route("/staff/queues/{id}/close", post(bookings::close_queue))
        .route("/staff/queues/{id}/take", post(bookings::take_next))
        .route("/queues", get(bookings::open_queues))
        .route("/queues/{id}/join", post(bookings::join_queue))
        .route("/queues/{id}/place", get(bookings::queue_place))
        .route("/queues/{id}/leave", post(bookings::leave_queue))
        .route("/bookings/{id}/uploads", get(bookings::uploads))
        .route("/bookings/{id}/uploads/{upload}", get(bookings::download))
        .route("/staff/care-unit", put(staff::care_unit))
        .route("/care-units", get(staff::care_units))
        .route("/admin/notifications/failed", get(staff::failed_notices))
        .route("/admin/notifications/{id}/retry", post(staff::retry_notice))
        .route("/staff/colleagues", get(staff::colleagues))
        .route("/staff/patients/lookup", post(staff::lookup_patient))
        .route("/staff/emergency-accesses", get(staff::emergency_accesses))
        .route(
            "/staff/emergency-accesses/{id}/review",
            post(staff::review_emergency_access),
        )
        .route("/staff/patients", post(staff::register_patient))
        .route(
            "/admin/staff",
            get(staff::list_staff).post(staff::create_staff),
        )
        .merge(messages::routes())
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        // The upload store is the server's (built beside the portal), shared with the calls.
        .layer(Extension(uploads))
        .with_state(portal);
    let api = Router::new().nest("/api/v1", api);
    match &built.test_idp {
        Some(idp) => api.merge(idp.clone().router()),
        None => api,
    }
}

/// Answers holding personal data are never cached, by the browser or anything in between.
pub(crate) fn no_store(body: impl IntoResponse) -> axum::response::Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn api_not_found() -> ApiError {
    ApiError::not_found()
}
