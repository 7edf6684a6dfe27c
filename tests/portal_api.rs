//! The portal through its HTTP API, as a browser uses it, on SQLite (always) and PostgreSQL
//! (when `VARDRUM_TEST_POSTGRES` names a server; required in CI): full logins through the
//! built-in test IdP (a real OIDC issuer, code flow with PKCE), registration with register
//! prefill, profile edits (never the personnummer), guardians, both regions' protected-identity
//! rules, deletion of every row, export of all of it, one access-log entry per staff read,
//! sessions (CSRF, idle and absolute timeouts, logout), policy decisions, and every class of bad
//! input answered with its code and field.

mod common;
mod dbsupport;
mod portalsupport;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::TestServer;
use dbsupport::{PgDatabase, on_both_databases};
use portalsupport::{Browser, profile};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vardrum::clock::ManualClock;
use vardrum::config::Config;

// Skatteverket test numbers only (config/dev/population-register.json).
const ELSA: &str = "199006022397";
const ERIK: &str = "199602292386";
/// Elsa's son, born 2016-02-29.
const LEO: &str = "201602292383";
/// Elsa's daughter, born 2018-01-01.
const MAJA: &str = "201801012392";
/// Elsa's child with protected identity.
const VERA: &str = "201702282383";
/// Protected identity.
const INGRID: &str = "195712302842";
/// Protected identity, guardian of Alva.
const KARL: &str = "196107293059";
/// Karl's daughter, born 2016-10-25: nobody else's child.
const ALVA: &str = "201610252395";
/// Valid, but in nobody's register.
const UNREGISTERED: &str = "189001029819";
const CLINICIAN: &str = "dev-clinician-anna";
const ADMIN: &str = "dev-admin-bo";

/// 2026-03-15T12:00:00Z: Leo is 10, Maja 8.
const T0: u64 = 1_773_576_000;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A server on the chosen database with a clock the test moves.
struct Portal {
    server: TestServer,
    clock: Arc<ManualClock>,
    base: String,
}

impl Portal {
    async fn start(database_url: Option<&str>, tweak: impl FnOnce(&mut Config)) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let url = database_url.map(str::to_owned);
        let server = TestServer::start_with_clock(
            |c| {
                c.database_url = url;
                tweak(c);
            },
            clock.clone(),
        )
        .await;
        let base = server.server().base_url.clone();
        Self {
            server,
            clock,
            base,
        }
    }

    fn db(&self) -> &vardrum::db::Db {
        &self.server.server().state.db
    }

    fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    async fn logged_in(&self, realm: &str, subject: &str) -> Browser {
        let mut b = self.browser();
        let landing = b.login(realm, subject).await;
        assert!(
            !landing.contains("error="),
            "login as {realm} {subject} failed: {landing}"
        );
        b
    }

    async fn count(&self, sql: &str, value: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(value)
            .fetch_one(self.db().pool())
            .await
            .expect("count");
        n
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

fn error_code(body: &Value) -> (&str, Option<&str>) {
    (
        body["error"]["code"].as_str().unwrap_or("(no code)"),
        body["error"]["field"].as_str(),
    )
}

fn staff_patient(personnummer: &str) -> Value {
    json!({ "personnummer": personnummer, "purpose": "Videobesök" })
}

/// A lookup body for tests about what a lookup shows and logs rather than the care-relationship
/// rule (tests/care.rs): each is an emergency access with a stated reason.
fn lookup(personnummer: &str) -> Value {
    json!({
        "personnummer": personnummer,
        "purpose": "Videobesök",
        "emergency_reason": "Patienten medvetslös på akuten",
    })
}

/// A copy of a shipped region file with some lines replaced, its policy text paths absolute.
fn region_variant(dir: &Path, name: &str, replace: &[(&str, &str)]) -> PathBuf {
    let shipped = repo(&format!("config/regions/{name}.toml"));
    let mut text = std::fs::read_to_string(&shipped).expect("region file");
    text = text.replace(
        &format!("\"{name}/"),
        &format!("\"{}/", repo(&format!("config/regions/{name}")).display()),
    );
    for (from, to) in replace {
        assert!(text.contains(from), "{from} in {name}.toml");
        text = text.replace(from, to);
    }
    let path = dir.join(format!("{name}-variant.toml"));
    std::fs::write(&path, text).expect("write region");
    path
}

on_both_databases!(
    login_registers_with_prefill_and_the_profile_is_editable_but_not_the_personnummer,
    guardians_act_for_their_young_children_only,
    protected_identity_follows_each_regions_rule,
    deletion_removes_every_row_and_export_holds_all_of_it,
    every_staff_read_writes_one_access_log_entry_and_audit_verify_finds_an_edit,
    roles_and_realms_are_kept_apart,
    sessions_need_csrf_and_end_by_timeout_and_logout,
    a_significant_policy_version_waits_for_a_decision,
    bad_input_gets_a_code_and_the_field_and_changes_nothing,
    logins_that_do_not_match_a_started_one_are_refused,
    every_state_changing_route_refuses_a_request_without_the_token_or_from_another_site,
    a_configured_issuer_is_used_with_its_client_secret_file_and_its_claim_name,
);

/// Everything the portal's tables hold, one line per row, to prove a request changed nothing.
/// Each table's columns are listed (the hash of an access-log entry covers all of its own).
async fn state(portal: &Portal) -> Vec<String> {
    let tables: [(&str, &[&str]); 7] = [
        (
            "accounts",
            &[
                "id",
                "personnummer",
                "given_name",
                "family_name",
                "mobile",
                "email",
                "protected_identity",
                "registered_by",
                "created_at",
                "updated_at",
                "last_login_at",
            ],
        ),
        (
            "account_settings",
            &[
                "account_id",
                "notify_sms",
                "notify_email",
                "language",
                "updated_at",
            ],
        ),
        (
            "account_events",
            &["id", "account_id", "actor_personnummer", "action", "at"],
        ),
        (
            "policy_decisions",
            &["account_id", "version", "decision", "decided_at"],
        ),
        (
            "sessions",
            &[
                "token_hash",
                "realm",
                "principal",
                "acting_for",
                "care_unit",
                "csrf_token",
                "created_at",
                "last_seen_at",
            ],
        ),
        (
            "staff",
            &[
                "id",
                "subject",
                "given_name",
                "family_name",
                "role",
                "care_units",
                "created_at",
                "updated_at",
            ],
        ),
        ("access_log", &["seq", "hash"]),
    ];
    let mut rows = Vec::new();
    for (table, columns) in tables {
        let line = columns
            .iter()
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        // Table and column names are the literals above, not input.
        let sql = format!("SELECT '{table}|' || {line} FROM {table} ORDER BY 1");
        let found: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(portal.db().pool())
            .await
            .expect("read table");
        rows.extend(found.into_iter().map(|(r,)| r));
    }
    rows
}

async fn login_registers_with_prefill_and_the_profile_is_editable_but_not_the_personnummer(
    db: Option<&str>,
) {
    let portal = Portal::start(db, |_| {}).await;
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;

    let (status, session) = elsa.get("session").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["realm"], "patient");
    assert_eq!(session["person"]["given_name"], "Elsa");
    assert_eq!(session["acting_as"], Value::Null);

    // Pre-filled from the register at the first login.
    let (status, me) = elsa.get("me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["personnummer"], ELSA);
    assert_eq!(me["family_name"], "Testsson");
    assert_eq!(me["mobile"], "+46701740605");
    assert_eq!(me["email"], "elsa.testsson@example.org");
    assert_eq!(me["registered_by"], "patient");

    // Edits in Swedish form come back normalised.
    let mut edit = profile(&me);
    edit["mobile"] = json!("070-123 45 67");
    edit["email"] = json!("elsa@example.org");
    edit["settings"]["notify_sms"] = json!(true);
    edit["settings"]["language"] = json!("en");
    let (status, updated) = elsa.put("me", edit.clone()).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["mobile"], "+46701234567");
    assert_eq!(updated["settings"]["language"], "en");

    // The personnummer is not a field of the profile: refused, nothing changed.
    let mut sneaky = edit.clone();
    sneaky["personnummer"] = json!(ERIK);
    sneaky["given_name"] = json!("Changed");
    let (status, body) = elsa.put("me", sneaky).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), ("unknown_field", Some("personnummer")));
    let (_, me) = elsa.get("me").await;
    assert_eq!(me["personnummer"], ELSA);
    assert_eq!(me["given_name"], "Elsa");

    // A second login finds the account as edited: the register does not overwrite it.
    let again = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let (_, me) = again.get("me").await;
    assert_eq!(me["mobile"], "+46701234567");
    assert_eq!(me["id"], updated["id"]);
    portal.stop().await;
}

