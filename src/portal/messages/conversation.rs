//! Conversations and their messages: started, read, answered and marked read by the patient's
//! side (the patient, or a guardian acting for them), and listed, read, answered, assigned and
//! closed by the clinicians of the care unit, each staff access logged first.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::Db;
use crate::portal::accounts::contact::is_invisible;
use crate::portal::accounts::guardians::ActingAs;
use crate::portal::accounts::{Account, StaffAccess};
use crate::portal::audit::Action;
use crate::portal::bookings::LocalTime;
use crate::portal::bookings::time;
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::notifications;

use super::attachments::{AttachmentView, attachments_of};
use super::error::invalid;
use super::{
    MAX_SUBJECT_CHARS, MAX_TEXT_CHARS, MessageError, Messages, OwnMessages, WrittenForOther,
    new_id, require_clinician, resource,
};

/// Who wrote a message (or started a conversation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Patient,
    /// A guardian acting for the child.
    Guardian,
    /// A clinician of the care unit.
    Staff,
}

impl AuthorKind {
    fn as_str(self) -> &'static str {
        match self {
            AuthorKind::Patient => "patient",
            AuthorKind::Guardian => "guardian",
            AuthorKind::Staff => "staff",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(AuthorKind::Patient),
            "guardian" => Some(AuthorKind::Guardian),
            "staff" => Some(AuthorKind::Staff),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    Closed,
}

/// A message's writer, by name as it was when they wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub kind: AuthorKind,
    pub name: String,
    /// A staff author's staff id: in staff views only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<String>,
}

/// One message as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageView {
    pub id: String,
    /// 1, 2, 3, … in the conversation; what a read mark counts in.
    pub seq: i64,
    pub author: Author,
    pub text: String,
    /// Unix seconds, and the same on a Stockholm wall clock.
    pub sent_at: i64,
    pub sent: Option<LocalTime>,
    /// Written by someone else and after the reader's read mark.
    pub unread: bool,
    pub attachments: Vec<AttachmentView>,
}

/// A conversation without its messages, as either side lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    pub care_unit: String,
    pub subject: String,
    pub status: ConversationStatus,
    /// `patient` or `guardian`.
    pub started_by: AuthorKind,
    pub created_at: i64,
    pub last_message_at: i64,
    pub last_message: Option<LocalTime>,
    pub message_count: i64,
    /// Messages unread by this reader.
    pub unread: i64,
    /// When staff closed it; retention counts from here.
    pub closed_at: Option<i64>,
}

/// A conversation with its full history, as the patient's side sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conversation {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub messages: Vec<MessageView>,
}

/// The patient a conversation is about, for staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientRef {
    pub personnummer: Personnummer,
    pub given_name: String,
    pub family_name: String,
}

/// A staff member, for staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffRef {
    pub staff_id: String,
    /// `None` when the staff member's row is gone.
    pub name: Option<String>,
}

/// A conversation without its messages, as the care unit's inbox lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffSummary {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub patient: PatientRef,
    pub assigned_to: Option<StaffRef>,
    pub closed_by: Option<StaffRef>,
}

/// A conversation with its full history, as a clinician of its care unit sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffConversation {
    #[serde(flatten)]
    pub conversation: StaffSummary,
    pub messages: Vec<MessageView>,
}

/// Which conversations the inbox lists by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Open,
    Closed,
    All,
}

/// The inbox's filters, all of which must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboxFilter {
    pub status: StatusFilter,
    /// Only conversations with messages unread by the staff member.
    pub unread_only: bool,
    /// Only conversations assigned to the staff member.
    pub assigned_to_me: bool,
}

/// Whose read mark and unread count a query computes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reader<'a> {
    /// The patient's side: the patient and a guardian acting for them share one mark.
    PatientSide,
    /// One staff member, by staff id.
    Staff(&'a str),
}

