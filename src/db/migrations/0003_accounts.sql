-- Patient accounts (src/portal/accounts.rs). One row per person, keyed on the personnummer,
-- which is never updated after the row is created. Other tables refer to an account by `id`, so
-- that the personnummer is stored here (and in the PDL access log) only.
CREATE TABLE accounts (
    -- Random UUID (32 hex digits).
    id TEXT PRIMARY KEY,
    -- 12 digits, YYYYMMDDNNNC. Unique: one account per person.
    personnummer TEXT NOT NULL UNIQUE,
    -- Pre-filled from the population register at creation, then the person's own to edit.
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    -- E.164 (+46701234567), or NULL when the person has given none.
    mobile TEXT,
    email TEXT,
    -- Skyddade personuppgifter, refreshed from the register at every login: staff see it.
    -- Flags are INTEGER 0/1 here: sqlx's Any driver cannot read SQLite's BOOLEAN.
    protected_identity INTEGER NOT NULL CHECK (protected_identity IN (0, 1)),
    -- `patient` (first login) or `staff` (registered by staff for the patient).
    registered_by TEXT NOT NULL,
    -- Unix seconds. last_login_at is NULL until the first login (staff-registered accounts);
    -- the retention job deletes accounts not logged into for the region's number of days.
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE INDEX accounts_last_login_at ON accounts (last_login_at);

-- The account's settings, one row per account, deleted with it.
CREATE TABLE account_settings (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    -- Notices are sent only to those who turned them on (both regions' policies).
    notify_sms INTEGER NOT NULL CHECK (notify_sms IN (0, 1)),
    notify_email INTEGER NOT NULL CHECK (notify_email IN (0, 1)),
    -- `sv` or `en`.
    language TEXT NOT NULL,
    -- Unix seconds.
    updated_at BIGINT NOT NULL
);
