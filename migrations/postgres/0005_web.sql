-- The staff web UI: login sessions and slowed-down logins.
-- Keep in step with ../sqlite/0005_web.sql.

-- A logged-in browser. Only the SHA-256 of the cookie's token is stored;
-- the CSRF token is per session and goes into every form.
CREATE TABLE web_sessions (
    token_hash   TEXT PRIMARY KEY,
    staff_id     BIGINT NOT NULL REFERENCES staff(id),
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_staff ON web_sessions(staff_id);

-- Failed logins per username (known or not), to slow down guessing. The
-- name is kept as its SHA-256: a mistyped one is often a password.
CREATE TABLE login_failures (
    username_hash   TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);

ALTER TABLE staff ADD COLUMN password_changed_at BIGINT;

CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_target ON audit(target);