impl Reader<'_> {
    fn key(&self) -> &str {
        match self {
            Reader::PatientSide => "patient",
            Reader::Staff(id) => id,
        }
    }

    /// Whether a message by this author counts as unread for the reader (past the mark).
    fn reads_as_other(&self, kind: AuthorKind, staff: Option<&str>) -> bool {
        match self {
            Reader::PatientSide => kind == AuthorKind::Staff,
            Reader::Staff(id) => staff != Some(*id),
        }
    }

    /// The same as SQL over `m`, the reader's key being `$1`.
    fn other_sql(&self) -> &'static str {
        match self {
            Reader::PatientSide => "m.author_kind = 'staff'",
            Reader::Staff(_) => "(m.author_staff IS NULL OR m.author_staff <> $1)",
        }
    }
}

/// A conversation's row with what every view needs, the reader's unread count included.
#[derive(Debug, Clone)]
pub(super) struct ConvRow {
    pub id: String,
    pub account_id: String,
    pub care_unit: String,
    subject: String,
    started_by: AuthorKind,
    pub message_count: i64,
    created_at: i64,
    last_message_at: i64,
    assigned_to: Option<String>,
    assigned_name: Option<String>,
    pub closed_at: Option<i64>,
    closed_by: Option<String>,
    closer_name: Option<String>,
    pub personnummer: Personnummer,
    given_name: String,
    family_name: String,
    unread: i64,
}

impl ConvRow {
    fn summary(&self) -> ConversationSummary {
        ConversationSummary {
            id: self.id.clone(),
            care_unit: self.care_unit.clone(),
            subject: self.subject.clone(),
            status: if self.closed_at.is_some() {
                ConversationStatus::Closed
            } else {
                ConversationStatus::Open
            },
            started_by: self.started_by,
            created_at: self.created_at,
            last_message_at: self.last_message_at,
            last_message: time::to_local(self.last_message_at).ok(),
            message_count: self.message_count,
            unread: self.unread,
            closed_at: self.closed_at,
        }
    }

    fn staff_summary(&self) -> StaffSummary {
        StaffSummary {
            summary: self.summary(),
            patient: PatientRef {
                personnummer: self.personnummer,
                given_name: self.given_name.clone(),
                family_name: self.family_name.clone(),
            },
            assigned_to: self.assigned_to.as_ref().map(|id| StaffRef {
                staff_id: id.clone(),
                name: self.assigned_name.clone(),
            }),
            closed_by: self.closed_by.as_ref().map(|id| StaffRef {
                staff_id: id.clone(),
                name: self.closer_name.clone(),
            }),
        }
    }
}

/// The SELECT of conversation rows for `reader` (bound as `$1`); the caller adds its WHERE.
fn conv_select(reader: Reader<'_>) -> String {
    format!(
        "SELECT c.id, c.account_id, c.care_unit, c.subject, c.started_by, c.message_count, \
         c.created_at, c.last_message_at, c.assigned_to, c.closed_at, c.closed_by, \
         a.personnummer, a.given_name, a.family_name, \
         sa.given_name AS assigned_given, sa.family_name AS assigned_family, \
         sc.given_name AS closer_given, sc.family_name AS closer_family, \
         (SELECT COUNT(*) FROM conversation_messages m WHERE m.conversation_id = c.id \
           AND m.seq > COALESCE((SELECT r.read_seq FROM conversation_reads r \
             WHERE r.conversation_id = c.id AND r.reader = $1), 0) \
           AND {}) AS unread \
         FROM conversations c JOIN accounts a ON a.id = c.account_id \
         LEFT JOIN staff sa ON sa.id = c.assigned_to \
         LEFT JOIN staff sc ON sc.id = c.closed_by ",
        reader.other_sql()
    )
}

fn full_name(given: Option<String>, family: Option<String>) -> Option<String> {
    match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        _ => None,
    }
}

