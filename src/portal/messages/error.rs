//! Why a messages operation was refused: one typed error per reason, each with a stable code for
//! the API, and each leaving the database and the attachment store as they were.

use crate::portal::audit::AuditError;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// A field of a request is refused; names the field, never echoes the value.
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    /// No clinician works in the care unit named: it is not one the region's staff know.
    #[error("no care unit of that name takes messages")]
    UnknownCareUnit,
    /// The patient has no account in the portal (a guardian's child gets one when the guardian
    /// first acts for it).
    #[error("the patient has no account")]
    NoAccount,
    /// Only clinicians read and answer patients' conversations; administrators are not given
    /// patient data by their role alone.
    #[error("only a clinician may do this")]
    NotClinician,
    /// No such conversation, or one the person is not a participant of (another patient's, or
    /// another care unit's for staff): the two are never told apart.
    #[error("no such conversation")]
    ConversationNotFound,
    /// No such message in this conversation.
    #[error("no such message")]
    MessageNotFound,
    /// Files are attached to a message by the one who wrote it.
    #[error("files can be attached only to a message you wrote")]
    NotYourMessage,
    /// Nobody writes in a closed conversation; a patient may start a new one.
    #[error("the conversation is closed; start a new one")]
    ConversationClosed,
    /// The staff member to assign to is not a clinician of the conversation's care unit.
    #[error("that staff member does not work as a clinician in this care unit")]
    NotAColleague,
    /// A read mark beyond the last message.
    #[error("the conversation has no message {0}")]
    NoSuchSeq(i64),
    #[error("no such attachment")]
    AttachmentNotFound,
    #[error("the file is empty")]
    EmptyFile,
    #[error("the file is larger than {0} bytes")]
    FileTooLarge(u64),
    /// The declared type (the request's `Content-Type`) is not one accepted, or the content is
    /// none of the accepted kinds.
    #[error(
        "only JPEG and PNG images and PDF documents can be attached (declared as image/jpeg, \
         image/png or application/pdf)"
    )]
    UnsupportedType,
    /// The content is not what the request declared (a PDF or unknown bytes sent as
    /// `image/png`): nothing is stored.
    #[error("the file's content is not the declared {declared}")]
    TypeMismatch { declared: &'static str },
    #[error("a message takes at most {0} files")]
    TooManyAttachments(usize),
    #[error("stored message data is corrupt: {0}")]
    Corrupt(&'static str),
    /// A stored attachment's file is missing or changed in the store.
    #[error("the attachment's file is missing or damaged in the store")]
    FileDamaged,
    #[error("attachment store: {0}")]
    Store(#[from] std::io::Error),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("messages: database: {0}")]
    Database(#[from] sqlx::Error),
}

impl MessageError {
    /// A stable, machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            MessageError::Invalid { .. } => "invalid_field",
            MessageError::UnknownCareUnit => "unknown_care_unit",
            MessageError::NoAccount => "no_account",
            MessageError::NotClinician => "not_clinician",
            MessageError::ConversationNotFound => "conversation_not_found",
            MessageError::MessageNotFound => "message_not_found",
            MessageError::NotYourMessage => "not_your_message",
            MessageError::ConversationClosed => "conversation_closed",
            MessageError::NotAColleague => "not_a_clinician_of_unit",
            MessageError::NoSuchSeq(_) => "invalid_field",
            MessageError::AttachmentNotFound => "attachment_not_found",
            MessageError::EmptyFile => "empty_file",
            MessageError::FileTooLarge(_) => "file_too_large",
            MessageError::UnsupportedType => "unsupported_file_type",
            MessageError::TypeMismatch { .. } => "file_type_mismatch",
            MessageError::TooManyAttachments(_) => "too_many_attachments",
            MessageError::Corrupt(_)
            | MessageError::FileDamaged
            | MessageError::Store(_)
            | MessageError::Audit(_)
            | MessageError::Database(_) => "internal",
        }
    }
}

pub(super) fn invalid(field: &'static str, reason: &'static str) -> MessageError {
    MessageError::Invalid { field, reason }
}
