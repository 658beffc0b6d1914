-- SMS: encoding, parts and cost per message; unknown senders counted.
ALTER TABLE outbox ADD COLUMN encoding TEXT;
ALTER TABLE outbox ADD COLUMN parts BIGINT;
ALTER TABLE outbox ADD COLUMN cost BIGINT;
ALTER TABLE outbox ADD COLUMN currency TEXT;
CREATE INDEX outbox_sent ON outbox(channel, sent_at);
