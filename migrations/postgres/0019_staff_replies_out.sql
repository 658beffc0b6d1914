-- A reply staff recorded for a participant ("Svar per telefon") is a
-- `reply.received` event too. Keep in step with
-- ../sqlite/0019_staff_replies_out.sql (which says why).
CREATE OR REPLACE FUNCTION event_hooks_from_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_hook_deliveries (endpoint_id, event, source, source_id, participant_id, appointment_id,
                                       occurred_at, next_attempt_at, retry_from, created_at)
    SELECT e.id, k.event, 'journal', NEW.id, NEW.participant_id, NEW.appointment_id, NEW.at, NEW.at, NEW.at, NEW.at
    FROM (SELECT CASE NEW.kind WHEN 'inbound_message' THEN 'reply.received'
                               WHEN 'reply_recorded' THEN 'reply.received'
                               WHEN 'attendance_recorded' THEN 'attendance.recorded'
                               WHEN 'delivery_failed' THEN 'message.failed'
                               ELSE 'appointment.changed' END AS event) k,
         participants p, event_hook_endpoints e
    WHERE p.id = NEW.participant_id AND e.unit_id = p.unit_id AND e.disabled_at IS NULL
      AND e.events LIKE '%,' || k.event || ',%'
    ORDER BY e.id;
    RETURN NULL;
END
$$;
DROP TRIGGER event_hooks_journal ON journal;
CREATE TRIGGER event_hooks_journal AFTER INSERT ON journal
FOR EACH ROW
WHEN (NEW.kind IN ('inbound_message','reply_recorded','attendance_recorded','delivery_failed',
                   'appointment_created','appointment_updated','appointment_moved','appointment_cancelled')
      AND (NEW.kind <> 'inbound_message'
           OR NEW.detail LIKE '%"intent":"coming"%' OR NEW.detail LIKE '%"intent":"cannot"%'
           OR NEW.detail LIKE '%"intent":"late"%' OR NEW.detail LIKE '%"intent":"stop"%'))
EXECUTE FUNCTION event_hooks_from_journal();
