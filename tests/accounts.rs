//! Patient accounts, guardians and protected identity, on SQLite (always) and PostgreSQL (when
//! `VARDRUM_TEST_POSTGRES` names a server; required in CI): registration pre-filled from the
//! population register and never refreshed from it, profile edits (never the personnummer),
//! both regions' protected-identity rules, guardians acting for young children only, deletion
//! of every row of an account while the PDL access log stays, export of all own data, and one
//! access-log entry per staff read.

mod dbsupport;
use dbsupport::PgDatabase;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vardrum::clock::{Clock, ManualClock, SystemClock};
use vardrum::db::{self, Db};
use vardrum::portal::accounts::contact::{FieldError, Problem};
use vardrum::portal::accounts::events::{self, EventAction};
use vardrum::portal::accounts::guardians::{self, ProxyError};
use vardrum::portal::accounts::{
    AccountError, Accounts, ProfileUpdate, REGISTER_RESOURCE, RegisteredBy, Settings, StaffAccess,
};
use vardrum::portal::audit::{self, Action, Actor};
use vardrum::portal::care::Care;
use vardrum::portal::identity::personnummer::{Date, Personnummer};
use vardrum::portal::identity::register::{
    FileRegister, PopulationRegister, RegisterError, RegisterFuture, RegisterPerson,
};
use vardrum::portal::personal_data::{self, EXPORT_FORMAT, Holding, OnDelete};
use vardrum::portal::region::policy::{self, Decision};
use vardrum::portal::region::{Language, RegionConfig};

// Skatteverket test numbers only: never issued to real people.
/// A parent: guardian of the children below.
const PARENT: &str = "199006022397";
/// Born 2016-02-29: 5 on 2021-06-01, 14 on 2030-06-01.
const CHILD: &str = "201602292383";
/// Born 2018-01-01, the parent's too.
const YOUNGER_CHILD: &str = "201801012392";
/// The parent's child with protected identity.
const PROTECTED_CHILD: &str = "201702282383";
/// A samordningsnummer with day 00 (written 60): no known birth date. Listed as the parent's
/// child to test that an unknown age fails closed.
const UNKNOWN_BIRTH_DATE: &str = "198000602394";
/// Another family.
const OTHER_PARENT: &str = "199602292386";
const OTHER_CHILD: &str = "201912312392";
/// Protected identity, no children.
const PROTECTED: &str = "195712302842";
/// A guardian with protected identity, and their child.
const PROTECTED_PARENT: &str = "196107293059";
const PROTECTED_PARENTS_CHILD: &str = "201610252395";
/// In the register with contact details that do not validate.
const BAD_CONTACT: &str = "199908072391";
/// Valid, but not in the register.
const UNREGISTERED: &str = "189001029819";

/// 2026-03-15T12:00:00Z.
const T0: u64 = 1_773_576_000;

/// A migrated database of either kind.
struct TestDb {
    db: Db,
    _dir: tempfile::TempDir,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = db::default_url(dir.path());
        let db = Db::open(&url, dir.path()).await.expect("open SQLite");
        Self { db, _dir: dir }
    }

    async fn postgres(pg: &PgDatabase) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&pg.url, dir.path())
            .await
            .expect("open PostgreSQL");
        Self { db, _dir: dir }
    }
}

/// Runs one scenario as two tests, `<scenario>::sqlite` and `<scenario>::postgres`.
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = super::TestDb::sqlite().await;
                super::$scenario(&t.db).await;
                t.db.pool().close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(pg) = super::PgDatabase::create().await else {
                    return;
                };
                let t = super::TestDb::postgres(&pg).await;
                // The database is dropped whether the scenario passes or panics.
                let outcome = futures_util::FutureExt::catch_unwind(
                    std::panic::AssertUnwindSafe(super::$scenario(&t.db)),
                )
                .await;
                t.db.pool().close().await;
                pg.drop_db().await;
                if let Err(panic) = outcome {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    )*};
}

on_both_databases!(
    registration_is_prefilled_from_the_register,
    an_unavailable_register_fails_closed,
    the_prefill_is_not_updated_when_the_register_changes,
    the_owner_edits_everything_but_the_personnummer,
    an_invalid_phone_or_email_is_refused_with_the_field_named,
    vasterbotten_refuses_protected_identity_with_its_own_text,
    jonkoping_allows_protected_identity_and_marks_it_for_staff,
    a_guardian_acts_for_a_young_child_of_their_own_only,
    deletion_removes_every_row_of_the_account_but_keeps_the_access_log,
    the_export_contains_all_own_data,
    every_staff_read_writes_exactly_one_access_log_entry,
    a_staff_registration_the_register_refuses_is_logged_as_a_register_read,
    every_table_that_refers_to_an_account_is_covered_by_the_personal_data_registry,
);

fn pnr(s: &str) -> Personnummer {
    Personnummer::from_canonical(s).expect("Skatteverket test number")
}

fn person(n: &str, given: &str, family: &str) -> RegisterPerson {
    RegisterPerson {
        personnummer: pnr(n),
        given_name: given.into(),
        family_name: family.into(),
        mobile: None,
        email: None,
        protected_identity: false,
        children: Vec::new(),
    }
}