fn conv_from_row(row: &AnyRow) -> Result<ConvRow, MessageError> {
    let pnr: String = row.try_get("personnummer")?;
    let started_by: String = row.try_get("started_by")?;
    Ok(ConvRow {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        care_unit: row.try_get("care_unit")?,
        subject: row.try_get("subject")?,
        started_by: AuthorKind::from_stored(&started_by)
            .ok_or(MessageError::Corrupt("started_by"))?,
        message_count: row.try_get("message_count")?,
        created_at: row.try_get("created_at")?,
        last_message_at: row.try_get("last_message_at")?,
        assigned_to: row.try_get("assigned_to")?,
        assigned_name: full_name(
            row.try_get("assigned_given")?,
            row.try_get("assigned_family")?,
        ),
        closed_at: row.try_get("closed_at")?,
        closed_by: row.try_get("closed_by")?,
        closer_name: full_name(row.try_get("closer_given")?, row.try_get("closer_family")?),
        personnummer: Personnummer::from_canonical(&pnr)
            .map_err(|_| MessageError::Corrupt("personnummer"))?,
        given_name: row.try_get("given_name")?,
        family_name: row.try_get("family_name")?,
        unread: row.try_get("unread")?,
    })
}

pub(super) async fn load_conversation(
    db: &Db,
    reader: Reader<'_>,
    id: &str,
) -> Result<Option<ConvRow>, MessageError> {
    let sql = format!("{} WHERE c.id = $2", conv_select(reader));
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reader.key())
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(conv_from_row).transpose()
}

async fn conversations_of_account(db: &Db, account_id: &str) -> Result<Vec<ConvRow>, MessageError> {
    let reader = Reader::PatientSide;
    let sql = format!(
        "{} WHERE c.account_id = $2 ORDER BY c.last_message_at DESC, c.id",
        conv_select(reader)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reader.key())
        .bind(account_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(conv_from_row).collect()
}

/// The reader's read mark in a conversation (0: nothing read).
async fn read_mark(
    db: &Db,
    conversation_id: &str,
    reader: Reader<'_>,
) -> Result<i64, MessageError> {
    let mark: Option<(i64,)> = sqlx::query_as(
        "SELECT read_seq FROM conversation_reads WHERE conversation_id = $1 AND reader = $2",
    )
    .bind(conversation_id)
    .bind(reader.key())
    .fetch_optional(db.pool())
    .await?;
    Ok(mark.map_or(0, |(s,)| s))
}

/// Every message of a conversation, oldest first, as `reader` sees it: staff ids of staff
/// authors only in staff views.
pub(super) async fn messages_of(
    db: &Db,
    conversation_id: &str,
    reader: Reader<'_>,
) -> Result<Vec<MessageView>, MessageError> {
    let mark = read_mark(db, conversation_id, reader).await?;
    type MessageRow = (String, i64, String, Option<String>, String, String, i64);
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT id, seq, author_kind, author_staff, author_name, body, created_at \
         FROM conversation_messages WHERE conversation_id = $1 ORDER BY seq",
    )
    .bind(conversation_id)
    .fetch_all(db.pool())
    .await?;
    let mut files = attachments_of(db, conversation_id).await?;
    let staff_view = matches!(reader, Reader::Staff(_));
    let mut out = Vec::with_capacity(rows.len());
    for (id, seq, kind, staff, name, body, created_at) in rows {
        let kind = AuthorKind::from_stored(&kind).ok_or(MessageError::Corrupt("author_kind"))?;
        let unread = seq > mark && reader.reads_as_other(kind, staff.as_deref());
        let attachments = files
            .iter()
            .filter(|(message, _)| *message == id)
            .map(|(_, a)| a.clone())
            .collect();
        files.retain(|(message, _)| *message != id);
        out.push(MessageView {
            id,
            seq,
            author: Author {
                kind,
                name,
                staff_id: if staff_view { staff } else { None },
            },
            text: body,
            sent_at: created_at,
            sent: time::to_local(created_at).ok(),
            unread,
            attachments,
        });
    }
    Ok(out)
}

