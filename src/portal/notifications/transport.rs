//! How notices leave the server: e-mail over SMTP (`lettre`, async on tokio, TLS by rustls) and
//! SMS through an HTTP gateway (a JSON POST), configured in the server's `[notifications]`
//! section. Either may be left out: its notices are then skipped with the reason
//! `email_not_configured` / `sms_not_configured` (the default `cargo run` sends nothing).
//!
//! Both carry the notice's idempotency key (its id): the e-mail as its `Message-ID`, the SMS
//! request as the `Idempotency-Key` header and the `reference` field, so a receiver can drop the
//! copy a crash between sending and recording makes.
//!
//! Failures are classified for the worker: **transient** ones (a connection that fails or times
//! out, an SMTP 4xx reply, an HTTP 5xx, 408 or 429) are retried with back-off; **permanent**
//! ones (an SMTP 5xx reply: the server refuses the message or the address; any other HTTP 4xx:
//! the gateway refuses the request) fail the notice at once. The error carries a short code
//! (`smtp_transient 451`, `sms_http 500`), never a server's text, which may quote the address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::message::header::{ContentType, MessageId};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::Mode;

/// The server's `[notifications]` section: the worker's pace and the two channels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Seconds between the worker's looks for due notices; 0 runs no worker (tests drive it).
    pub poll_interval_secs: u64,
    /// How long a claimed notice belongs to its worker before another may take it. Longer than
    /// a send can take (the SMTP and HTTP timeouts).
    pub lease_secs: u64,
    /// Attempts before a notice is `failed`.
    pub max_attempts: u32,
    /// Back-off after the first failed attempt; doubled after each further one.
    pub retry_base_secs: u64,
    /// The longest back-off.
    pub retry_max_secs: u64,
    /// Notices claimed at once.
    pub batch: u32,
    pub email: Option<EmailConfig>,
    pub sms: Option<SmsConfig>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            poll_interval_secs: 10,
            lease_secs: 300,
            max_attempts: 6,
            retry_base_secs: 60,
            retry_max_secs: 3600,
            batch: 20,
            email: None,
            sms: None,
        }
    }
}

/// `[notifications.email]`: the SMTP server mail is handed to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub host: String,
    /// Default: 25 (`tls = "none"`), 587 (`starttls`), 465 (`tls`).
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    /// With `password_file`, for SMTP AUTH.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `1177 direkt Västerbotten <no-reply@regionvasterbotten.se>`; its domain
    /// is also the Message-ID's.
    pub from: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP: only to a relay on this machine (refused otherwise in production).
    None,
    /// STARTTLS, required (the connection fails rather than continuing in the clear).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// `[notifications.sms]`: the SMS gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// Where `{"to", "from", "message", "reference"}` is POSTed.
    pub url: String,
    /// The sender name or number shown on the phone (at most 11 letters or a number).
    pub from: String,
    #[serde(default)]
    pub auth: SmsAuth,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

/// How the gateway knows us.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "lowercase")]
pub enum SmsAuth {
    #[default]
    None,
    /// `Authorization: Bearer <token>`, the token read from a file.
    Bearer { token_file: PathBuf },
    /// HTTP basic authentication, the password read from a file.
    Basic {
        username: String,
        password_file: PathBuf,
    },
}

fn default_timeout() -> u64 {
    30
}

