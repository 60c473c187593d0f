-- Time range: call logs registered in the last 7 days (SET callrecon.query_days = N for another range).
-- Time from a call's end to its LeadSquared call log: when the log was submitted (registered) and
-- when LeadSquared confirmed it (final).
-- Link rule (README "Linking LeadSquared call logs to calls"): the call log's RequestBody
-- DestinationNumber equals the call's phone number (as in the call view) and its StartTime (UTC) is
-- within 2 minutes of the call's ring time (the nearest such call, if several).
-- The calls are read once, only those whose ring time falls in the logs' span (each monthly
-- partition's time index), and joined to the logs by phone. A lookup per log (a lateral join) was
-- one index probe per log when the call tables were single tables, but with monthly partitions it
-- probes every month per log (a call's ring time does not bound the month it was first seen in):
-- 4.7 s for 3,639 logs at 1M calls in bench/scale, against 0.2 s read this way.
-- Uses: lsq_request_call_log_link_idx, ozonetel_call_start_idx, huawei_call_ring_idx
WITH logs AS (
    SELECT id, registered_at, final_at,
           request_body->>'DestinationNumber' AS phone,
           (request_body->>'StartTime')::timestamp AT TIME ZONE 'UTC' AS start_time
    FROM lsq_request
    WHERE kind = 'call-log' AND status = 'Success' AND request_body ? 'StartTime'
      AND registered_at >= now() - make_interval(days => callrecon_setting('query_days', '7')::int)),
span AS (SELECT min(start_time) - interval '2 minutes' AS lo, max(start_time) + interval '2 minutes' AS hi FROM logs),
linked AS (
    (SELECT DISTINCT ON (l.id) 'ozonetel'::text AS vendor, l.registered_at, l.final_at, o.end_time
     FROM logs l
     JOIN ozonetel_call o
       ON COALESCE(o.phone_number, o.dialed_number, o.caller_id) = l.phone
      AND o.start_time BETWEEN l.start_time - interval '2 minutes' AND l.start_time + interval '2 minutes'
     WHERE o.start_time BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
     ORDER BY l.id, abs(extract(epoch FROM o.start_time - l.start_time)))
    UNION ALL
    (SELECT DISTINCT ON (l.id) 'huawei', l.registered_at, l.final_at, h.call_end_time
     FROM logs l
     JOIN huawei_call h
       ON h.called = l.phone
      AND COALESCE(h.ack_begin_time, h.call_time)
          BETWEEN l.start_time - interval '2 minutes' AND l.start_time + interval '2 minutes'
     WHERE COALESCE(h.ack_begin_time, h.call_time) BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
     ORDER BY l.id, abs(extract(epoch FROM COALESCE(h.ack_begin_time, h.call_time) - l.start_time))))
SELECT vendor, count(*) AS linked_calls,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM registered_at - end_time)) AS median_s_to_submit,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM final_at - end_time)) AS median_s_to_confirmed,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM final_at - end_time)) AS p90_s_to_confirmed
FROM linked
WHERE end_time IS NOT NULL
GROUP BY vendor;