/// The test population. Mobile numbers are from PTS's series reserved for fiction
/// (070-174 06 05 ... 99); e-mail addresses are on example.org.
fn population() -> Vec<RegisterPerson> {
    let mut parent = person(PARENT, "Elsa", "Testsson");
    parent.mobile = Some("070-174 06 05".into());
    parent.email = Some("Elsa.Testsson@Example.ORG".into());
    parent.children = [CHILD, YOUNGER_CHILD, PROTECTED_CHILD, UNKNOWN_BIRTH_DATE]
        .map(pnr)
        .to_vec();
    let mut other_parent = person(OTHER_PARENT, "Erik", "Andersson-Test");
    other_parent.children = vec![pnr(OTHER_CHILD)];
    other_parent.email = Some("erik@example.org".into());
    let mut protected_child = person(PROTECTED_CHILD, "Vera", "Testsson");
    protected_child.protected_identity = true;
    let mut protected = person(PROTECTED, "Ingrid", "Testdotter");
    protected.protected_identity = true;
    protected.mobile = Some("070-174 06 07".into());
    let mut protected_parent = person(PROTECTED_PARENT, "Karl", "Testberg");
    protected_parent.protected_identity = true;
    protected_parent.children = vec![pnr(PROTECTED_PARENTS_CHILD)];
    let mut bad_contact = person(BAD_CONTACT, "Johan", "Testlund");
    bad_contact.mobile = Some("090-785 00 00".into()); // a landline: no SMS
    bad_contact.email = Some("johan at example".into());
    vec![
        parent,
        person(CHILD, "Leo", "Testsson"),
        person(YOUNGER_CHILD, "Maja", "Testsson"),
        protected_child,
        person(UNKNOWN_BIRTH_DATE, "Amir", "Testsamordning"),
        other_parent,
        person(OTHER_CHILD, "Noah", "Andersson-Test"),
        protected,
        protected_parent,
        person(PROTECTED_PARENTS_CHILD, "Alva", "Testberg"),
        bad_contact,
    ]
}

fn register() -> Arc<FileRegister> {
    Arc::new(FileRegister::from_persons(population()).expect("valid test population"))
}

fn region(name: &str) -> Arc<RegionConfig> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/regions")
        .join(format!("{name}.toml"));
    Arc::new(RegionConfig::load(&path).expect("shipped region config"))
}

fn accounts(
    db: &Db,
    register: Arc<dyn PopulationRegister>,
    region: Arc<RegionConfig>,
    clock: Arc<ManualClock>,
) -> Accounts {
    Accounts::new(db.clone(), register, region, clock)
}

/// These staff reads are about what the account shows and logs, not about the care relationship
/// (tests/care.rs): each is an emergency access with this reason.
const EMERGENCY: Option<&str> = Some("telefonsamtal, patienten medvetslös");

fn care(db: &Db) -> Care {
    Care::new(db.clone(), Arc::new(SystemClock))
}

fn staff(id: &str, care_unit: &str) -> StaffAccess {
    StaffAccess {
        actor: Actor::staff(id, "clinician", care_unit),
        client_ip: Some("192.0.2.10".parse().expect("address")),
        user_agent: Some("Mozilla/5.0 (test)".into()),
    }
}

/// Rows in one of the account tables for one person.
async fn rows_for(db: &Db, table: &str, personnummer: &str) -> i64 {
    let sql = match table {
        "accounts" => "SELECT COUNT(*) FROM accounts WHERE personnummer = $1",
        "account_settings" => {
            "SELECT COUNT(*) FROM account_settings WHERE account_id IN \
             (SELECT id FROM accounts WHERE personnummer = $1)"
        }
        "access_log" => "SELECT COUNT(*) FROM access_log WHERE patient = $1",
        other => panic!("no row count for table {other}"),
    };
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(personnummer)
        .fetch_one(db.pool())
        .await
        .expect("count rows");
    n
}

async fn rows(db: &Db, table: &str) -> i64 {
    let sql = match table {
        "accounts" => "SELECT COUNT(*) FROM accounts",
        "account_settings" => "SELECT COUNT(*) FROM account_settings",
        "access_log" => "SELECT COUNT(*) FROM access_log",
        other => panic!("no row count for table {other}"),
    };
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(db.pool())
        .await
        .expect("count rows");
    n
}

/// Noon UTC on a date, as Unix seconds (the clock the guardian rules read "today" from).
fn noon(y: i32, m: u8, d: u8) -> u64 {
    let want = Date::new(y, m, d).expect("date");
    // Days since 1970-01-01 by Howard Hinnant's `days_from_civil`.
    let (y, m, d) = (i64::from(y), i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + 43_200).expect("after 1970");
    assert_eq!(Date::from_unix_secs(secs), want, "noon() is off");
    secs
}

async fn registration_is_prefilled_from_the_register(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = accounts(db, register(), region("vasterbotten"), clock.clone());

    let login = accounts.login(&pnr(PARENT)).await.expect("first login");
    assert!(login.created);
    let a = login.account;
    assert_eq!(a.personnummer, pnr(PARENT));
    assert_eq!(
        (a.given_name.as_str(), a.family_name.as_str()),
        ("Elsa", "Testsson")
    );
    // Normalised on the way in: E.164, and the e-mail's domain in lower case.
    assert_eq!(a.mobile.as_ref().map(|m| m.as_str()), Some("+46701740605"));
    assert_eq!(
        a.email.as_ref().map(|e| e.as_str()),
        Some("Elsa.Testsson@example.org")
    );
    // Notices are off until the person turns them on.
    assert_eq!(a.settings, Settings::default());
    assert_eq!(a.settings.language, Language::Sv);
    assert!(!a.protected_identity);
    assert_eq!(a.registered_by, RegisteredBy::Patient);
    assert_eq!(a.created_at, T0 as i64);
    assert_eq!(a.updated_at, T0 as i64);
    assert_eq!(a.last_login_at, Some(T0 as i64));
    // What was returned is what was stored.
    assert_eq!(accounts.account(&pnr(PARENT)).await.expect("stored"), a);

    // The next login records the time and creates nothing.
    clock.advance(3600);
    let again = accounts.login(&pnr(PARENT)).await.expect("second login");
    assert!(!again.created);
    assert_eq!(again.account.id, a.id);
    assert_eq!(again.account.created_at, T0 as i64);
    assert_eq!(again.account.last_login_at, Some((T0 + 3600) as i64));
    assert_eq!(rows(db, "accounts").await, 1);
    assert_eq!(rows(db, "account_settings").await, 1);

    // Register contact details that do not validate are left for the person to fill in.
    let b = accounts
        .login(&pnr(BAD_CONTACT))
        .await
        .expect("login")
        .account;
    assert_eq!(b.given_name, "Johan");
    assert!(b.mobile.is_none() && b.email.is_none());

    // Someone the register does not know cannot register: neither their name nor whether their
    // identity is protected is known.
    let err = accounts.login(&pnr(UNREGISTERED)).await.unwrap_err();
    assert!(matches!(err, AccountError::NotInRegister), "{err:?}");
    assert_eq!(rows_for(db, "accounts", UNREGISTERED).await, 0);

    // Two first logins at once (two tabs): one account, and both logins succeed.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let accounts = accounts.clone();
        tasks.push(tokio::spawn(async move {
            accounts.login(&pnr(OTHER_PARENT)).await
        }));
    }
    let mut created = 0;
    let mut ids = BTreeSet::new();
    for t in tasks {
        let login = t.await.expect("task").expect("concurrent login");
        created += usize::from(login.created);
        ids.insert(login.account.id.as_str().to_owned());
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(rows_for(db, "accounts", OTHER_PARENT).await, 1);
    assert_eq!(rows_for(db, "account_settings", OTHER_PARENT).await, 1);

    // Logins are the patient's own business: no access-log entries.
    assert_eq!(rows(db, "access_log").await, 0);
}

