-- Files participants uploaded into a call's chat (src/uploads/), kept with the uploader's booking
-- after the call: one row per file. The bytes are not here but in the file store (by default
-- <data_dir>/uploads/, named by `id`); a row exists only once its file is stored.
CREATE TABLE call_uploads (
    -- 32 lowercase hex digits (a random UUID): also the file's name in the store.
    id TEXT PRIMARY KEY,
    -- The uploader's booking, from their join token's `booking` claim.
    booking TEXT NOT NULL,
    -- The room (call) it was uploaded in: during the call, only its participants may download it.
    room TEXT NOT NULL,
    -- The uploader's opaque participant id in that room (not the token's identity), and role.
    uploader_participant TEXT NOT NULL,
    uploader_role TEXT NOT NULL,
    -- The sanitised file name (no path, no control characters, at most 100 characters, an
    -- extension that matches content_type).
    name TEXT NOT NULL,
    -- Sniffed from the content: image/jpeg, image/png or application/pdf.
    content_type TEXT NOT NULL,
    -- Bytes, and the lowercase hex SHA-256 of them, to check the stored file against.
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    -- Unix seconds.
    created_at BIGINT NOT NULL
);

-- A booking's files (the bookings issue's pages; the retention job deletes them with the booking).
CREATE INDEX call_uploads_booking ON call_uploads (booking);
CREATE INDEX call_uploads_room ON call_uploads (room);
