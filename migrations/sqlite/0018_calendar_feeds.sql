-- Calendar feeds: a secret, revocable iCalendar URL per person, to
-- subscribe in Outlook or a phone to one's caseload (lots) or the unit's
-- group activities (coordinator). Keep in step with ../postgres/0018_calendar_feeds.sql.
-- Only the SHA-256 of the URL's secret is kept; a new link revokes the
-- person's earlier one of the same scope.
CREATE TABLE calendar_feeds (
    id              INTEGER PRIMARY KEY,
    staff_id        BIGINT NOT NULL REFERENCES staff(id),
    scope           TEXT NOT NULL CHECK (scope IN ('caseload','unit_activities')),
    language        TEXT NOT NULL DEFAULT 'sv' CHECK (language IN ('sv','en')),
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    last_fetched_at BIGINT
);
CREATE INDEX calendar_feeds_staff ON calendar_feeds(staff_id, scope);