/// A register that cannot be reached, as an HTTP adapter would report a timeout. Also shows
/// that an implementation outside the crate fits the trait.
struct DownRegister;

impl PopulationRegister for DownRegister {
    fn lookup<'a>(&'a self, _: &'a Personnummer) -> RegisterFuture<'a, Option<RegisterPerson>> {
        Box::pin(async { Err(RegisterError::Unavailable("timed out after 5 s".into())) })
    }
}

async fn an_unavailable_register_fails_closed(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let up = accounts(db, register(), region("jonkoping"), clock.clone());
    let had = up.login(&pnr(PARENT)).await.expect("login").account;
    let down = accounts(
        db,
        Arc::new(DownRegister),
        region("jonkoping"),
        clock.clone(),
    );
    clock.advance(60);
    // Without the register, nobody's protection status is known: no registration, no login.
    for who in [PARENT, OTHER_PARENT] {
        let err = down.login(&pnr(who)).await.unwrap_err();
        assert!(
            matches!(err, AccountError::Register(RegisterError::Unavailable(_))),
            "{err:?}"
        );
    }
    assert!(matches!(
        down.act_for(&pnr(PARENT), &pnr(CHILD)).await,
        Err(AccountError::Proxy(ProxyError::Register(
            RegisterError::Unavailable(_)
        )))
    ));
    assert_eq!(rows(db, "accounts").await, 1);
    // What the portal holds stays readable to its owner, and the failed login was not recorded.
    let still = down.account(&pnr(PARENT)).await.expect("own account");
    assert_eq!(still.last_login_at, had.last_login_at);
}

async fn the_prefill_is_not_updated_when_the_register_changes(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let before = accounts(db, register(), region("jonkoping"), clock.clone());
    let created = before.login(&pnr(PARENT)).await.expect("login").account;

    // The person changes name, number and address in the national register.
    let mut changed = population();
    let parent = changed
        .iter_mut()
        .find(|p| p.personnummer == pnr(PARENT))
        .expect("parent");
    parent.given_name = "Elsa-Maria".into();
    parent.family_name = "Nytestsson".into();
    parent.mobile = Some("070-174 06 99".into());
    parent.email = Some("ny@example.org".into());
    let after = accounts(
        db,
        Arc::new(FileRegister::from_persons(changed).expect("register")),
        region("jonkoping"),
        clock.clone(),
    );
    clock.advance(86_400);
    let later = after.login(&pnr(PARENT)).await.expect("login").account;

    // Only the login time moved: "Dina uppgifter uppdateras däremot inte automatiskt".
    assert_eq!(later.given_name, created.given_name);
    assert_eq!(later.family_name, created.family_name);
    assert_eq!(later.mobile, created.mobile);
    assert_eq!(later.email, created.email);
    assert_eq!(later.updated_at, created.updated_at);
    assert_eq!(later.last_login_at, Some((T0 + 86_400) as i64));
    // Staff see the same.
    let seen = after
        .staff_read_account(
            &care(db),
            &staff("staff-1", "Vårdcentralen Test"),
            &pnr(PARENT),
            None,
            EMERGENCY,
        )
        .await
        .expect("staff read");
    assert_eq!(seen.account.given_name, "Elsa");
}

async fn the_owner_edits_everything_but_the_personnummer(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = accounts(db, register(), region("vasterbotten"), clock.clone());
    let created = accounts.login(&pnr(PARENT)).await.expect("login").account;

    clock.advance(120);
    let mut edit = ProfileUpdate::from_account(&created);
    edit.given_name = "  Elsa Maria ".into();
    edit.family_name = "Testsson Berg".into();
    edit.mobile = Some("+358 40 123 4567".into());
    edit.email = Some("elsa.maria@example.org".into());
    edit.settings = Settings {
        notify_sms: true,
        notify_email: true,
        language: Language::En,
    };
    let edited = accounts
        .update_profile(&pnr(PARENT), &edit)
        .await
        .expect("edit");
    assert_eq!(edited.given_name, "Elsa Maria");
    assert_eq!(edited.family_name, "Testsson Berg");
    assert_eq!(
        edited.mobile.as_ref().map(|m| m.as_str()),
        Some("+358401234567")
    );
    assert_eq!(
        edited.email.as_ref().map(|e| e.as_str()),
        Some("elsa.maria@example.org")
    );
    assert_eq!(edited.settings, edit.settings);
    assert_eq!(edited.updated_at, (T0 + 120) as i64);
    // What does not belong to the profile stays.
    assert_eq!(edited.id, created.id);
    assert_eq!(edited.personnummer, pnr(PARENT));
    assert_eq!(edited.created_at, created.created_at);
    assert_eq!(edited.last_login_at, created.last_login_at);
    assert_eq!(
        accounts.account(&pnr(PARENT)).await.expect("stored"),
        edited
    );

    // Removing contact details works, and then the notices that need them cannot stay on.
    let mut clear = ProfileUpdate::from_account(&edited);
    clear.mobile = Some(String::new());
    let err = accounts
        .update_profile(&pnr(PARENT), &clear)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AccountError::Invalid(FieldError {
                field: "settings.notify_sms",
                problem: Problem::Requires("mobile"),
            })
        ),
        "{err:?}"
    );
    clear.settings.notify_sms = false;
    let cleared = accounts
        .update_profile(&pnr(PARENT), &clear)
        .await
        .expect("clear");
    assert!(cleared.mobile.is_none());

    // There is no personnummer in an update: a request carrying one is refused outright, not
    // silently ignored.
    let body = serde_json::json!({
        "given_name": "Elsa",
        "family_name": "Testsson",
        "personnummer": OTHER_PARENT,
        "settings": { "notify_sms": false, "notify_email": false, "language": "sv" },
    });
    let err = serde_json::from_value::<ProfileUpdate>(body)
        .expect_err("personnummer refused")
        .to_string();
    assert!(err.contains("unknown field `personnummer`"), "{err}");
    assert!(!err.contains(&OTHER_PARENT[4..]), "{err}");
    assert_eq!(
        accounts
            .account(&pnr(PARENT))
            .await
            .expect("stored")
            .personnummer,
        pnr(PARENT)
    );
    assert_eq!(rows_for(db, "accounts", OTHER_PARENT).await, 0);

    // An update for someone without an account changes nothing and creates nothing.
    let err = accounts
        .update_profile(&pnr(OTHER_PARENT), &clear)
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::NotFound), "{err:?}");
    assert_eq!(rows(db, "accounts").await, 1);
    assert_eq!(rows(db, "account_settings").await, 1);
}

