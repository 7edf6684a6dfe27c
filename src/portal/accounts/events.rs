//! What was done on an account and by whom: the person themself, or a guardian acting for a
//! child, with both identities kept ("every action records both identities"). The events are
//! the account's own data: exported with it and deleted with it.

use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::AnyConnection;

use crate::db::Db;

use crate::portal::identity::personnummer::Personnummer;
use crate::portal::personal_data::{Holding, OnDelete, Owner, PersonalData, PersonalDataError};

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

/// The events' part in export and deletion: exported as the account's history; the database
/// removes them with the account.
#[derive(Debug)]
pub struct EventData;

impl PersonalData for EventData {
    fn section(&self) -> Option<&'static str> {
        Some("events")
    }

    fn holdings(&self) -> &'static [Holding] {
        const HOLDINGS: &[Holding] = &[
            Holding::new("account_events", "account_id", OnDelete::Cascades),
            Holding::new(
                "account_events",
                "actor_personnummer",
                OnDelete::Kept(
                    "a guardian's acts on a child's account are the child's record; they go \
                     with the child's account",
                ),
            ),
        ];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        db: &'a Db,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>> {
        Box::pin(async move {
            let events = for_account(db, &owner.account_id).await?;
            Ok(Some(serde_json::to_value(events)?))
        })
    }

    fn delete<'a>(
        &'a self,
        _conn: &'a mut AnyConnection,
        _owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>> {
        // ON DELETE CASCADE from accounts (migration 0007).
        Box::pin(async { Ok(()) })
    }
}
