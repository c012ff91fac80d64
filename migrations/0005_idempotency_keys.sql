-- Idempotency keys: the first request with a key chooses the id of what it
-- creates; a retry with the same key finds that id instead of creating again.

CREATE TABLE idempotency_keys (
    user_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,  -- SHA-256 of the operation and its input
    result_id   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
