//! The PDL access log, on SQLite (always) and PostgreSQL (when `VARDRUM_TEST_POSTGRES` names a
//! server; required in CI): the hash chain holds under concurrent appends, any edit or deletion
//! made behind the application's back is found at its sequence number, `vardrum audit verify`
//! says so in its exit status, and a patient sees care unit and time of accesses to their own
//! data only.

mod dbsupport;
use dbsupport::PgDatabase;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use vardrum::clock::{Clock, ManualClock};
use vardrum::db::{self, Db};
use vardrum::portal::audit::{
    self, Action, Actor, AuditError, Basis, Broken, ChainPoint, GENESIS_HASH, NewEntry, Problem,
};
use vardrum::portal::identity::personnummer::Personnummer;

/// Skatteverket test numbers: never issued to real people.
const PATIENT_A: &str = "189001019802";
const PATIENT_B: &str = "199006022397";

const T0: u64 = 1_800_000_000;

/// A migrated database of either kind, with what the command line needs to find it again.
struct TestDb {
    db: Db,
    url: String,
    dir: tempfile::TempDir,
    /// Set for PostgreSQL: the CLI gets `--database-url`; for SQLite `--data-dir` alone.
    postgres: bool,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = db::default_url(dir.path());
        let db = Db::open(&url, dir.path()).await.expect("open SQLite");
        Self {
            db,
            url,
            dir,
            postgres: false,
        }
    }

    async fn postgres(pg: &PgDatabase) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&pg.url, dir.path())
            .await
            .expect("open PostgreSQL");
        Self {
            db,
            url: pg.url.clone(),
            dir,
            postgres: true,
        }
    }

    /// Another connection pool on the same database: a second server node, as far as the
    /// access log can tell.
    async fn another_node(&self) -> Db {
        Db::open(&self.url, self.dir.path())
            .await
            .expect("open again")
    }

    /// Runs `vardrum audit verify` against this database: (exit code, stdout, stderr).
    async fn cli_verify(&self) -> (i32, String, String) {
        let mut args = vec![
            "audit".to_string(),
            "verify".into(),
            "--data-dir".into(),
            self.dir.path().display().to_string(),
        ];
        if self.postgres {
            args.extend(["--database-url".into(), self.url.clone()]);
        }
        run_cli(&args).await
    }
}

async fn run_cli(args: &[String]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vardrum"))
        .args(args)
        // Nothing from the environment this test runs in may point the command elsewhere.
        .env_remove("DATABASE_URL")
        .env_remove("VARDRUM_CONFIG")
        .env_remove("VARDRUM_DATA_DIR")
        .env_remove("VARDRUM_MODE")
        .output()
        .await
        .expect("run vardrum");
    (
        out.status.code().expect("exit code, not a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs one scenario as two tests, `<scenario>::sqlite` and `<scenario>::postgres`.
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let t = super::TestDb::sqlite().await;
                super::$scenario(&t).await;
                t.db.pool().close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(pg) = super::PgDatabase::create().await else {
                    return;
                };
                let t = super::TestDb::postgres(&pg).await;
                super::$scenario(&t).await;
                t.db.pool().close().await;
                pg.drop_db().await;
            }
        }
    )*};
}

on_both_databases!(
    appends_make_an_intact_chain,
    concurrent_appends_from_two_nodes_make_one_gapless_chain,
    editing_any_column_is_found_at_that_entry,
    deleting_an_entry_is_found_at_its_sequence_number,
    retention_can_delete_the_oldest_entries_through_an_anchor,
    the_command_line_exits_0_when_intact_and_1_after_tampering,
    a_patient_sees_care_unit_time_and_action_of_their_own_entries_only,
);

fn pnr(s: &str) -> Personnummer {
    Personnummer::from_canonical(s).expect("Skatteverket test number")
}

fn staff_read(staff: &str, care_unit: &str, patient: &str, resource: &str) -> NewEntry {
    NewEntry {
        actor: Actor::staff(staff, "clinician", care_unit),
        patient: pnr(patient),
        action: Action::Read,
        resource: resource.into(),
        purpose: None,
        client_ip: None,
        user_agent: None,
        basis: Basis::Booking("b-1".into()),
    }
}