/// Who writes a new message.
pub(super) struct NewAuthor {
    pub kind: AuthorKind,
    /// The writer's own account (patient or guardian).
    pub account: Option<String>,
    pub staff: Option<String>,
    pub name: String,
}

impl NewAuthor {
    fn reader(&self) -> Reader<'_> {
        match &self.staff {
            Some(id) => Reader::Staff(id),
            None => Reader::PatientSide,
        }
    }
}

/// Stores a new message in the caller's transaction: takes the conversation's next seq (and
/// refuses a closed or missing conversation) with its first statement, inserts the message and
/// moves the writer's read mark to it. Returns the message's id and seq.
///
/// This is where a "new message" notice belongs when the notifications outbox lands: written
/// here, in `conn`'s transaction, so the notice exists exactly when the message does.
pub(super) async fn insert_message(
    conn: &mut AnyConnection,
    conversation_id: &str,
    author: &NewAuthor,
    text: &str,
    now: i64,
) -> Result<(String, i64), MessageError> {
    let taken: Option<(i64,)> = sqlx::query_as(
        "UPDATE conversations SET message_count = message_count + 1, last_message_at = $1 \
         WHERE id = $2 AND closed_at IS NULL RETURNING message_count",
    )
    .bind(now)
    .bind(conversation_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((seq,)) = taken else {
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT id FROM conversations WHERE id = $1")
                .bind(conversation_id)
                .fetch_optional(&mut *conn)
                .await?;
        return Err(if exists.is_some() {
            MessageError::ConversationClosed
        } else {
            MessageError::ConversationNotFound
        });
    };
    let id = new_id();
    sqlx::query(
        "INSERT INTO conversation_messages (id, conversation_id, seq, author_kind, \
         author_account, author_staff, author_name, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(conversation_id)
    .bind(seq)
    .bind(author.kind.as_str())
    .bind(author.account.as_deref())
    .bind(author.staff.as_deref())
    .bind(&author.name)
    .bind(text)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    move_mark(conn, conversation_id, author.reader(), seq, now).await?;
    // A clinician's message is news for the patient's side: the notice ("a new message", never
    // its text) goes into the outbox in this same transaction, so it exists exactly when the
    // message does.
    if author.kind == AuthorKind::Staff {
        notifications::message_from_staff(conn, conversation_id, now).await?;
    }
    Ok((id, seq))
}

/// Moves a reader's mark forward to `seq` (never back).
async fn move_mark(
    conn: &mut AnyConnection,
    conversation_id: &str,
    reader: Reader<'_>,
    seq: i64,
    now: i64,
) -> Result<(), MessageError> {
    sqlx::query(
        "INSERT INTO conversation_reads (conversation_id, reader, read_seq, read_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (conversation_id, reader) DO UPDATE SET \
         read_seq = CASE WHEN excluded.read_seq > conversation_reads.read_seq \
           THEN excluded.read_seq ELSE conversation_reads.read_seq END, \
         read_at = excluded.read_at",
    )
    .bind(conversation_id)
    .bind(reader.key())
    .bind(seq)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A subject: trimmed, one line, 1 to [`MAX_SUBJECT_CHARS`] characters.
fn check_subject(input: &str) -> Result<String, MessageError> {
    check_text("subject", input, false, MAX_SUBJECT_CHARS)
}

/// A message text: trimmed, line breaks kept (`\r\n` read as `\n`), 1 to [`MAX_TEXT_CHARS`].
fn check_message(input: &str) -> Result<String, MessageError> {
    check_text("text", input, true, MAX_TEXT_CHARS)
}

/// Refuses empty and over-long text, control characters (but line breaks and tabs in a
/// message), and the invisible and bidirectional formatting characters names refuse
/// ([`is_invisible`]: they hide or reorder what the other side reads), except the zero-width
/// joiner and non-joiner, which emoji sequences and several scripts need to be written at all.
fn check_text(
    field: &'static str,
    input: &str,
    multiline: bool,
    max: usize,
) -> Result<String, MessageError> {
    let text = input.replace("\r\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(invalid(
            field,
            if multiline {
                "longer than 5000 characters"
            } else {
                "longer than 200 characters"
            },
        ));
    }
    let allowed_control = |c: char| multiline && (c == '\n' || c == '\t');
    if text.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err(invalid(field, "contains control characters"));
    }
    if text
        .chars()
        .any(|c| is_invisible(c) && !matches!(c, '\u{200C}' | '\u{200D}'))
    {
        return Err(invalid(
            field,
            "contains invisible or bidirectional formatting characters",
        ));
    }
    Ok(text.to_owned())
}

