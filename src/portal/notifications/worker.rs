//! The worker that empties the outbox: claims due notices with a lease, decides whether each may
//! go (opt-in, address, channel, a reminder's timing), makes its text, sends it, and records the
//! outcome; failures are retried with exponential back-off, then `failed`.
//!
//! ```text
//!   run_once ─▶ claim(): UPDATE … SET claimed_until = now + lease, claim = <random>,
//!                         attempts = attempts + 1 WHERE id IN (due, unclaimed or lease run out)
//!            ─▶ for each: prepare() ─▶ skip (reason) | send ─▶ mark(): sent | retry_at | failed
//!                                                                 (only while the claim is ours)
//! ```
//!
//! The claim is one conditional UPDATE: on SQLite one writer passes at a time; on PostgreSQL
//! the row lock and the re-checked condition let one claimer have a row. A worker that dies (or
//! stalls past its lease) leaves a claim that runs out, and the row is taken again, with the same
//! idempotency key; its own late marks then match no row (the claim changed) and are dropped.
//!
//! Time comes from the injected clock, and [`Notifier::run_once`] is one complete pass, so tests
//! drive the outbox step by step; [`Notifier::spawn`] runs passes every
//! `poll_interval_secs` until shutdown (a pass cut short by shutdown is a crash like any other:
//! its claims run out and are retaken).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use sqlx::Row;
use tokio::sync::watch;

use super::text::{self, Facts, Visit};
use super::transport::{NotificationsConfig, OutgoingEmail, OutgoingSms, SendError, Transports};
use super::{Channel, Kind, NotificationPolicy, NotifyError, State};
use crate::clock::Clock;
use crate::db::Db;
use crate::portal::region::Language;

/// Counts since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct NotifierStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub skipped: AtomicU64,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub claimed: u32,
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Marks that found the claim taken over (the lease ran out during the send).
    pub lost: u32,
}

/// A notice this worker holds the lease of.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    claim: String,
}

