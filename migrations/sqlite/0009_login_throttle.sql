-- Login throttling, counted before a password is checked (issue 15).
-- Keep in step with ../postgres/0009_login_throttle.sql.
--
-- One row per limit: the global one ('global'), one per client address
-- and one per (username, client address), each keyed by a SHA-256 so
-- neither names nor addresses are stored. An attempt first counts itself
-- (INSERT ... ON CONFLICT ... RETURNING, which locks the row until the
-- transaction ends), then is decided on, so parallel attempts queue on the
-- row instead of all reading the same old count.
--   tries          every attempt, refused ones included
--   checks         password checks let through (in the window, or since
--                  the last success for a (username, client) row)
--   window_start   start of the counting window (global and client rows)
--   last_check_at  the last check let through
--   updated_at     for the purge of old rows
-- The old login_failures table (0005) is no longer read or written; it is
-- kept so an older instance keeps working during a rolling upgrade.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    tries         BIGINT NOT NULL,
    checks        BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    last_check_at BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX login_throttle_updated ON login_throttle(updated_at);