fn check_care_unit(input: &str) -> Result<&str, MessageError> {
    let unit = input.trim();
    if unit.is_empty() {
        return Err(invalid("care_unit", "must not be empty"));
    }
    if unit.chars().count() > MAX_SUBJECT_CHARS || unit.chars().any(|c| c.is_control()) {
        return Err(MessageError::UnknownCareUnit);
    }
    Ok(unit)
}

fn full(account: &Account) -> String {
    format!("{} {}", account.given_name, account.family_name)
}

impl Messages {
    // ----- the patient's side (the session's ActingAs: themself, or a guardian for a child)

    /// The account of the person the patient side acts for: the logged-in person's own, or the
    /// child's.
    async fn subject_account(
        &self,
        acting: &ActingAs,
        me: &Account,
    ) -> Result<String, MessageError> {
        if !acting.is_proxy() {
            return Ok(me.id.as_str().to_owned());
        }
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM accounts WHERE personnummer = $1")
                .bind(acting.subject().as_str())
                .fetch_optional(self.db.pool())
                .await?;
        row.map(|(id,)| id).ok_or(MessageError::NoAccount)
    }

    fn patient_author(acting: &ActingAs, me: &Account) -> NewAuthor {
        NewAuthor {
            kind: if acting.is_proxy() {
                AuthorKind::Guardian
            } else {
                AuthorKind::Patient
            },
            account: Some(me.id.as_str().to_owned()),
            staff: None,
            name: full(me),
        }
    }

