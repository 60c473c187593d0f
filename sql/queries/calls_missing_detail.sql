-- Huawei calls still without their detail (ring/connect/end times), oldest first, with why.
-- Uses: huawei_call_detail_due_idx for pending calls.
SELECT vdn_id, call_id, campaign_id, detail_status, detail_attempts, detail_error,
       now() - first_seen_at AS waiting_for, detail_next_at
FROM huawei_call
WHERE detail_status = 'pending'
ORDER BY detail_next_at, vdn_id, call_id
LIMIT 200;
