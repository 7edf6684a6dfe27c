-- The portal's login and session state (src/portal/{staff,sessions,oidc,policy,events}.rs).

-- Staff members (clinicians, administrators), provisioned by an administrator (or, in
-- development, from config/dev/staff.json). They log in through the staff identity provider,
-- whose subject identifier (e.g. an HSA-id) is `subject`.
CREATE TABLE staff (
    -- Random UUID (32 hex digits); the access log's actor id.
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    -- `clinician` or `administrator`.
    role TEXT NOT NULL,
    -- The care units the member works for, as a JSON array of names; the session picks one.
    care_units TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Logged-in browser sessions. The cookie carries a random token; only its SHA-256 is stored, so
-- a copy of this table logs nobody in.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    -- `patient` (patients and guardians) or `staff`.
    realm TEXT NOT NULL,
    -- accounts.id for patients, staff.id for staff.
    principal TEXT NOT NULL,
    -- The child a guardian acts for (12 digits), or NULL. Only for as long as the session lasts.
    acting_for TEXT,
    -- The staff member's active care unit, or NULL for patients.
    care_unit TEXT,
    -- Sent back in the X-CSRF-Token header on every state-changing request.
    csrf_token TEXT NOT NULL,
    -- Unix seconds: idle and absolute timeouts are measured from these.
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE INDEX sessions_principal ON sessions (principal);

-- Logins in progress: the OIDC state, nonce and PKCE verifier between the redirect to the
-- identity provider and its callback. Single use; stale rows are removed at the next login.
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A person's decisions on privacy-policy versions. Belongs to the account.
CREATE TABLE policy_decisions (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    version TEXT NOT NULL,
    -- `accepted` or `declined`; a later decision on the same version replaces the earlier.
    decision TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);

-- What was done on an account and by whom: the person themself, or a guardian acting for a
-- child (both identities recorded). Belongs to the account; exported and deleted with it.
CREATE TABLE account_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    -- 12 digits: who did it (the account's owner, or their guardian).
    actor_personnummer TEXT NOT NULL,
    -- `login`, `profile_update`, `export`, `policy_decision`, `proxy_start`.
    action TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX account_events_account ON account_events (account_id);
