-- A participant's programme phase: a label the unit writes (Kartläggning,
-- Praktik, Efterstöd), used to narrow broadcasts. Never part of a message.
-- Keep in step with ../postgres/0007_phase.sql.

ALTER TABLE participants ADD COLUMN phase TEXT;
CREATE INDEX participants_unit_phase ON participants(unit_id, phase);