/// An entry with every optional column filled, so that each of them can be tampered with.
fn full_entry() -> NewEntry {
    NewEntry {
        actor: Actor::staff("SE2321000222-staff7", "clinician", "Vårdcentralen Ålidhem"),
        patient: pnr(PATIENT_A),
        action: Action::Update,
        resource: "booking:b-17".into(),
        purpose: Some("rebooking at the patient's request".into()),
        client_ip: Some("192.0.2.10".parse().unwrap()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        basis: Basis::Emergency("e-1".into()),
    }
}

async fn append_n(db: &Db, clock: &ManualClock, n: usize) -> Vec<audit::Entry> {
    let mut out = Vec::new();
    for i in 0..n {
        let entry = if i % 2 == 0 {
            full_entry()
        } else {
            staff_read("staff-1", "Akutmottagningen NUS", PATIENT_B, "account")
        };
        out.push(audit::append(db, clock, &entry).await.expect("append"));
        clock.advance(7);
    }
    out
}

async fn assert_intact(db: &Db, entries: u64) {
    for batch in [1, 2, 3, 1000] {
        let report = audit::verify_in_batches(db, batch).await.expect("verify");
        assert!(report.is_intact(), "batch {batch}: {report}");
        assert_eq!(report.intact_entries, entries, "batch {batch}: {report}");
    }
}

async fn assert_broken_at(db: &Db, seq: i64, problem: Problem) {
    for batch in [1, 2, 3, 1000] {
        let report = audit::verify_in_batches(db, batch).await.expect("verify");
        assert_eq!(
            report.broken,
            Some(Broken { seq, problem }),
            "batch {batch}: {report}"
        );
        // Everything before the break is reported intact.
        assert_eq!(report.intact_entries, (seq - 1) as u64, "{report}");
    }
}

async fn appends_make_an_intact_chain(t: &TestDb) {
    let db = &t.db;
    let report = audit::verify(db).await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.intact_entries, 0);
    assert_eq!(report.to_string(), "access log intact: no entries");

    let clock = ManualClock::new(T0);
    let entries = append_n(db, &clock, 7).await;
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    assert_eq!(entries[0].prev_hash, GENESIS_HASH);
    for pair in entries.windows(2) {
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "each entry links to the one before"
        );
    }
    assert_eq!(
        entries[1].at,
        (T0 + 7) as i64,
        "time comes from the injected clock"
    );
    assert_intact(db, 7).await;

    let report = audit::verify(db).await.unwrap();
    let head = entries.last().unwrap();
    assert_eq!(
        report.last_intact,
        Some(ChainPoint {
            seq: 7,
            hash: head.hash.clone()
        })
    );
    assert_eq!(
        report.to_string(),
        format!(
            "access log intact: 7 entries, seq 1..7, head hash {}",
            head.hash
        )
    );

    // What was stored reads back as appended, personnummer included.
    let stored = audit::entries_after(db, 0, 100).await.unwrap();
    assert_eq!(stored, entries);
    let first = &stored[0];
    assert_eq!(first.patient.as_str(), PATIENT_A);
    assert_eq!(first.actor.care_unit, "Vårdcentralen Ålidhem");
    assert_eq!(first.client_ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(
        audit::entries_after(db, 5, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        vec![6, 7]
    );
    // The number never shows in Debug output, which is what ends up in logs.
    let debug = format!("{first:?}");
    assert!(!debug.contains(&PATIENT_A[2..]), "{debug}");
}

async fn concurrent_appends_from_two_nodes_make_one_gapless_chain(t: &TestDb) {
    let nodes = [t.db.clone(), t.another_node().await];
    let clock = Arc::new(ManualClock::new(T0));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let db = nodes[i % 2].clone();
        let clock = clock.clone();
        tasks.push(tokio::spawn(async move {
            let entry = staff_read(
                &format!("staff-{i}"),
                "Vårdcentralen Ålidhem",
                PATIENT_A,
                &format!("booking:{i}"),
            );
            audit::append(&db, clock.as_ref(), &entry).await
        }));
    }
    let mut seqs = BTreeSet::new();
    for task in tasks {
        let entry = task.await.expect("task").expect("append");
        assert!(seqs.insert(entry.seq), "seq {} handed out twice", entry.seq);
    }
    assert_eq!(seqs, (1..=50).collect::<BTreeSet<i64>>());
    assert_intact(&t.db, 50).await;
    // Every append is there once.
    let resources: BTreeSet<String> = audit::entries_after(&t.db, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.resource)
        .collect();
    assert_eq!(resources.len(), 50);
    nodes[1].pool().close().await;
}

