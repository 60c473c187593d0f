-- Time range: call logs registered in the last 7 days (SET callrecon.query_days = N for another range).
-- Time from a call's end to its LeadSquared call log: when the log was submitted (registered) and
-- when LeadSquared confirmed it (final). Exact medians and p90, not estimates.
-- Link rule (docs/analysts.md, "Linking LeadSquared call logs to calls"): the call log's RequestBody
-- DestinationNumber equals the call's phone number (as in the call view) and its StartTime (UTC) is
-- within 2 minutes of the call's ring time (the nearest such call, if several). Each successful call
-- log keeps its link in call_log_link (migration 0024), computed by that rule when the log is written
-- and again whenever a call near it changes, so this query reads one row per log of the range instead
-- of looking up every log's call (1 s at 10M calls in bench/scale).
-- Uses: call_log_link_registered_idx (index-only: it covers the columns read)
WITH linked AS (
    SELECT 'ozonetel'::text AS vendor, registered_at, final_at, ozonetel_end_time AS end_time
    FROM call_log_link
    WHERE registered_at >= now() - make_interval(days => callrecon_setting('query_days', '7')::int)
    UNION ALL
    SELECT 'huawei', registered_at, final_at, huawei_end_time
    FROM call_log_link
    WHERE registered_at >= now() - make_interval(days => callrecon_setting('query_days', '7')::int))
SELECT vendor, count(*) AS linked_calls,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM registered_at - end_time)) AS median_s_to_submit,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM final_at - end_time)) AS median_s_to_confirmed,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM final_at - end_time)) AS p90_s_to_confirmed
FROM linked
WHERE end_time IS NOT NULL
GROUP BY vendor;
