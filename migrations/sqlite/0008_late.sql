-- Coming, late (issue 14): a reply of "kommer lite sent" / "försenad 15 min"
-- is a "coming" with the lateness, in minutes when the participant gave them,
-- and a task that tells the lots.
-- Keep in step with ../postgres/0008_late.sql.

ALTER TABLE appointments ADD COLUMN reply_late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE appointments ADD COLUMN reply_late_min BIGINT;

-- A task kind of its own: SQLite cannot change a CHECK, so the table is
-- rebuilt (nothing references tasks).
CREATE TABLE tasks_0008 (
    id             INTEGER PRIMARY KEY,
    unit_id        BIGINT NOT NULL REFERENCES units(id),
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    appointment_id BIGINT REFERENCES appointments(id),
    kind           TEXT NOT NULL CHECK (kind IN ('cannot','no_reply','delivery_failed','not_understood',
                                                 'late_reply','consent_expiring','gap','coming_late')),
    detail         TEXT NOT NULL DEFAULT '{}',
    assigned_to    BIGINT REFERENCES staff(id),
    dedupe_key     TEXT NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    done_at        BIGINT,
    done_by        TEXT,
    alerted_at     BIGINT
);
INSERT INTO tasks_0008 (id, unit_id, participant_id, appointment_id, kind, detail, assigned_to, dedupe_key,
                        created_at, done_at, done_by, alerted_at)
    SELECT id, unit_id, participant_id, appointment_id, kind, detail, assigned_to, dedupe_key,
           created_at, done_at, done_by, alerted_at FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_0008 RENAME TO tasks;
CREATE INDEX tasks_open ON tasks(unit_id, created_at) WHERE done_at IS NULL;
CREATE INDEX tasks_participant ON tasks(participant_id, id);