async fn editing_any_column_is_found_at_that_entry(t: &TestDb) {
    let db = &t.db;
    let clock = ManualClock::new(T0);
    append_n(db, &clock, 5).await;
    assert_intact(db, 5).await;

    // Entry 3 has every optional column set (see append_n). Each text column in turn gets a
    // different value, and each nullable one also NULL; then the original is put back.
    let text_columns = [
        ("actor_kind", false),
        ("actor_id", false),
        ("actor_role", false),
        ("care_unit", false),
        ("patient", false),
        ("action", false),
        ("resource", false),
        ("purpose", true),
        ("client_ip", true),
        ("user_agent", true),
        ("prev_hash", false),
        ("hash", false),
    ];
    for (column, nullable) in text_columns {
        let select = format!("SELECT {column} FROM access_log WHERE seq = 3");
        let update = format!("UPDATE access_log SET {column} = $1 WHERE seq = 3");
        let (original,): (Option<String>,) = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
            .fetch_one(db.pool())
            .await
            .unwrap();
        let original = original.expect("entry 3 has every column set");
        // Same length, one character different: the subtlest edit.
        let mut tampered = original.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '1' { '2' } else { '1' });
        let mut edits = vec![Some(tampered)];
        if nullable {
            edits.push(None);
        }
        for edit in edits {
            sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                .bind(edit.clone())
                .execute(db.pool())
                .await
                .unwrap();
            let report = audit::verify(db).await.unwrap();
            assert_eq!(
                report.broken,
                Some(Broken {
                    seq: 3,
                    problem: Problem::Edited
                }),
                "{column} set to {edit:?}: {report}"
            );
            assert_eq!(report.intact_entries, 2);
        }
        sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(original)
            .execute(db.pool())
            .await
            .unwrap();
        assert_intact(db, 5).await;
    }

    // The time, by one second.
    sqlx::query("UPDATE access_log SET at = at + 1 WHERE seq = 3")
        .execute(db.pool())
        .await
        .unwrap();
    assert_broken_at(db, 3, Problem::Edited).await;
    sqlx::query("UPDATE access_log SET at = at - 1 WHERE seq = 3")
        .execute(db.pool())
        .await
        .unwrap();
    assert_intact(db, 5).await;

    // Two entries swapping places: their seq is hashed, so the first one out of place shows.
    for (from, to) in [(2, 100), (3, 2), (100, 3)] {
        sqlx::query("UPDATE access_log SET seq = $1 WHERE seq = $2")
            .bind(to)
            .bind(from)
            .execute(db.pool())
            .await
            .unwrap();
    }
    assert_broken_at(db, 2, Problem::Edited).await;
}

async fn deleting_an_entry_is_found_at_its_sequence_number(t: &TestDb) {
    let db = &t.db;
    let clock = ManualClock::new(T0);
    append_n(db, &clock, 6).await;
    sqlx::query("DELETE FROM access_log WHERE seq = 4")
        .execute(db.pool())
        .await
        .unwrap();
    assert_broken_at(db, 4, Problem::Missing { next_present: 5 }).await;
    let report = audit::verify(db).await.unwrap();
    assert_eq!(
        report.to_string(),
        "access log BROKEN at seq 4: entry missing (deleted or renumbered; the next present is \
         5); 3 entries before it are intact"
    );

    // The oldest entry, without the anchor retention would leave.
    sqlx::query("DELETE FROM access_log WHERE seq = 1")
        .execute(db.pool())
        .await
        .unwrap();
    assert_broken_at(db, 1, Problem::Missing { next_present: 2 }).await;
}

