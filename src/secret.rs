//! The token signing secret: from the environment or a file in production; in development
//! generated once and kept under the data directory, so `vardrum token` and the server agree.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{Config, Mode};

pub const SECRET_ENV: &str = "VARDRUM_TOKEN_SECRET";
const DEV_SECRET_FILE: &str = "token-secret";
/// HS256 wants at least 256 bits of key.
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "production mode needs a token secret: set {SECRET_ENV} or tokens.secret_file (at least \
         {MIN_SECRET_BYTES} bytes); vardrum has no built-in secret"
    )]
    Missing,
    #[error("the token secret is too short: at least {MIN_SECRET_BYTES} bytes are needed")]
    TooShort,
    #[error("cannot read or write the token secret at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads the secret the configuration names. In development mode a missing secret is created.
pub fn load(config: &Config) -> Result<Vec<u8>, SecretError> {
    load_with_env(config, std::env::var(SECRET_ENV).ok())
}

fn load_with_env(config: &Config, env: Option<String>) -> Result<Vec<u8>, SecretError> {
    if let Some(value) = env.filter(|v| !v.trim().is_empty()) {
        return checked(value.trim().as_bytes().to_vec());
    }
    if let Some(path) = &config.tokens.secret_file {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Io {
            path: path.clone(),
            source,
        })?;
        return checked(text.trim().as_bytes().to_vec());
    }
    match config.mode {
        Mode::Production => Err(SecretError::Missing),
        Mode::Development => dev_secret(&config.data_dir),
    }
}

fn checked(secret: Vec<u8>) -> Result<Vec<u8>, SecretError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretError::TooShort);
    }
    Ok(secret)
}

fn dev_secret(data_dir: &Path) -> Result<Vec<u8>, SecretError> {
    let path = data_dir.join(DEV_SECRET_FILE);
    let io = |source| SecretError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return checked(text.trim().as_bytes().to_vec()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    // create_new: if another process (the CLI, a second server) wrote it first, use theirs.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).map_err(io)?;
            Ok(secret.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            checked(text.trim().as_bytes().to_vec())
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_creates_the_secret_once_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let a = load_with_env(&config, None).unwrap();
        let b = load_with_env(&config, None).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn production_refuses_to_run_without_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            mode: Mode::Production,
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        assert!(matches!(
            load_with_env(&config, None),
            Err(SecretError::Missing)
        ));
        assert!(matches!(
            load_with_env(&config, Some("short".into())),
            Err(SecretError::TooShort)
        ));
        let ok = load_with_env(&config, Some("x".repeat(40))).unwrap();
        assert_eq!(ok.len(), 40);
        // No secret file was made behind the operator's back.
        assert!(!dir.path().join(DEV_SECRET_FILE).exists());
    }
}