async fn guardians_act_for_their_young_children_only(db: Option<&str>) {
    let portal = Portal::start(db, |_| {}).await;
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;

    let (status, children) = elsa.get("me/children").await;
    assert_eq!(status, StatusCode::OK);
    let offered: Vec<&str> = children
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["personnummer"].as_str())
        .collect();
    assert!(
        offered.contains(&LEO) && offered.contains(&MAJA),
        "{offered:?}"
    );
    assert!(!offered.contains(&VERA), "a protected child is not offered");

    let (status, session) = elsa.put("acting-as", json!({ "child": MAJA })).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["acting_as"]["personnummer"], MAJA);
    assert_eq!(session["acting_as"]["given_name"], "Maja");

    // Now "me" is Maja; an edit is hers, and records both identities.
    let (_, maja) = elsa.get("me").await;
    assert_eq!(maja["personnummer"], MAJA);
    assert_eq!(maja["registered_by"], "guardian");
    let mut edit = profile(&maja);
    edit["email"] = json!("maja.foralder@example.org");
    let (status, _) = elsa.put("me", edit).await;
    assert_eq!(status, StatusCode::OK);
    let (_, export) = elsa.get("me/export").await;
    assert_eq!(export["account"]["personnummer"], MAJA);
    let events = export["events"].as_array().expect("events");
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "profile_update" && e["actor_personnummer"] == ELSA),
        "{events:?}"
    );
    // A guardian cannot delete the child's account.
    let (status, body) = elsa.send(Method::DELETE, "me", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Someone else's child (Alva, Karl's daughter, of an age to be acted for), an adult, a
    // protected child and a number nobody has: one answer, and the session is left as it was.
    let (status_other, other) = elsa.put("acting-as", json!({ "child": ALVA })).await;
    let (status_adult, adult) = elsa.put("acting-as", json!({ "child": ERIK })).await;
    let (status_protected, protected) = elsa.put("acting-as", json!({ "child": VERA })).await;
    let (status_nobody, nobody) = elsa
        .put("acting-as", json!({ "child": UNREGISTERED }))
        .await;
    assert_eq!(
        (status_nobody, error_code(&nobody)),
        (StatusCode::NOT_FOUND, ("not_found", None))
    );
    assert_eq!((status_other, &other), (status_nobody, &nobody));
    assert_eq!((status_adult, &adult), (status_nobody, &nobody));
    assert_eq!((status_protected, &protected), (status_nobody, &nobody));
    let (_, session) = elsa.get("session").await;
    assert_eq!(session["acting_as"]["personnummer"], MAJA, "{session}");
    assert_eq!(
        portal
            .count(
                "SELECT COUNT(*) FROM accounts WHERE personnummer = $1",
                ALVA
            )
            .await,
        0,
        "no account was opened for someone else's child"
    );

    // Maja's account goes while Elsa acts for her (removed by the region, say): the session
    // shows Elsa as herself again instead of failing, and acting for Maja opens a new account.
    let maja_pnr =
        vardrum::portal::identity::personnummer::Personnummer::from_canonical(MAJA).unwrap();
    portal
        .server
        .server()
        .state
        .portal
        .accounts
        .delete_account(&maja_pnr)
        .await
        .expect("delete Maja's account");
    let (status, session) = elsa.get("session").await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["acting_as"], Value::Null, "{session}");
    assert_eq!(session["person"]["given_name"], "Elsa", "{session}");
    let (_, me) = elsa.get("me").await;
    assert_eq!(me["personnummer"], ELSA, "requests are Elsa's own again");
    let (status, session) = elsa.put("acting-as", json!({ "child": MAJA })).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["acting_as"]["personnummer"], MAJA);
    let (_, maja) = elsa.get("me").await;
    assert_eq!(maja["personnummer"], MAJA);
    assert_ne!(
        maja["email"], "maja.foralder@example.org",
        "a new account, not the old one"
    );

    // Back to herself.
    let (status, session) = elsa.put("acting-as", json!({ "child": null })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["acting_as"], Value::Null);
    let (_, me) = elsa.get("me").await;
    assert_eq!(me["personnummer"], ELSA);

    // Leo turns 14 on 2030-02-28 (no 29th that year): proxy access ended at 13.
    elsa.put("acting-as", json!({ "child": LEO })).await;
    portal.clock.advance(4 * 365 * 86_400);
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let (status, body) = elsa.put("acting-as", json!({ "child": LEO })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, children) = elsa.get("me/children").await;
    assert!(
        !children.to_string().contains(LEO),
        "a 14-year-old is not offered: {children}"
    );
    portal.stop().await;
}

