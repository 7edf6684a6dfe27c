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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The one UDP port all media uses.
    pub udp_listen: SocketAddr,
    /// The address clients send media to when the server is behind 1:1 NAT.
    pub public_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    pub max_participants: usize,
    pub reconnect_grace_secs: u64,
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
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            udp_listen: SocketAddr::from(([127, 0, 0, 1], 50000)),
            public_ip: None,
        }
    }
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            max_participants: 2,
            reconnect_grace_secs: 30,
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
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    if built_in.is_dir() {
        built_in
    } else {
        PathBuf::from("web")
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
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(
                "public_url must start with http:// or https://".into(),
            ));
        }
        if self.media.udp_listen.ip().is_unspecified() && self.media.public_ip.is_none() {
            return Err(ConfigError::Invalid(
                "media.udp_listen is a wildcard address: set media.public_ip (--public-ip) to \
                 the address clients should send media to"
                    .into(),
            ));
        }
        Ok(())
    }
}

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
            "mode = \"production\"\n[http]\nlisten = \"0.0.0.0:443\"\n[media]\nudp_listen = \"0.0.0.0:50000\"\npublic_ip = \"192.0.2.7\"\n[[ice_servers]]\nurls = [\"turn:turn.example:3478\"]\nusername = \"u\"\ncredential = \"c\"\n",
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
    fn a_wildcard_media_address_needs_a_public_ip() {
        let mut c = Config::default();
        c.media.udp_listen = "0.0.0.0:50000".parse().unwrap();
        assert!(c.validate().is_err());
        c.media.public_ip = Some("192.0.2.7".parse().unwrap());
        assert!(c.validate().is_ok());
    }
}
