-- One-to-one messages.

CREATE TABLE messages (
    id         TEXT PRIMARY KEY NOT NULL,
    from_id    TEXT NOT NULL REFERENCES users (id),
    to_id      TEXT NOT NULL REFERENCES users (id),
    text       TEXT NOT NULL,
    seen_at    TEXT,
    delivered  INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

-- A thread is (from, to) in either direction, in time order.
CREATE INDEX messages_from_to ON messages (from_id, to_id, created_at, id);
CREATE INDEX messages_to_from ON messages (to_id, from_id, created_at, id);
CREATE INDEX messages_created ON messages (created_at, id);
-- Offline delivery: what a user has not received yet.
CREATE INDEX messages_undelivered ON messages (to_id, delivered, created_at, id);

CREATE INDEX users_registered ON users (created_at, id);
