-- Notifications (src/portal/notifications/): the durable outbox of SMS and e-mail notices, and
-- which account a child's notices go to. A notice is written in the same transaction as the event
-- that causes it (a booking made, moved or cancelled, a drop-in patient's turn, a new message)
-- and sent later by the worker, which claims rows with a lease. Neither the text nor the address
-- is stored: both are made at send time from the account and the booking, so an opt-out or a new
-- address applies to notices already waiting, and the outbox holds no message content.
-- Times are Unix seconds. Deleted with the account (the recipient's) or the booking.

CREATE TABLE notifications (
    -- 32 lowercase hex digits (a random UUID): also the notice's idempotency key, sent as the
    -- e-mail's Message-ID and the SMS gateway's Idempotency-Key, so that a re-send after a crash
    -- carries the same key as the first attempt.
    id TEXT PRIMARY KEY,
    -- Who is told: the patient, or for a child's booking the guardian who made it.
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- `sms` or `email`: one row per channel; the opt-in is checked when it is sent.
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    kind TEXT NOT NULL CHECK (kind IN ('booking_confirmed', 'booking_moved',
        'booking_cancelled', 'your_turn', 'reminder', 'new_message')),
    -- The booking a booking notice is about (NULL for messages).
    booking_id TEXT REFERENCES bookings (id) ON DELETE CASCADE,
    -- The conversation a `new_message` notice is about (NULL otherwise). Not a foreign key: the
    -- notice carries nothing of the conversation, and goes with the account.
    conversation_id TEXT,
    -- `pending` until `sent`, `failed` (gave up after retries, or refused for good),
    -- `skipped` (not opted in, no address, channel not configured, too late) or `cancelled`
    -- (a reminder of a booking that was cancelled or moved).
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped', 'cancelled')),
    -- When it may go out. For a reminder: the visit's start; the region's
    -- `[notifications] reminder_hours_before` is subtracted when the worker looks for due rows.
    due_at BIGINT NOT NULL,
    -- Back-off after a failed attempt: not before this (NULL: no wait).
    retry_at BIGINT,
    -- Attempts started (a claim counts one, also when the process died during it).
    attempts INTEGER NOT NULL DEFAULT 0,
    -- The lease: a worker that claimed the row owns it until then; after that (a crashed or
    -- stalled worker) another may take it. `claim` tells the holder's marks from a late one's.
    claimed_until BIGINT,
    claim TEXT,
    -- Why it is skipped or failed, or what the last attempt met: a short code such as
    -- `not_opted_in` or `smtp_transient 451`, never an address or a server's text.
    reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT,
    CHECK ((booking_id IS NULL) <> (conversation_id IS NULL))
);

CREATE INDEX notifications_due ON notifications (state, due_at);
CREATE INDEX notifications_account ON notifications (account_id);
CREATE INDEX notifications_booking ON notifications (booking_id);

-- Where a child's notices go: the guardian who booked (or queued) for the child. One row per
-- booking or drop-in entry made by a guardian; without one, notices go to the booking's own
-- account. Goes with the booking or entry, and with the guardian's account.
CREATE TABLE notification_contacts (
    id TEXT PRIMARY KEY,
    booking_id TEXT REFERENCES bookings (id) ON DELETE CASCADE,
    dropin_entry_id TEXT REFERENCES dropin_entries (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    CHECK ((booking_id IS NULL) <> (dropin_entry_id IS NULL))
);

CREATE UNIQUE INDEX notification_contacts_booking ON notification_contacts (booking_id);
CREATE UNIQUE INDEX notification_contacts_entry ON notification_contacts (dropin_entry_id);
CREATE INDEX notification_contacts_account ON notification_contacts (account_id);