/// What to do with a claimed notice.
enum Plan {
    Skip(&'static str),
    /// A reminder of a booking that ended.
    Cancel(&'static str),
    Email(OutgoingEmail),
    Sms(OutgoingSms),
}

/// The outbox's worker for one region's portal.
pub struct Notifier {
    db: Db,
    clock: Arc<dyn Clock>,
    service_name: String,
    policy: NotificationPolicy,
    config: NotificationsConfig,
    transports: Transports,
    pub stats: NotifierStats,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("policy", &self.policy)
            .field("email", &self.transports.email.is_some())
            .field("sms", &self.transports.sms.is_some())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        service_name: &str,
        policy: NotificationPolicy,
        config: NotificationsConfig,
        transports: Transports,
    ) -> Self {
        Self {
            db,
            clock,
            service_name: service_name.to_owned(),
            policy,
            config,
            transports,
            stats: NotifierStats::default(),
        }
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }

    /// Runs passes every `poll_interval_secs` until `shutdown` turns true; `None` when the
    /// interval is 0 (no background worker: whoever built the notifier drives it).
    pub fn spawn(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.config.poll_interval_secs == 0 {
            return None;
        }
        let pause = Duration::from_secs(self.config.poll_interval_secs);
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    result = self.run_once() => {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "notifications: a pass of the outbox failed");
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }))
    }

    /// One pass: claims what is due (up to `batch`) and deals with each.
    pub async fn run_once(&self) -> Result<RunReport, NotifyError> {
        let claimed = self.claim().await?;
        let mut report = RunReport {
            claimed: u32::try_from(claimed.len()).unwrap_or(u32::MAX),
            ..RunReport::default()
        };
        for c in &claimed {
            let plan = self.prepare(c).await?;
            let outcome = match plan {
                Plan::Skip(reason) => self.finish(c, State::Skipped, reason).await?,
                Plan::Cancel(reason) => self.finish(c, State::Cancelled, reason).await?,
                Plan::Email(email) => {
                    let sent = self.send_email(&email).await;
                    self.record(c, sent).await?
                }
                Plan::Sms(sms) => {
                    let sent = self.send_sms(&sms).await;
                    self.record(c, sent).await?
                }
            };
            match outcome {
                Outcome::Sent => report.sent += 1,
                Outcome::Retry => report.retried += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::Lost => report.lost += 1,
            }
        }
        Ok(report)
    }

    /// Claims up to `batch` due notices for `lease_secs`. Public so that tests can stop a
    /// worker between its steps (a crash after the send, before the mark).
    pub async fn claim(&self) -> Result<Vec<Claimed>, NotifyError> {
        let now = self.now();
        let claim = uuid::Uuid::new_v4().simple().to_string();
        let lease = i64::try_from(self.config.lease_secs).unwrap_or(i64::MAX);
        // A reminder's due_at is the visit's start: it is due `reminder_hours_before` earlier.
        let reminder_horizon = now + i64::from(self.policy.reminder_hours_before) * 3600;
        let rows = sqlx::query(
            "UPDATE notifications SET claimed_until = $1, claim = $2, attempts = attempts + 1, \
             updated_at = $3 \
             WHERE id IN (SELECT id FROM notifications WHERE state = 'pending' \
               AND ((kind <> 'reminder' AND due_at <= $3) \
                 OR (kind = 'reminder' AND due_at <= $4)) \
               AND (retry_at IS NULL OR retry_at <= $3) \
               AND (claimed_until IS NULL OR claimed_until <= $3) \
               ORDER BY due_at, id LIMIT $5) \
             AND state = 'pending' AND (claimed_until IS NULL OR claimed_until <= $3) \
             RETURNING id",
        )
        .bind(now.saturating_add(lease))
        .bind(&claim)
        .bind(now)
        .bind(reminder_horizon)
        .bind(i64::from(self.config.batch))
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(Claimed {
                id: row.try_get("id")?,
                claim: claim.clone(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Sends a claimed notice without recording the outcome: with [`Notifier::claim`], what a
    /// worker does before it dies between the send and the mark. For tests.
    pub async fn send_without_marking(&self, c: &Claimed) -> Result<(), NotifyError> {
        match self.prepare(c).await? {
            Plan::Email(email) => {
                let _ = self.send_email(&email).await;
            }
            Plan::Sms(sms) => {
                let _ = self.send_sms(&sms).await;
            }
            Plan::Skip(_) | Plan::Cancel(_) => {}
        }
        Ok(())
    }

    async fn send_email(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        match &self.transports.email {
            Some(sender) => sender.send(email).await,
            None => Err(SendError::Permanent("email_not_configured".into())),
        }
    }

    async fn send_sms(&self, sms: &OutgoingSms) -> Result<(), SendError> {
        match &self.transports.sms {
            Some(sender) => sender.send(sms).await,
            None => Err(SendError::Permanent("sms_not_configured".into())),
        }
    }

    /// Reads what the notice needs *now* (opt-in, address, language, the booking) and decides.
    async fn prepare(&self, c: &Claimed) -> Result<Plan, NotifyError> {
        let row = sqlx::query(
            "SELECT n.channel, n.kind, n.booking_id, n.due_at, n.created_at, a.mobile, a.email, \
             s.notify_sms, s.notify_email, s.language \
             FROM notifications n JOIN accounts a ON a.id = n.account_id \
             JOIN account_settings s ON s.account_id = a.id WHERE n.id = $1",
        )
        .bind(&c.id)
        .fetch_optional(self.db.pool())
        .await?;
        // Deleted since the claim (the account went): nothing to send.
        let Some(row) = row else {
            return Ok(Plan::Skip("gone"));
        };
        let channel: String = row.try_get("channel")?;
        let channel = Channel::from_stored(&channel).ok_or(NotifyError::Corrupt("channel"))?;
        let kind: String = row.try_get("kind")?;
        let kind = Kind::from_stored(&kind).ok_or(NotifyError::Corrupt("kind"))?;
        let (opted_in, address): (i64, Option<String>) = match channel {
            Channel::Sms => (row.try_get("notify_sms")?, row.try_get("mobile")?),
            Channel::Email => (row.try_get("notify_email")?, row.try_get("email")?),
        };
        if opted_in != 1 {
            return Ok(Plan::Skip("not_opted_in"));
        }
        let Some(address) = address else {
            return Ok(Plan::Skip("no_address"));
        };
        let language: String = row.try_get("language")?;
        let language = match language.as_str() {
            "en" => Language::En,
            "sv" => Language::Sv,
            _ => return Err(NotifyError::Corrupt("language")),
        };
        let booking_id: Option<String> = row.try_get("booking_id")?;
        let visit = match &booking_id {
            Some(id) => match self.visit(id).await? {
                Some(v) => Some(v),
                None => return Ok(Plan::Skip("gone")),
            },
            None => None,
        };
        let now = self.now();
        if kind == Kind::Reminder {
            let created_at: i64 = row.try_get("created_at")?;
            let Some((visit, ended)) = &visit else {
                return Err(NotifyError::Corrupt("booking_id"));
            };
            if *ended {
                return Ok(Plan::Cancel("booking_ended"));
            }
            if self.policy.reminder_hours_before == 0 {
                return Ok(Plan::Skip("reminders_off"));
            }
            if visit.starts_at <= now {
                return Ok(Plan::Skip("too_late"));
            }
            let window = visit.starts_at - i64::from(self.policy.reminder_hours_before) * 3600;
            if created_at > window {
                return Ok(Plan::Skip("booked_within_reminder_window"));
            }
        }
        match channel {
            Channel::Email if self.transports.email.is_none() => {
                return Ok(Plan::Skip("email_not_configured"));
            }
            Channel::Sms if self.transports.sms.is_none() => {
                return Ok(Plan::Skip("sms_not_configured"));
            }
            _ => {}
        }
        let facts = Facts {
            kind,
            language,
            service_name: &self.service_name,
            visit: visit.as_ref().map(|(v, _)| v),
            now,
        };
        let rendered = text::render(&facts).map_err(|_| NotifyError::Corrupt("booking time"))?;
        Ok(match channel {
            Channel::Email => Plan::Email(OutgoingEmail {
                to: address,
                key: c.id.clone(),
                subject: rendered.subject,
                body: rendered.email_body,
                ics: rendered.ics.map(|i| (i.method, i.body)),
            }),
            Channel::Sms => Plan::Sms(OutgoingSms {
                to: address,
                key: c.id.clone(),
                text: rendered.text,
            }),
        })
    }

    /// The booking as a notice may tell it, and whether it has ended.
    async fn visit(&self, booking_id: &str) -> Result<Option<(Visit, bool)>, NotifyError> {
        let row = sqlx::query(
            "SELECT b.status, b.created_at, b.updated_at, s.place, s.starts_at, s.ends_at \
             FROM bookings b JOIN booking_slots s ON s.id = b.slot_id WHERE b.id = $1",
        )
        .bind(booking_id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let status: String = row.try_get("status")?;
        let created_at: i64 = row.try_get("created_at")?;
        let updated_at: i64 = row.try_get("updated_at")?;
        Ok(Some((
            Visit {
                booking_id: booking_id.to_owned(),
                starts_at: row.try_get("starts_at")?,
                ends_at: row.try_get("ends_at")?,
                place: row.try_get("place")?,
                // Seconds since the booking was made: grows with every change of it, which is
                // all RFC 5545 asks of SEQUENCE.
                sequence: (updated_at - created_at).max(0),
            },
            status != "booked",
        )))
    }

    /// Records a send's outcome: sent, a retry after back-off, or failed.
    async fn record(
        &self,
        c: &Claimed,
        sent: Result<(), SendError>,
    ) -> Result<Outcome, NotifyError> {
        let now = self.now();
        match sent {
            Ok(()) => {
                let marked = sqlx::query(
                    "UPDATE notifications SET state = 'sent', sent_at = $1, reason = NULL, \
                     retry_at = NULL, claimed_until = NULL, claim = NULL, updated_at = $1 \
                     WHERE id = $2 AND claim = $3",
                )
                .bind(now)
                .bind(&c.id)
                .bind(&c.claim)
                .execute(self.db.pool())
                .await?;
                if marked.rows_affected() == 0 {
                    return Ok(self.lost(c));
                }
                self.stats.sent.fetch_add(1, Relaxed);
                Ok(Outcome::Sent)
            }
            Err(SendError::Permanent(code)) => {
                tracing::warn!(notification = %c.id, reason = %code, "notification refused for good");
                self.finish(c, State::Failed, &code).await
            }
            Err(SendError::Transient(code)) => {
                let (attempts,): (i64,) =
                    sqlx::query_as("SELECT attempts FROM notifications WHERE id = $1")
                        .bind(&c.id)
                        .fetch_one(self.db.pool())
                        .await?;
                if attempts >= i64::from(self.config.max_attempts) {
                    tracing::warn!(notification = %c.id, reason = %code, attempts, "notification failed after its last attempt");
                    return self.finish(c, State::Failed, &code).await;
                }
                let retry_at = now.saturating_add(self.back_off(attempts));
                let marked = sqlx::query(
                    "UPDATE notifications SET retry_at = $1, reason = $2, claimed_until = NULL, \
                     claim = NULL, updated_at = $3 WHERE id = $4 AND claim = $5",
                )
                .bind(retry_at)
                .bind(&code)
                .bind(now)
                .bind(&c.id)
                .bind(&c.claim)
                .execute(self.db.pool())
                .await?;
                if marked.rows_affected() == 0 {
                    return Ok(self.lost(c));
                }
                tracing::info!(notification = %c.id, reason = %code, attempts, "notification will be retried");
                self.stats.retried.fetch_add(1, Relaxed);
                Ok(Outcome::Retry)
            }
        }
    }

    /// The wait after `attempts` failed attempts: base, 2 × base, 4 × base … up to the maximum.
    pub fn back_off(&self, attempts: i64) -> i64 {
        let base = i64::try_from(self.config.retry_base_secs).unwrap_or(i64::MAX);
        let max = i64::try_from(self.config.retry_max_secs).unwrap_or(i64::MAX);
        let doublings = u32::try_from((attempts - 1).clamp(0, 62)).unwrap_or(62);
        base.saturating_mul(1_i64 << doublings).min(max)
    }

    /// Ends a notice in `state` with its reason.
    async fn finish(
        &self,
        c: &Claimed,
        state: State,
        reason: &str,
    ) -> Result<Outcome, NotifyError> {
        let marked = sqlx::query(
            "UPDATE notifications SET state = $1, reason = $2, claimed_until = NULL, claim = NULL, \
             updated_at = $3 WHERE id = $4 AND claim = $5",
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(self.now())
        .bind(&c.id)
        .bind(&c.claim)
        .execute(self.db.pool())
        .await?;
        if marked.rows_affected() == 0 {
            return Ok(self.lost(c));
        }
        Ok(match state {
            State::Failed => {
                self.stats.failed.fetch_add(1, Relaxed);
                Outcome::Failed
            }
            _ => {
                self.stats.skipped.fetch_add(1, Relaxed);
                Outcome::Skipped
            }
        })
    }

    fn lost(&self, c: &Claimed) -> Outcome {
        tracing::warn!(notification = %c.id, "notification's lease ran out before its outcome was recorded; another worker has it");
        Outcome::Lost
    }

    /// Notices per state, for `/metrics`.
    pub async fn counts(&self) -> Result<Vec<(State, i64)>, NotifyError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM notifications GROUP BY state")
                .fetch_all(self.db.pool())
                .await?;
        Ok(State::ALL
            .iter()
            .map(|s| {
                let n = rows
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (*s, n)
            })
            .collect())
    }

    /// The notifications part of `/metrics` (Prometheus text).
    pub async fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP vardrum_notifications Notices in the outbox, by state (failed: gave up)."
        );
        let _ = writeln!(out, "# TYPE vardrum_notifications gauge");
        match self.counts().await {
            Ok(counts) => {
                for (state, n) in counts {
                    let _ = writeln!(
                        out,
                        "vardrum_notifications{{state=\"{}\"}} {n}",
                        state.as_str()
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "notifications: cannot count the outbox"),
        }
        for (name, help, value) in [
            (
                "vardrum_notifications_sent_total",
                "Notices sent by this node.",
                &self.stats.sent,
            ),
            (
                "vardrum_notifications_failed_total",
                "Notices this node gave up on (retries used up, or refused for good).",
                &self.stats.failed,
            ),
            (
                "vardrum_notifications_retries_total",
                "Failed attempts this node will retry after back-off.",
                &self.stats.retried,
            ),
            (
                "vardrum_notifications_skipped_total",
                "Notices not sent on purpose (not opted in, no address, channel not configured).",
                &self.stats.skipped,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }
        out
    }
}

enum Outcome {
    Sent,
    Retry,
    Failed,
    Skipped,
    Lost,
}
