-- LeadSquared requests that ended badly in the last 30 days, by kind, status and reason.
-- Uses: lsq_request_status_reason_idx.
SELECT kind, status, COALESCE(status_reason, last_error) AS reason, count(*) AS requests,
       min(registered_at) AS first_registered, max(final_at) AS last_final
FROM lsq_request
WHERE status IN ('FAILURE', 'ERROR', 'not-found', 'expired')
  AND registered_at >= now() - interval '30 days'
GROUP BY kind, status, COALESCE(status_reason, last_error)
ORDER BY requests DESC;
