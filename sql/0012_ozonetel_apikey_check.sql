-- Ozonetel push authenticity, defence in depth: each pushed record's Apikey is compared with
-- OZONETEL_API_KEY when the callback arrives, before the key is masked; the verdict is kept with the
-- raw row (never the key), so inline landing, the deferred lander and replays all honour it.

ALTER TABLE raw_inbox ADD COLUMN apikey_check jsonb;
COMMENT ON COLUMN raw_inbox.apikey_check IS 'Ozonetel only, when OZONETEL_API_KEY is set and OZONETEL_VERIFY_APIKEY is on: which records (indexes from 0) carried an Apikey other than OZONETEL_API_KEY ("mismatch": quarantined with apikey_mismatch, never landed) or none ("absent": landed, counted), of "checked" call records. NULL when not checked. The key itself is never stored.';

CREATE OR REPLACE VIEW raw_inbox_text AS
SELECT id, received_at, source, client_addr, content_type, headers,
       callrecon_utf8_or_null(body) AS body_text, body_sha256, body_bytes,
       status, record_count, landed_count, error, parsed_at, parse_count, apikey_check
FROM raw_inbox;
COMMENT ON COLUMN raw_inbox_text.apikey_check IS 'See raw_inbox.apikey_check.';
