-- One definition of "a Huawei call missing its detail", used by the views, the shipped queries and
-- the column docs alike (docs/schema.md, "Definitions"): its detail fetch has not succeeded, i.e.
-- huawei_call.detail_status <> 'done' (pending, not-found or failed). Before, completeness_daily
-- counted calls with neither connect nor end time, which also caught unanswered calls whose detail
-- was fetched, and the shipped query counted only pending ones.

CREATE OR REPLACE VIEW completeness_daily AS
WITH tz AS (SELECT callrecon_setting('business_timezone', 'UTC') AS zone),
calls AS (
    SELECT c.vendor, c.campaign, (c.ring_time AT TIME ZONE tz.zone)::date AS day, c.source,
           (c.vendor = 'huawei' AND EXISTS (
                SELECT 1 FROM huawei_call h
                WHERE h.vdn_id = split_part(c.vendor_call_id, ':', 1)::integer
                  AND h.call_id = substr(c.vendor_call_id, strpos(c.vendor_call_id, ':') + 1)
                  AND h.detail_status <> 'done')) AS missing_detail
    FROM call c, tz WHERE c.ring_time IS NOT NULL),
call_counts AS (
    SELECT vendor, campaign, day,
           count(*) AS calls,
           count(*) FILTER (WHERE source = 'push') AS calls_pushed,
           count(*) FILTER (WHERE source = 're-requested push') AS calls_re_requested,
           count(*) FILTER (WHERE source = 'bulk query') AS calls_discovered,
           count(*) FILTER (WHERE missing_detail) AS calls_missing_detail
    FROM calls GROUP BY vendor, campaign, day),
windows AS (
    SELECT 'ozonetel'::text AS vendor, r.campaign_name AS campaign, (r.window_from AT TIME ZONE tz.zone)::date AS day,
           count(*) FILTER (WHERE r.state <> 'pending') AS windows_requested,
           count(*) FILTER (WHERE r.state = 'received') AS windows_received,
           count(*) FILTER (WHERE r.state = 'failed') AS windows_failed
    FROM ozonetel_request r, tz GROUP BY 1, 2, 3)
SELECT COALESCE(c.vendor, w.vendor) AS vendor, COALESCE(c.campaign, w.campaign) AS campaign,
       COALESCE(c.day, w.day) AS day,
       COALESCE(c.calls, 0) AS calls, COALESCE(c.calls_pushed, 0) AS calls_pushed,
       COALESCE(c.calls_re_requested, 0) AS calls_re_requested, COALESCE(c.calls_discovered, 0) AS calls_discovered,
       COALESCE(c.calls_missing_detail, 0) AS calls_missing_detail,
       COALESCE(w.windows_requested, 0) AS windows_requested, COALESCE(w.windows_received, 0) AS windows_received,
       COALESCE(w.windows_failed, 0) AS windows_failed
FROM call_counts c FULL JOIN windows w ON w.vendor = c.vendor AND w.campaign = c.campaign AND w.day = c.day;

COMMENT ON COLUMN completeness_daily.calls_missing_detail IS 'Huawei calls whose detail fetch has not succeeded: huawei_call.detail_status is pending, not-found or failed (docs/schema.md, Definitions).';
COMMENT ON COLUMN huawei_call.detail_status IS 'pending (detail not fetched yet), done, not-found (0200007 after HUAWEI_NOT_FOUND_TRIES tries), failed (a parameter error about the call, HUAWEI_MAX_TRIES failed calls, or past the horizon: the recording link''s expiry, else first_seen_at + HUAWEI_DETAIL_HORIZON; see detail_error). A call is missing its detail while this is not done.';