async fn an_invalid_phone_or_email_is_refused_with_the_field_named(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = accounts(db, register(), region("vasterbotten"), clock.clone());
    let created = accounts.login(&pnr(PARENT)).await.expect("login").account;

    for (mobile, email, field, problem) in [
        ("070-12", "ok@example.org", "mobile", Problem::Format),
        ("070-174 06 0x", "ok@example.org", "mobile", Problem::Format),
        (
            "090-785 00 00",
            "ok@example.org",
            "mobile",
            Problem::NotMobile,
        ),
        ("070-174 06 05", "elsa@", "email", Problem::Format),
        (
            "070-174 06 05",
            "elsa example.org",
            "email",
            Problem::Format,
        ),
        ("070-174 06 05", "elsa@example", "email", Problem::Format),
    ] {
        let mut edit = ProfileUpdate::from_account(&created);
        edit.given_name = "Changed".into();
        edit.mobile = Some(mobile.into());
        edit.email = Some(email.into());
        let err = accounts
            .update_profile(&pnr(PARENT), &edit)
            .await
            .unwrap_err();
        match &err {
            AccountError::Invalid(e) => {
                assert_eq!((e.field, e.problem), (field, problem), "{mobile} {email}")
            }
            other => panic!("{mobile} {email}: expected {field} refused, got {other:?}"),
        }
        // The message names the field and never repeats what was typed.
        let text = err.to_string();
        assert!(text.contains(field), "{text}");
        assert!(!text.contains(mobile) && !text.contains(email), "{text}");
    }
    let mut edit = ProfileUpdate::from_account(&created);
    edit.given_name = " ".into();
    assert!(matches!(
        accounts.update_profile(&pnr(PARENT), &edit).await,
        Err(AccountError::Invalid(FieldError {
            field: "given_name",
            problem: Problem::Empty
        }))
    ));
    // Nothing of any refused edit was stored.
    assert_eq!(
        accounts.account(&pnr(PARENT)).await.expect("stored"),
        created
    );
}

async fn vasterbotten_refuses_protected_identity_with_its_own_text(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let region = region("vasterbotten");
    let accounts = accounts(db, register(), region.clone(), clock.clone());

    let err = accounts.login(&pnr(PROTECTED)).await.unwrap_err();
    let AccountError::ProtectedIdentityRefused { message } = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    // The text is the region's own: call 1177, the health centre, or an out-of-hours clinic.
    let configured = region
        .texts
        .protected_identity_refused
        .as_ref()
        .expect("deny has a text");
    assert_eq!(message.sv, configured.sv);
    assert_eq!(err.user_message(Language::Sv), Some(configured.sv.as_str()));
    assert_eq!(err.user_message(Language::En), Some(configured.en.as_str()));
    for needle in ["1177", "hälsocentral"] {
        assert!(message.sv.contains(needle), "{needle}");
    }
    assert!(!err.to_string().contains(&PROTECTED[4..]));
    assert_eq!(rows_for(db, "accounts", PROTECTED).await, 0);

    // Staff cannot register the person either. The refusal tells them the person has
    // protected identity, so it is logged: one read of the register, saying nothing more.
    let clinician = staff("staff-1", "Hälsocentralen Test");
    let err = accounts
        .register_for_patient(&clinician, &pnr(PROTECTED), Some("Videobesök"))
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::ProtectedIdentityRefused { .. }));
    assert_eq!(rows_for(db, "accounts", PROTECTED).await, 0);
    let entries = audit::entries_after(db, 0, 100).await.expect("entries");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.patient, pnr(PROTECTED));
    assert_eq!(entry.action, Action::Read);
    assert_eq!(entry.resource, REGISTER_RESOURCE);
    assert_eq!(entry.actor, clinician.actor);
    assert_eq!(entry.purpose.as_deref(), Some("Videobesök"));
    assert!(
        !format!("{entry:?}").to_lowercase().contains("protect"),
        "the entry does not say what the register answered: {entry:?}"
    );

    // Someone with an account who gets protected identity later is refused at the next login,
    // and marked, so staff see it on the account that remains.
    let had = accounts.login(&pnr(PARENT)).await.expect("login").account;
    assert!(!had.protected_identity);
    let mut now_protected = population();
    for p in &mut now_protected {
        if p.personnummer == pnr(PARENT) {
            p.protected_identity = true;
        }
    }
    let later = Accounts::new(
        db.clone(),
        Arc::new(FileRegister::from_persons(now_protected).expect("register")),
        region.clone(),
        clock.clone(),
    );
    clock.advance(60);
    let err = later.login(&pnr(PARENT)).await.unwrap_err();
    assert!(matches!(err, AccountError::ProtectedIdentityRefused { .. }));
    let seen = later
        .staff_read_account(
            &care(db),
            &staff("staff-1", "Hälsocentralen Test"),
            &pnr(PARENT),
            None,
            EMERGENCY,
        )
        .await
        .expect("staff read");
    assert!(seen.account.protected_identity);
    assert_eq!(
        seen.account.last_login_at, had.last_login_at,
        "refused: no login"
    );
}