async fn protected_identity_follows_each_regions_rule(db: Option<&str>) {
    // Västerbotten: refused, with the region's text on where to get care instead.
    let portal = Portal::start(db, |_| {}).await;
    let mut ingrid = portal.browser();
    let landing = ingrid.login("patient", &format!("test-{INGRID}")).await;
    assert!(
        landing.ends_with("/portal/login.html?error=protected_identity"),
        "{landing}"
    );
    let (status, _) = ingrid.get("session").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, region) = ingrid.get("region").await;
    assert_eq!(region["protected_identity_rule"], "deny");
    assert!(
        region["texts"]["protected_identity_refused"]["sv"]
            .as_str()
            .is_some_and(|t| t.contains("1177")),
        "{region}"
    );
    assert_eq!(
        portal
            .count(
                "SELECT COUNT(*) FROM accounts WHERE personnummer = $1",
                INGRID
            )
            .await,
        0
    );

    // Staff cannot register her either. What the refusal told them is a register read, logged
    // once, like a register that does not know the number at all.
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, body) = anna.post("staff/patients", staff_patient(INGRID)).await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::FORBIDDEN, "protected_identity")
    );
    let (status, body) = anna
        .post("staff/patients", staff_patient(UNREGISTERED))
        .await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_in_register")
    );
    for who in [INGRID, UNREGISTERED] {
        let logged: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT action, resource, care_unit, purpose FROM access_log WHERE patient = $1",
        )
        .bind(who)
        .fetch_all(portal.db().pool())
        .await
        .expect("log");
        assert_eq!(
            logged,
            [(
                "read".to_owned(),
                "population_register".to_owned(),
                "Hälsocentral Testvik".to_owned(),
                Some("Videobesök".to_owned())
            )],
            "{who}"
        );
    }
    assert_eq!(
        portal
            .count("SELECT COUNT(*) FROM accounts WHERE $1 = $1", "x")
            .await,
        0
    );
    portal.stop().await;

    // Jönköping: allowed, and clearly marked for staff.
    let portal = Portal::start(db, |c| {
        c.portal.region = repo("config/regions/jonkoping.toml");
    })
    .await;
    let ingrid = portal.logged_in("patient", &format!("test-{INGRID}")).await;
    let (_, me) = ingrid.get("me").await;
    assert_eq!(me["protected_identity"], true);
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (status, view) = anna.post("staff/patients/lookup", lookup(INGRID)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(
        view["protected_identity_marker"]["sv"]
            .as_str()
            .is_some_and(|t| t.contains("Skyddade")),
        "{view}"
    );
    // No proxy when the guardian has protected identity, in any region.
    let karl = portal.logged_in("patient", &format!("test-{KARL}")).await;
    let (status, body) = karl.put("acting-as", json!({ "child": ALVA })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    portal.stop().await;
}

async fn deletion_removes_every_row_and_export_holds_all_of_it(db: Option<&str>) {
    let portal = Portal::start(db, |_| {}).await;
    let erik = portal.logged_in("patient", &format!("test-{ERIK}")).await;
    let (_, me) = erik.get("me").await;
    let id = me["id"].as_str().expect("id").to_owned();
    let mut edit = profile(&me);
    edit["email"] = json!("erik@example.org");
    erik.put("me", edit).await;
    erik.post(
        "policy/decision",
        json!({ "version": "2025-11-12", "decision": "accepted" }),
    )
    .await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    anna.post("staff/patients/lookup", lookup(ERIK)).await;

    // The export is a download holding the account, its settings, events, decisions and who
    // has accessed it.
    let response = erik
        .http
        .get(erik.url("me/export"))
        .send()
        .await
        .expect("export");
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        !disposition.contains(ERIK),
        "no personnummer in the file name"
    );
    let export: Value = response.json().await.expect("json");
    assert_eq!(export["format"], "vardrum/own-data/v1");
    assert_eq!(export["account"]["personnummer"], ERIK);
    assert_eq!(export["account"]["email"], "erik@example.org");
    assert_eq!(export["account"]["settings"]["language"], "sv");
    assert_eq!(export["access_log"].as_array().map(Vec::len), Some(1));
    assert_eq!(export["access_log"][0]["care_unit"], "Hälsocentral Testvik");
    assert_eq!(export["policy_decisions"][0]["decision"], "accepted");
    let actions: Vec<&str> = export["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["login", "profile_update", "policy_decision", "export"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }

    let (status, _) = erik.send(Method::DELETE, "me", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (sql, key) in [
        (
            "SELECT COUNT(*) FROM accounts WHERE personnummer = $1",
            ERIK,
        ),
        (
            "SELECT COUNT(*) FROM account_settings WHERE account_id = $1",
            &id,
        ),
        (
            "SELECT COUNT(*) FROM account_events WHERE account_id = $1",
            &id,
        ),
        (
            "SELECT COUNT(*) FROM policy_decisions WHERE account_id = $1",
            &id,
        ),
        ("SELECT COUNT(*) FROM sessions WHERE principal = $1", &id),
    ] {
        assert_eq!(portal.count(sql, key).await, 0, "{sql}");
    }
    // The PDL access log is not the account's: the law keeps it.
    assert_eq!(
        portal
            .count("SELECT COUNT(*) FROM access_log WHERE patient = $1", ERIK)
            .await,
        1
    );
    let (status, _) = erik.get("me").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session went with the account"
    );

    // Logging in again starts afresh from the register.
    let erik = portal.logged_in("patient", &format!("test-{ERIK}")).await;
    let (_, me) = erik.get("me").await;
    assert_ne!(me["id"], json!(id));
    assert_eq!(me["email"], Value::Null);
    portal.stop().await;
}

async fn every_staff_read_writes_one_access_log_entry_and_audit_verify_finds_an_edit(
    db: Option<&str>,
) {
    let portal = Portal::start(db, |_| {}).await;
    portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let (_, session) = anna.get("session").await;
    assert_eq!(session["staff"]["role"], "clinician");
    assert_eq!(session["staff"]["care_unit"], "Hälsocentral Testvik");

    let entries = || portal.count("SELECT COUNT(*) FROM access_log WHERE patient = $1", ELSA);
    assert_eq!(entries().await, 0);
    for n in 1..=3 {
        let (status, view) = anna.post("staff/patients/lookup", lookup(ELSA)).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["account"]["given_name"], "Elsa");
        assert_eq!(entries().await, n);
    }
    // The care unit in the log is the one the clinician works in now.
    let (status, _) = anna
        .put(
            "staff/care-unit",
            json!({ "care_unit": "Barnmottagning Testvik" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    anna.post("staff/patients/lookup", lookup(ELSA)).await;
    let (unit, purpose, ip): (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT care_unit, purpose, client_ip FROM access_log WHERE patient = $1 \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(ELSA)
    .fetch_one(portal.db().pool())
    .await
    .expect("entry");
    assert_eq!(unit, "Barnmottagning Testvik");
    assert_eq!(purpose.as_deref(), Some("Videobesök"));
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    // Looking up someone with no account is an access too, and reveals nothing more.
    let (status, body) = anna.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, ("not_found", None))
    );
    assert_eq!(
        portal
            .count("SELECT COUNT(*) FROM access_log WHERE patient = $1", ERIK)
            .await,
        1
    );

    // The patient sees who accessed their data: care unit and time.
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let (_, log) = elsa.get("me/access-log").await;
    assert_eq!(log.as_array().map(Vec::len), Some(4), "{log}");
    assert!(log[0].get("care_unit").is_some() && log[0].get("at").is_some());
    assert!(log.to_string().find(CLINICIAN).is_none());

    // Editing a row breaks the chain, and `vardrum audit verify` says so.
    let url = match db {
        Some(url) => url.to_owned(),
        None => vardrum::db::default_url(portal.server.dir.path()),
    };
    let verify = |url: String| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_vardrum"))
            .args(["audit", "verify", "--database-url", &url])
            .output()
            .await
            .expect("run vardrum audit verify")
    };
    assert_eq!(verify(url.clone()).await.status.code(), Some(0));
    sqlx::query("UPDATE access_log SET care_unit = 'Någon annan' WHERE seq = 2")
        .execute(portal.db().pool())
        .await
        .expect("tamper");
    let out = verify(url).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    portal.stop().await;
}

async fn roles_and_realms_are_kept_apart(db: Option<&str>) {
    let portal = Portal::start(db, |_| {}).await;
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let bo = portal.logged_in("staff", ADMIN).await;

    // A patient has no staff session: the staff API does not know them.
    let (status, _) = elsa.post("staff/patients/lookup", lookup(ERIK)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = elsa.get("admin/staff").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // And staff have no patient account.
    let (status, _) = anna.get("me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An administrator manages staff but does not read patients by that role.
    let (status, body) = bo.post("staff/patients/lookup", lookup(ELSA)).await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        portal
            .count("SELECT COUNT(*) FROM access_log WHERE patient = $1", ELSA)
            .await,
        0,
        "a refused access is no access"
    );
    let (status, _) = anna.get("admin/staff").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let new = json!({
        "subject": "hsa-SE2321000222-test1",
        "given_name": "Cilla",
        "family_name": "Sjuksköterska",
        "role": "clinician",
        "care_units": ["Hälsocentral Testvik"],
    });
    let (status, created) = bo.post("admin/staff", new.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, body) = bo.post("admin/staff", new).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, ("already_exists", Some("subject")))
    );
    let (_, all) = bo.get("admin/staff").await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));

    // Staff register a patient; then the patient's first login finds that account.
    let (status, account) = anna.post("staff/patients", staff_patient(ERIK)).await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["registered_by"], "staff");
    let (status, body) = anna.post("staff/patients", staff_patient(ERIK)).await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::CONFLICT, "already_exists")
    );
    let actions: Vec<(String,)> =
        sqlx::query_as("SELECT action FROM access_log WHERE patient = $1 ORDER BY seq")
            .bind(ERIK)
            .fetch_all(portal.db().pool())
            .await
            .expect("log");
    let actions: Vec<&str> = actions.iter().map(|(a,)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["create", "read"],
        "a refused registration is logged as the read it was"
    );
    let erik = portal.logged_in("patient", &format!("test-{ERIK}")).await;
    let (_, me) = erik.get("me").await;
    assert_eq!(me["id"], account["id"]);

    // A care unit that is not the clinician's is refused.
    let (status, body) = anna
        .put("staff/care-unit", json!({ "care_unit": "Akuten" }))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (
            StatusCode::BAD_REQUEST,
            ("invalid_field", Some("care_unit"))
        )
    );

    // The new member can log in; someone unknown to the staff table cannot.
    let mut cilla = portal.browser();
    let landing = cilla.login("staff", "typed:hsa-SE2321000222-test1").await;
    assert!(!landing.contains("error="), "{landing}");
    let mut stranger = portal.browser();
    let landing = stranger
        .login("staff", "typed:hsa-SE2321000222-nobody")
        .await;
    assert!(
        landing.ends_with("/portal/login.html?error=not_staff"),
        "{landing}"
    );
    assert_eq!(stranger.get("session").await.0, StatusCode::UNAUTHORIZED);
    // Patient logins with a number the register does not have, and with no number at all.
    let mut unknown = portal.browser();
    let landing = unknown
        .login("patient", &format!("typed:{UNREGISTERED}"))
        .await;
    assert!(landing.ends_with("error=not_in_register"), "{landing}");
    let landing = unknown.login("patient", "typed:not-a-number").await;
    assert!(landing.ends_with("error=login_failed"), "{landing}");
    // A registered person's number, but not in the 12-digit form brokers send: refused, not
    // guessed at (the century of a 10-digit form is a guess).
    for form in [&ELSA[2..], "19900602-2397", "900602-2397"] {
        let mut b = portal.browser();
        let landing = b.login("patient", &format!("typed:{form}")).await;
        assert!(landing.ends_with("error=login_failed"), "{form}: {landing}");
        assert_eq!(b.get("session").await.0, StatusCode::UNAUTHORIZED);
    }
    portal.stop().await;
}

