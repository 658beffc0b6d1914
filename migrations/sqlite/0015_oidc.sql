-- Sign-in through the organisation's identity provider (OpenID Connect).
-- Keep in step with ../postgres/0015_oidc.sql.

-- Who a staff member is at the identity provider: the value of the
-- configured claim (e-mail, preferred_username, sub, an HSA-id). Set by an
-- admin on the staff page or by provisioning; at most one account each.
ALTER TABLE staff ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX staff_external_id ON staff(external_id);

-- A sign-in under way: the state sent to the provider (as its SHA-256),
-- with the nonce and PKCE verifier it must come back with. Taken (deleted)
-- by the callback, so a replayed state finds nothing; short-lived.
CREATE TABLE oidc_states (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX oidc_states_created ON oidc_states(created_at);

-- The provider's id_token of a session signed in through it: sent back as
-- id_token_hint when the session logs out (RP-initiated logout).
ALTER TABLE web_sessions ADD COLUMN id_token TEXT;
