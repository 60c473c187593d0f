-- Time range: requests registered in the last 30 days (SET callrecon.query_days = N for another range).
-- LeadSquared requests that ended badly, by kind, status and reason.
-- Uses: lsq_request_ended_badly_idx (migration 0018).
SELECT kind, status, COALESCE(status_reason, last_error) AS reason, count(*) AS requests,
       min(registered_at) AS first_registered, max(final_at) AS last_final
FROM lsq_request
WHERE status IN ('FAILURE', 'ERROR', 'failed', 'not-found', 'expired')
  AND registered_at >= now() - make_interval(days => callrecon_setting('query_days', '30')::int)
GROUP BY kind, status, COALESCE(status_reason, last_error)
ORDER BY requests DESC;
