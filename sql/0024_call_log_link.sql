-- call_end_to_crm_log looked up, for every LeadSquared call log of its week, the call it logs:
-- two index probes per log, about 1 s at 10M calls in bench/scale. Its figures are medians and a
-- p90, which cannot be summed from daily counts; a histogram would only approximate them. Instead
-- each successful call log keeps its link, computed once by the same rule (README, "Linking
-- LeadSquared call logs to calls"), and the query computes exact percentiles over the links of its
-- range, reading one narrow row per log.
--
-- Kept current from both sides, by statement triggers with transition tables (SECURITY DEFINER:
-- no service needs a right on call_log_link):
--   * lsq_request: a call log that is (or stops being) Success with a StartTime gets (or loses) its
--     link, whichever path wrote it (the reconciler's poll, a plain INSERT by another system, COPY);
--   * ozonetel_call, huawei_call: the links of logs near a call that was inserted, changed or deleted
--     (same number, StartTime within 2 minutes of its ring time) are computed again, so a late call,
--     a re-push that moves its times or a detail fetch that brings its end time are reflected.
-- One edge stays: a call and a log of the same number committed at the same instant by two
-- transactions do not see each other; the link is right again at the next change of either.

-- LeadSquared's StartTime as UTC, NULL when it is not a time (the shipped query failed on those).
CREATE FUNCTION callrecon_lsq_start_time(request_body jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (request_body->>'StartTime')::timestamp AT TIME ZONE 'UTC';
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION callrecon_lsq_start_time(jsonb) IS 'A LeadSquared call log''s RequestBody StartTime read as UTC; NULL when absent or not a time.';

-- The link rule, one function per vendor: the end time of the nearest call of that number whose
-- ring time is within 2 minutes of the log's StartTime (NULL: no such call, or it has no end time).
CREATE FUNCTION callrecon_link_ozonetel_end(number text, logged_start timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
SELECT o.end_time FROM ozonetel_call o
WHERE COALESCE(o.phone_number, o.dialed_number, o.caller_id) = number
  AND o.start_time BETWEEN logged_start - interval '2 minutes' AND logged_start + interval '2 minutes'
ORDER BY abs(extract(epoch FROM o.start_time - logged_start)) LIMIT 1
$$;
COMMENT ON FUNCTION callrecon_link_ozonetel_end(text, timestamptz) IS 'End time of the Ozonetel call a call log of this number and StartTime logs (the nearest ring time within 2 minutes), or NULL.';

CREATE FUNCTION callrecon_link_huawei_end(number text, logged_start timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
SELECT h.call_end_time FROM huawei_call h
WHERE h.called = number
  AND COALESCE(h.ack_begin_time, h.call_time)
      BETWEEN logged_start - interval '2 minutes' AND logged_start + interval '2 minutes'
ORDER BY abs(extract(epoch FROM COALESCE(h.ack_begin_time, h.call_time) - logged_start)) LIMIT 1
$$;
COMMENT ON FUNCTION callrecon_link_huawei_end(text, timestamptz) IS 'End time of the Huawei call a call log of this number and StartTime logs (the nearest ring time within 2 minutes), or NULL.';

CREATE TABLE call_log_link (
    request_id        bigint      PRIMARY KEY REFERENCES lsq_request (id) ON DELETE CASCADE,
    registered_at     timestamptz NOT NULL,
    final_at          timestamptz,
    phone             text,
    start_time        timestamptz NOT NULL,
    ozonetel_end_time timestamptz,
    huawei_end_time   timestamptz
);
-- Covering: the query reads only the index (its rows lie in registration order; the table's do not:
-- 105 ms through the table, 25 ms index-only, at 10M calls).
CREATE INDEX call_log_link_registered_idx ON call_log_link (registered_at)
    INCLUDE (final_at, ozonetel_end_time, huawei_end_time);
CREATE INDEX call_log_link_phone_start_idx ON call_log_link (phone, start_time);

COMMENT ON TABLE call_log_link IS 'Each LeadSquared call log that succeeded (kind call-log, status Success, a StartTime), with the end time of the call it logs per vendor; kept by triggers on lsq_request, ozonetel_call and huawei_call. Read by sql/queries/call_end_to_crm_log.sql.';
COMMENT ON COLUMN call_log_link.request_id IS 'lsq_request.id of the call log.';
COMMENT ON COLUMN call_log_link.registered_at IS 'lsq_request.registered_at: when the log was submitted (registered).';
COMMENT ON COLUMN call_log_link.final_at IS 'lsq_request.final_at: when LeadSquared confirmed it.';
COMMENT ON COLUMN call_log_link.phone IS 'RequestBody DestinationNumber: the number called.';
COMMENT ON COLUMN call_log_link.start_time IS 'RequestBody StartTime, read as UTC.';
COMMENT ON COLUMN call_log_link.ozonetel_end_time IS 'End time of the Ozonetel call this log is linked to (same number, nearest ring time within 2 minutes); NULL when none or it has no end time.';
COMMENT ON COLUMN call_log_link.huawei_end_time IS 'End time of the Huawei call this log is linked to, by the same rule; NULL when none or it has no end time.';

CREATE FUNCTION callrecon_link_logs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM call_log_link WHERE request_id IN (SELECT id FROM new_rows);
    INSERT INTO call_log_link (request_id, registered_at, final_at, phone, start_time, ozonetel_end_time, huawei_end_time)
    SELECT l.id, l.registered_at, l.final_at, l.phone, l.start_time,
           callrecon_link_ozonetel_end(l.phone, l.start_time), callrecon_link_huawei_end(l.phone, l.start_time)
    FROM (SELECT id, registered_at, final_at, request_body->>'DestinationNumber' AS phone,
                 callrecon_lsq_start_time(request_body) AS start_time
          FROM new_rows WHERE kind = 'call-log' AND status = 'Success' AND request_body ? 'StartTime') l
    WHERE l.start_time IS NOT NULL;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION callrecon_link_logs() IS 'Statement trigger on lsq_request: (re)links the call logs the statement wrote, or drops the link of one that is no longer a successful call log.';

CREATE TRIGGER call_log_link_insert AFTER INSERT ON lsq_request REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callrecon_link_logs();
CREATE TRIGGER call_log_link_update AFTER UPDATE ON lsq_request REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callrecon_link_logs();

-- The calls a statement touched, as (phone, ring time), for the links near them.
CREATE FUNCTION callrecon_link_calls(vendor text, relation text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT CASE vendor
    WHEN 'ozonetel' THEN format('SELECT COALESCE(phone_number, dialed_number, caller_id) AS phone, start_time AS ring_time '
                                'FROM %I', relation)
    WHEN 'huawei' THEN format('SELECT called AS phone, COALESCE(ack_begin_time, call_time) AS ring_time FROM %I', relation)
    END
$fn$;
COMMENT ON FUNCTION callrecon_link_calls(text, text) IS 'The SELECT of (phone, ring time) of the calls in a vendor table or transition table, as the link rule reads them.';

-- The typed tables' triggers (sql/0023) also link again the logs near the calls they saw.
CREATE OR REPLACE FUNCTION callrecon_rollup_trigger_body(vendor text, op text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT callrecon_rollup_sum(array_to_string(
    CASE op WHEN 'insert' THEN ARRAY[callrecon_rollup_facts(vendor, 'new_rows', 1)]
            WHEN 'update' THEN ARRAY[callrecon_rollup_facts(vendor, 'new_rows', 1),
                                     callrecon_rollup_facts(vendor, 'old_rows', -1)]
            WHEN 'delete' THEN ARRAY[callrecon_rollup_facts(vendor, 'old_rows', -1)] END, ' UNION ALL '), false) || ';'
    || format($q$
    UPDATE call_log_link l SET ozonetel_end_time = n.ozonetel_end_time, huawei_end_time = n.huawei_end_time
    FROM (SELECT k.request_id, callrecon_link_ozonetel_end(k.phone, k.start_time) AS ozonetel_end_time,
                 callrecon_link_huawei_end(k.phone, k.start_time) AS huawei_end_time
          FROM (SELECT DISTINCT k.request_id, k.phone, k.start_time
                FROM (%s) c JOIN call_log_link k ON k.phone = c.phone
                 AND k.start_time BETWEEN c.ring_time - interval '2 minutes' AND c.ring_time + interval '2 minutes'
                WHERE c.phone IS NOT NULL AND c.ring_time IS NOT NULL) k) n
    WHERE l.request_id = n.request_id
      AND (l.ozonetel_end_time IS DISTINCT FROM n.ozonetel_end_time
           OR l.huawei_end_time IS DISTINCT FROM n.huawei_end_time);$q$,
    array_to_string(
        CASE op WHEN 'insert' THEN ARRAY[callrecon_link_calls(vendor, 'new_rows')]
                WHEN 'update' THEN ARRAY[callrecon_link_calls(vendor, 'new_rows'), callrecon_link_calls(vendor, 'old_rows')]
                WHEN 'delete' THEN ARRAY[callrecon_link_calls(vendor, 'old_rows')] END, ' UNION ALL '))
$fn$;
COMMENT ON FUNCTION callrecon_rollup_trigger_body(text, text) IS 'The statements the statement trigger of a vendor''s table runs for insert, update or delete: the call_rollup delta, then the call logs near the calls it saw linked again (callrecon_rollup_install writes them into the trigger functions).';
SELECT callrecon_rollup_install();

-- The call logs already there.
INSERT INTO call_log_link (request_id, registered_at, final_at, phone, start_time, ozonetel_end_time, huawei_end_time)
SELECT l.id, l.registered_at, l.final_at, l.phone, l.start_time,
       callrecon_link_ozonetel_end(l.phone, l.start_time), callrecon_link_huawei_end(l.phone, l.start_time)
FROM (SELECT id, registered_at, final_at, request_body->>'DestinationNumber' AS phone,
             callrecon_lsq_start_time(request_body) AS start_time
      FROM lsq_request WHERE kind = 'call-log' AND status = 'Success' AND request_body ? 'StartTime') l
WHERE l.start_time IS NOT NULL;

-- The console's journey page lists the call logs of a call's number, in any status: on bench/scale's
-- database (1.1M LeadSquared requests) it read the whole table, about 300 ms. Now one index range.
CREATE INDEX lsq_request_call_log_phone_idx ON lsq_request ((request_body->>'DestinationNumber'), registered_at)
    WHERE kind = 'call-log';
COMMENT ON INDEX lsq_request_call_log_phone_idx IS 'Call logs by DestinationNumber and registration: the console''s journey page.';
