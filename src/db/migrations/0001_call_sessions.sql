-- When video visits happened: the room, when it opened and closed, and how many were in it.
-- Nothing of the call's audio or video is stored, here or anywhere else.
CREATE TABLE call_sessions (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    peak_participants INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX call_sessions_room ON call_sessions (room);
CREATE INDEX call_sessions_ended_at ON call_sessions (ended_at);
