-- Fewer pages written per chat message (issue 12, W1 of BENCHMARKS.md).
-- Every index a row touches is one more page in each commit's share of
-- the write-ahead log:
--   - `messages_created` is read by no query (EXPLAIN QUERY PLAN of each);
--   - `events_at` served only the retention trim, which now walks the log
--     in position order (time order, as positions are handed out);
--   - AUTOINCREMENT wrote `sqlite_sequence` on every append. The trim
--     always keeps the newest event, so the largest position is never
--     deleted and "largest + 1" never hands a number out twice.
DROP INDEX messages_created;

CREATE TABLE events_by_position (
    position INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    everyone INTEGER NOT NULL,  -- 1: every client may read it
    admins   INTEGER NOT NULL,  -- 1: every admin may read it
    users    TEXT NOT NULL,     -- JSON array of the user ids that may read it
    payload  TEXT NOT NULL
) STRICT;
INSERT INTO events_by_position (position, at, kind, everyone, admins, users, payload)
    SELECT position, at, kind, everyone, admins, users, payload FROM events;
DROP TABLE events;
ALTER TABLE events_by_position RENAME TO events;
