-- Why a message failed, classified when it happened (issue 17): the
-- monitoring page and the number check read this column instead of
-- searching the gateway's text. NULL for rows that did not fail, and for
-- failures reported later by a delivery receipt (which carries no reason).
ALTER TABLE outbox ADD COLUMN error_kind TEXT;

-- Rows that failed before this column existed, classified by the texts
-- paminn wrote then (the same order the monitoring page used).
UPDATE outbox SET error_kind = CASE
    WHEN last_error = 'no phone number' OR last_error LIKE 'no Telegram chat linked%' THEN 'no_address'
    WHEN LOWER(last_error) LIKE '%invalid to number%'
      OR LOWER(last_error) LIKE '%twilio 21211%'
      OR LOWER(last_error) LIKE '%twilio 21614%'
      OR LOWER(last_error) LIKE '%syntax_invalid_parameter_format%'
      OR LOWER(last_error) LIKE '%illegal_number_type%'
      OR LOWER(last_error) LIKE '%not a valid phone number%'
      OR LOWER(last_error) LIKE '%not a valid mobile number%' THEN 'invalid_number'
    WHEN last_error LIKE 'recipient opted out at the gateway%' THEN 'opted_out'
    WHEN last_error LIKE 'Telegram chat unreachable%' THEN 'unreachable'
    WHEN LOWER(last_error) LIKE '%gave up after%' THEN 'gave_up'
    WHEN LOWER(last_error) LIKE '%credentials%' THEN 'credentials'
    ELSE 'rejected'
END
WHERE status = 'failed' AND last_error IS NOT NULL;