async fn sessions_need_csrf_and_end_by_timeout_and_logout(db: Option<&str>) {
    let portal = Portal::start(db, |_| {}).await;
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let (_, me) = elsa.get("me").await;
    let mut edit = profile(&me);
    edit["given_name"] = json!("Forged");

    // No token, a wrong token, or another site's Origin: refused, nothing changed.
    let without = elsa
        .http
        .put(elsa.url("me"))
        .json(&edit)
        .send()
        .await
        .expect("put");
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let body: Value = without.json().await.expect("json");
    assert_eq!(error_code(&body).0, "csrf");
    let wrong = elsa
        .http
        .put(elsa.url("me"))
        .header("x-csrf-token", "not-the-token")
        .json(&edit)
        .send()
        .await
        .expect("put");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let cross_site = elsa
        .http
        .put(elsa.url("me"))
        .header("x-csrf-token", elsa.csrf.as_deref().unwrap_or_default())
        .header("origin", "https://evil.example")
        .json(&edit)
        .send()
        .await
        .expect("put");
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let (_, me) = elsa.get("me").await;
    assert_eq!(me["given_name"], "Elsa");

    // The cookie is HttpOnly and SameSite.
    let mut b = portal.browser();
    b.http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client");
    let redirect = b
        .http
        .get(b.url("auth/patient/login"))
        .send()
        .await
        .expect("login");
    let set_cookie = redirect
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    // Plain-HTTP development on loopback: no `Secure`, or the browser would never send the
    // cookie back (HTTPS and production are in the unit tests of src/portal/api/mod.rs).
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");

    // Idle: 29 minutes apart keep it alive, 31 end it.
    portal.clock.advance(29 * 60);
    assert_eq!(elsa.get("me").await.0, StatusCode::OK);
    portal.clock.advance(31 * 60);
    assert_eq!(elsa.get("me").await.0, StatusCode::UNAUTHORIZED);

    // Absolute: busy for 12 hours, then out anyway.
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    for _ in 0..(12 * 3) {
        assert_eq!(elsa.get("session").await.0, StatusCode::OK);
        portal.clock.advance(20 * 60);
    }
    let (status, body) = elsa.get("me").await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::UNAUTHORIZED, "not_logged_in")
    );

    // Logout ends it at once.
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let (status, _) = elsa.send(Method::POST, "auth/logout", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(elsa.get("session").await.0, StatusCode::UNAUTHORIZED);
    // The session is checked before the body (docs/portal-api.md): a body that is wrong too
    // (an array where the profile object belongs) still answers 401, not its 400.
    let (status, body) = elsa.send(Method::PUT, "me", Some(json!([1]))).await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::UNAUTHORIZED, "not_logged_in")
    );
    portal.stop().await;
}

