-- Secure messages (src/portal/messages/): conversations between a patient (or a guardian acting
-- for a child) and a care unit, their messages, the files attached to them, and each
-- participant's read mark. Times are Unix seconds. What the seeds list is kept: the
-- participants' names (copied onto each message when written), when each message was sent, the
-- full history, images and files sent, and whether a message is read or unread.

-- A conversation of one patient (the account whose care it is about: the child's, when a
-- guardian writes for them) with one care unit. Retention counts from `closed_at`.
CREATE TABLE conversations (
    -- 32 lowercase hex digits (a random UUID).
    id TEXT PRIMARY KEY,
    -- Not ON DELETE CASCADE: the messages capability deletes the account's conversations itself
    -- (personal-data registry), so that the attachments' files are removed after their rows.
    account_id TEXT NOT NULL REFERENCES accounts (id),
    care_unit TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- `patient` or `guardian`: who started it on the patient's side.
    started_by TEXT NOT NULL CHECK (started_by IN ('patient', 'guardian')),
    -- How many messages it has: the next message's seq is this plus one, taken by an UPDATE
    -- that also refuses a closed conversation, so concurrent posts never share a seq.
    message_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL,
    -- staff.id of the clinician it is assigned to (staff-side only; not a foreign key: the
    -- conversation outlives a staff member's row).
    assigned_to TEXT,
    -- Set when staff close it, with the staff.id of who did.
    closed_at BIGINT,
    closed_by TEXT
);

CREATE INDEX conversations_account ON conversations (account_id, last_message_at);
CREATE INDEX conversations_unit ON conversations (care_unit, last_message_at);

-- One message of a conversation, in order (`seq` 1, 2, 3, ...).
CREATE TABLE conversation_messages (
    -- 32 lowercase hex digits (a random UUID).
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    -- `patient`, `guardian` (acting for the child) or `staff`.
    author_kind TEXT NOT NULL CHECK (author_kind IN ('patient', 'guardian', 'staff')),
    -- The writer's own account (the patient's, or the guardian's); NULL for staff, and cleared
    -- when a guardian's account is deleted (what they wrote stays in the child's conversation).
    author_account TEXT REFERENCES accounts (id),
    -- staff.id of a staff author.
    author_staff TEXT,
    -- The writer's name as it was when they wrote (participants' names, as the seeds say).
    author_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (conversation_id, seq)
);

CREATE INDEX conversation_messages_author ON conversation_messages (author_account);

-- A file attached to a message. `id` is also the file's key in the attachment store; the file
-- is written (durably) before this row, and removed after it (`message_file_removals`).
CREATE TABLE conversation_attachments (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES conversation_messages (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- Cleaned display name (src/uploads/name.rs), its extension fitting the sniffed type.
    name TEXT NOT NULL,
    -- Sniffed from the content: image/jpeg, image/png or application/pdf.
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- Lowercase hex SHA-256 of the bytes: a file changed in the store is not handed out.
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX conversation_attachments_message ON conversation_attachments (message_id);

-- Each participant's read mark: the highest seq they have read. The patient's side (the patient
-- and a guardian acting for them) is `patient`; each staff member is their staff.id.
CREATE TABLE conversation_reads (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reader TEXT NOT NULL,
    read_seq BIGINT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, reader)
);

-- Attachment files whose rows are gone and whose bytes are still to be removed from the store:
-- written in the same transaction that deletes the rows, emptied once the files are gone (also
-- at start-up, after a crash in between). Holds nothing but the random ids.
CREATE TABLE message_file_removals (
    id TEXT PRIMARY KEY
);
