//! Files attached to messages: an image or a PDF the writer of a message adds to it. The type is
//! read from the content ([`crate::uploads::sniff`]) and must be the one the request declared,
//! so a file that says `image/png` and holds a PDF or unknown bytes is refused and nothing is
//! kept; the size is bounded; the display name is cleaned ([`crate::uploads::name`]).
//!
//! **The row and its file together**, as `src/uploads/mod.rs` lays out: the bytes are written
//! durably to the [`FileStore`] first, then the row; if the row is not written the file is
//! removed at once (and a crash in between leaves a file without a row, which
//! [`Messages::sweep`](super::Messages::sweep) removes at start-up). Rows are deleted before
//! their files: the deleting transaction queues the ids in `message_file_removals`, and
//! [`Messages::purge_removed_files`](super::Messages::purge_removed_files) removes the files
//! after it has committed. So every row has its file, whatever crashes when.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::accounts::{Account, StaffAccess};
use crate::portal::audit::Action;
use crate::uploads::name;
use crate::uploads::sniff::{self, FileType};
use crate::uploads::store::FileKey;

use super::conversation::{AuthorKind, ConvRow};
use super::{MAX_ATTACHMENTS_PER_MESSAGE, MessageError, Messages, attachment_resource};

/// An attachment as a message lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    pub id: String,
    /// The cleaned name, its extension fitting the type.
    pub name: String,
    /// Sniffed from the content: `image/jpeg`, `image/png` or `application/pdf`.
    pub content_type: String,
    pub size: u64,
}

/// A file to attach, as the HTTP layer received it.
#[derive(Debug)]
pub struct NewAttachment<'a> {
    /// The request's `Content-Type` (parameters allowed), if it had one.
    pub declared: Option<&'a str>,
    /// The name the writer gave it, if any; cleaned here.
    pub raw_name: Option<&'a str>,
    pub bytes: &'a [u8],
}

/// Who attaches: the patient side (by the writer's own account) or a staff member.
enum Attacher<'a> {
    PatientSide { account: &'a str },
    Staff { id: &'a str },
}

/// The attachments of a conversation, each with its message's id, oldest first.
pub(super) async fn attachments_of(
    db: &Db,
    conversation_id: &str,
) -> Result<Vec<(String, AttachmentView)>, MessageError> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT message_id, id, name, content_type, size FROM conversation_attachments \
         WHERE conversation_id = $1 ORDER BY created_at, id",
    )
    .bind(conversation_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(message, id, name, content_type, size)| {
            (
                message,
                AttachmentView {
                    id,
                    name,
                    content_type,
                    size: u64::try_from(size).unwrap_or_default(),
                },
            )
        })
        .collect())
}

