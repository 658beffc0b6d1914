-- Log review (loggkontroll, issue 18): the reviewer role ("granskare"),
-- protected identity (skyddad identitet), recorded reviews, and the audit
-- log made append-only in the database.
-- Keep in step with ../postgres/0014_log_review.sql.

-- The reviewer role. SQLite cannot change a CHECK, and staff is referenced
-- by many tables, so it is rebuilt under deferred foreign keys: the rows
-- are set aside, the table dropped (its children's references count as
-- violations until...) and re-created, and the rows put back (...each
-- child finds its parent again). A row not put back fails the commit.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE staff_0014 AS SELECT * FROM staff;
DROP TABLE staff;
CREATE TABLE staff (
    id                  INTEGER PRIMARY KEY,
    unit_id             BIGINT REFERENCES units(id),
    name                TEXT NOT NULL,
    username            TEXT NOT NULL UNIQUE,
    role                TEXT NOT NULL CHECK (role IN ('admin','coordinator','lots','assistant','reviewer')),
    password_hash       TEXT,
    active              INTEGER NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL,
    telegram_chat_id    TEXT,
    telegram_linked_at  BIGINT,
    language            TEXT NOT NULL DEFAULT 'sv' CHECK (language IN ('sv','en')),
    password_changed_at BIGINT
);
INSERT INTO staff (id, unit_id, name, username, role, password_hash, active, created_at,
                   telegram_chat_id, telegram_linked_at, language, password_changed_at)
    SELECT id, unit_id, name, username, role, password_hash, active, created_at,
           telegram_chat_id, telegram_linked_at, language, password_changed_at FROM staff_0014;
DROP TABLE staff_0014;
CREATE INDEX staff_telegram ON staff(telegram_chat_id);

-- Protected identity: only the named staff see the participant at all
-- (domain::access::case_access); everyone else, admins included, gets 403.
ALTER TABLE participants ADD COLUMN protected INTEGER NOT NULL DEFAULT 0;
CREATE TABLE protected_staff (
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    staff_id       BIGINT NOT NULL REFERENCES staff(id),
    added_at       BIGINT NOT NULL,
    PRIMARY KEY (participant_id, staff_id)
);

-- A log review as recorded: who reviewed which selection of which period,
-- when, with a note. Append-only like the audit log.
CREATE TABLE audit_reviews (
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    staff_id    BIGINT NOT NULL REFERENCES staff(id),
    selection   TEXT NOT NULL CHECK (selection IN ('all','outside','protected','sample')),
    period_from BIGINT NOT NULL,
    period_to   BIGINT NOT NULL,
    filters     TEXT NOT NULL DEFAULT '{}',
    views       BIGINT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX audit_reviews_at ON audit_reviews(at);

-- Append-only. No UPDATE of an audit row or a review, ever; no DELETE of a
-- review. An audit row may be deleted only by the retention purge
-- (store::audit::purge), and only when it is both older than the bound the
-- purge sets in audit_purge (inside its transaction, reset before commit)
-- and more than 365 days older than the database's own clock: whatever the
-- application writes into audit_purge, a row of the last year cannot go.
CREATE TABLE audit_purge (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    before_at BIGINT NOT NULL
);
INSERT INTO audit_purge (id, before_at) VALUES (1, 0);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN NOT (OLD.at < (SELECT before_at FROM audit_purge WHERE id = 1)
          AND OLD.at < (CAST(strftime('%s', 'now') AS INTEGER) - 365 * 86400) * 1000)
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: only the retention purge deletes, and only old rows');
END;
CREATE TRIGGER audit_reviews_no_update BEFORE UPDATE ON audit_reviews
BEGIN
    SELECT RAISE(ABORT, 'reviews are append-only');
END;
CREATE TRIGGER audit_reviews_no_delete BEFORE DELETE ON audit_reviews
BEGIN
    SELECT RAISE(ABORT, 'reviews are append-only');
END;
