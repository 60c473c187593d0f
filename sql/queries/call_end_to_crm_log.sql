-- Time from a call's end to its LeadSquared call log: when the log was submitted (registered) and
-- when LeadSquared confirmed it (final), over the last 7 days.
-- Link rule (README "Linking LeadSquared call logs to calls"): the call log's RequestBody
-- DestinationNumber equals the call's phone number and its StartTime (UTC) is within 2 minutes of
-- the call's ring time.
-- Uses: lsq_request_call_log_link_idx, then ozonetel_call/huawei_call ring-time indexes.
WITH logs AS (
    SELECT request_id, registered_at, final_at,
           request_body->>'DestinationNumber' AS phone,
           (request_body->>'StartTime')::timestamp AT TIME ZONE 'UTC' AS start_time
    FROM lsq_request
    WHERE kind = 'call-log' AND status = 'Success' AND request_body ? 'StartTime'
      AND registered_at >= now() - interval '7 days')
SELECT c.vendor, count(*) AS linked_calls,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.registered_at - c.end_time)) AS median_s_to_submit,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.final_at - c.end_time)) AS median_s_to_confirmed,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM l.final_at - c.end_time)) AS p90_s_to_confirmed
FROM logs l
JOIN call c ON c.phone_number = l.phone
           AND c.ring_time BETWEEN l.start_time - interval '2 minutes' AND l.start_time + interval '2 minutes'
WHERE c.end_time IS NOT NULL
GROUP BY c.vendor;
