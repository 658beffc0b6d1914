-- Rotating an endpoint's signing secret (issue 19's open end: a secret
-- could not be changed). The new secret signs from the rotation on; the
-- previous one signs too, as a second signature in `webhook-signature`
-- (Standard Webhooks allows several), until `previous_until`, so the
-- receiver can switch to the new secret without refusing a delivery.
-- Keep in step with the other backend's 0020.
ALTER TABLE event_hook_endpoints ADD COLUMN previous_secret TEXT;
ALTER TABLE event_hook_endpoints ADD COLUMN previous_until BIGINT;
