//! The care relationships the portal itself knows between a patient and a care unit: one query
//! per capability that creates them, in one list ([`SOURCES`]), so that a capability adding a
//! new kind of contact (messages, triage) adds one line here and the rule follows.

use crate::db::Db;
use crate::portal::audit::Basis;

/// One kind of care relationship: a query returning the ids of the patient's items with a care
/// unit (`$1` the account id, `$2` the care unit), newest first, and the basis each id gives.
pub struct Source {
    pub kind: &'static str,
    pub sql: &'static str,
    pub basis: fn(String) -> Basis,
}

/// Every kind of care relationship, in the order they are preferred as the logged basis: a
/// booking first, since it is what a clinician most often opens a record for.
pub const SOURCES: &[Source] = &[
    Source {
        kind: "booking",
        // Any booking, ended or not: a visit that took place is care given by that unit, and
        // the records of it stay that unit's to read while they are kept.
        sql: "SELECT id FROM bookings WHERE account_id = $1 AND care_unit = $2 \
              ORDER BY created_at DESC, id LIMIT 1",
        basis: Basis::Booking,
    },
    Source {
        kind: "conversation",
        // Open or closed: a conversation with the unit is contact with its care.
        sql: "SELECT id FROM conversations WHERE account_id = $1 AND care_unit = $2 \
              ORDER BY last_message_at DESC, id LIMIT 1",
        basis: Basis::Conversation,
    },
    Source {
        kind: "dropin",
        sql: "SELECT q.id FROM dropin_entries e JOIN dropin_queues q ON q.id = e.queue_id \
              WHERE e.account_id = $1 AND q.care_unit = $2 \
              ORDER BY e.joined_at DESC, q.id LIMIT 1",
        basis: Basis::DropIn,
    },
];

/// The care relationship of the patient (account id) with `care_unit`, if the portal knows one:
/// the first source in [`SOURCES`] order that has an item.
pub async fn find(
    db: &Db,
    account_id: &str,
    care_unit: &str,
) -> Result<Option<Basis>, sqlx::Error> {
    for source in SOURCES {
        let id: Option<(String,)> = sqlx::query_as(source.sql)
            .bind(account_id)
            .bind(care_unit)
            .fetch_optional(db.pool())
            .await?;
        if let Some((id,)) = id {
            return Ok(Some((source.basis)(id)));
        }
    }
    Ok(None)
}
