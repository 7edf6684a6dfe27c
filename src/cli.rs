//! The command line: `vardrum [serve]` runs the server, `vardrum token` mints a join link,
//! `vardrum audit verify` checks the PDL access log's hash chain.
//! Flags override environment variables (`VARDRUM_*`), which override the config file.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vardrum_signalling::token::{Grant, TokenIssuer};
use vardrum_signalling::{Role, RoomKind};

use crate::clock::Clock;
use crate::config::{Config, ConfigError, LogFormat, Mode};
use crate::db::{self, Db, DbError};
use crate::portal::audit::{self, AuditError, VerifyReport};
use crate::portal::staff::{NewStaff, Role as StaffRole, Staff, StaffError};
use crate::secret;

#[derive(Debug, Parser)]
#[command(
    name = "vardrum",
    version,
    about = "Telehealth video visits: a WebRTC SFU and the portal around it",
    long_about = "Telehealth video visits: a WebRTC SFU and the portal around it.\n\n\
                  With no subcommand, `vardrum` serves with working development defaults: \
                  http://127.0.0.1:8080, media on UDP 127.0.0.1:50000 (and the ports after it, \
                  one per media worker), SQLite under ./data."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML config file (see docs/operations.md).
    #[arg(long, env = "VARDRUM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the database and the development token secret.
    #[arg(long, env = "VARDRUM_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// `development` (no set-up needed) or `production` (refuses to start without secrets).
    #[arg(long, env = "VARDRUM_MODE", global = true, value_enum)]
    pub mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Print a signed join link for one person and one room.
    Token(TokenArgs),
    /// The PDL access log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Staff members (the first administrator is added here; later ones through the API).
    #[command(subcommand)]
    Staff(StaffCommand),
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member who logs in through the staff identity provider as SUBJECT.
    Add(StaffAddArgs),
}

#[derive(Debug, Args)]
pub struct StaffAddArgs {
    /// The identity provider's subject for the member (e.g. the HSA-id).
    #[arg(long)]
    pub subject: String,
    #[arg(long)]
    pub given_name: String,
    #[arg(long)]
    pub family_name: String,
    /// clinician or administrator.
    #[arg(long, value_parser = ["clinician", "administrator"])]
    pub role: String,
    /// A care unit the member works in; repeat for several.
    #[arg(long = "care-unit", required = true)]
    pub care_units: Vec<String>,
    /// Database URL: sqlite://… or postgres://…; default SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the access log's hash chain. Exit status 0: intact; 1: broken (the first broken
    /// sequence number is printed); 2: could not be checked.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Database URL: sqlite://… or postgres://…; default SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// HTTP listen address.
    #[arg(long, env = "VARDRUM_HTTP")]
    pub http: Option<SocketAddr>,
    /// Serve /metrics on this address instead of the HTTP one (e.g. 127.0.0.1:9090).
    #[arg(long, env = "VARDRUM_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// UDP address of the first media worker; worker i uses the port i above it.
    #[arg(long, env = "VARDRUM_MEDIA_UDP")]
    pub media_udp: Option<SocketAddr>,
    /// Media workers: threads with a UDP port and rooms each [default: one per core].
    #[arg(long, env = "VARDRUM_MEDIA_WORKERS")]
    pub media_workers: Option<usize>,
    /// Address clients send media to, when behind 1:1 NAT.
    #[arg(long, env = "VARDRUM_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// The URL people open (behind a reverse proxy / TLS).
    #[arg(long, env = "VARDRUM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Database URL: sqlite://… or postgres://…; default SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format.
    #[arg(long, env = "VARDRUM_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Most participants in a 1:1 visit.
    #[arg(long, env = "VARDRUM_MAX_PARTICIPANTS")]
    pub max_participants: Option<usize>,
    /// Most participants in a group visit, the waiting room included (default 40).
    #[arg(long, env = "VARDRUM_MAX_GROUP_PARTICIPANTS")]
    pub max_group_participants: Option<usize>,
    /// Seconds a participant whose connection dropped is kept as reconnecting.
    #[arg(long, env = "VARDRUM_RECONNECT_GRACE_SECS")]
    pub reconnect_grace_secs: Option<u64>,
    /// On SIGTERM/SIGINT, seconds open visits may go on, no new ones starting, before they end.
    #[arg(long, env = "VARDRUM_DRAIN_SECS")]
    pub drain_secs: Option<u64>,
    /// Directory of the browser client.
    #[arg(long, env = "VARDRUM_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// The region file the portal serves (config/regions/NAME.toml).
    #[arg(long, env = "VARDRUM_REGION")]
    pub region: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Room id, e.g. visit-42.
    #[arg(long)]
    pub room: String,
    /// Display name shown to the others.
    #[arg(long)]
    pub name: String,
    /// patient, clinician or guest.
    #[arg(long)]
    pub role: Role,
    /// Stable participant identity; a new one is made when omitted.
    #[arg(long)]
    pub identity: Option<String>,
    /// Minutes the link stays valid.
    #[arg(long)]
    pub ttl_minutes: Option<u64>,
    /// visit (a 1:1 video visit) or group (a group visit with a waiting room).
    #[arg(long, default_value = "visit")]
    pub kind: RoomKind,
    /// The participant's own booking id: files they upload in the call are kept with it.
    #[arg(long)]
    pub booking: Option<String>,
    /// Server URL for the link; default: the running server's (from the data directory).
    #[arg(long)]
    pub base_url: Option<String>,
}

