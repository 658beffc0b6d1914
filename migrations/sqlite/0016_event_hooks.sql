-- Event webhooks out (issue 19, item 1). Keep in step with ../postgres/0016_event_hooks.sql.

-- The participant's reference in the unit's case system (Treserva,
-- Lifecare, ...): carried in event webhooks so the receiver can file an
-- event without a name or number. At most one participant per reference
-- in a unit.
ALTER TABLE participants ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX participants_external_ref ON participants(unit_id, external_ref);

-- An endpoint a unit's events are posted to. `secret` is the Standard
-- Webhooks signing secret (whsec_<base64>): paminn must sign with it, so
-- it is stored as given and shown once, when registered. `events` is the
-- filter as `,type,type,`. Switched off by an admin or after a day of
-- failures (`disabled_reason` 'admin' / 'failing'); `failing_since` is the
-- first failure since the last success.
CREATE TABLE event_hook_endpoints (
    id              INTEGER PRIMARY KEY,
    unit_id         BIGINT NOT NULL REFERENCES units(id),
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    events          TEXT NOT NULL,
    include_text    INTEGER NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    disabled_at     BIGINT,
    disabled_reason TEXT CHECK (disabled_reason IN ('admin','failing')),
    failing_since   BIGINT
);
CREATE INDEX event_hook_endpoints_unit ON event_hook_endpoints(unit_id);

-- The delivery queue (outbox pattern): one row per event and endpoint,
-- written by the triggers below in the transaction that wrote the event.
-- `source` and `source_id` name the journal row or the task the event is;
-- the body is built from it at each attempt. Claimed with a lease; a
-- participant's rows for an endpoint go out in id order.
CREATE TABLE event_hook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      BIGINT NOT NULL REFERENCES event_hook_endpoints(id),
    event            TEXT NOT NULL,
    source           TEXT NOT NULL CHECK (source IN ('journal','task')),
    source_id        BIGINT NOT NULL,
    participant_id   BIGINT NOT NULL,
    appointment_id   BIGINT,
    occurred_at      BIGINT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','delivered','failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    retry_from       BIGINT NOT NULL,
    lease_until      BIGINT,
    lease_owner      TEXT,
    claim_token      TEXT,
    last_attempt_at  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX event_hook_deliveries_due ON event_hook_deliveries(status, next_attempt_at);
CREATE INDEX event_hook_deliveries_order ON event_hook_deliveries(endpoint_id, participant_id, status, id);
CREATE INDEX event_hook_deliveries_recent ON event_hook_deliveries(endpoint_id, id);
CREATE INDEX event_hook_deliveries_claim ON event_hook_deliveries(claim_token);

-- The events, queued by the database itself so that no write path can
-- forget one: every journal row of a kind below and every task. The kind
-- → type mapping is `domain::event_hooks::HookEvent::of_journal_kind`; a
-- participant's message is a reply only when read as one of
-- `REPLY_INTENTS` (the detail is serde_json's compact form, and a quote in
-- the text is escaped, so the pattern cannot match inside the text).
CREATE TRIGGER event_hooks_journal AFTER INSERT ON journal
WHEN NEW.kind IN ('inbound_message','attendance_recorded','delivery_failed','appointment_created',
                  'appointment_updated','appointment_moved','appointment_cancelled')
 AND (NEW.kind <> 'inbound_message'
      OR NEW.detail LIKE '%"intent":"coming"%' OR NEW.detail LIKE '%"intent":"cannot"%'
      OR NEW.detail LIKE '%"intent":"late"%' OR NEW.detail LIKE '%"intent":"stop"%')
BEGIN
    INSERT INTO event_hook_deliveries (endpoint_id, event, source, source_id, participant_id, appointment_id,
                                       occurred_at, next_attempt_at, retry_from, created_at)
    SELECT e.id, k.event, 'journal', NEW.id, NEW.participant_id, NEW.appointment_id, NEW.at, NEW.at, NEW.at, NEW.at
    FROM (SELECT CASE NEW.kind WHEN 'inbound_message' THEN 'reply.received'
                               WHEN 'attendance_recorded' THEN 'attendance.recorded'
                               WHEN 'delivery_failed' THEN 'message.failed'
                               ELSE 'appointment.changed' END AS event) k,
         participants p, event_hook_endpoints e
    WHERE p.id = NEW.participant_id AND e.unit_id = p.unit_id AND e.disabled_at IS NULL
      AND e.events LIKE '%,' || k.event || ',%'
    ORDER BY e.id;
END;

CREATE TRIGGER event_hooks_task AFTER INSERT ON tasks
BEGIN
    INSERT INTO event_hook_deliveries (endpoint_id, event, source, source_id, participant_id, appointment_id,
                                       occurred_at, next_attempt_at, retry_from, created_at)
    SELECT e.id, 'task.created', 'task', NEW.id, NEW.participant_id, NEW.appointment_id,
           NEW.created_at, NEW.created_at, NEW.created_at, NEW.created_at
    FROM event_hook_endpoints e
    WHERE e.unit_id = NEW.unit_id AND e.disabled_at IS NULL AND e.events LIKE '%,task.created,%'
    ORDER BY e.id;
END;
