//! Test support for the database tests: a fresh PostgreSQL database per test (when
//! `VARDRUM_TEST_POSTGRES` names a server; required in CI) and the tables the schema must have.
#![allow(dead_code)]

/// Every table of the schema. Tests that prove what is (not) stored compare against this list,
/// so a new table is a deliberate change here too.
pub const TABLES: &[&str] = &[
    "_sqlx_migrations",
    "access_log",
    "access_log_anchor",
    "account_events",
    "account_settings",
    "accounts",
    "booking_notices",
    "booking_slot_clinicians",
    "booking_slots",
    "bookings",
    "call_sessions",
    "call_uploads",
    "conversation_attachments",
    "conversation_messages",
    "conversation_reads",
    "conversations",
    "dropin_entries",
    "dropin_queues",
    "emergency_accesses",
    "message_file_removals",
    "notification_contacts",
    "notifications",
    "oidc_logins",
    "policy_decisions",
    "sessions",
    "staff",
];

/// A fresh, empty PostgreSQL database for one test, dropped by [`PgDatabase::drop_db`].
pub struct PgDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Option<Self> {
        let admin = match std::env::var("VARDRUM_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var("CI").is_err(),
                    "CI must test PostgreSQL: set VARDRUM_TEST_POSTGRES (e.g. postgres://postgres@127.0.0.1/postgres)"
                );
                eprintln!("VARDRUM_TEST_POSTGRES is not set: PostgreSQL not tested in this run");
                return None;
            }
        };
        let name = format!("vardrum_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin)
            .await
            .expect("connect to PostgreSQL");
        // The name is ours (hex from a UUID), not input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create test database");
        pool.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }

    pub async fn drop_db(self) {
        let pool = sqlx::AnyPool::connect(&self.admin).await.expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&pool)
        .await
        .expect("drop test database");
    }
}

/// Runs each named scenario, an `async fn(Option<&str>)` taking a PostgreSQL URL (`None`: the
/// embedded SQLite), as two tests: `sqlite`, and `postgres` on a fresh database when a server is
/// configured. The caller imports `PgDatabase` beside it.
#[allow(unused_macros)]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(None).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(pg) = super::PgDatabase::create().await else {
                    return;
                };
                // The database is dropped whether the scenario passes or panics.
                let outcome = futures_util::FutureExt::catch_unwind(
                    std::panic::AssertUnwindSafe(super::$scenario(Some(&pg.url))),
                )
                .await;
                pg.drop_db().await;
                if let Err(panic) = outcome {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use on_both_databases;