async fn a_significant_policy_version_waits_for_a_decision(db: Option<&str>) {
    let dir = tempfile::tempdir().expect("dir");
    let region = region_variant(
        dir.path(),
        "vasterbotten",
        &[
            ("significant = false", "significant = true"),
            ("version = \"2025-11-12\"", "version = \"2026-11-01\""),
        ],
    );
    let portal = Portal::start(db, |c| c.portal.region = region).await;
    let (_, policy) = portal.browser().get("policy?lang=sv").await;
    assert_eq!(policy["version"], "2026-11-01");
    assert_eq!(policy["significant"], true);
    assert!(policy["text"].as_str().is_some_and(|t| t.len() > 1000));
    let (_, english) = portal.browser().get("policy?lang=en").await;
    assert!(english["language"].is_string());

    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let (_, session) = elsa.get("session").await;
    assert_eq!(session["policy"]["decision_required"], true);
    let (status, body) = elsa.get("me").await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::FORBIDDEN, "policy_decision_required")
    );
    // Seeing one's own data never waits.
    assert_eq!(elsa.get("me/export").await.0, StatusCode::OK);

    // An old version cannot be accepted; declining keeps the gate shut.
    let (status, body) = elsa
        .post(
            "policy/decision",
            json!({ "version": "2025-11-12", "decision": "accepted" }),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, ("invalid_field", Some("version")))
    );
    let (status, _) = elsa
        .post(
            "policy/decision",
            json!({ "version": "2026-11-01", "decision": "declined" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(elsa.get("me").await.0, StatusCode::FORBIDDEN);
    elsa.post(
        "policy/decision",
        json!({ "version": "2026-11-01", "decision": "accepted" }),
    )
    .await;
    assert_eq!(elsa.get("me").await.0, StatusCode::OK);
    let (_, session) = elsa.get("session").await;
    assert_eq!(session["policy"]["decision"], "accepted");
    portal.stop().await;
}

async fn bad_input_gets_a_code_and_the_field_and_changes_nothing(db: Option<&str>) {
    let portal = Portal::start(db, |_| {}).await;
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let (_, me) = elsa.get("me").await;
    let good = profile(&me);

    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (
            json!({ "email": "not-an-address" }),
            "invalid_field",
            Some("email"),
        ),
        (json!({ "mobile": "12" }), "invalid_field", Some("mobile")),
        (
            json!({ "mobile": "08-123 456 78" }),
            "invalid_field",
            Some("mobile"),
        ),
        (
            json!({ "given_name": "" }),
            "invalid_field",
            Some("given_name"),
        ),
        (
            json!({ "given_name": 42 }),
            "invalid_type",
            Some("given_name"),
        ),
        (
            json!({ "settings": { "notify_sms": false, "notify_email": false, "language": "fr" } }),
            "invalid_field",
            Some("settings.language"),
        ),
        (
            json!({ "settings": { "notify_sms": "yes", "notify_email": false, "language": "sv" } }),
            "invalid_type",
            Some("settings.notify_sms"),
        ),
        (
            json!({ "settings": { "notify_sms": false, "notify_email": false, "language": "sv", "x": 1 } }),
            "unknown_field",
            Some("settings.x"),
        ),
        // A wrong JSON type on an enum field is a type error at that field, as on any other.
        (
            json!({ "settings": { "notify_sms": false, "notify_email": false, "language": 7 } }),
            "invalid_type",
            Some("settings.language"),
        ),
        (
            json!({ "settings": { "notify_sms": false, "notify_email": false, "language": ["sv"] } }),
            "invalid_type",
            Some("settings.language"),
        ),
        // Invisible and bidirectional-override characters hide or reorder a name for whoever
        // reads it: refused like control characters.
        (
            json!({ "given_name": "El\u{200B}sa" }),
            "invalid_field",
            Some("given_name"),
        ),
        (
            json!({ "given_name": "\u{FEFF}Elsa" }),
            "invalid_field",
            Some("given_name"),
        ),
        (
            json!({ "family_name": "Test\u{202E}nossT" }),
            "invalid_field",
            Some("family_name"),
        ),
        (
            json!({ "family_name": "Tests\u{2028}son" }),
            "invalid_field",
            Some("family_name"),
        ),
    ];
    for (change, code, field) in cases {
        let mut body = good.clone();
        for (k, v) in change.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, answer) = elsa.put("me", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(error_code(&answer), (code, field), "{body}");
    }
    let mut missing = good.clone();
    missing
        .as_object_mut()
        .expect("object")
        .remove("given_name");
    let (status, answer) = elsa.put("me", missing).await;
    assert_eq!(
        (status, error_code(&answer)),
        (
            StatusCode::BAD_REQUEST,
            ("missing_field", Some("given_name"))
        )
    );

    let raw = |body: &'static str, content_type: &'static str| {
        elsa.http
            .put(elsa.url("me"))
            .header("x-csrf-token", elsa.csrf.clone().unwrap_or_default())
            .header("content-type", content_type)
            .body(body)
    };
    let malformed = raw("{\"given_name\": ", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&malformed.json().await.expect("json")).0,
        "malformed_json"
    );
    // Every documented body is a JSON object; an array in the profile's field order, which
    // serde alone would read field by field, is refused and changes nothing.
    for not_an_object in [
        r#"["Elsa","Arrayson",null,null,{"notify_sms":false,"notify_email":false,"language":"en"}]"#,
        r#""Elsa""#,
        "null",
    ] {
        let answer = raw(not_an_object, "application/json")
            .send()
            .await
            .expect("send");
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{not_an_object}");
        assert_eq!(
            error_code(&answer.json().await.expect("json")),
            ("invalid_type", None),
            "{not_an_object}"
        );
    }
    // Messages say what the field takes, in our words, without echoing the value sent.
    let mut french = good.clone();
    french["settings"]["language"] = json!("fr");
    let (_, answer) = elsa.put("me", french).await;
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("sv") && !message.contains("fr") && !message.contains("variant"),
        "{message}"
    );
    let form = raw("given_name=x", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("send");
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = elsa
        .http
        .put(elsa.url("me"))
        .header("x-csrf-token", elsa.csrf.clone().unwrap_or_default())
        .header("content-type", "application/json")
        .body(format!("{{\"given_name\":\"{}\"}}", "a".repeat(100 * 1024)))
        .send()
        .await
        .expect("send");
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        error_code(&huge.json().await.expect("json")).0,
        "body_too_large"
    );

    // Identity numbers are validated where staff type them.
    let anna = portal.logged_in("staff", CLINICIAN).await;
    for bad in ["19900602-2398", "abc", "199013022397", "19900602-0000"] {
        let (status, answer) = anna.post("staff/patients/lookup", lookup(bad)).await;
        assert_eq!(
            (status, error_code(&answer)),
            (
                StatusCode::BAD_REQUEST,
                ("invalid_field", Some("personnummer"))
            ),
            "{bad}"
        );
    }
    assert_eq!(
        portal
            .count("SELECT COUNT(*) FROM access_log WHERE $1 = $1", "x")
            .await,
        0
    );
    // The 10-digit form with a hyphen is what people type; it is accepted.
    let (status, _) = anna
        .post("staff/patients/lookup", lookup("900602-2397"))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, after) = elsa.get("me").await;
    assert_eq!(profile(&after), good, "nothing changed");
    // Unknown API paths answer in the same shape.
    let (status, answer) = elsa.get("no/such/thing").await;
    assert_eq!(
        (status, error_code(&answer).0),
        (StatusCode::NOT_FOUND, "not_found")
    );
    portal.stop().await;
}