/// Builds the configuration: file (if any) over defaults, then global and serve flags.
pub fn load_config(global: &GlobalArgs, serve: &ServeArgs) -> Result<Config, ConfigError> {
    let mut config = match &global.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(v) = &global.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = global.mode {
        config.mode = v;
    }
    if let Some(v) = serve.http {
        config.http.listen = v;
    }
    if let Some(v) = serve.metrics {
        config.http.metrics_listen = Some(v);
    }
    if let Some(v) = serve.media_udp {
        config.media.udp_listen = v;
    }
    if let Some(v) = serve.media_workers {
        config.media.workers = Some(v);
    }
    if let Some(v) = serve.public_ip {
        config.media.public_ip = Some(v);
    }
    if let Some(v) = &serve.public_url {
        config.public_url = Some(v.clone());
    }
    if let Some(v) = &serve.database_url {
        config.database_url = Some(v.clone());
    }
    if let Some(v) = serve.log_format {
        config.log.format = v;
    }
    if let Some(v) = serve.max_participants {
        config.rooms.max_participants = v;
    }
    if let Some(v) = serve.max_group_participants {
        config.rooms.max_group_participants = v;
    }
    if let Some(v) = serve.reconnect_grace_secs {
        config.rooms.reconnect_grace_secs = v;
    }
    if let Some(v) = serve.drain_secs {
        config.rooms.drain_secs = v;
    }
    if let Some(v) = &serve.region {
        config.portal.region = v.clone();
    }
    if let Some(v) = &serve.web_dir {
        config.web_dir = v.clone();
    }
    Ok(config)
}

#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error("{0}")]
    Invalid(String),
}

/// Mints a join link: `<base>/call/<room>#token=<jwt>`.
pub fn join_link(
    config: &Config,
    args: &TokenArgs,
    clock: &dyn Clock,
) -> Result<String, TokenCommandError> {
    let secret = secret::load(config)?;
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("u-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let grant = Grant {
        identity,
        name: args.name.clone(),
        room: args.room.clone(),
        role: args.role,
        kind: args.kind,
        booking: args.booking.clone(),
    };
    let ttl = args
        .ttl_minutes
        .unwrap_or(config.tokens.default_ttl_minutes);
    if ttl == 0 || ttl > 7 * 24 * 60 {
        return Err(TokenCommandError::Invalid(
            "--ttl-minutes must be between 1 and 10080 (one week)".into(),
        ));
    }
    let token = TokenIssuer::new(&secret)
        .mint(&grant, clock.now_unix(), ttl * 60)
        .map_err(|e| TokenCommandError::Invalid(e.to_string()))?;
    let base = args
        .base_url
        .clone()
        .or_else(|| config.public_url.clone())
        .or_else(|| std::fs::read_to_string(config.data_dir.join("server.url")).ok())
        .unwrap_or_else(|| format!("http://{}/", config.http.listen));
    Ok(format!(
        "{}/call/{}#token={token}",
        base.trim().trim_end_matches('/'),
        grant.room
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum AuditCommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no database at {0} (use --data-dir or --database-url)")]
    NoDatabase(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

#[derive(Debug, thiserror::Error)]
pub enum StaffCommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Staff(#[from] StaffError),
}

/// Adds a staff member to the configured database; returns the new member's id.
pub async fn staff_add(
    global: &GlobalArgs,
    args: &StaffAddArgs,
    clock: &dyn Clock,
) -> Result<String, StaffCommandError> {
    let config = load_config(
        global,
        &ServeArgs {
            database_url: args.database_url.clone(),
            ..ServeArgs::default()
        },
    )?;
    let url = config
        .database_url
        .clone()
        .unwrap_or_else(|| db::default_url(&config.data_dir));
    let db = Db::open(&url, &config.data_dir).await?;
    let role = if args.role == "administrator" {
        StaffRole::Administrator
    } else {
        StaffRole::Clinician
    };
    let new = NewStaff {
        subject: args.subject.clone(),
        given_name: args.given_name.clone(),
        family_name: args.family_name.clone(),
        role,
        care_units: args.care_units.clone(),
    };
    let now = i64::try_from(clock.now_unix()).unwrap_or(i64::MAX);
    let member = Staff::new(db.clone()).create(&new, now).await;
    db.pool().close().await;
    Ok(member?.id)
}

/// Opens the configured database and verifies the access log's chain.
pub async fn audit_verify(
    global: &GlobalArgs,
    args: &AuditVerifyArgs,
) -> Result<VerifyReport, AuditCommandError> {
    let config = load_config(
        global,
        &ServeArgs {
            database_url: args.database_url.clone(),
            ..ServeArgs::default()
        },
    )?;
    let url = match &config.database_url {
        Some(url) => url.clone(),
        None => {
            // Opening the default SQLite URL creates the file; an empty log found in a database
            // made up just now (a mistyped --data-dir) would read as "intact".
            let file = config.data_dir.join("vardrum.db");
            if !file.is_file() {
                return Err(AuditCommandError::NoDatabase(file.display().to_string()));
            }
            db::default_url(&config.data_dir)
        }
    };
    let db = Db::open(&url, &config.data_dir).await?;
    let report = audit::verify(&db).await;
    db.pool().close().await;
    Ok(report?)
}
