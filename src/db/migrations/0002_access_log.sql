-- The PDL access log (patientdatalagen 4 kap. 3 §): one row per staff or system access to a
-- patient's data, hash-chained in `seq` order so that edits, deletions and reorderings are
-- detectable (src/portal/audit.rs explains the chain). The application only ever INSERTs here.
-- This is the one table that must hold the patient's full personnummer: the log has to say
-- whose record was accessed, for the patient's own view and for the care provider's follow-up.
CREATE TABLE access_log (
    -- Position in the chain: 1, 2, 3, ... with no gaps. Unique, which is also what serialises
    -- concurrent appends (two writers reading the same last entry cannot both insert seq + 1).
    seq BIGINT PRIMARY KEY,
    -- Unix seconds.
    at BIGINT NOT NULL,
    -- `staff` or `system`; a patient reading their own data is not logged here.
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    care_unit TEXT NOT NULL,
    -- 12 digits, YYYYMMDDNNNC.
    patient TEXT NOT NULL,
    -- read, create, update, delete, export.
    action TEXT NOT NULL,
    -- What was touched, e.g. `account`, `booking:<id>`.
    resource TEXT NOT NULL,
    purpose TEXT,
    client_ip TEXT,
    user_agent TEXT,
    -- Lowercase hex SHA-256: the previous entry's hash (or the anchor's, or 64 zeros), and this
    -- entry's own hash over all the columns above plus prev_hash.
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

-- A patient's view of who accessed their data.
CREATE INDEX access_log_patient ON access_log (patient, seq);
-- The retention job finds entries older than five years by time.
CREATE INDEX access_log_at ON access_log (at);

-- Where the chain starts after retention has deleted its oldest entries: the seq and hash of the
-- last deleted entry. The retention job inserts one row per run, in the same transaction that
-- deletes the prefix up to and including `seq`; verification starts from the highest anchor.
CREATE TABLE access_log_anchor (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    -- Unix seconds: when the prefix was deleted.
    created_at BIGINT NOT NULL
);
