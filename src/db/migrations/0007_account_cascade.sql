-- Rows that belong to an account go with it (issue 11): the database removes an account's
-- settings, events and policy decisions when the account row is deleted, so a deletion that
-- forgets one of them cannot leave it behind (src/portal/personal_data.rs lists them all; its
-- test checks that every table referring to an account is covered, and these by cascade).
-- Neither SQLite nor a portable ALTER can change a foreign key in place, so each table is made
-- anew with the same columns, its rows copied, and renamed over the old one.

CREATE TABLE account_settings_0007 (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    notify_sms INTEGER NOT NULL CHECK (notify_sms IN (0, 1)),
    notify_email INTEGER NOT NULL CHECK (notify_email IN (0, 1)),
    language TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO account_settings_0007 (account_id, notify_sms, notify_email, language, updated_at)
    SELECT account_id, notify_sms, notify_email, language, updated_at FROM account_settings;
DROP TABLE account_settings;
ALTER TABLE account_settings_0007 RENAME TO account_settings;

CREATE TABLE policy_decisions_0007 (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    decision TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);
INSERT INTO policy_decisions_0007 (account_id, version, decision, decided_at)
    SELECT account_id, version, decision, decided_at FROM policy_decisions;
DROP TABLE policy_decisions;
ALTER TABLE policy_decisions_0007 RENAME TO policy_decisions;

CREATE TABLE account_events_0007 (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- 12 digits: who did it (the account's owner, or their guardian). Deleting the guardian's
    -- own account leaves these on the child's account: the child's record of who acted.
    actor_personnummer TEXT NOT NULL,
    action TEXT NOT NULL,
    at BIGINT NOT NULL
);
INSERT INTO account_events_0007 (id, account_id, actor_personnummer, action, at)
    SELECT id, account_id, actor_personnummer, action, at FROM account_events;
DROP TABLE account_events;
ALTER TABLE account_events_0007 RENAME TO account_events;
CREATE INDEX account_events_account ON account_events (account_id);