async fn logins_that_do_not_match_a_started_one_are_refused(db: Option<&str>) {
    let portal = Portal::start(db, |_| {}).await;
    // A callback with a state this browser never started (login CSRF): refused.
    let b = portal.browser();
    let response = b
        .http
        .get(b.url("auth/patient/callback?code=abc&state=forged"))
        .send()
        .await
        .expect("callback");
    assert!(
        response.url().as_str().ends_with("error=login_failed"),
        "{}",
        response.url()
    );
    assert_eq!(b.get("session").await.0, StatusCode::UNAUTHORIZED);

    // A real code replayed: the first use logs in, the second does not.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client");
    let start = plain
        .get(b.url("auth/patient/login"))
        .send()
        .await
        .expect("start");
    let authorize = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let url = reqwest::Url::parse(&authorize).expect("url");
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("subject".into(), format!("test-{ELSA}")));
    let mut action = url.clone();
    action.set_query(None);
    let picked = plain.post(action).form(&form).send().await.expect("pick");
    let callback = picked.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let first = plain.get(&callback).send().await.expect("callback");
    assert_eq!(first.headers()["location"], "/portal/");
    // The session cookie and the used-up login cookie, over plain HTTP in development.
    let cookies: Vec<&str> = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("vardrum_session=")),
        "{cookies:?}"
    );
    for cookie in &cookies {
        assert!(
            cookie.contains("; HttpOnly; SameSite=Lax") && !cookie.contains("Secure"),
            "{cookie}"
        );
    }
    let second = plain.get(&callback).send().await.expect("replay");
    assert_eq!(
        second.headers()["location"],
        "/portal/login.html?error=login_failed"
    );

    // An unknown realm is nothing.
    let (status, _) = b.get("auth/nurse/login").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    portal.stop().await;
}

