//! What was done on an account and by whom: the person themself, or a guardian acting for a
//! child, with both identities kept ("every action records both identities"). The events are
//! the account's own data: exported with it and deleted with it.

use serde::Serialize;

use crate::db::Db;

use crate::portal::identity::personnummer::Personnummer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    Login,
    ProfileUpdate,
    Export,
    PolicyDecision,
    /// A guardian started acting for the child (recorded on the child's account).
    ProxyStart,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Login => "login",
            EventAction::ProfileUpdate => "profile_update",
            EventAction::Export => "export",
            EventAction::PolicyDecision => "policy_decision",
            EventAction::ProxyStart => "proxy_start",
        }
    }
}

/// One event as the account's owner sees it in their export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Unix seconds.
    pub at: i64,
    pub action: String,
    /// Who did it: the owner's own number, or their guardian's.
    pub actor_personnummer: String,
}

/// Records an event on `account_id`, done by `actor`.
pub async fn record(
    db: &Db,
    account_id: &str,
    actor: &Personnummer,
    action: EventAction,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO account_events (id, account_id, actor_personnummer, action, at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::new_v4().simple().to_string())
    .bind(account_id)
    .bind(actor.as_str())
    .bind(action.as_str())
    .bind(at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Every event of an account, oldest first.
pub async fn for_account(db: &Db, account_id: &str) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT at, action, actor_personnummer FROM account_events WHERE account_id = $1 \
         ORDER BY at, id",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, action, actor_personnummer)| Event {
            at,
            action,
            actor_personnummer,
        })
        .collect())
}
