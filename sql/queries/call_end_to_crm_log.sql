-- Time range: call logs registered in the last 7 days (SET callrecon.query_days = N for another range).
-- Time from a call's end to its LeadSquared call log: when the log was submitted (registered) and
-- when LeadSquared confirmed it (final).
-- Link rule (README "Linking LeadSquared call logs to calls"): the call log's RequestBody
-- DestinationNumber equals the call's phone number (as in the call view) and its StartTime (UTC) is
-- within 2 minutes of the call's ring time (the nearest such call, if several). Each log looks up
-- its call on the vendor table's own index (a lateral lookup: a plain join was planned as a hash
-- join over every call, 12 s at 10M calls in bench/scale).
-- Uses: lsq_request_call_log_link_idx, ozonetel_call_phone_start_idx, huawei_call_called_ring_idx
WITH logs AS (
    SELECT registered_at, final_at,
           request_body->>'DestinationNumber' AS phone,
           (request_body->>'StartTime')::timestamp AT TIME ZONE 'UTC' AS start_time
    FROM lsq_request
    WHERE kind = 'call-log' AND status = 'Success' AND request_body ? 'StartTime'
      AND registered_at >= now() - make_interval(days => callrecon_setting('query_days', '7')::int)),
linked AS (
    SELECT 'ozonetel'::text AS vendor, l.registered_at, l.final_at, o.end_time
    FROM logs l
    CROSS JOIN LATERAL (
        SELECT o.end_time FROM ozonetel_call o
        WHERE COALESCE(o.phone_number, o.dialed_number, o.caller_id) = l.phone
          AND o.start_time BETWEEN l.start_time - interval '2 minutes' AND l.start_time + interval '2 minutes'
        ORDER BY abs(extract(epoch FROM o.start_time - l.start_time)) LIMIT 1) o
    UNION ALL
    SELECT 'huawei', l.registered_at, l.final_at, h.call_end_time
    FROM logs l
    CROSS JOIN LATERAL (
        SELECT h.call_end_time FROM huawei_call h
        WHERE h.called = l.phone
          AND COALESCE(h.ack_begin_time, h.call_time)
              BETWEEN l.start_time - interval '2 minutes' AND l.start_time + interval '2 minutes'
        ORDER BY abs(extract(epoch FROM COALESCE(h.ack_begin_time, h.call_time) - l.start_time)) LIMIT 1) h)
SELECT vendor, count(*) AS linked_calls,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM registered_at - end_time)) AS median_s_to_submit,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM final_at - end_time)) AS median_s_to_confirmed,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM final_at - end_time)) AS p90_s_to_confirmed
FROM linked
WHERE end_time IS NOT NULL
GROUP BY vendor;
