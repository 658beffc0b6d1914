-- paminn schema, SQLite dialect. Instants are BIGINT Unix milliseconds (UTC);
-- enums are lowercase text checked against their closed vocabularies.
-- Keep in step with ../postgres/0001_init.sql: same tables, same columns.

CREATE TABLE units (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    time_zone       TEXT NOT NULL DEFAULT 'Europe/Stockholm',
    quiet_start_min INTEGER NOT NULL DEFAULT 1260,
    quiet_end_min   INTEGER NOT NULL DEFAULT 480,
    retention_days  INTEGER NOT NULL DEFAULT 180,
    created_at      BIGINT NOT NULL
);

CREATE TABLE staff (
    id               INTEGER PRIMARY KEY,
    unit_id          BIGINT REFERENCES units(id),
    name             TEXT NOT NULL,
    username         TEXT NOT NULL UNIQUE,
    role             TEXT NOT NULL CHECK (role IN ('admin','coordinator','lots','assistant')),
    password_hash    TEXT,
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       BIGINT NOT NULL
);

CREATE TABLE participants (
    id               INTEGER PRIMARY KEY,
    unit_id          BIGINT NOT NULL REFERENCES units(id),
    first_name       TEXT NOT NULL,
    phone            TEXT,
    language         TEXT NOT NULL DEFAULT 'sv' CHECK (language IN ('sv','en')),
    channel_pref     TEXT NOT NULL DEFAULT 'sms' CHECK (channel_pref IN ('sms','telegram')),
    status           TEXT NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active','paused','in_custody','discharged')),
    lots_id          BIGINT REFERENCES staff(id),
    time_zone        TEXT NOT NULL DEFAULT 'Europe/Stockholm',
    discreet         INTEGER NOT NULL DEFAULT 1,
    opted_out        TEXT NOT NULL DEFAULT '',
    telegram_chat_id TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX participants_unit ON participants(unit_id);
CREATE INDEX participants_phone ON participants(phone);

CREATE TABLE consents (
    id             INTEGER PRIMARY KEY,
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    channels       TEXT NOT NULL,
    given_at       BIGINT NOT NULL,
    recorded_by    TEXT NOT NULL,
    expires_at     BIGINT,
    withdrawn_at   BIGINT,
    withdrawn_by   TEXT
);
CREATE INDEX consents_participant ON consents(participant_id, id);

CREATE TABLE activity_groups (
    id         INTEGER PRIMARY KEY,
    unit_id    BIGINT NOT NULL REFERENCES units(id),
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (unit_id, name)
);

CREATE TABLE group_members (
    group_id       BIGINT NOT NULL REFERENCES activity_groups(id),
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    joined_at      BIGINT NOT NULL,
    left_at        BIGINT,
    PRIMARY KEY (group_id, participant_id, joined_at)
);

CREATE TABLE series (
    id             INTEGER PRIMARY KEY,
    unit_id        BIGINT NOT NULL REFERENCES units(id),
    participant_id BIGINT REFERENCES participants(id),
    group_id       BIGINT REFERENCES activity_groups(id),
    kind           TEXT NOT NULL CHECK (kind IN ('meeting','drug_test','group_activity','other')),
    cron           TEXT NOT NULL,
    time_zone      TEXT NOT NULL,
    duration_min   INTEGER NOT NULL,
    location       TEXT,
    with_whom      TEXT,
    active         INTEGER NOT NULL DEFAULT 1,
    expanded_until BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    CHECK ((participant_id IS NULL) <> (group_id IS NULL))
);

CREATE TABLE appointments (
    id             INTEGER PRIMARY KEY,
    unit_id        BIGINT NOT NULL REFERENCES units(id),
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    series_id      BIGINT REFERENCES series(id),
    kind           TEXT NOT NULL CHECK (kind IN ('meeting','drug_test','group_activity','other')),
    starts_at      BIGINT NOT NULL,
    duration_min   INTEGER NOT NULL,
    location       TEXT,
    with_whom      TEXT,
    internal_note  TEXT,
    status         TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled','cancelled')),
    reply          TEXT NOT NULL DEFAULT 'none' CHECK (reply IN ('none','coming','cannot')),
    reply_reason   TEXT,
    reply_at       BIGINT,
    attendance     TEXT NOT NULL DEFAULT 'unknown'
                   CHECK (attendance IN ('unknown','attended','absent','excused')),
    attendance_by  TEXT,
    attendance_at  BIGINT,
    external_ref   TEXT,
    plan_version   INTEGER NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (unit_id, external_ref),
    UNIQUE (series_id, participant_id, starts_at)
);
CREATE INDEX appointments_participant ON appointments(participant_id, starts_at);
CREATE INDEX appointments_starts ON appointments(starts_at);

CREATE TABLE reminder_rules (
    unit_id            BIGINT NOT NULL REFERENCES units(id),
    kind               TEXT NOT NULL CHECK (kind IN ('meeting','drug_test','group_activity','other')),
    offsets            TEXT NOT NULL,
    ask_reply          INTEGER NOT NULL DEFAULT 1,
    reply_deadline_min INTEGER,
    PRIMARY KEY (unit_id, kind)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    participant_id  BIGINT NOT NULL REFERENCES participants(id),
    appointment_id  BIGINT REFERENCES appointments(id),
    plan_version    INTEGER NOT NULL DEFAULT 0,
    purpose         TEXT NOT NULL CHECK (purpose IN ('reminder','summons','receipt','notice')),
    offset_min      INTEGER NOT NULL DEFAULT 0,
    channel         TEXT NOT NULL CHECK (channel IN ('sms','telegram')),
    ask_reply       INTEGER NOT NULL DEFAULT 0,
    due_at          BIGINT NOT NULL,
    deadline_at     BIGINT,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending','sending','sent','delivered','failed','cancelled','suppressed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease_owner     TEXT,
    claim_token     TEXT,
    gateway_id      TEXT,
    body            TEXT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    delivered_at    BIGINT,
    UNIQUE (appointment_id, plan_version, offset_min, channel)
);
-- The dispatcher's claim reads only this index: open rows by due time.
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status IN ('pending','sending');
CREATE INDEX outbox_claim ON outbox(claim_token) WHERE claim_token IS NOT NULL;
CREATE INDEX outbox_participant ON outbox(participant_id, id);
CREATE INDEX outbox_appointment ON outbox(appointment_id);
CREATE INDEX outbox_gateway ON outbox(channel, gateway_id);

CREATE TABLE inbound (
    id             INTEGER PRIMARY KEY,
    channel        TEXT NOT NULL,
    gateway_id     TEXT NOT NULL,
    participant_id BIGINT REFERENCES participants(id),
    body           TEXT,
    received_at    BIGINT NOT NULL,
    UNIQUE (channel, gateway_id)
);

CREATE TABLE journal (
    id             INTEGER PRIMARY KEY,
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    appointment_id BIGINT REFERENCES appointments(id),
    at             BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    detail         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX journal_participant ON journal(participant_id, id);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE sandbox_messages (
    id             INTEGER PRIMARY KEY,
    participant_id BIGINT NOT NULL REFERENCES participants(id),
    channel        TEXT NOT NULL,
    direction      TEXT NOT NULL CHECK (direction IN ('out','in')),
    body           TEXT NOT NULL,
    at             BIGINT NOT NULL,
    outbox_id      BIGINT,
    gateway_id     TEXT NOT NULL UNIQUE
);
CREATE INDEX sandbox_participant ON sandbox_messages(participant_id, id);
CREATE INDEX sandbox_outbox ON sandbox_messages(outbox_id);
