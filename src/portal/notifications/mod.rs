//! Notifications: SMS and e-mail notices about bookings and messages, through a durable outbox
//! in the database, to the people who opted in.
//!
//! ```text
//!   bookings / messages, in their own transaction
//!     booked() moved() cancelled() your_turn() new_message()
//!        │  one row per channel (sms, email), state pending; reminders with the visit's start
//!        ▼
//!   notifications (the outbox) ──claim (lease)──▶ Notifier::run_once ──▶ Smtp  (lettre)
//!        ▲                                          │    render text   └─▶ HttpSms (JSON POST)
//!        └──── sent | retry (back-off) | failed | skipped ◀──────┘
//! ```
//!
//! **Written with its cause.** Every hook here takes the caller's connection, inside the
//! transaction that makes the booking, moves or cancels it, takes the drop-in patient, or stores
//! the message: either both are committed or neither is, so a crash never loses a notice nor
//! tells of something that did not happen. A moved booking's pending reminder is cancelled and a
//! new one scheduled, a cancelled booking's reminder cancelled, in that same transaction.
//!
//! **Opt-in, checked at send time.** A row is written for each channel whatever the settings
//! say; when the worker takes it, it reads the recipient's `account_settings` and contact details
//! as they are *then*. Nothing goes to a channel the person has not turned on
//! (`settings.notify_sms` / `notify_email`, changed any time with `PUT /api/v1/me`), nor without
//! an address: such rows end `skipped` with the reason. So an opt-out stops notices already
//! waiting (a reminder days ahead), and a changed address is the one used.
//!
//! **Whose channels.** The account holder's own. For a child's booking (or drop-in place) made
//! by a guardian acting for the child, the guardian's: children rarely have a mobile number or
//! e-mail of their own in the register, and the guardian is the one who must bring the child.
//! That guardian is kept in `notification_contacts` beside the booking; a booking staff made for
//! a child, or one whose guardian deleted their account, notifies the child's own account (which
//! usually has no address, so nothing is sent). A new-message notice goes to the account the
//! conversation belongs to.
//!
//! **No health data.** Texts ([`text`]) say that something happened and when, and name the
//! region's service: "Du har ett nytt meddelande i 1177 direkt Västerbotten", "Påminnelse: ditt
//! besök i morgon kl. 10:00". Never the care unit, the clinician, the reason, a message's words
//! or a join link (the Join button on the booking page is the only way into a visit). A booking
//! confirmation e-mail carries an iCalendar file with the time and "Videobesök" or the place.
//! Texts are in the account's language (Swedish by default). Neither the text nor the address is
//! stored: both are made when the notice is sent.
//!
//! **At least once, deduplicable.** The worker ([`worker`]) claims due rows with a lease
//! (`claimed_until`), so two nodes, or a restarted one, never send the same row concurrently; a
//! claim whose worker died is taken again when its lease runs out. Each row's id is its
//! idempotency key: the e-mail's `Message-ID` and the SMS gateway's `Idempotency-Key`. A crash
//! between sending and marking the row sent makes the next worker send it again with the same
//! key, which the receiver can drop; nothing is lost, and nothing is sent twice under
//! different keys. Failures are retried with exponential back-off up to a limit, then the row
//! is `failed` (counted in `/metrics`, kept in the table with the reason code).

pub mod follow_up;
pub mod text;
pub mod transport;
pub mod worker;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::db::Db;
use crate::portal::identity::personnummer::Personnummer;
use crate::portal::personal_data::{
    self, Holding, OnDelete, Owner, PersonalData, PersonalDataError,
};

pub use transport::{
    EmailConfig, NotificationsConfig, SendError, SmsAuth, SmsConfig, SmtpTls, Transports,
};
pub use worker::{Notifier, NotifierStats, RunReport};

/// A way to reach a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

