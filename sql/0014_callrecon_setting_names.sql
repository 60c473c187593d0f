-- callrecon_setting accepts the setting's full name as docs/schema.md and `SHOW` print it
-- ('callrecon.business_timezone') as well as the short one ('business_timezone'). Before, the
-- full name silently returned the fallback.

CREATE OR REPLACE FUNCTION callrecon_setting(name text, fallback text) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT COALESCE(NULLIF(current_setting(CASE WHEN name LIKE 'callrecon.%' THEN name ELSE 'callrecon.' || name END,
                                       true), ''), fallback)
$$;
COMMENT ON FUNCTION callrecon_setting(text, text) IS 'A callrecon.* database setting (written by callrecon db upgrade), by its full name (callrecon.business_timezone) or its short one (business_timezone), or the fallback when it is not set.';