async fn jonkoping_allows_protected_identity_and_marks_it_for_staff(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let region = region("jonkoping");
    let accounts = accounts(db, register(), region.clone(), clock.clone());

    let login = accounts.login(&pnr(PROTECTED)).await.expect("allowed");
    assert!(login.created);
    assert!(login.account.protected_identity);
    assert_eq!(
        login.account.mobile.as_ref().map(|m| m.as_str()),
        Some("+46701740607")
    );

    let clinician = staff("SE2321000065-staff9", "Vårdcentralen Jönköping Test");
    let seen = accounts
        .staff_read_account(
            &care(db),
            &clinician,
            &pnr(PROTECTED),
            Some("video visit"),
            EMERGENCY,
        )
        .await
        .expect("staff read");
    assert!(seen.account.protected_identity);
    let marker = seen
        .protected_identity_marker
        .expect("staff see the marker");
    let configured = region
        .texts
        .protected_identity_staff_marker
        .as_ref()
        .expect("allow_and_mark has a marker");
    assert_eq!(
        (marker.sv.as_str(), marker.en.as_str()),
        (configured.sv.as_str(), configured.en.as_str())
    );

    // An unprotected patient carries no marker.
    accounts.login(&pnr(PARENT)).await.expect("login");
    let plain = accounts
        .staff_read_account(&care(db), &clinician, &pnr(PARENT), None, EMERGENCY)
        .await
        .expect("staff read");
    assert!(!plain.account.protected_identity);
    assert!(plain.protected_identity_marker.is_none());

    // Staff may register a protected patient here, and the account is marked.
    let registered = accounts
        .register_for_patient(&clinician, &pnr(PROTECTED_PARENT), None)
        .await
        .expect("staff registration");
    assert!(registered.protected_identity);
    assert_eq!(registered.registered_by, RegisteredBy::Staff);
    assert_eq!(registered.last_login_at, None);

    // The marker follows the register at every login: protection lifted, marker gone.
    let mut lifted = population();
    for p in &mut lifted {
        if p.personnummer == pnr(PROTECTED) {
            p.protected_identity = false;
        }
    }
    let later = Accounts::new(
        db.clone(),
        Arc::new(FileRegister::from_persons(lifted).expect("register")),
        region.clone(),
        clock.clone(),
    );
    let again = later.login(&pnr(PROTECTED)).await.expect("login");
    assert!(!again.account.protected_identity);
}

async fn a_guardian_acts_for_a_young_child_of_their_own_only(db: &Db) {
    // 2021-06-01: the child born 2016-02-29 is 5.
    let clock = Arc::new(ManualClock::new(noon(2021, 6, 1)));
    let region = region("vasterbotten");
    assert_eq!(region.identity.proxy_age_limit, 13);
    let accounts = accounts(db, register(), region.clone(), clock.clone());

    let acting = accounts
        .act_for(&pnr(PARENT), &pnr(CHILD))
        .await
        .expect("a guardian acts for their 5-year-old");
    assert!(acting.is_proxy());
    assert_eq!(*acting.actor(), pnr(PARENT));
    assert_eq!(*acting.subject(), pnr(CHILD));
    let shown = format!("{acting:?}");
    assert!(
        !shown.contains(&PARENT[4..]) && !shown.contains(&CHILD[4..]),
        "{shown}"
    );

    // The guardian is offered their young children, not the protected one or the one whose age
    // is unknown.
    let offered: Vec<Personnummer> = accounts
        .children(&pnr(PARENT))
        .await
        .expect("children")
        .into_iter()
        .map(|c| c.personnummer)
        .collect();
    assert_eq!(offered, vec![pnr(CHILD), pnr(YOUNGER_CHILD)]);

    // Someone else's child, a number the register does not know, the guardian themselves, and
    // the protected child: all the same refusal, so nothing reveals who exists.
    for other in [OTHER_CHILD, UNREGISTERED, PARENT, PROTECTED_CHILD] {
        let err = accounts
            .act_for(&pnr(PARENT), &pnr(other))
            .await
            .unwrap_err();
        assert!(
            matches!(err, AccountError::Proxy(ProxyError::NotPermitted)),
            "{other}: {err:?}"
        );
        assert_eq!(err.to_string(), "you cannot act for this person");
    }
    // Nor can a stranger to the register act for anyone.
    let err = accounts
        .act_for(&pnr(UNREGISTERED), &pnr(CHILD))
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::Proxy(ProxyError::NotPermitted)));

    // A guardian with protected identity gets no proxy access, in either region.
    for name in ["vasterbotten", "jonkoping"] {
        let err = guardians::act_for(
            register().as_ref(),
            &self::region(name),
            Date::today(clock.as_ref()),
            &pnr(PROTECTED_PARENT),
            &pnr(PROTECTED_PARENTS_CHILD),
        )
        .await
        .unwrap_err();
        assert_eq!(err, ProxyError::GuardianProtected, "{name}");
    }

    // A samordningsnummer without a birth date: the age cannot be checked, so no.
    let err = accounts
        .act_for(&pnr(PARENT), &pnr(UNKNOWN_BIRTH_DATE))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AccountError::Proxy(ProxyError::BirthDateUnknown)
    ));

    // 2030-06-01: the same child is 14, past the region's limit of 13.
    let later = Arc::new(ManualClock::new(noon(2030, 6, 1)));
    let accounts = self::accounts(db, register(), region.clone(), later.clone());
    let err = accounts
        .act_for(&pnr(PARENT), &pnr(CHILD))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AccountError::Proxy(ProxyError::AgeLimitReached { limit: 13 })
        ),
        "{err:?}"
    );
    let offered: Vec<Personnummer> = accounts
        .children(&pnr(PARENT))
        .await
        .expect("children")
        .into_iter()
        .map(|c| c.personnummer)
        .collect();
    assert_eq!(offered, vec![pnr(YOUNGER_CHILD)], "12 on that day");

    // The limit is reached on the 13th birthday (a 29 February child's falls on 1 March).
    let register = register();
    let (parent, child) = (pnr(PARENT), pnr(CHILD));
    for (day, want) in [
        (Date::new(2029, 2, 28), Ok(())),
        (
            Date::new(2029, 3, 1),
            Err(ProxyError::AgeLimitReached { limit: 13 }),
        ),
    ] {
        let day = day.expect("date");
        let got = guardians::act_for(register.as_ref(), &region, day, &parent, &child)
            .await
            .map(|_| ());
        assert_eq!(got, want, "{day}");
    }
}