/// What a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A booking was made (by the patient, a guardian, or staff booking the patient in).
    BookingConfirmed,
    /// The booking was moved to another time (rescheduled by the patient or moved by staff).
    BookingMoved,
    /// Staff cancelled the booking.
    BookingCancelled,
    /// A clinician took the patient from a drop-in queue: the visit starts now.
    YourTurn,
    /// Ahead of a booking, by the region's `reminder_hours_before`.
    Reminder,
    /// A new message in a conversation with a care unit.
    NewMessage,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BookingConfirmed => "booking_confirmed",
            Kind::BookingMoved => "booking_moved",
            Kind::BookingCancelled => "booking_cancelled",
            Kind::YourTurn => "your_turn",
            Kind::Reminder => "reminder",
            Kind::NewMessage => "new_message",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "booking_confirmed" => Some(Kind::BookingConfirmed),
            "booking_moved" => Some(Kind::BookingMoved),
            "booking_cancelled" => Some(Kind::BookingCancelled),
            "your_turn" => Some(Kind::YourTurn),
            "reminder" => Some(Kind::Reminder),
            "new_message" => Some(Kind::NewMessage),
            _ => None,
        }
    }
}

/// Where a notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Sent,
    /// Given up: retried up to the limit, or refused for good by the server or gateway.
    Failed,
    /// Not sent on purpose: not opted in, no address, channel not configured, too late.
    Skipped,
    /// A reminder of a booking that was cancelled or moved.
    Cancelled,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Pending,
        State::Sent,
        State::Failed,
        State::Skipped,
        State::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::Cancelled => "cancelled",
        }
    }
}

/// The region's rules for notices: the `[notifications]` section of the region file, every key
/// optional (`RegionConfig::validate` holds them within bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationPolicy {
    /// A reminder goes out this many hours before a booking starts; 0: no reminders. A booking
    /// made (or moved) less than this before its start gets no reminder: its confirmation is
    /// the reminder.
    pub reminder_hours_before: u32,
}

impl Default for NotificationPolicy {
    fn default() -> Self {
        Self {
            reminder_hours_before: 24,
        }
    }
}

/// The most `reminder_hours_before` may be: a week.
pub const MAX_REMINDER_HOURS: u32 = 7 * 24;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A stored value does not read back as its type. Names the column, never the value.
    #[error("stored notification is corrupt: column {0}")]
    Corrupt(&'static str),
    #[error("notifications: database: {0}")]
    Database(#[from] sqlx::Error),
}

// ----- hooks: called inside the transaction of the event that causes the notice

/// A booking was made. Writes the confirmation (now) and the reminder (relative to `starts_at`),
/// for the booking's account or, when a guardian (`guardian`: their personnummer) made it for
/// a child, the guardian, whom later notices of the booking also reach.
pub async fn booked(
    conn: &mut AnyConnection,
    booking_id: &str,
    guardian: Option<&Personnummer>,
    starts_at: i64,
    now: i64,
) -> Result<(), NotifyError> {
    if let Some(guardian) = guardian {
        remember_guardian(conn, Subject::Booking(booking_id), guardian, now).await?;
    }
    let to = booking_recipient(conn, booking_id).await?;
    enqueue(
        conn,
        &to,
        Kind::BookingConfirmed,
        About::Booking(booking_id),
        now,
        now,
    )
    .await?;
    enqueue(
        conn,
        &to,
        Kind::Reminder,
        About::Booking(booking_id),
        starts_at,
        now,
    )
    .await
}

/// A booking moved to a new start: tells so, cancels its pending reminders and schedules one
/// for the new time (a reminder already sent does not stop a new one).
pub async fn moved(
    conn: &mut AnyConnection,
    booking_id: &str,
    starts_at: i64,
    now: i64,
) -> Result<(), NotifyError> {
    cancel_reminders(conn, booking_id, "booking_moved", now).await?;
    let to = booking_recipient(conn, booking_id).await?;
    enqueue(
        conn,
        &to,
        Kind::BookingMoved,
        About::Booking(booking_id),
        now,
        now,
    )
    .await?;
    enqueue(
        conn,
        &to,
        Kind::Reminder,
        About::Booking(booking_id),
        starts_at,
        now,
    )
    .await
}

/// A booking ended (cancelled, done, no-show): its pending reminders are cancelled, and when
/// staff cancelled it the patient (or guardian) is told. A patient who cancelled knows.
pub async fn ended(
    conn: &mut AnyConnection,
    booking_id: &str,
    tell: bool,
    now: i64,
) -> Result<(), NotifyError> {
    cancel_reminders(conn, booking_id, "booking_ended", now).await?;
    if tell {
        let to = booking_recipient(conn, booking_id).await?;
        enqueue(
            conn,
            &to,
            Kind::BookingCancelled,
            About::Booking(booking_id),
            now,
            now,
        )
        .await?;
    }
    Ok(())
}

/// A guardian put a child in a drop-in queue: the "your turn" notice will go to them.
pub async fn queued_by_guardian(
    conn: &mut AnyConnection,
    dropin_entry_id: &str,
    guardian: &Personnummer,
    now: i64,
) -> Result<(), NotifyError> {
    remember_guardian(conn, Subject::DropinEntry(dropin_entry_id), guardian, now).await
}

/// A clinician took the patient from a drop-in queue into `booking_id`, starting now.
pub async fn your_turn(
    conn: &mut AnyConnection,
    dropin_entry_id: &str,
    booking_id: &str,
    now: i64,
) -> Result<(), NotifyError> {
    // The guardian who queued for a child is the booking's contact too.
    sqlx::query(
        "INSERT INTO notification_contacts (id, booking_id, account_id, created_at) \
         SELECT $1, $2, account_id, $3 FROM notification_contacts WHERE dropin_entry_id = $4",
    )
    .bind(new_id())
    .bind(booking_id)
    .bind(now)
    .bind(dropin_entry_id)
    .execute(&mut *conn)
    .await?;
    let to = booking_recipient(conn, booking_id).await?;
    enqueue(
        conn,
        &to,
        Kind::YourTurn,
        About::Booking(booking_id),
        now,
        now,
    )
    .await
}

/// Staff wrote in a conversation: "Du har ett nytt meddelande i …" to the patient's side, in
/// the transaction that stores the message. In a child's conversation that is the guardian who
/// last wrote for the child (as for a guardian's booking); otherwise, or when that guardian's
/// account is gone, the conversation's own account.
pub async fn message_from_staff(
    conn: &mut AnyConnection,
    conversation_id: &str,
    now: i64,
) -> Result<(), NotifyError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT COALESCE((SELECT m.author_account FROM conversation_messages m          WHERE m.conversation_id = c.id AND m.author_kind = 'guardian'          AND m.author_account IS NOT NULL ORDER BY m.seq DESC LIMIT 1), c.account_id)          FROM conversations c WHERE c.id = $1",
    )
    .bind(conversation_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (account_id,) = row.ok_or(NotifyError::Corrupt("conversation_id"))?;
    new_message(conn, &account_id, conversation_id, now).await
}

