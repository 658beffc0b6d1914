-- Broadcasts: one message written by staff to a group's current members
-- (or to a filter), planned as one private outbox row per member.
-- Keep in step with ../postgres/0006_broadcasts.sql.

CREATE TABLE broadcasts (
    id            INTEGER PRIMARY KEY,
    unit_id       BIGINT NOT NULL REFERENCES units(id),
    -- Either a group, or a filter (JSON: status, lots) over the unit.
    group_id      BIGINT REFERENCES activity_groups(id),
    filter        TEXT,
    text_sv       TEXT NOT NULL,
    text_en       TEXT NOT NULL,
    send_at       BIGINT NOT NULL,
    urgent        BIGINT NOT NULL DEFAULT 0,
    -- Tied to an activity: the appointment named, and its group series.
    appointment_id BIGINT REFERENCES appointments(id),
    series_id     BIGINT REFERENCES series(id),
    idem_key      TEXT NOT NULL,
    -- Members at planning time, and those skipped by reason (JSON counts).
    recipients    BIGINT NOT NULL DEFAULT 0,
    skipped       TEXT NOT NULL DEFAULT '{}',
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    cancelled_at  BIGINT,
    UNIQUE (unit_id, idem_key)
);
CREATE INDEX broadcasts_group ON broadcasts(group_id);

ALTER TABLE outbox ADD COLUMN broadcast_id BIGINT REFERENCES broadcasts(id);
CREATE INDEX outbox_broadcast ON outbox(broadcast_id);
CREATE INDEX group_members_participant ON group_members(participant_id);
