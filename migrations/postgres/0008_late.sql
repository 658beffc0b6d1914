-- Coming, late (issue 14): a reply of "kommer lite sent" / "försenad 15 min"
-- is a "coming" with the lateness, in minutes when the participant gave them,
-- and a task that tells the lots.
-- Keep in step with ../sqlite/0008_late.sql.

ALTER TABLE appointments ADD COLUMN reply_late BIGINT NOT NULL DEFAULT 0;
ALTER TABLE appointments ADD COLUMN reply_late_min BIGINT;

ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('cannot','no_reply','delivery_failed','not_understood',
                    'late_reply','consent_expiring','gap','coming_late'));
