-- A participant's messages as a chat (the case record's "Meddelanden")
-- reads their replies by participant and time; the inbound table had no
-- index but its gateway key. Keep in step with ../sqlite/0012_inbound_participant.sql.
CREATE INDEX inbound_participant ON inbound(participant_id, received_at);
