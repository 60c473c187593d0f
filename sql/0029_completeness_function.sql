-- completeness_daily's counts for any range of business days, in one function that the view and the
-- console's completeness page both read (the page gave the same definitions again, bounded to its
-- days). A SQL function of one SELECT is inlined into the query that calls it, so a bounded call
-- reads only its range of call_rollup and of the window ledger's time index.

CREATE FUNCTION callrecon_completeness(since timestamptz, until timestamptz, zone text)
RETURNS TABLE (vendor text, campaign text, day date, calls bigint, calls_pushed bigint, calls_re_requested bigint,
               calls_discovered bigint, calls_missing_detail bigint, windows_requested bigint,
               windows_received bigint, windows_failed bigint)
LANGUAGE sql STABLE AS $$
WITH call_counts AS (
    SELECT r.vendor, r.campaign, (r.slot AT TIME ZONE zone)::date AS day,
           sum(r.calls)::bigint AS calls, sum(r.calls_pushed)::bigint AS calls_pushed,
           sum(r.calls_re_requested)::bigint AS calls_re_requested,
           sum(r.calls_discovered)::bigint AS calls_discovered,
           sum(r.calls_missing_detail)::bigint AS calls_missing_detail
    FROM call_rollup r WHERE r.slot >= since AND r.slot < until
    GROUP BY 1, 2, 3 HAVING sum(r.calls) <> 0),
windows AS (
    SELECT 'ozonetel'::text AS vendor, r.campaign_name AS campaign, (r.window_from AT TIME ZONE zone)::date AS day,
           count(*) FILTER (WHERE r.state <> 'pending') AS windows_requested,
           count(*) FILTER (WHERE r.state = 'received') AS windows_received,
           count(*) FILTER (WHERE r.state = 'failed') AS windows_failed
    FROM ozonetel_request r WHERE r.window_from >= since AND r.window_from < until
    GROUP BY 1, 2, 3)
SELECT COALESCE(c.vendor, w.vendor), COALESCE(c.campaign, w.campaign), COALESCE(c.day, w.day),
       COALESCE(c.calls, 0), COALESCE(c.calls_pushed, 0), COALESCE(c.calls_re_requested, 0),
       COALESCE(c.calls_discovered, 0), COALESCE(c.calls_missing_detail, 0),
       COALESCE(w.windows_requested, 0), COALESCE(w.windows_received, 0), COALESCE(w.windows_failed, 0)
FROM call_counts c FULL JOIN windows w ON w.vendor = c.vendor AND w.campaign = c.campaign AND w.day = c.day
$$;
COMMENT ON FUNCTION callrecon_completeness(timestamptz, timestamptz, text) IS 'completeness_daily''s rows for the business days (in zone) that start within [since, until): the view reads all of them, the console''s completeness page its last days.';

CREATE OR REPLACE VIEW completeness_daily AS
SELECT * FROM callrecon_completeness('-infinity', 'infinity', callrecon_setting('business_timezone', 'UTC'));

-- Two column comments pointed at README sections that now live in docs/.
COMMENT ON COLUMN ozonetel_call.call_key IS 'Identity of the call: monitorUCID, else UCID, else callid:<CallID>, else data:<campaign>:<DataUniqueId>, else derived:<sha256 of campaign|phone|start time> (docs/analysts.md, Call identity).';
COMMENT ON COLUMN lsq_request.message IS 'TaskStatus.Message decoded from its JSON-in-a-string form (shape differs per kind: docs/leadsquared.md); NULL when absent or not JSON.';
