-- Time range: the last 14 days (SET callrecon.query_days = N for another range).
-- Answer rate by vendor, campaign and business day: answered / all calls with a ring time, unknown
-- outcomes included (docs/schema.md, Definitions).
-- Reads the rollup (call_rollup: calls per 15-minute slot, the call view's definitions) for the whole
-- slots of the range, and the call view for the calls of the first, partial slot (under 15 minutes):
-- the same numbers as counting every call of the range, at 10M calls in a few ms instead of 1 s.
-- Uses: call_rollup_slot_idx, ozonetel_call_start_idx and huawei_call_ring_idx (the partial slot)
WITH since AS (SELECT now() - make_interval(days => callrecon_setting('query_days', '14')::int) AS t),
edge AS (SELECT t, CASE WHEN callrecon_rollup_slot(t) = t THEN t ELSE callrecon_rollup_slot(t) + interval '15 minutes' END
                   AS whole
         FROM since),
counts AS (
    SELECT vendor, campaign, slot AS ring_time, calls, answered
    FROM call_rollup WHERE slot >= (SELECT whole FROM edge)
    UNION ALL
    SELECT vendor, campaign, ring_time, 1, (outcome = 'answered')::int
    FROM call WHERE ring_time >= (SELECT t FROM edge) AND ring_time < (SELECT whole FROM edge))
SELECT vendor, campaign,
       (ring_time AT TIME ZONE callrecon_setting('business_timezone', 'UTC'))::date AS day,
       sum(calls)::bigint AS calls,
       sum(answered)::bigint AS answered,
       round(100.0 * sum(answered) / sum(calls), 1) AS answer_rate_pct
FROM counts
GROUP BY vendor, campaign, day
HAVING sum(calls) <> 0
ORDER BY day DESC, vendor, campaign;