impl NotificationsConfig {
    /// Checks what the types cannot; the message names the key.
    pub fn validate(&self, mode: Mode) -> Result<(), String> {
        if self.lease_secs < 30 {
            return Err("notifications.lease_secs must be at least 30".into());
        }
        if !(1..=50).contains(&self.max_attempts) {
            return Err("notifications.max_attempts must be from 1 to 50".into());
        }
        if self.retry_base_secs == 0 || self.retry_max_secs < self.retry_base_secs {
            return Err(
                "notifications.retry_base_secs must be above 0 and at most retry_max_secs".into(),
            );
        }
        if !(1..=1000).contains(&self.batch) {
            return Err("notifications.batch must be from 1 to 1000".into());
        }
        if let Some(email) = &self.email {
            if email.from.parse::<Mailbox>().is_err() {
                return Err("notifications.email.from is not an e-mail address".into());
            }
            if email.timeout_secs == 0 || email.timeout_secs >= self.lease_secs {
                return Err(
                    "notifications.email.timeout_secs must be above 0 and below lease_secs".into(),
                );
            }
            if email.username.is_some() != email.password_file.is_some() {
                return Err("notifications.email: username and password_file go together".into());
            }
            if mode == Mode::Production && email.tls == SmtpTls::None && !is_loopback(&email.host) {
                return Err(
                    "notifications.email.tls = \"none\" is only for a relay on this machine \
                     (host 127.0.0.1, ::1 or localhost)"
                        .into(),
                );
            }
        }
        if let Some(sms) = &self.sms {
            let url = url::Url::parse(&sms.url)
                .map_err(|_| "notifications.sms.url is not a URL".to_owned())?;
            let local = url.host_str().is_some_and(is_loopback);
            let allowed = url.scheme() == "https" || (url.scheme() == "http" && local);
            if !allowed {
                return Err(
                    "notifications.sms.url must be https:// (http:// only to this machine)".into(),
                );
            }
            if sms.from.trim().is_empty() {
                return Err("notifications.sms.from must not be empty".into());
            }
            if sms.timeout_secs == 0 || sms.timeout_secs >= self.lease_secs {
                return Err(
                    "notifications.sms.timeout_secs must be above 0 and below lease_secs".into(),
                );
            }
        }
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later.
    #[error("transient: {0}")]
    Transient(String),
    /// Will not succeed by trying again.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl SendError {
    /// The short code stored as the notice's reason.
    pub fn code(&self) -> &str {
        match self {
            SendError::Transient(c) | SendError::Permanent(c) => c,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot read {0}: {1}")]
    Secret(PathBuf, std::io::Error),
    #[error("notifications.email: {0}")]
    Email(String),
    #[error("notifications.sms: {0}")]
    Sms(String),
}

/// An e-mail ready to go.
#[derive(Clone)]
pub struct OutgoingEmail {
    pub to: String,
    /// The notice's id.
    pub key: String,
    pub subject: String,
    pub body: String,
    /// A calendar file and its method.
    pub ics: Option<(&'static str, String)>,
}

/// An SMS ready to go.
#[derive(Clone)]
pub struct OutgoingSms {
    /// E.164.
    pub to: String,
    /// The notice's id.
    pub key: String,
    pub text: String,
}

/// Sends e-mail.
pub trait EmailSender: Send + Sync {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), SendError>>;
}

/// Sends SMS.
pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> BoxFuture<'a, Result<(), SendError>>;
}

/// The configured channels.
#[derive(Clone, Default)]
pub struct Transports {
    pub email: Option<std::sync::Arc<dyn EmailSender>>,
    pub sms: Option<std::sync::Arc<dyn SmsSender>>,
}

impl Transports {
    /// The channels `config` names, with their secrets read from their files.
    pub fn from_config(config: &NotificationsConfig) -> Result<Self, TransportError> {
        let email = match &config.email {
            Some(c) => Some(std::sync::Arc::new(Smtp::new(c)?) as std::sync::Arc<dyn EmailSender>),
            None => None,
        };
        let sms = match &config.sms {
            Some(c) => Some(std::sync::Arc::new(HttpSms::new(c)?) as std::sync::Arc<dyn SmsSender>),
            None => None,
        };
        Ok(Self { email, sms })
    }
}

fn read_secret(path: &Path) -> Result<String, TransportError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| TransportError::Secret(path.to_owned(), e))
}

/// E-mail through an SMTP server.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right-hand side of Message-IDs: the sender's domain.
    domain: String,
}

impl Smtp {
    pub fn new(config: &EmailConfig) -> Result<Self, TransportError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| TransportError::Email("from is not an e-mail address".into()))?;
        let domain = from.email.domain().to_owned();
        let host = config.host.as_str();
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| TransportError::Email(e.to_string()))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| TransportError::Email(e.to_string()))?,
        };
        let port = config.port.unwrap_or(match config.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        });
        let mut builder = builder
            .port(port)
            .timeout(Some(Duration::from_secs(config.timeout_secs)));
        if let (Some(user), Some(file)) = (&config.username, &config.password_file) {
            builder = builder.credentials(Credentials::new(user.clone(), read_secret(file)?));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
        })
    }

    fn message(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| SendError::Permanent("email_address_invalid".into()))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .header(MessageId::from(format!("<{}@{}>", email.key, self.domain)));
        let text = SinglePart::plain(email.body.clone());
        let built = match &email.ics {
            None => builder.singlepart(text),
            Some((method, ics)) => {
                let calendar =
                    ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                        .map_err(|_| SendError::Permanent("email_build".into()))?;
                builder.multipart(
                    MultiPart::mixed().singlepart(text).singlepart(
                        Attachment::new("bokning.ics".into()).body(ics.clone(), calendar),
                    ),
                )
            }
        };
        built.map_err(|_| SendError::Permanent("email_build".into()))
    }
}

impl EmailSender for Smtp {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let message = self.message(email)?;
            match self.transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) => Err(classify_smtp(&e)),
            }
        })
    }
}