    /// Whether a clinician works in the care unit: the units the region's staff know.
    async fn unit_takes_messages(&self, unit: &str) -> Result<bool, MessageError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT care_units FROM staff WHERE role = 'clinician'")
                .fetch_all(self.db.pool())
                .await?;
        for (units,) in rows {
            let units: Vec<String> = serde_json::from_str(&units)
                .map_err(|_| MessageError::Corrupt("staff care_units"))?;
            if units.iter().any(|u| u == unit) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The patient (or a guardian for a child) starts a conversation with a care unit, with a
    /// subject and a first message.
    pub async fn start(
        &self,
        acting: &ActingAs,
        me: &Account,
        care_unit: &str,
        subject: &str,
        text: &str,
    ) -> Result<Conversation, MessageError> {
        let unit = check_care_unit(care_unit)?;
        let subject = check_subject(subject)?;
        let text = check_message(text)?;
        if !self.unit_takes_messages(unit).await? {
            return Err(MessageError::UnknownCareUnit);
        }
        let account = self.subject_account(acting, me).await?;
        let author = Self::patient_author(acting, me);
        let id = new_id();
        let now = self.now();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO conversations (id, account_id, care_unit, subject, started_by, \
             message_count, created_at, last_message_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
        )
        .bind(&id)
        .bind(&account)
        .bind(unit)
        .bind(&subject)
        .bind(author.kind.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_message(&mut tx, &id, &author, &text, now).await?;
        tx.commit().await?;
        tracing::info!(conversation = %id, "conversation started");
        self.my_conversation(acting, me, &id).await
    }

    /// The conversation if it is the patient side's, else [`MessageError::ConversationNotFound`].
    pub(super) async fn patient_conversation(
        &self,
        acting: &ActingAs,
        me: &Account,
        id: &str,
    ) -> Result<ConvRow, MessageError> {
        let account = self.subject_account(acting, me).await?;
        load_conversation(&self.db, Reader::PatientSide, id)
            .await?
            .filter(|c| c.account_id == account)
            .ok_or(MessageError::ConversationNotFound)
    }

    /// The patient's conversations (the child's, for a guardian), latest activity first, each
    /// with its unread count.
    pub async fn my_conversations(
        &self,
        acting: &ActingAs,
        me: &Account,
    ) -> Result<Vec<ConversationSummary>, MessageError> {
        let account = self.subject_account(acting, me).await?;
        Ok(conversations_of_account(&self.db, &account)
            .await?
            .iter()
            .map(ConvRow::summary)
            .collect())
    }

    /// One of the patient's conversations with its full history.
    pub async fn my_conversation(
        &self,
        acting: &ActingAs,
        me: &Account,
        id: &str,
    ) -> Result<Conversation, MessageError> {
        let conv = self.patient_conversation(acting, me, id).await?;
        let messages = messages_of(&self.db, &conv.id, Reader::PatientSide).await?;
        Ok(Conversation {
            summary: conv.summary(),
            messages,
        })
    }

    /// The patient side writes in one of its conversations (not a closed one).
    pub async fn post(
        &self,
        acting: &ActingAs,
        me: &Account,
        id: &str,
        text: &str,
    ) -> Result<MessageView, MessageError> {
        let text = check_message(text)?;
        let conv = self.patient_conversation(acting, me, id).await?;
        let author = Self::patient_author(acting, me);
        self.append(&conv.id, &author, &text, Reader::PatientSide)
            .await
    }

    /// The patient side has read the conversation up to message `seq`.
    pub async fn mark_read(
        &self,
        acting: &ActingAs,
        me: &Account,
        id: &str,
        seq: i64,
    ) -> Result<ConversationSummary, MessageError> {
        let conv = self.patient_conversation(acting, me, id).await?;
        self.read_up_to(&conv, Reader::PatientSide, seq).await?;
        let conv = self.patient_conversation(acting, me, id).await?;
        Ok(conv.summary())
    }

    // ----- the staff side (a clinician in their active care unit; every access logged)

    /// The conversation if it is of the staff member's active care unit and they are a
    /// clinician; nothing is logged yet.
    pub(super) async fn unit_conversation(
        &self,
        staff: &StaffAccess,
        id: &str,
    ) -> Result<ConvRow, MessageError> {
        require_clinician(staff)?;
        load_conversation(&self.db, Reader::Staff(&staff.actor.id), id)
            .await?
            .filter(|c| c.care_unit == staff.actor.care_unit)
            .ok_or(MessageError::ConversationNotFound)
    }

    /// The active care unit's inbox, latest activity first. One access-log entry per
    /// conversation listed, written before the list is returned.
    pub async fn inbox(
        &self,
        staff: &StaffAccess,
        filter: InboxFilter,
    ) -> Result<Vec<StaffSummary>, MessageError> {
        require_clinician(staff)?;
        let reader = Reader::Staff(&staff.actor.id);
        let status = match filter.status {
            StatusFilter::Open => " AND c.closed_at IS NULL",
            StatusFilter::Closed => " AND c.closed_at IS NOT NULL",
            StatusFilter::All => "",
        };
        let assigned = if filter.assigned_to_me {
            " AND c.assigned_to = $1"
        } else {
            ""
        };
        let sql = format!(
            "{} WHERE c.care_unit = $2{status}{assigned} ORDER BY c.last_message_at DESC, c.id",
            conv_select(reader)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(reader.key())
            .bind(&staff.actor.care_unit)
            .fetch_all(self.db.pool())
            .await?;
        let mut convs = rows
            .iter()
            .map(conv_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if filter.unread_only {
            convs.retain(|c| c.unread > 0);
        }
        for c in &convs {
            self.log_access(
                staff,
                &c.personnummer,
                Action::Read,
                &c.id,
                &resource(&c.id),
            )
            .await?;
        }
        Ok(convs.iter().map(ConvRow::staff_summary).collect())
    }

    /// A clinician reads a conversation of their unit (logged first).
    pub async fn staff_conversation(
        &self,
        staff: &StaffAccess,
        id: &str,
    ) -> Result<StaffConversation, MessageError> {
        let conv = self.unit_conversation(staff, id).await?;
        self.log_access(
            staff,
            &conv.personnummer,
            Action::Read,
            &conv.id,
            &resource(&conv.id),
        )
        .await?;
        let messages = messages_of(&self.db, &conv.id, Reader::Staff(&staff.actor.id)).await?;
        Ok(StaffConversation {
            conversation: conv.staff_summary(),
            messages,
        })
    }

    /// A clinician answers in a conversation of their unit (not a closed one).
    pub async fn reply(
        &self,
        staff: &StaffAccess,
        id: &str,
        text: &str,
    ) -> Result<MessageView, MessageError> {
        let text = check_message(text)?;
        let conv = self.unit_conversation(staff, id).await?;
        self.log_access(
            staff,
            &conv.personnummer,
            Action::Create,
            &conv.id,
            &resource(&conv.id),
        )
        .await?;
        let name: Option<(String, String)> =
            sqlx::query_as("SELECT given_name, family_name FROM staff WHERE id = $1")
                .bind(&staff.actor.id)
                .fetch_optional(self.db.pool())
                .await?;
        let (given, family) = name.ok_or(MessageError::NotClinician)?;
        let author = NewAuthor {
            kind: AuthorKind::Staff,
            account: None,
            staff: Some(staff.actor.id.clone()),
            name: format!("{given} {family}"),
        };
        self.append(&conv.id, &author, &text, Reader::Staff(&staff.actor.id))
            .await
    }

    /// A clinician has read a conversation of their unit up to message `seq`. Shows nothing
    /// of the patient, so it is not itself a logged read.
    pub async fn staff_mark_read(
        &self,
        staff: &StaffAccess,
        id: &str,
        seq: i64,
    ) -> Result<(), MessageError> {
        let conv = self.unit_conversation(staff, id).await?;
        self.read_up_to(&conv, Reader::Staff(&staff.actor.id), seq)
            .await
    }

    /// A clinician assigns a conversation of their unit to a clinician of the same unit
    /// (themself included).
    pub async fn assign(
        &self,
        staff: &StaffAccess,
        id: &str,
        to: &str,
    ) -> Result<StaffSummary, MessageError> {
        let conv = self.unit_conversation(staff, id).await?;
        self.log_access(
            staff,
            &conv.personnummer,
            Action::Update,
            &conv.id,
            &resource(&conv.id),
        )
        .await?;
        if conv.closed_at.is_some() {
            return Err(MessageError::ConversationClosed);
        }
        let colleague: Option<(String, String)> =
            sqlx::query_as("SELECT role, care_units FROM staff WHERE id = $1")
                .bind(to)
                .fetch_optional(self.db.pool())
                .await?;
        let works_here = match colleague {
            Some((role, units)) => {
                let units: Vec<String> = serde_json::from_str(&units)
                    .map_err(|_| MessageError::Corrupt("staff care_units"))?;
                role == "clinician" && units.contains(&conv.care_unit)
            }
            None => false,
        };
        if !works_here {
            return Err(MessageError::NotAColleague);
        }
        let done = sqlx::query(
            "UPDATE conversations SET assigned_to = $1 WHERE id = $2 AND closed_at IS NULL",
        )
        .bind(to)
        .bind(&conv.id)
        .execute(self.db.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(MessageError::ConversationClosed);
        }
        self.reloaded(staff, &conv.id).await
    }

    /// A clinician closes a conversation of their unit: records when and by whom (retention
    /// counts from then). Nobody writes in it afterwards.
    pub async fn close(&self, staff: &StaffAccess, id: &str) -> Result<StaffSummary, MessageError> {
        let conv = self.unit_conversation(staff, id).await?;
        self.log_access(
            staff,
            &conv.personnummer,
            Action::Update,
            &conv.id,
            &resource(&conv.id),
        )
        .await?;
        let done = sqlx::query(
            "UPDATE conversations SET closed_at = $1, closed_by = $2 \
             WHERE id = $3 AND closed_at IS NULL",
        )
        .bind(self.now())
        .bind(&staff.actor.id)
        .bind(&conv.id)
        .execute(self.db.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(MessageError::ConversationClosed);
        }
        tracing::info!(conversation = %conv.id, "conversation closed");
        self.reloaded(staff, &conv.id).await
    }

    async fn reloaded(&self, staff: &StaffAccess, id: &str) -> Result<StaffSummary, MessageError> {
        Ok(self.unit_conversation(staff, id).await?.staff_summary())
    }

    // ----- shared

    /// Stores a message in its own transaction and returns it as its writer sees it.
    async fn append(
        &self,
        conversation_id: &str,
        author: &NewAuthor,
        text: &str,
        reader: Reader<'_>,
    ) -> Result<MessageView, MessageError> {
        let now = self.now();
        let mut tx = self.db.pool().begin().await?;
        let (message_id, seq) = insert_message(&mut tx, conversation_id, author, text, now).await?;
        tx.commit().await?;
        tracing::info!(conversation = %conversation_id, seq, "message written");
        messages_of(&self.db, conversation_id, reader)
            .await?
            .into_iter()
            .find(|m| m.id == message_id)
            .ok_or(MessageError::Corrupt("message just written"))
    }

    async fn read_up_to(
        &self,
        conv: &ConvRow,
        reader: Reader<'_>,
        seq: i64,
    ) -> Result<(), MessageError> {
        if seq < 0 || seq > conv.message_count {
            return Err(MessageError::NoSuchSeq(seq));
        }
        let mut conn = self.db.pool().acquire().await?;
        move_mark(&mut conn, &conv.id, reader, seq, self.now()).await
    }
}

/// Everything messages hold about the account (see [`OwnMessages`]).
pub(super) async fn own_data(db: &Db, account_id: &str) -> Result<OwnMessages, MessageError> {
    let mut conversations = Vec::new();
    for conv in conversations_of_account(db, account_id).await? {
        let messages = messages_of(db, &conv.id, Reader::PatientSide).await?;
        conversations.push(Conversation {
            summary: conv.summary(),
            messages,
        });
    }
    let written: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT m.conversation_id, m.id, m.created_at FROM conversation_messages m \
         JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.author_account = $1 AND c.account_id <> $1 ORDER BY m.created_at, m.id",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    Ok(OwnMessages {
        conversations,
        written_for_others: written
            .into_iter()
            .map(|(conversation_id, message_id, sent_at)| WrittenForOther {
                conversation_id,
                message_id,
                sent_at,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded_and_refuse_what_hides_or_reorders() {
        assert_eq!(check_message("  hej\r\nhopp\t!  ").unwrap(), "hej\nhopp\t!");
        assert_eq!(check_subject(" Utslag ").unwrap(), "Utslag");
        // A family emoji is joined by U+200D: allowed.
        assert!(check_message("👨\u{200D}👩\u{200D}👧").is_ok());
        for bad in [
            "",
            "   ",
            "\n\t",
            "a\u{0}b",
            "a\u{7}",
            "a\u{202E}b",
            "a\u{200B}b",
            "\u{FEFF}a",
            "a\u{2028}b",
        ] {
            assert!(check_message(bad).is_err(), "{bad:?}");
        }
        assert!(check_subject("two\nlines").is_err());
        assert!(check_subject(&"å".repeat(200)).is_ok());
        assert!(check_subject(&"å".repeat(201)).is_err());
        assert!(check_message(&"å".repeat(5000)).is_ok());
        assert!(check_message(&"å".repeat(5001)).is_err());
    }
}