async fn retention_can_delete_the_oldest_entries_through_an_anchor(t: &TestDb) {
    let db = &t.db;
    let clock = ManualClock::new(T0);
    let entries = append_n(db, &clock, 6).await;

    // What the retention job will do, in one transaction: delete a prefix, anchor its end.
    let retention = |through: usize, anchor_hash: String| {
        let pool = db.pool().clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("DELETE FROM access_log WHERE seq <= $1")
                .bind(through as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO access_log_anchor (seq, hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(through as i64)
            .bind(anchor_hash)
            .bind(T0 as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
    };
    retention(3, entries[2].hash.clone()).await;
    let report = audit::verify(db).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.intact_entries, 3);
    assert_eq!(report.anchor.as_ref().map(|a| a.seq), Some(3));
    assert!(
        report.to_string().starts_with(
            "access log intact: 3 entries, seq 4..6 (after retention anchor seq 3), head hash "
        ),
        "{report}"
    );
    // Appending goes on after the last entry as before.
    assert_eq!(
        audit::append(db, &clock, &full_entry()).await.unwrap().seq,
        7
    );
    assert_intact(db, 4).await;

    // Everything old enough to go: the chain continues from the anchor alone.
    let all = audit::entries_after(db, 0, 100).await.unwrap();
    retention(7, all.last().unwrap().hash.clone()).await;
    assert_intact(db, 0).await;
    let next = audit::append(db, &clock, &full_entry()).await.unwrap();
    assert_eq!(next.seq, 8);
    assert_eq!(next.prev_hash, all.last().unwrap().hash);
    assert_intact(db, 1).await;

    // An anchor that does not match the entry it claims to have cut off.
    sqlx::query("UPDATE access_log_anchor SET hash = $1 WHERE seq = 7")
        .bind(GENESIS_HASH)
        .execute(db.pool())
        .await
        .unwrap();
    assert_broken_at_after_anchor(db, 8, Problem::Unlinked).await;
}

async fn assert_broken_at_after_anchor(db: &Db, seq: i64, problem: Problem) {
    let report = audit::verify(db).await.unwrap();
    assert_eq!(report.broken, Some(Broken { seq, problem }), "{report}");
}

async fn the_command_line_exits_0_when_intact_and_1_after_tampering(t: &TestDb) {
    let db = &t.db;
    let clock = ManualClock::new(T0);
    append_n(db, &clock, 4).await;

    let (code, stdout, stderr) = t.cli_verify().await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.starts_with("access log intact: 4 entries, seq 1..4, head hash "),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");

    sqlx::query("UPDATE access_log SET care_unit = $1 WHERE seq = 2")
        .bind("Någon annanstans")
        .execute(db.pool())
        .await
        .unwrap();
    let (code, stdout, stderr) = t.cli_verify().await;
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.starts_with("access log BROKEN at seq 2: entry edited"),
        "{stdout}"
    );
    // Neither the report nor anything else printed holds the patient's number.
    for number in [PATIENT_A, PATIENT_B] {
        assert!(!stdout.contains(number) && !stderr.contains(number));
    }
}

#[tokio::test]
async fn the_command_line_exits_2_when_there_is_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let (code, stdout, stderr) = run_cli(&[
        "audit".into(),
        "verify".into(),
        "--data-dir".into(),
        missing.display().to_string(),
    ])
    .await;
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("no database at"), "{stderr}");
    // And it did not make an empty one that would read as intact next time.
    assert!(!Path::new(&missing).join("vardrum.db").exists());
}

