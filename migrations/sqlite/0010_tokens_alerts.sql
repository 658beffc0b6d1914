-- API tokens get a scope and an expiry; units choose whether staff
-- Telegram alerts carry the participant's words. Keep in step with
-- ../postgres/0010_tokens_alerts.sql.

-- Scope: `can_write` 0 = read only; `unit_id` NULL = every unit.
ALTER TABLE api_tokens ADD COLUMN can_write INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_tokens ADD COLUMN unit_id BIGINT REFERENCES units(id);
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
-- Tokens made before this migration keep every unit and writing, and
-- expire 90 days after it.
UPDATE api_tokens SET expires_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 7776000000
 WHERE expires_at IS NULL;

-- 1: a staff alert on Telegram copies the participant's text and reason;
-- 0 (the default): it says "ny uppgift" with a link to the task.
ALTER TABLE units ADD COLUMN alert_details INTEGER NOT NULL DEFAULT 0;
