//! Server configuration: built-in defaults, then a TOML file, then environment variables and
//! command-line flags (the last two through clap), each overriding the one before.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vardrum_signalling::message::IceServer;

/// Development mode runs with no set-up; production mode refuses to start without real secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Everything the server needs to run. Field names are the TOML keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub mode: Mode,
    /// Where the SQLite database and the development secret live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite at `<data_dir>/vardrum.db`.
    pub database_url: Option<String>,
    /// The URL people open, when it differs from the listen address (reverse proxy, TLS).
    pub public_url: Option<String>,
    /// The browser client's files.
    pub web_dir: PathBuf,
    pub http: HttpConfig,
    pub media: MediaConfig,
    pub rooms: RoomsConfig,
    pub tokens: TokensConfig,
    pub log: LogConfig,
    /// STUN/TURN servers handed to clients (browser `RTCIceServer` shape).
    pub ice_servers: Vec<IceServer>,
    pub portal: PortalConfig,
    pub uploads: UploadsConfig,
    /// SMS and e-mail notices: the outbox's worker, the SMTP server and the SMS gateway
    /// (`src/portal/notifications/transport.rs`; neither configured: nothing is sent).
    pub notifications: crate::portal::notifications::NotificationsConfig,
}

/// Files participants upload into a call's chat (`src/uploads/`), kept with their booking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsConfig {
    /// The largest file accepted, in bytes. A file is held in memory while it is checked, so
    /// this also bounds the memory one upload takes.
    pub max_bytes: u64,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        Self {
            max_bytes: crate::uploads::DEFAULT_MAX_BYTES,
        }
    }
}

/// The largest `uploads.max_bytes` allowed: uploads are held in memory while checked.
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// The patient portal: the region it serves, where people come from (population register,
/// identity providers) and how long sessions last.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// The region file (`config/regions/NAME.toml`): one deployment serves one region.
    pub region: PathBuf,
    /// The population register as a JSON file of test persons. Defaults to the shipped test
    /// register in development; production must name one (or, later, a real adapter).
    pub register_file: Option<PathBuf>,
    /// Staff added at start-up when missing (development: `config/dev/staff.json`).
    pub staff_file: Option<PathBuf>,
    /// A session ends after this long without a request.
    pub session_idle_minutes: u64,
    /// A session ends this long after login, whatever happens.
    pub session_absolute_hours: u64,
    /// Patients' e-legitimation broker. Unset in development: the built-in test IdP.
    pub patient_oidc: Option<OidcConfig>,
    /// Staff's identity provider (the hospital's). Unset in development: the built-in test IdP.
    pub staff_oidc: Option<OidcConfig>,
}

/// One OpenID Connect provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Exactly as the provider states it; metadata is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (kept out of the config file).
    pub client_secret_file: PathBuf,
    /// The ID-token claim with the identity: the personnummer for patients (brokers differ:
    /// e.g. `personal_identity_number`, `personalIdentityNumber`), the subject for staff.
    pub identity_claim: String,
    #[serde(default = "default_scopes")]
    pub scopes: String,
}

fn default_scopes() -> String {
    "openid profile".into()
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            region: shipped("config/regions/vasterbotten.toml"),
            register_file: None,
            staff_file: None,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            patient_oidc: None,
            staff_oidc: None,
        }
    }
}

impl PortalConfig {
    /// The register file in use: the configured one, else in development the shipped test
    /// register.
    pub fn register_file(&self, mode: Mode) -> Option<PathBuf> {
        match (&self.register_file, mode) {
            (Some(path), _) => Some(path.clone()),
            (None, Mode::Development) => Some(shipped("config/dev/population-register.json")),
            (None, Mode::Production) => None,
        }
    }