async fn deletion_removes_every_row_of_the_account_but_keeps_the_access_log(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = accounts(db, register(), region("jonkoping"), clock.clone());
    let mine = accounts.login(&pnr(PARENT)).await.expect("login").account;
    let other = accounts
        .login(&pnr(OTHER_PARENT))
        .await
        .expect("login")
        .account;
    let mut edit = ProfileUpdate::from_account(&mine);
    edit.settings.notify_email = true;
    accounts
        .update_profile(&pnr(PARENT), &edit)
        .await
        .expect("edit");
    let clinician = staff("staff-1", "Vårdcentralen Test");
    for _ in 0..2 {
        accounts
            .staff_read_account(&care(db), &clinician, &pnr(PARENT), None, EMERGENCY)
            .await
            .expect("staff read");
    }
    accounts
        .staff_read_account(&care(db), &clinician, &pnr(OTHER_PARENT), None, EMERGENCY)
        .await
        .expect("staff read");
    for table in ["accounts", "account_settings"] {
        assert_eq!(rows_for(db, table, PARENT).await, 1, "{table}");
    }
    assert_eq!(rows_for(db, "access_log", PARENT).await, 2);
    // Rows of other capabilities that hang on the account.
    events::record(
        db,
        mine.id.as_str(),
        &pnr(PARENT),
        EventAction::Login,
        T0 as i64,
    )
    .await
    .expect("event");
    policy::decide(
        db,
        mine.id.as_str(),
        "2026-01",
        Decision::Accepted,
        T0 as i64,
    )
    .await
    .expect("decision");

    clock.advance(60);
    let deletion = accounts.delete_account(&pnr(PARENT)).await.expect("delete");
    assert_eq!(deletion.account_id, mine.id);
    assert_eq!(deletion.at, (T0 + 60) as i64);

    // Every row of the account is gone, by number and by id.
    for table in ["accounts", "account_settings"] {
        assert_eq!(rows_for(db, table, PARENT).await, 0, "{table}");
    }
    for table in ["account_settings", "account_events", "policy_decisions"] {
        let (left,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE account_id = $1"
        )))
        .bind(mine.id.as_str())
        .fetch_one(db.pool())
        .await
        .expect("count");
        assert_eq!(left, 0, "{table}");
    }
    assert!(matches!(
        accounts.account(&pnr(PARENT)).await,
        Err(AccountError::NotFound)
    ));
    // The other account is untouched.
    assert_eq!(rows(db, "accounts").await, 1);
    assert_eq!(rows(db, "account_settings").await, 1);
    assert_eq!(
        accounts.account(&pnr(OTHER_PARENT)).await.expect("other"),
        other
    );
    // The PDL access log stays, whole and intact.
    assert_eq!(rows_for(db, "access_log", PARENT).await, 2);
    let report = audit::verify(db).await.expect("verify");
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.intact_entries, 3);

    // Deleting again finds nothing; logging in again starts afresh from the register.
    assert!(matches!(
        accounts.delete_account(&pnr(PARENT)).await,
        Err(AccountError::NotFound)
    ));
    let fresh = accounts.login(&pnr(PARENT)).await.expect("login");
    assert!(fresh.created);
    assert_ne!(fresh.account.id, mine.id);
    assert_eq!(fresh.account.settings, Settings::default());
}

async fn the_export_contains_all_own_data(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = accounts(db, register(), region("vasterbotten"), clock.clone());
    let created = accounts.login(&pnr(PARENT)).await.expect("login").account;
    let mut edit = ProfileUpdate::from_account(&created);
    edit.settings = Settings {
        notify_sms: true,
        notify_email: false,
        language: Language::En,
    };
    accounts
        .update_profile(&pnr(PARENT), &edit)
        .await
        .expect("edit");
    clock.advance(600);
    accounts
        .staff_read_account(
            &care(db),
            &staff("staff-secret-7", "Hälsocentralen Ålidhem"),
            &pnr(PARENT),
            Some("booked visit"),
            EMERGENCY,
        )
        .await
        .expect("read");
    clock.advance(600);
    accounts
        .staff_read_account(
            &care(db),
            &staff("staff-secret-8", "Akutmottagningen Test"),
            &pnr(PARENT),
            None,
            EMERGENCY,
        )
        .await
        .expect("read");
    // Someone else's access-log entries stay theirs.
    accounts.login(&pnr(OTHER_PARENT)).await.expect("login");
    accounts
        .staff_read_account(
            &care(db),
            &staff("staff-9", "Elsewhere"),
            &pnr(OTHER_PARENT),
            None,
            EMERGENCY,
        )
        .await
        .expect("read");

    clock.advance(600);
    let export = accounts
        .export_own_data(&pnr(PARENT))
        .await
        .expect("export");
    assert_eq!(export.exported_at, (T0 + 1800) as i64);

    let json = serde_json::to_value(&export).expect("serialise");
    assert_eq!(
        json["account"],
        serde_json::to_value(accounts.account(&pnr(PARENT)).await.expect("account"))
            .expect("serialise")
    );
    assert_eq!(json["format"], EXPORT_FORMAT);
    let account = &json["account"];
    assert_eq!(account["personnummer"], PARENT);
    assert_eq!(account["given_name"], "Elsa");
    assert_eq!(account["family_name"], "Testsson");
    assert_eq!(account["mobile"], "+46701740605");
    assert_eq!(account["email"], "Elsa.Testsson@example.org");
    assert_eq!(
        account["settings"],
        serde_json::json!({"notify_sms": true, "notify_email": false, "language": "en"})
    );
    assert_eq!(account["protected_identity"], false);
    assert_eq!(account["registered_by"], "patient");
    assert_eq!(account["created_at"], T0);
    assert_eq!(account["last_login_at"], T0);
    assert_eq!(account["id"], created.id.as_str());
    // Who accessed their data: care unit, time and action, newest first, and never a staff id;
    // these two were emergency accesses (no care relationship), and say so.
    assert_eq!(
        json["access_log"],
        serde_json::json!([
            {"at": T0 + 1200, "care_unit": "Akutmottagningen Test", "action": "read",
             "emergency_access": true},
            {"at": T0 + 600, "care_unit": "Hälsocentralen Ålidhem", "action": "read",
             "emergency_access": true},
        ])
    );
    let text = json.to_string();
    assert!(
        !text.contains("staff-secret") && !text.contains("booked visit"),
        "{text}"
    );
    assert!(
        !text.contains(OTHER_PARENT) && !text.contains("Elsewhere"),
        "{text}"
    );

    // No account, no export.
    assert!(matches!(
        accounts.export_own_data(&pnr(BAD_CONTACT)).await,
        Err(AccountError::NotFound)
    ));
}

