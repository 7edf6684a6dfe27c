//! Decisions on the region's privacy-policy versions. When the version in force is marked
//! significant, a person must take a stand on it before they go on using the portal (both
//! regions' policies promise to inform about significant changes); their decision is kept with
//! their account.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::db::Db;
use crate::portal::personal_data::{Holding, OnDelete, Owner, PersonalData, PersonalDataError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Accepted,
    Declined,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Declined => "declined",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(Decision::Accepted),
            "declined" => Some(Decision::Declined),
            _ => None,
        }
    }
}

/// A decision as exported to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    pub version: String,
    pub decision: Decision,
    /// Unix seconds.
    pub decided_at: i64,
}

/// The person's decision on `version`, if any.
pub async fn decision(
    db: &Db,
    account_id: &str,
    version: &str,
) -> Result<Option<Decision>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT decision FROM policy_decisions WHERE account_id = $1 AND version = $2",
    )
    .bind(account_id)
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|(d,)| Decision::parse(&d)))
}

/// Records (or replaces) the person's decision on `version`.
pub async fn decide(
    db: &Db,
    account_id: &str,
    version: &str,
    decision: Decision,
    at: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("DELETE FROM policy_decisions WHERE account_id = $1 AND version = $2")
        .bind(account_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO policy_decisions (account_id, version, decision, decided_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(account_id)
    .bind(version)
    .bind(decision.as_str())
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Every decision of an account, oldest first (for the export).
pub async fn for_account(db: &Db, account_id: &str) -> Result<Vec<DecisionRecord>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT version, decision, decided_at FROM policy_decisions WHERE account_id = $1 \
         ORDER BY decided_at, version",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(version, decision, decided_at)| {
            Some(DecisionRecord {
                version,
                decision: Decision::parse(&decision)?,
                decided_at,
            })
        })
        .collect())
}

/// The decisions' part in export and deletion: exported; the database removes them with the
/// account.
#[derive(Debug)]
pub struct DecisionData;

impl PersonalData for DecisionData {
    fn section(&self) -> Option<&'static str> {
        Some("policy_decisions")
    }

    fn holdings(&self) -> &'static [Holding] {
        const HOLDINGS: &[Holding] = &[Holding::new(
            "policy_decisions",
            "account_id",
            OnDelete::Cascades,
        )];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        db: &'a Db,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>> {
        Box::pin(async move {
            let decisions = for_account(db, &owner.account_id).await?;
            Ok(Some(serde_json::to_value(decisions)?))
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
