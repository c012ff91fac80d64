-- Account status kept with the account, so revocations survive restarts and
-- hold on every process: deactivation, and the instant before which the
-- account's access tokens are void (milliseconds since the epoch).

ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
ALTER TABLE users ADD COLUMN sessions_valid_from INTEGER NOT NULL DEFAULT 0;