async fn a_patient_sees_care_unit_time_and_action_of_their_own_entries_only(t: &TestDb) {
    let db = &t.db;
    let clock = ManualClock::new(T0);
    let mut read = staff_read(
        "staff-secret-id-1",
        "Vårdcentralen Ålidhem",
        PATIENT_A,
        "account",
    );
    read.purpose = Some("triage".into());
    audit::append(db, &clock, &read).await.unwrap();
    clock.advance(60);
    audit::append(
        db,
        &clock,
        &staff_read("staff-2", "Akutmottagningen NUS", PATIENT_B, "account"),
    )
    .await
    .unwrap();
    clock.advance(60);
    let mut export = staff_read(
        "staff-secret-id-3",
        "Akutmottagningen NUS",
        PATIENT_A,
        "account",
    );
    export.action = Action::Export;
    audit::append(db, &clock, &export).await.unwrap();
    clock.advance(60);
    let reminder = NewEntry {
        actor: Actor::system("booking-reminders", "Region Västerbotten"),
        ..staff_read("-", "-", PATIENT_A, "booking:b-1")
    };
    audit::append(db, &clock, &reminder).await.unwrap();

    let seen = audit::entries_for_patient(db, &pnr(PATIENT_A))
        .await
        .unwrap();
    // Newest first.
    assert_eq!(
        seen.iter()
            .map(|e| (e.at, e.care_unit.as_str(), e.action))
            .collect::<Vec<_>>(),
        vec![
            ((T0 + 180) as i64, "Region Västerbotten", Action::Read),
            ((T0 + 120) as i64, "Akutmottagningen NUS", Action::Export),
            (T0 as i64, "Vårdcentralen Ålidhem", Action::Read),
        ]
    );
    // As the portal will send it: care unit, time and action, nothing about who.
    let json = serde_json::to_value(&seen).unwrap();
    for item in json.as_array().unwrap() {
        let keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4, "{item}");
        for key in ["at", "care_unit", "action", "emergency_access"] {
            assert!(keys.contains(&key), "{item}");
        }
    }
    let text = json.to_string();
    assert!(!text.contains("staff-secret-id"), "{text}");
    assert!(!text.contains("triage"), "{text}");

    let b = audit::entries_for_patient(db, &pnr(PATIENT_B))
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].care_unit, "Akutmottagningen NUS");
    // A patient nobody has looked at has an empty list.
    let nobody = audit::entries_for_patient(db, &pnr("199908072391"))
        .await
        .unwrap();
    assert!(nobody.is_empty());
}

#[tokio::test]
async fn entries_are_checked_and_tidied_before_they_are_stored() {
    let t = TestDb::sqlite().await;
    let db = &t.db;
    let clock = ManualClock::new(T0);

    let mut entry = full_entry();
    entry.actor.care_unit = "  ".into();
    let err = audit::append(db, &clock, &entry).await.unwrap_err();
    assert!(matches!(
        err,
        AuditError::Invalid {
            field: "care unit",
            ..
        }
    ));
    assert!(!err.to_string().contains(&PATIENT_A[2..]), "{err}");
    let mut entry = full_entry();
    entry.resource = "booking:\n1".into();
    assert!(matches!(
        audit::append(db, &clock, &entry).await,
        Err(AuditError::Invalid {
            field: "resource",
            ..
        })
    ));
    // Nothing was written by the refused appends.
    assert_eq!(audit::verify(db).await.unwrap().intact_entries, 0);

    // The client's own text is kept but cannot break the log or bloat it.
    let mut entry = full_entry();
    entry.user_agent = Some(format!("evil\u{0}\u{1b}[2J{}", "x".repeat(2000)));
    entry.client_ip = Some("::ffff:192.0.2.7".parse::<IpAddr>().unwrap());
    entry.purpose = Some("   ".into());
    let stored = audit::append(db, &clock, &entry).await.unwrap();
    let ua = stored.user_agent.unwrap();
    assert!(ua.starts_with("evil  [2J"), "{ua}");
    assert_eq!(ua.chars().count(), 512);
    assert_eq!(stored.client_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(stored.purpose, None);
    assert_eq!(clock.now_unix() as i64, stored.at);
    assert_intact(db, 1).await;
    t.db.pool().close().await;
}

/// SQLite keeps whatever is written into a column; PostgreSQL's types make this impossible.
#[tokio::test]
async fn a_value_of_the_wrong_type_is_reported_as_unreadable_on_sqlite() {
    let t = TestDb::sqlite().await;
    let clock = ManualClock::new(T0);
    append_n(&t.db, &clock, 3).await;
    sqlx::query("UPDATE access_log SET at = 'yesterday' WHERE seq = 2")
        .execute(t.db.pool())
        .await
        .unwrap();
    assert_broken_at(&t.db, 2, Problem::Unreadable).await;
    t.db.pool().close().await;
}
