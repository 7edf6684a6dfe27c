//! Secure messages: conversations between a patient (or a guardian acting for a child) and a
//! care unit, with the full history, files attached to messages, a read mark per participant,
//! and the care unit's inbox where clinicians reply, assign and close. Domain and storage only;
//! the HTTP API (`api/messages.rs`) sits on top.
//!
//! ```text
//!   patient / guardian ──start()──▶ conversations (account_id = the patient's, care_unit)
//!          │                            │ message_count: the seq counter, closed_at / closed_by
//!          ├──post()──┐                 │ assigned_to (staff-side only)
//!   clinician ─reply()┴──▶ append() ──▶ conversation_messages (seq 1, 2, …, author's name)
//!          │                   │            └─ conversation_attachments ──▶ FileStore (bytes)
//!          │                   └─ the notifications hook: same transaction (see append())
//!          ├──mark_read()──▶ conversation_reads (reader: `patient` | staff id, read_seq)
//!   clinician ──inbox() / assign() / close()  (the session's active care unit)
//! ```
//!
//! **Participants.** A conversation belongs to one patient's account (the child's, when a
//! guardian writes for them) and one care unit. The patient's side (the patient, and a guardian
//! acting for them: [`ActingAs`]) sees it; so do the clinicians of its care unit, in the
//! session's active care unit. Anyone else is told it does not exist
//! ([`MessageError::ConversationNotFound`]), like everywhere in the API. A care unit takes
//! messages when the region's staff know it: at least one clinician works in it.
//!
//! **Names.** The seeds keep "the names of the participants in the conversation": each message
//! carries its writer's name as it was when written, and the patient sees the names of the
//! clinicians who answer (the region's rule of initials only is for group video visits, where
//! patients see each other). What stays staff-side: who a conversation is assigned to, who
//! closed it, staff ids, and the staff's read marks.
//!
//! **Order and closing.** A message takes its seq with `UPDATE conversations SET message_count
//! = message_count + 1 … WHERE closed_at IS NULL RETURNING message_count`, the first statement
//! of its transaction: concurrent posts get distinct seqs on SQLite and PostgreSQL, and a post
//! racing a close either lands before it or is refused as
//! [`MessageError::ConversationClosed`]. Closing records `closed_at` and who closed it; the
//! region's retention counts from `closed_at`. A closed conversation takes nothing more; the
//! patient starts a new one.
//!
//! **Read marks.** Each participant has their own mark, the highest seq they have read: the
//! patient's side one (`patient`), each clinician one (their staff id). Unread for a reader are
//! the messages after their mark written by the other side (for a clinician: by anyone but
//! themself). Marking read moves only the reader's own mark, and only forward; writing a
//! message marks everything up to it read for its writer.
//!
//! **Attachments** ([`attachments`]): the type is sniffed from the content and must be the type
//! the request declared; the size is bounded (the server's `uploads.max_bytes`, 10 MiB by
//! default, the same limit as files in calls); the display name is cleaned. The file is written durably
//! before its row, and removed after its row (`message_file_removals`, in the deleting
//! transaction, then [`Messages::purge_removed_files`]), as `src/uploads/mod.rs` lays out.
//! The store is a directory of its own (`<data_dir>/message-attachments`): the call uploads'
//! sweep removes files that have no `call_uploads` row and must never see these.
//!
//! **PDL.** Every staff read of a conversation (the inbox lists count: one entry per
//! conversation shown) or of an attachment, and every staff change, writes one access-log entry
//! before anything is shown or changed, through the one function [`Messages::log_access`].
//! Reading and writing need the clinician role.
//!
//! **What is logged** (tracing): conversation and message ids, sizes; never a subject, a text,
//! a file name, a name or a personnummer.

pub mod attachments;
mod conversation;
mod error;

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::AnyConnection;

use crate::clock::Clock;
use crate::db::Db;
use crate::portal::accounts::StaffAccess;
use crate::portal::audit::{Action, ActorKind, Basis};
use crate::portal::care;
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::personal_data::{Holding, OnDelete, Owner, PersonalData, PersonalDataError};
use crate::uploads::store::{FileKey, FileStore};

pub use attachments::{AttachmentView, NewAttachment};
pub use conversation::{
    Author, AuthorKind, Conversation, ConversationStatus, ConversationSummary, InboxFilter,
    MessageView, PatientRef, StaffConversation, StaffRef, StaffSummary, StatusFilter,
};
pub use error::MessageError;

/// The most files one message takes.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 5;

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// Longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;

/// The access-log resource of a conversation: `conversation:<id>`.
pub fn resource(conversation_id: &str) -> String {
    format!("conversation:{conversation_id}")
}

/// The access-log resource of an attachment: `attachment:<id>`.
pub fn attachment_resource(attachment_id: &str) -> String {
    format!("attachment:{attachment_id}")
}

/// The messages of one region's portal: database, clock, attachment store and size limit.
#[derive(Clone)]
pub struct Messages {
    db: Db,
    clock: Arc<dyn Clock>,
    store: Arc<dyn FileStore>,
    max_attachment_bytes: u64,
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messages")
            .field("max_attachment_bytes", &self.max_attachment_bytes)
            .finish_non_exhaustive()
    }
}

