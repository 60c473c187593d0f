-- Time range: all time (every call still missing its detail), the 200 oldest.
-- Huawei calls missing their detail (detail_status <> 'done': pending, not-found or failed), oldest first, with why.
-- The same definition as completeness_daily.calls_missing_detail (docs/schema.md, Definitions).
-- Uses: huawei_call_missing_detail_idx (migration 0018).
SELECT vdn_id, call_id, campaign_id, detail_status, detail_attempts, detail_error,
       now() - first_seen_at AS waiting_for, detail_next_at
FROM huawei_call
WHERE detail_status <> 'done'
ORDER BY first_seen_at, vdn_id, call_id
LIMIT 200;
