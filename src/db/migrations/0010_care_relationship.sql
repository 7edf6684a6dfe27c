-- Staff access bounded by the care relationship (patientdatalagen 4 kap. 1 §): every access-log
-- entry records what allowed it, and emergency accesses (nödåtkomst, 6 kap. 3 a §) are kept
-- for follow-up. src/portal/care/ explains the rule.

-- `booking:<id>`, `conversation:<id>`, `dropin:<id>`, `triage:<id>`, `emergency:<id>`,
-- `registration` or `system`; NULL in entries written before this migration. Part of the
-- entry's hash when present (the v2 encoding, src/portal/audit/).
ALTER TABLE access_log ADD COLUMN basis TEXT;

-- One emergency access: a staff member without a care relationship opened a patient's data,
-- stating why. It lets that member read that patient's data from that care unit until
-- `expires_at`, and stays flagged until an administrator has followed it up.
CREATE TABLE emergency_accesses (
    id TEXT PRIMARY KEY,
    -- Unix seconds.
    opened_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    staff_id TEXT NOT NULL,
    staff_role TEXT NOT NULL,
    care_unit TEXT NOT NULL,
    -- 12 digits. Like the access log, kept whether or not the patient keeps an account: it is
    -- the access log's companion, kept as long as it is.
    patient TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- Follow-up: when, by whom (staff id) and with what note; NULL until followed up.
    reviewed_at BIGINT,
    reviewed_by TEXT,
    review_note TEXT
);

-- Finding a member's open emergency access to a patient.
CREATE INDEX emergency_accesses_open ON emergency_accesses (staff_id, patient, care_unit, expires_at);
-- The follow-up list: those not yet reviewed, oldest first.
CREATE INDEX emergency_accesses_review ON emergency_accesses (reviewed_at, opened_at);