fn classify_smtp(e: &lettre::transport::smtp::Error) -> SendError {
    let code = e.status().map(|c| c.to_string());
    if e.is_permanent() {
        SendError::Permanent(format!("smtp_permanent {}", code.unwrap_or_default()))
    } else if e.is_transient() {
        SendError::Transient(format!("smtp_transient {}", code.unwrap_or_default()))
    } else if e.is_timeout() {
        SendError::Transient("smtp_timeout".into())
    } else {
        // Connection refused or dropped, TLS, a reply that does not parse: the server may be
        // back later.
        SendError::Transient("smtp_connection".into())
    }
}

/// The JSON an SMS gateway receives.
#[derive(Debug, Serialize)]
struct SmsRequest<'a> {
    to: &'a str,
    from: &'a str,
    message: &'a str,
    /// The idempotency key again, for gateways that take it in the body.
    reference: &'a str,
}

/// SMS through an HTTP gateway.
pub struct HttpSms {
    http: reqwest::Client,
    url: String,
    from: String,
    auth: Auth,
}

enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

impl HttpSms {
    pub fn new(config: &SmsConfig) -> Result<Self, TransportError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            // A redirect would carry the credentials and the number somewhere unconfigured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransportError::Sms(e.to_string()))?;
        let auth = match &config.auth {
            SmsAuth::None => Auth::None,
            SmsAuth::Bearer { token_file } => Auth::Bearer(read_secret(token_file)?),
            SmsAuth::Basic {
                username,
                password_file,
            } => Auth::Basic(username.clone(), read_secret(password_file)?),
        };
        Ok(Self {
            http,
            url: config.url.clone(),
            from: config.from.clone(),
            auth,
        })
    }
}

impl SmsSender for HttpSms {
    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let body = SmsRequest {
                to: &sms.to,
                from: &self.from,
                message: &sms.text,
                reference: &sms.key,
            };
            let mut request = self
                .http
                .post(&self.url)
                .header("idempotency-key", &sms.key)
                .json(&body);
            request = match &self.auth {
                Auth::None => request,
                Auth::Bearer(token) => request.bearer_auth(token),
                Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            };
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() => return Err(SendError::Transient("sms_timeout".into())),
                Err(_) => return Err(SendError::Transient("sms_connection".into())),
            };
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Err(SendError::Transient(format!(
                    "sms_http {}",
                    status.as_u16()
                )))
            } else {
                Err(SendError::Permanent(format!(
                    "sms_http {}",
                    status.as_u16()
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_email(tls: SmtpTls, host: &str) -> NotificationsConfig {
        NotificationsConfig {
            email: Some(EmailConfig {
                host: host.into(),
                port: None,
                tls,
                username: None,
                password_file: None,
                from: "Tjänsten <no-reply@region.example>".into(),
                timeout_secs: 30,
            }),
            ..NotificationsConfig::default()
        }
    }

    #[test]
    fn plain_smtp_only_to_this_machine_in_production() {
        assert!(
            with_email(SmtpTls::None, "127.0.0.1")
                .validate(Mode::Production)
                .is_ok()
        );
        let err = with_email(SmtpTls::None, "smtp.region.example")
            .validate(Mode::Production)
            .unwrap_err();
        assert!(err.contains("notifications.email.tls"), "{err}");
        assert!(
            with_email(SmtpTls::Starttls, "smtp.region.example")
                .validate(Mode::Production)
                .is_ok()
        );
    }

    #[test]
    fn bad_settings_name_their_key() {
        let mut c = with_email(SmtpTls::Starttls, "smtp.region.example");
        if let Some(e) = c.email.as_mut() {
            e.from = "not an address".into();
        }
        assert!(
            c.validate(Mode::Development)
                .unwrap_err()
                .contains("email.from")
        );
        let c = NotificationsConfig {
            sms: Some(SmsConfig {
                url: "http://sms.example/send".into(),
                from: "Region".into(),
                auth: SmsAuth::None,
                timeout_secs: 30,
            }),
            ..NotificationsConfig::default()
        };
        assert!(
            c.validate(Mode::Development)
                .unwrap_err()
                .contains("sms.url")
        );
        let c = NotificationsConfig {
            max_attempts: 0,
            ..NotificationsConfig::default()
        };
        assert!(
            c.validate(Mode::Development)
                .unwrap_err()
                .contains("max_attempts")
        );
        let c = NotificationsConfig {
            lease_secs: 10,
            ..NotificationsConfig::default()
        };
        assert!(
            c.validate(Mode::Development)
                .unwrap_err()
                .contains("lease_secs")
        );
    }
}
