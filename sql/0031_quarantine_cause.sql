-- The quarantine is grouped by what went wrong, not by the summary line: "1 of 1 records failed
-- validation" put a body with no call identity and a body with a field of the wrong type together,
-- and replaying "all of one reason" replayed unrelated failures. The cause is the first failing
-- record's first failing field and its rule, or what kept the body from being read at all.

CREATE FUNCTION callrecon_quarantine_cause(error jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
WITH first_record AS (
    SELECT r.value AS fields FROM jsonb_each(CASE WHEN jsonb_typeof(error->'records') = 'object'
                                                   THEN error->'records' END) r
    ORDER BY CASE WHEN r.key ~ '^\d{1,9}$' THEN r.key::int END, r.key LIMIT 1),
first_field AS (
    SELECT f.key AS field,
           CASE jsonb_typeof(f.value) WHEN 'array' THEN f.value->>0 ELSE f.value #>> '{}' END AS rule
    FROM first_record, jsonb_each(CASE WHEN jsonb_typeof(first_record.fields) = 'object'
                                       THEN first_record.fields END) f
    ORDER BY f.key LIKE '\_%' DESC, f.key COLLATE "C" LIMIT 1),
said AS (
    -- the quoted value that ends a message is the record's, not the rule's: grouped as one
    SELECT regexp_replace(COALESCE((SELECT rule FROM first_field), error->>'message', ''),
                          '(''[^'']*''|"[^"]*")\s*$', '…') AS text)
SELECT CASE
    WHEN error IS NULL OR error = 'null'::jsonb THEN '(no reason kept)'
    WHEN (SELECT field FROM first_field) = '_identity' THEN 'no call identity'
    WHEN said.text LIKE 'apikey\_mismatch%' THEN 'apikey_mismatch'
    WHEN (SELECT field FROM first_field) = '_schema' THEN said.text
    WHEN (SELECT field FROM first_field) IS NOT NULL THEN (SELECT field FROM first_field) || ': ' || said.text
    WHEN said.text LIKE 'malformed JSON%' OR said.text LIKE 'JSON is nested%' THEN 'not JSON'
    WHEN said.text LIKE 'body is not valid UTF-8%' THEN 'not UTF-8'
    WHEN said.text LIKE 'empty body%' THEN 'empty body'
    WHEN said.text LIKE 'no records%' THEN 'no records'
    WHEN said.text = '' THEN '(no reason kept)'
    ELSE said.text END
FROM said
$$;
COMMENT ON FUNCTION callrecon_quarantine_cause(jsonb) IS 'Why a quarantined raw callback did not land, as one cause to group and replay by: the first failing record''s first failing field and rule ("StartTime: not a time like …"), "no call identity", "apikey_mismatch", "not JSON", "empty body", … The quoted value that ends a message (the record''s own) is shown as …. The summary (error->>''message'') stays on the event page.';
