//! The database: SQLite embedded under the data directory by default, PostgreSQL when
//! `database_url` points to one. Queries are plain SQL that both understand, checked at run
//! time by tests against both.

use std::path::Path;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/db/migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The default database URL for a data directory.
pub fn default_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("vardrum.db").display()
    )
}

impl Db {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, data_dir: &Path) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        if backend == Backend::Sqlite {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| DbError::DataDir(data_dir.display().to_string(), e))?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers go on while the single writer writes; it persists in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn call_opened(
        &self,
        call_id: &str,
        room: &str,
        at_unix: u64,
    ) -> Result<(), DbError> {
        sqlx::query("INSERT INTO call_sessions (id, room, started_at) VALUES ($1, $2, $3)")
            .bind(call_id)
            .bind(room)
            .bind(at_unix as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn call_closed(
        &self,
        call_id: &str,
        at_unix: u64,
        peak_participants: usize,
    ) -> Result<(), DbError> {
        sqlx::query("UPDATE call_sessions SET ended_at = $1, peak_participants = $2 WHERE id = $3")
            .bind(at_unix as i64)
            .bind(peak_participants as i64)
            .bind(call_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Names of all tables, for the test that proves no table holds media.
    pub async fn table_names(&self) -> Result<Vec<String>, DbError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()"
            }
        };
        let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}
