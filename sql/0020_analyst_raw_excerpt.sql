-- Least privilege: analysts may not read raw bodies or headers (phone numbers, whatever a
-- vendor sends). When they need a raw look, e.g. at a quarantined callback, this view gives the
-- start of the already-masked body with every run of five or more digits hidden but its last two,
-- and no headers or client address. It runs with its owner's rights, so the analyst role needs
-- SELECT on the view alone (reconciler/roles.py grants it), never on raw_inbox.

CREATE FUNCTION callrecon_mask_digits(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT regexp_replace(t, '[0-9]{3,}([0-9]{2})', '***\1', 'g')
$$;
COMMENT ON FUNCTION callrecon_mask_digits(text) IS 'The text with every run of five or more digits (phone numbers, ids) replaced by *** and its last two digits.';

CREATE VIEW raw_inbox_excerpt AS
SELECT id, received_at, source, content_type, body_bytes, status, record_count, landed_count,
       callrecon_mask_digits(left(callrecon_utf8_or_null(body), 500)) AS body_excerpt,
       callrecon_mask_digits(error::text) AS error_excerpt,
       parsed_at, parse_count, apikey_check
FROM raw_inbox;

COMMENT ON VIEW raw_inbox_excerpt IS 'raw_inbox for analysts: the first 500 characters of each masked body with long digit runs hidden, and no headers; raw_inbox and raw_inbox_text themselves are not readable by the analyst role.';
COMMENT ON COLUMN raw_inbox_excerpt.id IS 'See raw_inbox.id.';
COMMENT ON COLUMN raw_inbox_excerpt.received_at IS 'See raw_inbox.received_at.';
COMMENT ON COLUMN raw_inbox_excerpt.source IS 'See raw_inbox.source.';
COMMENT ON COLUMN raw_inbox_excerpt.content_type IS 'See raw_inbox.content_type.';
COMMENT ON COLUMN raw_inbox_excerpt.body_bytes IS 'See raw_inbox.body_bytes.';
COMMENT ON COLUMN raw_inbox_excerpt.status IS 'See raw_inbox.status.';
COMMENT ON COLUMN raw_inbox_excerpt.record_count IS 'See raw_inbox.record_count.';
COMMENT ON COLUMN raw_inbox_excerpt.landed_count IS 'See raw_inbox.landed_count.';
COMMENT ON COLUMN raw_inbox_excerpt.body_excerpt IS 'The first 500 characters of the masked body as text, each run of five or more digits shown as *** plus its last two digits; NULL when the body is not UTF-8.';
COMMENT ON COLUMN raw_inbox_excerpt.error_excerpt IS 'raw_inbox.error as text, with the same digit masking (the failing record index and field names stay readable).';
COMMENT ON COLUMN raw_inbox_excerpt.parsed_at IS 'See raw_inbox.parsed_at.';
COMMENT ON COLUMN raw_inbox_excerpt.parse_count IS 'See raw_inbox.parse_count.';
COMMENT ON COLUMN raw_inbox_excerpt.apikey_check IS 'See raw_inbox.apikey_check.';