async fn every_state_changing_route_refuses_a_request_without_the_token_or_from_another_site(
    db: Option<&str>,
) {
    let portal = Portal::start(db, |_| {}).await;
    let elsa = portal.logged_in("patient", &format!("test-{ELSA}")).await;
    let erik = portal.logged_in("patient", &format!("test-{ERIK}")).await;
    let anna = portal.logged_in("staff", CLINICIAN).await;
    let bo = portal.logged_in("staff", ADMIN).await;
    let (_, me) = elsa.get("me").await;
    let mut edit = profile(&me);
    edit["given_name"] = json!("Forged");
    let ours = portal.base.trim_end_matches('/').to_owned();
    let other_port = match reqwest::Url::parse(&portal.base)
        .ok()
        .and_then(|u| u.port())
    {
        Some(1) => "http://127.0.0.1:2".to_owned(),
        _ => "http://127.0.0.1:1".to_owned(),
    };

    // Every POST, PUT and DELETE of the API, each by a session that may make it and with a
    // body that succeeds (so the controls at the end prove the CSRF token was the only thing
    // missing). In the order the successful controls at the end can run.
    let routes: Vec<(&Browser, Method, &str, Option<Value>, StatusCode)> = vec![
        (&elsa, Method::PUT, "me", Some(edit), StatusCode::OK),
        (
            &elsa,
            Method::POST,
            "policy/decision",
            Some(json!({ "version": "2025-11-12", "decision": "declined" })),
            StatusCode::NO_CONTENT,
        ),
        (
            &elsa,
            Method::PUT,
            "acting-as",
            Some(json!({ "child": MAJA })),
            StatusCode::OK,
        ),
        (
            &elsa,
            Method::POST,
            "auth/logout",
            None,
            StatusCode::NO_CONTENT,
        ),
        (&erik, Method::DELETE, "me", None, StatusCode::NO_CONTENT),
        (
            &anna,
            Method::PUT,
            "staff/care-unit",
            Some(json!({ "care_unit": "Barnmottagning Testvik" })),
            StatusCode::OK,
        ),
        (
            &anna,
            Method::POST,
            "staff/patients/lookup",
            Some(lookup(ELSA)),
            StatusCode::OK,
        ),
        (
            &anna,
            Method::POST,
            "staff/patients",
            Some(staff_patient(LEO)),
            StatusCode::CREATED,
        ),
        (
            &anna,
            Method::POST,
            "auth/logout",
            None,
            StatusCode::NO_CONTENT,
        ),
        (
            &bo,
            Method::POST,
            "admin/staff",
            Some(json!({
                "subject": "hsa-SE2321000222-csrf",
                "given_name": "Cilla",
                "family_name": "Sjuksköterska",
                "role": "clinician",
                "care_units": ["Hälsocentral Testvik"],
            })),
            StatusCode::CREATED,
        ),
        (
            &bo,
            Method::POST,
            "auth/logout",
            None,
            StatusCode::NO_CONTENT,
        ),
    ];

    // The list is every state-changing operation the API documents with a session: a new one
    // must be added. (Uploads into a call are authorised by a join token in a header, with no
    // cookie to ride on: tests/uploads.rs tests them. Operations tagged `bookings` need slots
    // and bookings to act on: tests/bookings_api.rs walks them the same way; those tagged
    // `messages` need conversations: tests/messages_api.rs; `care`, an emergency access:
    // tests/care.rs; `notifications`, a failed notice: tests/notifications.rs.)
    let (_, doc) = portal.browser().get("openapi.json").await;
    let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            let path = path.trim_start_matches("/api/v1/").to_owned();
            ops.as_object()
                .expect("operations")
                .iter()
                .filter(|(m, _)| ["post", "put", "delete"].contains(&m.as_str()))
                .filter(|(_, op)| op["security"][0].get("joinToken").is_none())
                .filter(|(_, op)| {
                    !op["tags"].as_array().is_some_and(|t| {
                        ["bookings", "messages", "care", "notifications"]
                            .iter()
                            .any(|tag| t.contains(&json!(tag)))
                    })
                })
                .map(move |(m, _)| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let tested: std::collections::BTreeSet<(String, String)> = routes
        .iter()
        .map(|(_, m, p, _, _)| (m.as_str().to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(tested, documented);

    let before = state(&portal).await;
    for (browser, method, path, body, _) in &routes {
        let token = browser.csrf.as_deref().expect("logged in");
        // Another live session's token is as wrong as a made-up one.
        let foreign_token = if std::ptr::eq(*browser, &elsa) {
            anna.csrf.as_deref()
        } else {
            elsa.csrf.as_deref()
        };
        let attempts = [
            ("no token", None, None),
            ("a made-up token", Some("not-the-token"), None),
            ("an empty token", Some(""), None),
            ("another session's token", foreign_token, None),
            (
                "the token from another site",
                Some(token),
                Some("https://evil.example"),
            ),
            ("the token from an opaque origin", Some(token), Some("null")),
            (
                "the token from our host on another port",
                Some(token),
                Some(other_port.as_str()),
            ),
        ];
        for (what, csrf, origin) in attempts {
            let (status, answer) = browser
                .send_with(method.clone(), path, body.as_ref(), csrf, origin)
                .await;
            assert_eq!(
                (status, error_code(&answer).0),
                (StatusCode::FORBIDDEN, "csrf"),
                "{method} {path} with {what}: {answer}"
            );
            assert_eq!(
                state(&portal).await,
                before,
                "{method} {path} with {what} changed something"
            );
        }
    }

    // The controls: each request, with the session's token and our own Origin, goes through
    // and changes something, so the refusals above were the checks' doing.
    for (browser, method, path, body, expected) in &routes {
        let was = state(&portal).await;
        let (status, answer) = browser
            .send_with(
                method.clone(),
                path,
                body.as_ref(),
                browser.csrf.as_deref(),
                Some(&ours),
            )
            .await;
        assert_eq!(status, *expected, "{method} {path}: {answer}");
        assert_ne!(state(&portal).await, was, "{method} {path} changed nothing");
    }
    portal.stop().await;
}

async fn a_configured_issuer_is_used_with_its_client_secret_file_and_its_claim_name(
    db: Option<&str>,
) {
    use vardrum::config::{Mode, OidcConfig};
    use vardrum::portal::identity::register::FileRegister;
    use vardrum::portal::identity::test_idp::{ClientRegistration, TestIdp, register_persons};

    /// What some brokers call the personnummer claim; not the built-in test IdP's name.
    const CLAIM: &str = "personalIdentityNumber";
    // Characters that must be form-encoded in Basic auth (RFC 6749 §2.3.1).
    const SECRET: &str = "broker secret/with:odd+chars";

    // A second test IdP, on a port of its own: to the portals below it is an external broker
    // they know only by its issuer URL, client id and a secret in a file.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let broker_base = format!("http://{}/", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("dir");
    let secret_file = dir.path().join("patient-client-secret");
    // As secret files are usually written: with a newline, which is not part of the secret.
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write secret");
    let configured = |realm: &str, claim: &str| OidcConfig {
        issuer: format!("{broker_base}dev-idp/{realm}"),
        client_id: format!("portal-{realm}"),
        client_secret_file: secret_file.clone(),
        identity_claim: claim.into(),
        scopes: "openid profile".into(),
    };
    let matching = Portal::start(db, |c| {
        c.portal.patient_oidc = Some(configured("broker", CLAIM));
    })
    .await;
    // Configured with the built-in IdP's claim name, against a broker that uses another.
    let mismatched = Portal::start(db, |c| {
        c.portal.patient_oidc = Some(configured("broker-b", "personal_identity_number"));
    })
    .await;

    let register =
        FileRegister::load(&repo("config/dev/population-register.json")).expect("register");
    let persons = register_persons(register.persons(), CLAIM);
    let mut idp = TestIdp::new(Mode::Development, matching.clock.clone()).expect("test IdP");
    for (realm, portal) in [("broker", &matching), ("broker-b", &mismatched)] {
        idp.add_issuer(
            &broker_base,
            realm,
            ClientRegistration {
                client_id: format!("portal-{realm}"),
                client_secret: SECRET.into(),
            },
            format!("{}api/v1/auth/patient/callback", portal.base),
            persons.clone(),
            None,
        );
    }
    let router = std::sync::Arc::new(idp).router();
    let broker = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    // The mismatched claim name: the login fails, no session, no account.
    let mut refused = mismatched.browser();
    let landing = refused.login("patient", &format!("test-{ELSA}")).await;
    assert!(
        landing.ends_with("/portal/login.html?error=login_failed"),
        "{landing}"
    );
    assert_eq!(refused.get("session").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        mismatched
            .count(
                "SELECT COUNT(*) FROM accounts WHERE personnummer = $1",
                ELSA
            )
            .await,
        0
    );

    // The matching one: the broker's picker, its code, the secret from the file, the claim.
    let elsa = matching.logged_in("patient", &format!("test-{ELSA}")).await;
    let (_, me) = elsa.get("me").await;
    assert_eq!(me["personnummer"], ELSA);
    assert_eq!(me["given_name"], "Elsa");
    let (_, session) = elsa.get("session").await;
    assert_eq!(session["realm"], "patient");
    // Staff still log in through the built-in test IdP beside it.
    let anna = matching.logged_in("staff", CLINICIAN).await;
    assert_eq!(anna.get("session").await.1["realm"], "staff");

    broker.abort();
    mismatched.stop().await;
    matching.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let portal = Portal::start(None, |_| {}).await;
    let (status, doc) = portal.browser().get("openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in [
        ("get", "/api/v1/region"),
        ("get", "/api/v1/policy"),
        ("get", "/api/v1/auth/{realm}/login"),
        ("get", "/api/v1/auth/{realm}/callback"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/session"),
        ("post", "/api/v1/policy/decision"),
        ("get", "/api/v1/me"),
        ("put", "/api/v1/me"),
        ("delete", "/api/v1/me"),
        ("get", "/api/v1/me/access-log"),
        ("get", "/api/v1/me/export"),
        ("get", "/api/v1/me/children"),
        ("put", "/api/v1/acting-as"),
        ("put", "/api/v1/staff/care-unit"),
        ("post", "/api/v1/staff/patients/lookup"),
        ("get", "/api/v1/staff/colleagues"),
        ("get", "/api/v1/care-units"),
        ("get", "/api/v1/admin/notifications/failed"),
        ("post", "/api/v1/admin/notifications/{id}/retry"),
        ("get", "/api/v1/staff/emergency-accesses"),
        ("post", "/api/v1/staff/emergency-accesses/{id}/review"),
        ("post", "/api/v1/staff/patients"),
        ("get", "/api/v1/admin/staff"),
        ("post", "/api/v1/admin/staff"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/calls/{room}/uploads"),
        ("get", "/api/v1/calls/{room}/uploads/{id}"),
        ("get", "/api/v1/slots"),
        ("get", "/api/v1/bookings"),
        ("post", "/api/v1/bookings"),
        ("get", "/api/v1/bookings/{id}"),
        ("post", "/api/v1/bookings/{id}/reschedule"),
        ("post", "/api/v1/bookings/{id}/cancel"),
        ("post", "/api/v1/bookings/{id}/join"),
        ("post", "/api/v1/staff/slots"),
        ("delete", "/api/v1/staff/slots/{id}"),
        ("get", "/api/v1/staff/calendar"),
        ("post", "/api/v1/staff/bookings"),
        ("get", "/api/v1/staff/bookings/{id}"),
        ("post", "/api/v1/staff/bookings/{id}/move"),
        ("post", "/api/v1/staff/bookings/{id}/cancel"),
        ("post", "/api/v1/staff/bookings/{id}/done"),
        ("post", "/api/v1/staff/bookings/{id}/no-show"),
        ("get", "/api/v1/staff/queues"),
        ("post", "/api/v1/staff/queues"),
        ("post", "/api/v1/staff/queues/{id}/close"),
        ("post", "/api/v1/staff/queues/{id}/take"),
        ("get", "/api/v1/queues"),
        ("post", "/api/v1/queues/{id}/join"),
        ("get", "/api/v1/queues/{id}/place"),
        ("post", "/api/v1/queues/{id}/leave"),
        ("get", "/api/v1/bookings/{id}/uploads"),
        ("get", "/api/v1/bookings/{id}/uploads/{upload}"),
        ("get", "/api/v1/conversations"),
        ("post", "/api/v1/conversations"),
        ("get", "/api/v1/conversations/{id}"),
        ("post", "/api/v1/conversations/{id}/messages"),
        ("post", "/api/v1/conversations/{id}/read"),
        (
            "post",
            "/api/v1/conversations/{id}/messages/{message}/attachments",
        ),
        ("get", "/api/v1/conversations/{id}/attachments/{attachment}"),
        ("get", "/api/v1/staff/inbox"),
        ("get", "/api/v1/staff/conversations/{id}"),
        ("post", "/api/v1/staff/conversations/{id}/messages"),
        ("post", "/api/v1/staff/conversations/{id}/read"),
        ("post", "/api/v1/staff/conversations/{id}/assign"),
        ("post", "/api/v1/staff/conversations/{id}/close"),
        (
            "post",
            "/api/v1/staff/conversations/{id}/messages/{message}/attachments",
        ),
        (
            "get",
            "/api/v1/staff/conversations/{id}/attachments/{attachment}",
        ),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    assert_eq!(
        paths
            .values()
            .map(|p| p.as_object().map_or(0, |o| o.len()))
            .sum::<usize>(),
        69,
        "no documented operation that the server does not have"
    );
    portal.stop().await;
}

#[tokio::test]
async fn production_mode_refuses_the_test_idp() {
    let dir = tempfile::tempdir().expect("dir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vardrum"))
        .args(["--mode", "production", "--data-dir"])
        .arg(dir.path())
        .env(
            "VARDRUM_TOKEN_SECRET",
            "a-production-secret-of-enough-length-0123456789",
        )
        .output()
        .await
        .expect("run vardrum");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("identity provider"), "{stderr}");
}
