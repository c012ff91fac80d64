-- The event log: every event a client can miss, with its position.
-- AUTOINCREMENT: a position is never handed out twice, even after the
-- newest rows were deleted, and a rolled-back insert gives its number back
-- (the counter lives in the same transaction), so positions stay gap-free.

CREATE TABLE events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    everyone INTEGER NOT NULL,  -- 1: every client may read it
    admins   INTEGER NOT NULL,  -- 1: every admin may read it
    users    TEXT NOT NULL,     -- JSON array of the user ids that may read it
    payload  TEXT NOT NULL
) STRICT;

CREATE INDEX events_at ON events (at);
