-- Trials of two variants of a reminder rule, and the arm each participant
-- is in (issue 21). Keep in step with ../postgres/0017_outcomes_trials.sql.

-- An arm is a reminder rule variant: offsets (as reminder_rules.offsets,
-- e.g. '24h' or '48h,2h') and a wording: 'unit' (the unit's own template,
-- or the default text where it has none) or 'default' (the default text).
-- fewer_than_standard_ack: the coordinator chose explicitly that an arm may
-- give fewer reminders than the unit's standard rule.
CREATE TABLE trials (
    id                      INTEGER PRIMARY KEY,
    unit_id                 BIGINT NOT NULL REFERENCES units(id),
    kind                    TEXT NOT NULL CHECK (kind IN ('meeting','drug_test','group_activity','other')),
    name                    TEXT NOT NULL,
    seed                    TEXT NOT NULL,
    a_offsets               TEXT NOT NULL,
    a_wording               TEXT NOT NULL CHECK (a_wording IN ('unit','default')),
    b_offsets               TEXT NOT NULL,
    b_wording               TEXT NOT NULL CHECK (b_wording IN ('unit','default')),
    fewer_than_standard_ack INTEGER NOT NULL DEFAULT 0,
    starts_at               BIGINT NOT NULL,
    ends_at                 BIGINT,
    created_by              TEXT NOT NULL,
    created_at              BIGINT NOT NULL
);
CREATE INDEX trials_unit ON trials(unit_id, kind);

-- Recorded on first assignment and never changed.
CREATE TABLE trial_assignments (
    trial_id       BIGINT NOT NULL REFERENCES trials(id),
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    arm            TEXT NOT NULL CHECK (arm IN ('a','b')),
    assigned_at    BIGINT NOT NULL,
    PRIMARY KEY (trial_id, participant_id)
);

-- The trial and arm a reminder was planned under, and its wording
-- ('default': the unit's own template is not used).
ALTER TABLE outbox ADD COLUMN trial_id BIGINT REFERENCES trials(id);
ALTER TABLE outbox ADD COLUMN trial_arm TEXT;
ALTER TABLE outbox ADD COLUMN wording TEXT;
