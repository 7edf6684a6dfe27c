-- Bookings (src/portal/bookings/): the slots care units publish, the patients' bookings of them,
-- digital drop-in queues, and the "your turn" notices drop-in leaves for the notifications work.
-- Times are Unix seconds (UTC instants); Europe/Stockholm is only how they are entered and shown.
-- Flags are INTEGER 0/1 (sqlx's Any driver cannot read SQLite's BOOLEAN).

-- A bookable time of a care unit: physical (at `place`) or digital (video), for one patient
-- (capacity 1) or a group (capacity >= 2). `booked` counts the bookings not cancelled: it is the
-- race-safe capacity check, raised only by `UPDATE ... SET booked = booked + 1 WHERE booked <
-- capacity`, which one writer at a time passes on SQLite and PostgreSQL alike.
CREATE TABLE booking_slots (
    -- 32 lowercase hex digits (a random UUID).
    id TEXT PRIMARY KEY,
    care_unit TEXT NOT NULL,
    -- `physical` or `digital`.
    kind TEXT NOT NULL CHECK (kind IN ('physical', 'digital')),
    -- Where a physical visit takes place; NULL for digital ones.
    place TEXT,
    -- `single` or `group`.
    mode TEXT NOT NULL CHECK (mode IN ('single', 'group')),
    capacity INTEGER NOT NULL CHECK (capacity >= 1),
    booked INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    -- `published` by staff, or made by `dropin` when a clinician took the next patient.
    origin TEXT NOT NULL,
    -- staff.id of whoever published it (not a foreign key: the slot outlives a staff member).
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when staff withdraw a slot nobody has booked; withdrawn slots cannot be booked.
    withdrawn_at BIGINT,
    CHECK (ends_at > starts_at)
);

CREATE INDEX booking_slots_unit_start ON booking_slots (care_unit, starts_at);

-- The clinicians of a slot: one or more staff members.
CREATE TABLE booking_slot_clinicians (
    slot_id TEXT NOT NULL REFERENCES booking_slots (id) ON DELETE CASCADE,
    staff_id TEXT NOT NULL,
    PRIMARY KEY (slot_id, staff_id)
);

CREATE INDEX booking_slot_clinicians_staff ON booking_slot_clinicians (staff_id);

-- A patient's booking of a slot: what the seeds list (name, contact details, date, time, place
-- or digital, care unit, clinicians through the slot). The name and contact details are copied
-- from the account when booked, as the booking's own record. Deleted with the account.
CREATE TABLE bookings (
    -- 32 lowercase hex digits (a random UUID): opaque, stable across reschedules, and the join
    -- token's `booking` claim.
    id TEXT PRIMARY KEY,
    slot_id TEXT NOT NULL REFERENCES booking_slots (id),
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    care_unit TEXT NOT NULL,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    -- E.164, or NULL.
    mobile TEXT,
    email TEXT,
    -- The video room of a digital booking: `visit-<booking id>`, or `group-<slot id>` for all of
    -- a group slot's bookings. NULL for physical bookings.
    room TEXT,
    -- Who made it: `patient`, `guardian` or `staff`, and the staff id when staff did.
    booked_by TEXT NOT NULL,
    booked_by_staff TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- `booked` until it ends as `done`, `cancelled` or `no_show`. Retention counts from ended_at.
    status TEXT NOT NULL CHECK (status IN ('booked', 'done', 'cancelled', 'no_show')),
    ended_at BIGINT,
    -- `patient`, `guardian`, `staff` or `system`, with the staff id when staff ended it.
    ended_by TEXT,
    ended_by_staff TEXT,
    CHECK ((status = 'booked') = (ended_at IS NULL))
);

-- One active booking per patient and slot; a cancelled one does not block booking again. The
-- unique index is what refuses a double booking made at the same moment from two tabs.
CREATE UNIQUE INDEX bookings_one_per_patient_and_slot ON bookings (slot_id, account_id)
    WHERE ended_at IS NULL;
CREATE INDEX bookings_account ON bookings (account_id);
CREATE INDEX bookings_room ON bookings (room);
CREATE INDEX bookings_ended_at ON bookings (ended_at);

-- A care unit's digital drop-in: open for a time window; patients queue, clinicians take the
-- next. `next_ticket` hands out places in order (UPDATE ... RETURNING, one writer at a time).
CREATE TABLE dropin_queues (
    id TEXT PRIMARY KEY,
    care_unit TEXT NOT NULL,
    opens_at BIGINT NOT NULL,
    closes_at BIGINT NOT NULL,
    -- How long the booking a taken patient gets lasts, in minutes.
    visit_minutes INTEGER NOT NULL CHECK (visit_minutes >= 1),
    next_ticket BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when staff close the queue before closes_at.
    closed_at BIGINT,
    CHECK (closes_at > opens_at)
);

CREATE INDEX dropin_queues_unit ON dropin_queues (care_unit, opens_at);

-- A patient in a drop-in queue. Deleted with the account.
CREATE TABLE dropin_entries (
    id TEXT PRIMARY KEY,
    queue_id TEXT NOT NULL REFERENCES dropin_queues (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Order in the queue: 1, 2, 3, ... per queue.
    ticket BIGINT NOT NULL,
    -- `waiting`, `taken` (a clinician took them: booking_id is set) or `left`.
    state TEXT NOT NULL CHECK (state IN ('waiting', 'taken', 'left')),
    -- `patient` or `guardian`.
    joined_by TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    -- When the entry stopped waiting (taken or left), and by which staff member when taken.
    ended_at BIGINT,
    taken_by TEXT,
    booking_id TEXT REFERENCES bookings (id) ON DELETE CASCADE,
    UNIQUE (queue_id, ticket)
);

-- One place in a queue per patient at a time.
CREATE UNIQUE INDEX dropin_entries_one_waiting ON dropin_entries (queue_id, account_id)
    WHERE state = 'waiting';
CREATE INDEX dropin_entries_account ON dropin_entries (account_id);

-- Things to tell a patient that the notifications outbox (a later slice) will pick up: written
-- in the same transaction as what causes them, never sent from here. Today only `your_turn`
-- (a clinician took the patient from a drop-in queue). `picked_at` is set by whatever delivers
-- it; the text it sends carries no health data. Deleted with the account.
CREATE TABLE booking_notices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    booking_id TEXT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    picked_at BIGINT
);

CREATE INDEX booking_notices_unpicked ON booking_notices (picked_at, created_at);