/// A new message for `account_id` in a conversation: "Du har ett nytt meddelande i …".
pub async fn new_message(
    conn: &mut AnyConnection,
    account_id: &str,
    conversation_id: &str,
    now: i64,
) -> Result<(), NotifyError> {
    let to = Recipient(account_id.to_owned());
    enqueue(
        conn,
        &to,
        Kind::NewMessage,
        About::Conversation(conversation_id),
        now,
        now,
    )
    .await
}

// ----- the outbox rows

struct Recipient(String);

#[derive(Clone, Copy)]
enum About<'a> {
    Booking(&'a str),
    Conversation(&'a str),
}

#[derive(Clone, Copy)]
enum Subject<'a> {
    Booking(&'a str),
    DropinEntry(&'a str),
}

/// One pending row per channel.
async fn enqueue(
    conn: &mut AnyConnection,
    to: &Recipient,
    kind: Kind,
    about: About<'_>,
    due_at: i64,
    now: i64,
) -> Result<(), NotifyError> {
    let (booking_id, conversation_id) = match about {
        About::Booking(id) => (Some(id), None),
        About::Conversation(id) => (None, Some(id)),
    };
    for channel in Channel::ALL {
        sqlx::query(
            "INSERT INTO notifications (id, account_id, channel, kind, booking_id, \
             conversation_id, state, due_at, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, 0, $8, $8)",
        )
        .bind(new_id())
        .bind(&to.0)
        .bind(channel.as_str())
        .bind(kind.as_str())
        .bind(booking_id)
        .bind(conversation_id)
        .bind(due_at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn cancel_reminders(
    conn: &mut AnyConnection,
    booking_id: &str,
    reason: &str,
    now: i64,
) -> Result<(), NotifyError> {
    sqlx::query(
        "UPDATE notifications SET state = 'cancelled', reason = $1, updated_at = $2, \
         claimed_until = NULL, claim = NULL \
         WHERE booking_id = $3 AND kind = 'reminder' AND state = 'pending'",
    )
    .bind(reason)
    .bind(now)
    .bind(booking_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The guardian's account as the contact for a child's booking or queue place. A guardian
/// without an account (cannot happen after a login, which makes one) is simply not recorded.
async fn remember_guardian(
    conn: &mut AnyConnection,
    subject: Subject<'_>,
    guardian: &Personnummer,
    now: i64,
) -> Result<(), NotifyError> {
    let (booking_id, entry_id) = match subject {
        Subject::Booking(id) => (Some(id), None),
        Subject::DropinEntry(id) => (None, Some(id)),
    };
    sqlx::query(
        "INSERT INTO notification_contacts (id, booking_id, dropin_entry_id, account_id, \
         created_at) SELECT $1, $2, $3, id, $4 FROM accounts WHERE personnummer = $5",
    )
    .bind(new_id())
    .bind(booking_id)
    .bind(entry_id)
    .bind(now)
    .bind(guardian.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Who a booking's notices go to: its guardian contact, else its own account.
async fn booking_recipient(
    conn: &mut AnyConnection,
    booking_id: &str,
) -> Result<Recipient, NotifyError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT COALESCE((SELECT c.account_id FROM notification_contacts c \
         WHERE c.booking_id = b.id), b.account_id) FROM bookings b WHERE b.id = $1",
    )
    .bind(booking_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(id,)| Recipient(id))
        .ok_or(NotifyError::Corrupt("booking_id"))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

// ----- export and deletion

/// One notice as its recipient sees it in "export my data": what was (or will be) sent, on
/// which channel and when, without the text (never stored) or the address.
#[derive(Debug, Clone, Serialize)]
pub struct OwnNotice {
    pub id: String,
    pub channel: String,
    pub kind: String,
    pub booking_id: Option<String>,
    pub conversation_id: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Notifications' part in export and deletion: the notices addressed to the person and the
/// children's bookings whose notices they receive. The opt-in settings themselves are the
/// account's (`account.settings`).
#[derive(Debug)]
pub struct NotificationData;

impl PersonalData for NotificationData {
    fn section(&self) -> Option<&'static str> {
        Some("notifications")
    }

    fn holdings(&self) -> &'static [Holding] {
        // Deleted by statement (pending ones included: nothing is sent to a deleted account);
        // the keys cascade as well. Notices about the person's bookings that a guardian
        // received go with the bookings (booking_id cascades).
        const HOLDINGS: &[Holding] = &[
            Holding::new("notifications", "account_id", OnDelete::Deleted),
            Holding::new("notification_contacts", "account_id", OnDelete::Deleted),
        ];
        HOLDINGS
    }

    fn export<'a>(
        &'a self,
        db: &'a Db,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, PersonalDataError>> {
        Box::pin(async move {
            type Row = (
                String,
                String,
                String,
                Option<String>,
                Option<String>,
                String,
                Option<String>,
                i64,
                Option<i64>,
            );
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT id, channel, kind, booking_id, conversation_id, state, reason, \
                 created_at, sent_at FROM notifications WHERE account_id = $1 \
                 ORDER BY created_at, id",
            )
            .bind(owner.account_id.as_str())
            .fetch_all(db.pool())
            .await?;
            let notices: Vec<OwnNotice> = rows
                .into_iter()
                .map(
                    |(
                        id,
                        channel,
                        kind,
                        booking_id,
                        conversation_id,
                        state,
                        reason,
                        created_at,
                        sent_at,
                    )| OwnNotice {
                        id,
                        channel,
                        kind,
                        booking_id,
                        conversation_id,
                        state,
                        reason,
                        created_at,
                        sent_at,
                    },
                )
                .collect();
            Ok(Some(serde_json::to_value(notices)?))
        })
    }

    fn delete<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        owner: &'a Owner,
    ) -> BoxFuture<'a, Result<(), PersonalDataError>> {
        Box::pin(async move {
            personal_data::delete_by_account(
                conn,
                "DELETE FROM notifications WHERE account_id = $1",
                owner,
            )
            .await?;
            personal_data::delete_by_account(
                conn,
                "DELETE FROM notification_contacts WHERE account_id = $1",
                owner,
            )
            .await
        })
    }
}

/// The hooks run inside bookings' transactions, whose errors are bookings'.
impl From<NotifyError> for crate::portal::messages::MessageError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Database(e) => Self::Database(e),
            NotifyError::Corrupt(column) => Self::Corrupt(column),
        }
    }
}

impl From<NotifyError> for crate::portal::bookings::BookingError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Database(e) => Self::Database(e),
            NotifyError::Corrupt(column) => Self::Corrupt(column),
        }
    }
}