async fn every_staff_read_writes_exactly_one_access_log_entry(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = accounts(db, register(), region("jonkoping"), clock.clone());
    let clinician = staff("SE2321000065-staff3", "Vårdcentralen Test");

    // Staff registration: one entry (create).
    let registered = accounts
        .register_for_patient(&clinician, &pnr(PARENT), Some("patient asked at reception"))
        .await
        .expect("register");
    assert_eq!(registered.registered_by, RegisteredBy::Staff);
    assert_eq!(rows(db, "access_log").await, 1);

    for n in 1..=5 {
        clock.advance(10);
        let before = rows(db, "access_log").await;
        accounts
            .staff_read_account(
                &care(db),
                &clinician,
                &pnr(PARENT),
                Some("triage"),
                EMERGENCY,
            )
            .await
            .expect("read");
        assert_eq!(rows(db, "access_log").await, before + 1, "read {n}");
    }
    // The patient's own reads are not PDL accesses: nothing logged.
    accounts.account(&pnr(PARENT)).await.expect("own read");
    accounts
        .export_own_data(&pnr(PARENT))
        .await
        .expect("own export");
    accounts.login(&pnr(PARENT)).await.expect("login");
    assert_eq!(rows(db, "access_log").await, 6);

    // Looking for someone without an account is logged too: "no account" is information.
    let err = accounts
        .staff_read_account(&care(db), &clinician, &pnr(OTHER_PARENT), None, EMERGENCY)
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::NotFound));
    assert_eq!(rows(db, "access_log").await, 7);
    // So is an attempt to register someone who already has an account (as the read it is).
    assert!(matches!(
        accounts
            .register_for_patient(&clinician, &pnr(PARENT), None)
            .await,
        Err(AccountError::AlreadyExists)
    ));
    assert_eq!(rows(db, "access_log").await, 8);

    let entries = audit::entries_after(db, 0, 100).await.expect("entries");
    let actions: Vec<Action> = entries.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            Action::Create,
            Action::Read,
            Action::Read,
            Action::Read,
            Action::Read,
            Action::Read,
            Action::Read,
            // Finding the existing account is a read, not a creation.
            Action::Read
        ]
    );
    let reads = &entries[1..6];
    for (i, e) in reads.iter().enumerate() {
        assert_eq!(e.patient, pnr(PARENT));
        assert_eq!(e.resource, "account");
        assert_eq!(e.actor, clinician.actor);
        assert_eq!(e.purpose.as_deref(), Some("triage"));
        assert_eq!(e.client_ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0 (test)"));
        assert_eq!(e.at, (T0 + 10 * (i as u64 + 1)) as i64);
    }
    assert_eq!(
        entries[0].purpose.as_deref(),
        Some("patient asked at reception")
    );
    assert_eq!(entries[6].patient, pnr(OTHER_PARENT));
    let report = audit::verify(db).await.expect("verify");
    assert!(report.is_intact() && report.intact_entries == 8, "{report}");

    // Reads from many staff at once: still exactly one entry each.
    let before = rows(db, "access_log").await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let accounts = accounts.clone();
        let care = care(db);
        tasks.push(tokio::spawn(async move {
            accounts
                .staff_read_account(
                    &care,
                    &staff(&format!("staff-{i}"), "Vårdcentralen Test"),
                    &pnr(PARENT),
                    None,
                    EMERGENCY,
                )
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("read");
    }
    assert_eq!(rows(db, "access_log").await, before + 10);
    let ids: BTreeSet<String> = audit::entries_after(db, 8, 100)
        .await
        .expect("entries")
        .into_iter()
        .map(|e| e.actor.id)
        .collect();
    assert_eq!(ids.len(), 10);
}

async fn a_staff_registration_the_register_refuses_is_logged_as_a_register_read(db: &Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = accounts(db, register(), region("vasterbotten"), clock.clone());
    let clinician = staff("SE2321000016-staff4", "Hälsocentralen Test");

    // "Not in the register" is information about whoever holds the number: one entry.
    let err = accounts
        .register_for_patient(&clinician, &pnr(UNREGISTERED), Some("telefonsamtal"))
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::NotInRegister), "{err:?}");
    assert_eq!(rows_for(db, "access_log", UNREGISTERED).await, 1);
    // So is protected identity under `deny` (the child here, as anyone): one entry.
    clock.advance(10);
    let err = accounts
        .register_for_patient(&clinician, &pnr(PROTECTED_CHILD), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AccountError::ProtectedIdentityRefused { .. }),
        "{err:?}"
    );
    assert_eq!(rows_for(db, "access_log", PROTECTED_CHILD).await, 1);

    let entries = audit::entries_after(db, 0, 100).await.expect("entries");
    let logged: Vec<(Personnummer, Action, &str, i64)> = entries
        .iter()
        .map(|e| (e.patient, e.action, e.resource.as_str(), e.at))
        .collect();
    assert_eq!(
        logged,
        [
            (
                pnr(UNREGISTERED),
                Action::Read,
                REGISTER_RESOURCE,
                T0 as i64
            ),
            (
                pnr(PROTECTED_CHILD),
                Action::Read,
                REGISTER_RESOURCE,
                T0 as i64 + 10
            ),
        ]
    );
    assert_eq!(entries[0].purpose.as_deref(), Some("telefonsamtal"));
    assert_eq!(entries[0].client_ip.as_deref(), Some("192.0.2.10"));
    // The patient's own view shows it as the read it was, by care unit.
    let seen = audit::entries_for_patient(db, &pnr(PROTECTED_CHILD))
        .await
        .expect("patient view");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].care_unit, "Hälsocentralen Test");
    assert_eq!(seen[0].action, Action::Read);

    // A register that cannot answer tells staff nothing about the person: nothing is logged.
    let down = Accounts::new(
        db.clone(),
        Arc::new(DownRegister),
        region("vasterbotten"),
        clock.clone(),
    );
    let err = down
        .register_for_patient(&clinician, &pnr(PARENT), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::Register(_)), "{err:?}");
    assert_eq!(rows(db, "access_log").await, 2);
    assert_eq!(rows(db, "accounts").await, 0);
    let report = audit::verify(db).await.expect("verify");
    assert!(report.is_intact() && report.intact_entries == 2, "{report}");
}

