-- Time range: the last 7 business days, today included (SET callrecon.query_days = N for another range).
-- Where the data has gaps: Ozonetel windows not received, Huawei calls missing their detail
-- (detail_status <> 'done', docs/schema.md, Definitions). One row per vendor, campaign and day with a gap.
-- (completeness_daily holds the same counts for all days; this query bounds the scans by time first.)
-- The missing-detail counts come from the rollup (call_rollup, per 15-minute slot; the range starts at
-- a business midnight, which is a slot boundary), not from every Huawei call of the week.
-- Uses: call_rollup_slot_idx, ozonetel_request_window_idx
WITH tz AS (SELECT callrecon_setting('business_timezone', 'UTC') AS zone),
since AS (SELECT (date_trunc('day', now() AT TIME ZONE zone)
                  - make_interval(days => callrecon_setting('query_days', '7')::int - 1)) AT TIME ZONE zone AS t
          FROM tz),
detail AS (
    SELECT vendor, campaign, (slot AT TIME ZONE tz.zone)::date AS day,
           sum(calls_missing_detail)::bigint AS calls_missing_detail
    FROM call_rollup, tz
    WHERE slot >= (SELECT t FROM since) AND vendor = 'huawei'
    GROUP BY 1, 2, 3 HAVING sum(calls_missing_detail) <> 0),
windows AS (
    SELECT 'ozonetel'::text AS vendor, r.campaign_name AS campaign, (r.window_from AT TIME ZONE tz.zone)::date AS day,
           count(*) FILTER (WHERE r.state <> 'pending') AS windows_requested,
           count(*) FILTER (WHERE r.state = 'received') AS windows_received,
           count(*) FILTER (WHERE r.state = 'failed') AS windows_failed
    FROM ozonetel_request r, tz
    WHERE r.window_from >= (SELECT t FROM since)
    GROUP BY 1, 2, 3)
SELECT COALESCE(d.vendor, w.vendor) AS vendor, COALESCE(d.campaign, w.campaign) AS campaign,
       COALESCE(d.day, w.day) AS day, COALESCE(d.calls_missing_detail, 0) AS calls_missing_detail,
       COALESCE(w.windows_requested, 0) AS windows_requested, COALESCE(w.windows_received, 0) AS windows_received,
       COALESCE(w.windows_failed, 0) AS windows_failed,
       COALESCE(w.windows_requested - w.windows_received, 0) AS windows_not_received
FROM detail d FULL JOIN windows w ON w.vendor = d.vendor AND w.campaign = d.campaign AND w.day = d.day
WHERE COALESCE(d.calls_missing_detail, 0) > 0 OR COALESCE(w.windows_failed, 0) > 0
   OR COALESCE(w.windows_requested, 0) > COALESCE(w.windows_received, 0)
ORDER BY day DESC, vendor, campaign;
