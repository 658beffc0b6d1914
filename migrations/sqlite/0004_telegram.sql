-- Telegram: one-time link codes, callback tokens behind inline buttons,
-- throttling of wrong codes, staff chats for alerts, alert and attendance
-- prompt bookkeeping. Keep in step with ../postgres/0004_telegram.sql.

-- A one-time code that links a Telegram chat to a participant or to a
-- staff member. Only its SHA-256 is stored; the code itself is shown once.
CREATE TABLE link_codes (
    code_hash      TEXT PRIMARY KEY,
    participant_id BIGINT REFERENCES participants(id),
    staff_id       BIGINT REFERENCES staff(id),
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    CHECK ((participant_id IS NULL) <> (staff_id IS NULL))
);

-- Wrong codes per chat, to slow down guessing. The chat is kept only as a
-- SHA-256 of its id.
CREATE TABLE telegram_link_failures (
    chat_key  TEXT PRIMARY KEY,
    failures  BIGINT NOT NULL,
    last_at   BIGINT NOT NULL
);

-- The opaque token behind an inline button: a participant's reply to one
-- reminder, or a lots's attendance record for one appointment. Single use.
CREATE TABLE telegram_callbacks (
    token          TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('reply','attendance')),
    outbox_id      BIGINT REFERENCES outbox(id),
    appointment_id BIGINT REFERENCES appointments(id),
    staff_id       BIGINT REFERENCES staff(id),
    chat_id        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    used_at        BIGINT,
    choice         TEXT
);
CREATE INDEX telegram_callbacks_outbox ON telegram_callbacks(outbox_id);

ALTER TABLE staff ADD COLUMN telegram_chat_id TEXT;
ALTER TABLE staff ADD COLUMN telegram_linked_at BIGINT;
ALTER TABLE staff ADD COLUMN language TEXT NOT NULL DEFAULT 'sv' CHECK (language IN ('sv','en'));
ALTER TABLE participants ADD COLUMN telegram_dead_at BIGINT;
ALTER TABLE tasks ADD COLUMN alerted_at BIGINT;
ALTER TABLE appointments ADD COLUMN attendance_prompted_at BIGINT;
CREATE INDEX participants_telegram ON participants(telegram_chat_id);
CREATE INDEX staff_telegram ON staff(telegram_chat_id);
