//! The database layer on both backends: SQLite (always) and PostgreSQL (when
//! `VARDRUM_TEST_POSTGRES` names a server; required in CI, where a missing server fails the run).

mod dbsupport;
use dbsupport::PgDatabase;

use vardrum::db::{Backend, Db};

async fn exercise(db: &Db) {
    db.call_opened("call-1", "visit-42", 1_800_000_000)
        .await
        .unwrap();
    db.call_opened("call-2", "visit-43", 1_800_000_100)
        .await
        .unwrap();
    db.call_closed("call-1", 1_800_000_900, 2).await.unwrap();
    let rows: Vec<(String, String, i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT id, room, started_at, ended_at, peak_participants FROM call_sessions ORDER BY id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "call-1".into(),
                "visit-42".into(),
                1_800_000_000,
                Some(1_800_000_900),
                2
            ),
            ("call-2".into(), "visit-43".into(), 1_800_000_100, None, 0),
        ]
    );
    let mut tables = db.table_names().await.unwrap();
    tables.sort();
    assert_eq!(tables, dbsupport::TABLES);
}

#[tokio::test]
async fn sqlite_in_the_data_directory_with_wal() {
    let dir = tempfile::tempdir().unwrap();
    let url = vardrum::db::default_url(dir.path());
    let db = Db::open(&url, dir.path()).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    exercise(&db).await;
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // Opening again runs no migration twice.
    db.pool().close().await;
    let again = Db::open(&url, dir.path()).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_sessions")
        .fetch_one(again.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn postgresql_when_configured() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&pg.url, dir.path()).await.unwrap();
    assert_eq!(db.backend(), Backend::Postgres);
    exercise(&db).await;
    db.pool().close().await;
    pg.drop_db().await;
}

#[tokio::test]
async fn an_unknown_database_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Db::open("mysql://x", dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
}