fn is_skatteverket_test_number(n: &str) -> bool {
    use vardrum::portal::identity::personnummer::test_numbers::*;
    SKATTEVERKET_TEST_PERSONNUMMER
        .iter()
        .chain(SKATTEVERKET_TEST_SAMORDNINGSNUMMER)
        .chain(SKATTEVERKET_TEST_SAMORDNINGSNUMMER_UNKNOWN_DATE)
        .any(|&t| t == n)
}

#[tokio::test]
async fn the_shipped_dev_register_holds_only_skatteverket_test_persons() {
    let path: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dev/population-register.json");
    let register = FileRegister::load(&path).expect("dev register loads");
    let mut numbers = 0;
    for p in register.personnummer() {
        numbers += 1;
        assert!(
            is_skatteverket_test_number(p.as_str()),
            "{} is not one of Skatteverket's test numbers",
            p.masked()
        );
    }
    assert!(numbers >= 5);
    // It has what a developer needs to try every path: a guardian with a young child, a person
    // with protected identity, and a guardian with protected identity.
    let today = Date::new(2026, 3, 15).expect("date");
    let jonkoping = region("jonkoping");
    let mut guardians_with_children = 0;
    let mut protected = 0;
    for p in register.personnummer() {
        let person = register
            .lookup(p)
            .await
            .expect("lookup")
            .expect("listed person");
        if person.protected_identity {
            protected += 1;
        }
        if !guardians::children(&register, &jonkoping, today, p)
            .await
            .unwrap_or_default()
            .is_empty()
        {
            guardians_with_children += 1;
        }
    }
    assert!(guardians_with_children >= 1 && protected >= 2);
}

#[tokio::test]
async fn the_test_calendar_agrees_with_the_crates() {
    // noon() must agree with the crate's own calendar, or the guardian dates above would lie.
    assert_eq!(noon(2021, 6, 1), 1_622_548_800);
    assert_eq!(
        Date::from_unix_secs(T0),
        Date::new(2026, 3, 15).expect("date")
    );
    let clock = ManualClock::new(noon(2030, 6, 1));
    assert_eq!(clock.now_unix(), 1_906_545_600);
}

/// What the personal-data registry does not cover: schema columns that refer to a person and
/// that no registered capability declares, cascades declared but not in the schema, and
/// declarations of columns the schema does not have.
async fn registry_gaps(db: &Db) -> Vec<String> {
    let schema = personal_data::schema_references(db).await.expect("schema");
    let declared: Vec<&Holding> = personal_data::REGISTRY
        .iter()
        .flat_map(|c| c.holdings())
        .collect();
    let mut gaps = Vec::new();
    for r in &schema {
        match declared
            .iter()
            .find(|h| h.table == r.table && h.column == r.column)
        {
            None => gaps.push(format!(
                "{}.{} is covered by no capability",
                r.table, r.column
            )),
            Some(h) if h.on_delete == OnDelete::Cascades && !r.cascades => gaps.push(format!(
                "{}.{} is declared to cascade but has no ON DELETE CASCADE",
                r.table, r.column
            )),
            Some(_) => {}
        }
    }
    for h in declared {
        if !schema
            .iter()
            .any(|r| r.table == h.table && r.column == h.column)
        {
            gaps.push(format!(
                "{}.{} is declared but not in the schema",
                h.table, h.column
            ));
        }
    }
    gaps
}

async fn every_table_that_refers_to_an_account_is_covered_by_the_personal_data_registry(db: &Db) {
    assert_eq!(registry_gaps(db).await, Vec::<String>::new());
    // The check sees what a new capability could forget: a table referring to an account by a
    // foreign key, by an `account_id` column, or a foreign key that does not cascade.
    for (table, ddl, gap) in [
        (
            "forgotten_notes",
            "CREATE TABLE forgotten_notes (owner TEXT REFERENCES accounts (id) ON DELETE CASCADE)",
            "forgotten_notes.owner is covered by no capability",
        ),
        (
            "forgotten_flags",
            "CREATE TABLE forgotten_flags (account_id TEXT NOT NULL)",
            "forgotten_flags.account_id is covered by no capability",
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(db.pool())
            .await
            .expect("create");
        assert_eq!(registry_gaps(db).await, vec![gap.to_owned()], "{table}");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(db.pool())
            .await
            .expect("drop");
    }
    assert_eq!(registry_gaps(db).await, Vec::<String>::new());
}
