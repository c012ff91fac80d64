-- Fewer pages written per chat message (issue 12, W1 of BENCHMARKS.md),
-- continued from 0007:
--   - `messages` is stored in the b-tree of its primary key (WITHOUT
--     ROWID). With a rowid, every insert wrote the table's page and the
--     page of the index SQLite keeps for the text key: two pages where one
--     does. Ids begin with their time, so new rows go to the last page.
--   - `messages_undelivered` holds undelivered messages only (a partial
--     index): marking a message delivered deletes its entry instead of
--     moving it, and the index stays as small as what is still owed.
CREATE TABLE messages_by_id (
    id         TEXT PRIMARY KEY NOT NULL,
    from_id    TEXT NOT NULL REFERENCES users (id),
    to_id      TEXT NOT NULL REFERENCES users (id),
    text       TEXT NOT NULL,
    seen_at    TEXT,
    delivered  INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO messages_by_id (id, from_id, to_id, text, seen_at, delivered, created_at)
    SELECT id, from_id, to_id, text, seen_at, delivered, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_by_id RENAME TO messages;

-- A thread is (from, to) in either direction, in time order.
CREATE INDEX messages_from_to ON messages (from_id, to_id, created_at, id);
CREATE INDEX messages_to_from ON messages (to_id, from_id, created_at, id);
-- Offline delivery: what a user has not received yet.
CREATE INDEX messages_undelivered ON messages (to_id, created_at, id) WHERE delivered = 0;
