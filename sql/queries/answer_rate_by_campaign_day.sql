-- Time range: the last 14 days (SET callrecon.query_days = N for another range).
-- Answer rate by vendor, campaign and business day: answered / all calls with a ring time, unknown
-- outcomes included (docs/schema.md, Definitions).
-- Uses: ozonetel_call_start_idx and huawei_call_ring_idx through the call view's ring_time.
SELECT vendor, campaign,
       (ring_time AT TIME ZONE callrecon_setting('business_timezone', 'UTC'))::date AS day,
       count(*) AS calls,
       count(*) FILTER (WHERE outcome = 'answered') AS answered,
       round(100.0 * count(*) FILTER (WHERE outcome = 'answered') / count(*), 1) AS answer_rate_pct
FROM call
WHERE ring_time >= now() - make_interval(days => callrecon_setting('query_days', '14')::int)
GROUP BY vendor, campaign, day
ORDER BY day DESC, vendor, campaign;