    /// The staff file in use: the configured one, else in development the shipped test staff.
    pub fn staff_file(&self, mode: Mode) -> Option<PathBuf> {
        match (&self.staff_file, mode) {
            (Some(path), _) => Some(path.clone()),
            (None, Mode::Development) => Some(shipped("config/dev/staff.json")),
            (None, Mode::Production) => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Where `/metrics` is served instead of `listen`, so that the public port (behind the
    /// reverse proxy) does not show the node's load to anyone who asks. Unset: on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: the access log records the client's
    /// address from it when a request comes from one of these. Anyone else's header is ignored,
    /// since a client could write any address there.
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The first media worker's UDP address; worker `i` listens on the port `i` above it.
    pub udp_listen: SocketAddr,
    /// Media workers (threads, each with its own UDP port and rooms); unset: one per core.
    pub workers: Option<usize>,
    /// The address clients send media to when the server is behind 1:1 NAT.
    pub public_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    /// Largest number of participants in a 1:1 visit.
    pub max_participants: usize,
    /// Largest number of participants in a group visit, the waiting room included.
    pub max_group_participants: usize,
    pub reconnect_grace_secs: u64,
    /// On SIGTERM/SIGINT, how long open visits may go on (no new ones start) before they are
    /// ended; 0 ends them at once. A second signal ends them at once too.
    pub drain_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// A file holding the token signing secret (production).
    pub secret_file: Option<PathBuf>,
    /// Lifetime of tokens minted by `vardrum token` unless `--ttl-minutes` says otherwise.
    pub default_ttl_minutes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Development,
            data_dir: PathBuf::from("data"),
            database_url: None,
            public_url: None,
            web_dir: default_web_dir(),
            http: HttpConfig::default(),
            media: MediaConfig::default(),
            rooms: RoomsConfig::default(),
            tokens: TokensConfig::default(),
            log: LogConfig::default(),
            ice_servers: Vec::new(),
            portal: PortalConfig::default(),
            uploads: UploadsConfig::default(),
            notifications: Default::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            udp_listen: SocketAddr::from(([127, 0, 0, 1], 50000)),
            workers: None,
            public_ip: None,
        }
    }
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            max_participants: 2,
            max_group_participants: vardrum_sfu::DEFAULT_MAX_GROUP_PARTICIPANTS,
            reconnect_grace_secs: 30,
            drain_secs: 0,
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            secret_file: None,
            default_ttl_minutes: 120,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
        }
    }
}

/// The web client next to the sources when run with cargo, else `web/` in the working directory.
fn default_web_dir() -> PathBuf {
    shipped("web")
}

/// A file shipped with the sources: next to them when run with cargo, else relative to the
/// working directory (an installed copy).
fn shipped(relative: &str) -> PathBuf {
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if built_in.exists() {
        built_in
    } else {
        PathBuf::from(relative)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_secs(self.rooms.reconnect_grace_secs)
    }

    /// Checks settings that cannot be checked by their types.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rooms.max_participants < 2 {
            return Err(ConfigError::Invalid(
                "rooms.max_participants must be at least 2".into(),
            ));
        }
        if self.rooms.max_participants > 64 {
            return Err(ConfigError::Invalid(
                "rooms.max_participants above 64 is not supported by one room task".into(),
            ));
        }
        if !(2..=64).contains(&self.rooms.max_group_participants) {
            return Err(ConfigError::Invalid(
                "rooms.max_group_participants must be between 2 and 64 (one room task)".into(),
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(
                "public_url must start with http:// or https://".into(),
            ));
        }
        let portal = &self.portal;
        if portal.session_idle_minutes == 0 || portal.session_absolute_hours == 0 {
            return Err(ConfigError::Invalid(
                "portal.session_idle_minutes and portal.session_absolute_hours must be above 0"
                    .into(),
            ));
        }
        if portal.session_idle_minutes > portal.session_absolute_hours * 60 {
            return Err(ConfigError::Invalid(
                "portal.session_idle_minutes is longer than portal.session_absolute_hours".into(),
            ));
        }
        if self.mode == Mode::Production {
            if portal.patient_oidc.is_none() || portal.staff_oidc.is_none() {
                return Err(ConfigError::Invalid(
                    "production needs real identity providers: set [portal.patient_oidc] and \
                     [portal.staff_oidc] (the built-in test IdP runs in development only)"
                        .into(),
                ));
            }
            if portal.register_file.is_none() {
                return Err(ConfigError::Invalid(
                    "production needs a population register: set portal.register_file".into(),
                ));
            }
        }
        for oidc in [&portal.patient_oidc, &portal.staff_oidc]
            .into_iter()
            .flatten()
        {
            if !(oidc.issuer.starts_with("https://")
                || (self.mode == Mode::Development && oidc.issuer.starts_with("http://")))
            {
                return Err(ConfigError::Invalid(format!(
                    "identity provider issuer {} must be an https:// URL",
                    oidc.issuer
                )));
            }
        }
        if self.media.udp_listen.ip().is_unspecified() && self.media.public_ip.is_none() {
            return Err(ConfigError::Invalid(
                "media.udp_listen is a wildcard address: set media.public_ip (--public-ip) to \
                 the address clients should send media to"
                    .into(),
            ));
        }
        if !(1..=MAX_UPLOAD_BYTES).contains(&self.uploads.max_bytes) {
            return Err(ConfigError::Invalid(format!(
                "uploads.max_bytes must be between 1 and {MAX_UPLOAD_BYTES} (64 MiB)"
            )));
        }
        self.notifications
            .validate(self.mode)
            .map_err(ConfigError::Invalid)?;
        let workers = self.media_workers();
        if !(1..=MAX_MEDIA_WORKERS).contains(&workers) {
            return Err(ConfigError::Invalid(format!(
                "media.workers must be 1 to {MAX_MEDIA_WORKERS}, not {workers}"
            )));
        }
        let last = u32::from(self.media.udp_listen.port()) + workers as u32 - 1;
        if self.media.udp_listen.port() != 0 && last > u32::from(u16::MAX) {
            return Err(ConfigError::Invalid(format!(
                "{workers} media workers need the UDP ports {} to {last}, past 65535: lower \
                 media.udp_listen's port or media.workers",
                self.media.udp_listen.port()
            )));
        }
        Ok(())
    }

    /// How many media workers run: `media.workers`, or one per core.
    pub fn media_workers(&self) -> usize {
        self.media
            .workers
            .unwrap_or_else(vardrum_sfu::default_workers)
    }
}