/// The declared type, if it is one accepted.
fn declared_type(declared: Option<&str>) -> Result<FileType, MessageError> {
    let essence = declared
        .and_then(|d| d.split(';').next())
        .map(|d| d.trim().to_ascii_lowercase())
        .ok_or(MessageError::UnsupportedType)?;
    FileType::from_content_type(&essence).ok_or(MessageError::UnsupportedType)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Messages {
    /// The patient side attaches a file to a message it wrote (the same person: a guardian's
    /// message by that guardian), in an open conversation.
    pub async fn attach(
        &self,
        acting: &ActingAs,
        me: &Account,
        conversation_id: &str,
        message_id: &str,
        new: NewAttachment<'_>,
    ) -> Result<AttachmentView, MessageError> {
        let conv = self
            .patient_conversation(acting, me, conversation_id)
            .await?;
        let attacher = Attacher::PatientSide {
            account: me.id.as_str(),
        };
        self.keep(&conv, message_id, &attacher, &new, None).await
    }

    /// A clinician attaches a file to a message they wrote in a conversation of their unit
    /// (logged first, as a change to the patient's conversation).
    pub async fn staff_attach(
        &self,
        staff: &StaffAccess,
        conversation_id: &str,
        message_id: &str,
        new: NewAttachment<'_>,
    ) -> Result<AttachmentView, MessageError> {
        let conv = self.unit_conversation(staff, conversation_id).await?;
        let attacher = Attacher::Staff {
            id: &staff.actor.id,
        };
        self.keep(&conv, message_id, &attacher, &new, Some(staff))
            .await
    }

    /// One of the patient side's attachments, with its bytes.
    pub async fn open_attachment(
        &self,
        acting: &ActingAs,
        me: &Account,
        conversation_id: &str,
        attachment_id: &str,
    ) -> Result<(AttachmentView, Vec<u8>), MessageError> {
        let conv = self
            .patient_conversation(acting, me, conversation_id)
            .await?;
        let (view, sha) = self.attachment_row(&conv, attachment_id).await?;
        self.bytes_of(view, &sha).await
    }

    /// An attachment of a conversation of the clinician's unit, with its bytes (logged before
    /// the bytes are read).
    pub async fn staff_open_attachment(
        &self,
        staff: &StaffAccess,
        conversation_id: &str,
        attachment_id: &str,
    ) -> Result<(AttachmentView, Vec<u8>), MessageError> {
        let conv = self.unit_conversation(staff, conversation_id).await?;
        let (view, sha) = self.attachment_row(&conv, attachment_id).await?;
        self.log_access(
            staff,
            &conv.personnummer,
            Action::Read,
            &conv.id,
            &attachment_resource(&view.id),
        )
        .await?;
        self.bytes_of(view, &sha).await
    }

    async fn attachment_row(
        &self,
        conv: &ConvRow,
        attachment_id: &str,
    ) -> Result<(AttachmentView, String), MessageError> {
        let row: Option<(String, String, String, i64, String)> = sqlx::query_as(
            "SELECT id, name, content_type, size, sha256 FROM conversation_attachments \
             WHERE id = $1 AND conversation_id = $2",
        )
        .bind(attachment_id)
        .bind(&conv.id)
        .fetch_optional(self.db.pool())
        .await?;
        let (id, name, content_type, size, sha) = row.ok_or(MessageError::AttachmentNotFound)?;
        Ok((
            AttachmentView {
                id,
                name,
                content_type,
                size: u64::try_from(size).unwrap_or_default(),
            },
            sha,
        ))
    }

    /// The stored bytes, if they are still the ones the row describes.
    async fn bytes_of(
        &self,
        view: AttachmentView,
        sha: &str,
    ) -> Result<(AttachmentView, Vec<u8>), MessageError> {
        let key = FileKey::parse(&view.id).ok_or(MessageError::Corrupt("attachment id"))?;
        let bytes = self
            .store
            .get(&key)
            .await?
            .ok_or(MessageError::FileDamaged)?;
        if hex_sha256(&bytes) != sha {
            return Err(MessageError::FileDamaged);
        }
        Ok((view, bytes))
    }

    /// Checks the message and the file, then keeps the bytes (durably) and then the row. On
    /// `Err` nothing is kept.
    async fn keep(
        &self,
        conv: &ConvRow,
        message_id: &str,
        attacher: &Attacher<'_>,
        new: &NewAttachment<'_>,
        staff: Option<&StaffAccess>,
    ) -> Result<AttachmentView, MessageError> {
        let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT author_kind, author_account, author_staff FROM conversation_messages \
             WHERE id = $1 AND conversation_id = $2",
        )
        .bind(message_id)
        .bind(&conv.id)
        .fetch_optional(self.db.pool())
        .await?;
        let (kind, account, staff_author) = row.ok_or(MessageError::MessageNotFound)?;
        let kind = match kind.as_str() {
            "patient" => AuthorKind::Patient,
            "guardian" => AuthorKind::Guardian,
            "staff" => AuthorKind::Staff,
            _ => return Err(MessageError::Corrupt("author_kind")),
        };
        let own = match attacher {
            Attacher::PatientSide { account: me } => {
                kind != AuthorKind::Staff && account.as_deref() == Some(*me)
            }
            Attacher::Staff { id } => {
                kind == AuthorKind::Staff && staff_author.as_deref() == Some(*id)
            }
        };
        if !own {
            return Err(MessageError::NotYourMessage);
        }
        if conv.closed_at.is_some() {
            return Err(MessageError::ConversationClosed);
        }
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM conversation_attachments WHERE message_id = $1")
                .bind(message_id)
                .fetch_one(self.db.pool())
                .await?;
        if count >= MAX_ATTACHMENTS_PER_MESSAGE as i64 {
            return Err(MessageError::TooManyAttachments(
                MAX_ATTACHMENTS_PER_MESSAGE,
            ));
        }

        // The file itself: the declared type must be one we take, the content that type.
        let declared = declared_type(new.declared)?;
        if new.bytes.is_empty() {
            return Err(MessageError::EmptyFile);
        }
        if new.bytes.len() as u64 > self.max_attachment_bytes {
            return Err(MessageError::FileTooLarge(self.max_attachment_bytes));
        }
        if sniff::sniff(new.bytes) != Some(declared) {
            return Err(MessageError::TypeMismatch {
                declared: declared.content_type(),
            });
        }

        let key = FileKey::random();
        if let Some(staff) = staff {
            self.log_access(
                staff,
                &conv.personnummer,
                Action::Create,
                &conv.id,
                &attachment_resource(key.as_str()),
            )
            .await?;
        }
        let view = AttachmentView {
            id: key.to_string(),
            name: name::sanitise(new.raw_name.unwrap_or_default(), declared),
            content_type: declared.content_type().to_owned(),
            size: new.bytes.len() as u64,
        };
        // 1. The bytes, durably: a failure or crash here leaves nothing under the key.
        self.store.put(&key, new.bytes).await?;
        // 2. The row, only while the conversation is open and the message has room: a close or
        //    another attachment racing this one is decided here.
        let inserted = sqlx::query(
            "INSERT INTO conversation_attachments (id, message_id, conversation_id, name, \
             content_type, size, sha256, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $3 AND closed_at IS NULL) \
             AND (SELECT COUNT(*) FROM conversation_attachments WHERE message_id = $2) < $9",
        )
        .bind(&view.id)
        .bind(message_id)
        .bind(&conv.id)
        .bind(&view.name)
        .bind(&view.content_type)
        .bind(i64::try_from(view.size).unwrap_or(i64::MAX))
        .bind(hex_sha256(new.bytes))
        .bind(self.now())
        .bind(MAX_ATTACHMENTS_PER_MESSAGE as i64)
        .execute(self.db.pool())
        .await;
        let refused = match inserted {
            Ok(done) if done.rows_affected() == 1 => None,
            Ok(_) => Some(self.why_not_attached(&conv.id).await),
            Err(e) => Some(MessageError::Database(e)),
        };
        if let Some(error) = refused {
            // No row: the file goes again. Should that fail too, it is a file without a row,
            // which the sweep removes; never a row without its file.
            if let Err(gone) = self.store.delete(&key).await {
                tracing::warn!(attachment = %key, error = %gone,
                    "an attachment whose row was not written could not be removed; the sweep will");
            }
            return Err(error);
        }
        tracing::info!(conversation = %conv.id, attachment = %view.id, size = view.size,
            "file attached to a message");
        Ok(view)
    }

    /// Why the conditional insert of an attachment row wrote nothing.
    async fn why_not_attached(&self, conversation_id: &str) -> MessageError {
        let closed: Result<Option<(Option<i64>,)>, _> =
            sqlx::query_as("SELECT closed_at FROM conversations WHERE id = $1")
                .bind(conversation_id)
                .fetch_optional(self.db.pool())
                .await;
        match closed {
            Ok(Some((Some(_),))) => MessageError::ConversationClosed,
            Ok(None) => MessageError::ConversationNotFound,
            Ok(Some((None,))) => MessageError::TooManyAttachments(MAX_ATTACHMENTS_PER_MESSAGE),
            Err(e) => MessageError::Database(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_type_is_read_without_its_parameters_and_must_be_one_we_take() {
        assert_eq!(declared_type(Some("image/png")).unwrap(), FileType::Png);
        assert_eq!(
            declared_type(Some("Image/JPEG; q=1")).unwrap(),
            FileType::Jpeg
        );
        assert_eq!(
            declared_type(Some("application/pdf")).unwrap(),
            FileType::Pdf
        );
        for bad in [
            None,
            Some(""),
            Some("text/html"),
            Some("application/octet-stream"),
        ] {
            assert!(matches!(
                declared_type(bad),
                Err(MessageError::UnsupportedType)
            ));
        }
    }
}
