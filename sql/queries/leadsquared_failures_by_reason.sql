-- Time range: requests registered in the last 30 days (SET callrecon.query_days = N for another range).
-- LeadSquared requests that ended badly, by kind, status and reason.
-- The whole UTC days of the window are read from lsq_failure_daily (migration 0033: a few rows a day,
-- kept by triggers on lsq_request), and only its first, partial day from lsq_request: the counts are
-- exact. first_registered and last_final are bounds on the whole days: the earliest registration and
-- the latest final time of the requests ever counted there, one retried since included. Counting
-- every failed request of 30 days took 512 ms at a million calls a day.
-- Uses: lsq_request_ended_badly_idx (migration 0018, the first day); lsq_failure_daily is read by
--   lsq_failure_daily_day_idx, or scanned while it holds few rows
WITH win AS (
    SELECT since, (since AT TIME ZONE 'UTC')::date + 1 AS first_whole_day
    FROM (SELECT now() - make_interval(days => callrecon_setting('query_days', '30')::int) AS since) s),
counted AS (
    SELECT d.kind, d.status, d.reason, d.requests, d.first_registered, d.last_final
    FROM lsq_failure_daily d, win
    WHERE d.day >= win.first_whole_day
    UNION ALL
    SELECT r.kind, r.status, COALESCE(r.status_reason, r.last_error), 1, r.registered_at, r.final_at
    FROM lsq_request r, win
    WHERE r.status IN ('FAILURE', 'ERROR', 'failed', 'not-found', 'expired')
      AND r.registered_at >= win.since
      AND r.registered_at < win.first_whole_day::timestamp AT TIME ZONE 'UTC')
SELECT kind, status, reason, sum(requests)::bigint AS requests,
       min(first_registered) AS first_registered, max(last_final) AS last_final
FROM counted
GROUP BY kind, status, reason
HAVING sum(requests) > 0
ORDER BY requests DESC;