/// More media workers than this is a typo, not a machine.
const MAX_MEDIA_WORKERS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::default();
        assert_eq!(c.mode, Mode::Development);
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.toml");
        std::fs::write(
            &path,
            concat!(
                "mode = \"production\"\n[http]\nlisten = \"0.0.0.0:443\"\n",
                "[media]\nudp_listen = \"0.0.0.0:50000\"\npublic_ip = \"192.0.2.7\"\n",
                "[[ice_servers]]\nurls = [\"turn:turn.example:3478\"]\nusername = \"u\"\n",
                "credential = \"c\"\n",
                "[portal]\nregister_file = \"/etc/vardrum/register.json\"\n",
                "[portal.patient_oidc]\nissuer = \"https://idp.example\"\nclient_id = \"v\"\n",
                "client_secret_file = \"/etc/vardrum/p\"\n",
                "identity_claim = \"personal_identity_number\"\n",
                "[portal.staff_oidc]\nissuer = \"https://hsa.example\"\nclient_id = \"v\"\n",
                "client_secret_file = \"/etc/vardrum/s\"\nidentity_claim = \"sub\"\n",
            ),
        )
        .unwrap();
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.mode, Mode::Production);
        assert_eq!(c.http.listen.port(), 443);
        assert_eq!(c.ice_servers.len(), 1);
        assert!(c.validate().is_ok());

        std::fs::write(&path, "[http]\nlisten_typo = \"x\"\n").unwrap();
        let err = Config::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("listen_typo"), "{err}");
    }

    #[test]
    fn production_refuses_the_test_idp_and_plain_http_issuers() {
        let mut c = Config {
            mode: Mode::Production,
            ..Config::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("identity providers"), "{err}");
        let oidc = OidcConfig {
            issuer: "http://idp.example".into(),
            client_id: "v".into(),
            client_secret_file: "/s".into(),
            identity_claim: "sub".into(),
            scopes: default_scopes(),
        };
        c.portal.patient_oidc = Some(oidc.clone());
        c.portal.staff_oidc = Some(oidc);
        c.portal.register_file = Some("/r.json".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("https://"), "{err}");
        for o in [&mut c.portal.patient_oidc, &mut c.portal.staff_oidc]
            .into_iter()
            .flatten()
        {
            o.issuer = "https://idp.example".into();
        }
        assert!(c.validate().is_ok());
    }

    #[test]
    fn uploads_take_ten_mebibytes_unless_told_and_at_most_sixty_four() {
        assert_eq!(Config::default().uploads.max_bytes, 10 * 1024 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.toml");
        std::fs::write(&path, "[uploads]\nmax_bytes = 2097152\n").unwrap();
        let mut c = Config::from_file(&path).unwrap();
        assert_eq!(c.uploads.max_bytes, 2 * 1024 * 1024);
        assert!(c.validate().is_ok());
        for bad in [0, MAX_UPLOAD_BYTES + 1] {
            c.uploads.max_bytes = bad;
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("uploads.max_bytes"), "{err}");
        }
    }

    #[test]
    fn a_wildcard_media_address_needs_a_public_ip() {
        let mut c = Config::default();
        c.media.udp_listen = "0.0.0.0:50000".parse().unwrap();
        assert!(c.validate().is_err());
        c.media.public_ip = Some("192.0.2.7".parse().unwrap());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn media_workers_need_a_port_each_below_65536() {
        let mut c = Config::default();
        c.media.workers = Some(0);
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("media.workers must be 1 to 256, not 0"),
            "{err}"
        );
        c.media.workers = Some(4);
        c.media.udp_listen = "127.0.0.1:65533".parse().unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("UDP ports 65533 to 65536"), "{err}");
        c.media.udp_listen = "127.0.0.1:65532".parse().unwrap();
        assert!(c.validate().is_ok());
        // Port 0: every worker takes any free port.
        c.media.udp_listen = "127.0.0.1:0".parse().unwrap();
        c.media.workers = Some(256);
        assert!(c.validate().is_ok());
        c.media.workers = None;
        assert_eq!(c.media_workers(), vardrum_sfu::default_workers());
    }
}