impl Messages {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        store: Arc<dyn FileStore>,
        max_attachment_bytes: u64,
    ) -> Self {
        Self {
            db,
            clock,
            store,
            max_attachment_bytes,
        }
    }

    /// The largest attachment accepted, in bytes.
    pub fn max_attachment_bytes(&self) -> u64 {
        self.max_attachment_bytes
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }

    /// The one place where a staff access to a conversation or one of its attachments is
    /// written to the PDL access log. The conversation itself, with the staff member's active
    /// care unit, is the care relationship that allows the access. Callers log before they show
    /// or change anything, and fail the request if this fails.
    pub async fn log_access(
        &self,
        staff: &StaffAccess,
        patient: &Personnummer,
        action: Action,
        conversation_id: &str,
        resource: &str,
    ) -> Result<(), MessageError> {
        care::log(
            &self.db,
            self.clock.as_ref(),
            staff,
            patient,
            action,
            resource,
            None,
            Basis::Conversation(conversation_id.to_owned()),
        )
        .await?;
        Ok(())
    }

    /// Removes from the store the files whose rows have been deleted (an account's deletion,
    /// later the retention job), then their entries in `message_file_removals`: the second
    /// half of "row first, then file". Safe to repeat; run after each deletion and at start-up
    /// (a crash between the rows and the files leaves the entries). How many it removed.
    pub async fn purge_removed_files(&self) -> Result<usize, MessageError> {
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM message_file_removals")
            .fetch_all(self.db.pool())
            .await?;
        let mut removed = 0;
        for (id,) in ids {
            if let Some(key) = FileKey::parse(&id) {
                self.store.delete(&key).await?;
                removed += 1;
            }
            sqlx::query("DELETE FROM message_file_removals WHERE id = $1")
                .bind(&id)
                .execute(self.db.pool())
                .await?;
        }
        if removed > 0 {
            tracing::info!(
                files = removed,
                "removed the files of deleted message attachments"
            );
        }
        Ok(removed)
    }

    /// Removes stored files that have had no attachment row for at least `min_age_secs`: a
    /// crash between a file and its row. Younger ones may be an attachment in flight.
    pub async fn sweep(&self, min_age_secs: u64) -> Result<usize, MessageError> {
        let now = self.clock.now_unix();
        let mut removed = 0;
        for file in self.store.list().await? {
            if now.saturating_sub(file.modified_unix) < min_age_secs {
                continue;
            }
            let row: Option<(String,)> =
                sqlx::query_as("SELECT id FROM conversation_attachments WHERE id = $1")
                    .bind(file.key.as_str())
                    .fetch_optional(self.db.pool())
                    .await?;
            if row.is_none() {
                self.store.delete(&file.key).await?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(
                files = removed,
                "removed message attachment files without a row"
            );
        }
        Ok(removed)
    }
}

/// Staff reading or writing patients' conversations must be clinicians, acting as staff.
fn require_clinician(staff: &StaffAccess) -> Result<(), MessageError> {
    if staff.actor.kind == ActorKind::Staff && staff.actor.role == "clinician" {
        Ok(())
    } else {
        Err(MessageError::NotClinician)
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What messages hold about one account, for "export my data": its conversations as the
/// patient sees them (every message, attachments by name, type and size), and the messages the
/// person wrote as a guardian in a child's conversation (by id and time: the text is the
/// child's record).
#[derive(Debug, Clone, Serialize)]
pub struct OwnMessages {
    pub conversations: Vec<Conversation>,
    pub written_for_others: Vec<WrittenForOther>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WrittenForOther {
    pub conversation_id: String,
    pub message_id: String,
    /// Unix seconds.
    pub sent_at: i64,
}

/// Messages' part in export and deletion.
#[derive(Debug)]
pub struct MessageData;

impl PersonalData for MessageData {
    fn section(&self) -> Option<&'static str> {
        Some("messages")
    }

    fn holdings(&self) -> &'static [Holding] {
        const HOLDINGS: &[Holding] = &[
            // Deleted with their messages, attachments and read marks (those cascade from the
            // conversation); the attachments' files are queued for removal in the same
            // transaction and removed after it.
            Holding::new("conversations", "account_id", OnDelete::Deleted),
            Holding::new(
                "conversation_messages",
                "author_account",
                OnDelete::Kept(
                    "what a guardian wrote in a child's conversation is part of the child's \
                     record and stays with it, under the name it was written with; the link to \
                     the guardian's account is cleared",
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
            let own = conversation::own_data(db, &owner.account_id)
                .await
                .map_err(|e| match e {
                    MessageError::Database(e) => PersonalDataError::Database(e),
                    _ => PersonalDataError::Corrupt("messages"),
                })?;
            Ok(Some(serde_json::to_value(own)?))
        })
    }

    fn delete<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>> {
        Box::pin(async move {
            // Writes only (the first one takes SQLite's write lock). The files' ids go to
            // `message_file_removals` with the rows' deletion, in the same transaction; the
            // files follow once it has committed (`Messages::purge_removed_files`).
            sqlx::query(
                "INSERT INTO message_file_removals (id) SELECT a.id FROM conversation_attachments a \
                 JOIN conversations c ON c.id = a.conversation_id WHERE c.account_id = $1",
            )
            .bind(owner.account_id.as_str())
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM conversations WHERE account_id = $1")
                .bind(owner.account_id.as_str())
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE conversation_messages SET author_account = NULL WHERE author_account = $1",
            )
            .bind(owner.account_id.as_str())
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }
}
