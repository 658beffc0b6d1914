-- Replies, tasks for people, tapering, plan-making, retention.
-- Keep in step with ../postgres/0002_replies.sql.

-- Work for a person (the responsible lots): "förhinder", no reply by the
-- deadline, a failed delivery, a text nobody understood, a reply after the
-- start, a consent about to expire, no booked time ahead. `dedupe_key`
-- makes each cause create its task once.
CREATE TABLE tasks (
    id             INTEGER PRIMARY KEY,
    unit_id        BIGINT NOT NULL REFERENCES units(id),
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    appointment_id BIGINT REFERENCES appointments(id),
    kind           TEXT NOT NULL CHECK (kind IN ('cannot','no_reply','delivery_failed','not_understood',
                                                 'late_reply','consent_expiring','gap')),
    detail         TEXT NOT NULL DEFAULT '{}',
    assigned_to    BIGINT REFERENCES staff(id),
    dedupe_key     TEXT NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    done_at        BIGINT,
    done_by        TEXT
);
CREATE INDEX tasks_open ON tasks(unit_id, created_at) WHERE done_at IS NULL;
CREATE INDEX tasks_participant ON tasks(participant_id, id);

-- A question the bot asked and is waiting for: which of two appointments a
-- reply is about ("svara 1 eller 2"), or when to leave home (plan-making).
CREATE TABLE pending_questions (
    participant_id BIGINT NOT NULL PRIMARY KEY REFERENCES participants(id),
    kind           TEXT NOT NULL CHECK (kind IN ('choice','plan')),
    payload        TEXT NOT NULL,
    asked_at       BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

ALTER TABLE participants ADD COLUMN intensity TEXT NOT NULL DEFAULT 'all';
ALTER TABLE participants ADD COLUMN erased_at BIGINT;
ALTER TABLE units ADD COLUMN plan_making INTEGER NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN gap_alert_days INTEGER NOT NULL DEFAULT 7;

ALTER TABLE inbound ADD COLUMN intent TEXT;
ALTER TABLE outbox ADD COLUMN reply_to BIGINT;
CREATE INDEX outbox_asked ON outbox(participant_id, sent_at) WHERE ask_reply = 1;
