-- Every reconciler item that gave up (reconciler/failures.py), in one place for analysts,
-- `callrecon status` and /metrics: a failed item spends no more budget, and someone should look.

CREATE INDEX ozonetel_request_failed_idx ON ozonetel_request (id) WHERE state = 'failed';
CREATE INDEX huawei_call_detail_failed_idx ON huawei_call (vdn_id, call_id) WHERE detail_status = 'failed';
CREATE INDEX huawei_discovery_window_failed_idx ON huawei_discovery_window (vdn_id, campaign_id, day)
    WHERE state = 'failed';
CREATE INDEX lsq_request_gave_up_idx ON lsq_request (id) WHERE status IN ('failed', 'expired');

CREATE VIEW reconcile_gave_up AS
SELECT 'ozonetel'::text AS source, 'window'::text AS kind,
       campaign_name || ' ' || to_char(window_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || '..' ||
           to_char(window_to AT TIME ZONE 'UTC', 'HH24:MI') || ' UTC' AS item,
       window_from AS about_time, tries, last_error AS reason
FROM ozonetel_request WHERE state = 'failed'
UNION ALL
SELECT 'huawei', 'call detail', vdn_id || ':' || call_id, first_seen_at, detail_attempts, detail_error
FROM huawei_call WHERE detail_status = 'failed'
UNION ALL
SELECT 'huawei-discovery', 'campaign day', vdn_id || ':' || campaign_id || ' ' || day, day::timestamp AT TIME ZONE 'UTC',
       attempts, last_error
FROM huawei_discovery_window WHERE state = 'failed'
UNION ALL
SELECT 'leadsquared', kind || ' ' || status, request_id, registered_at, failed_tries, last_error
FROM lsq_request WHERE status IN ('failed', 'expired');

COMMENT ON VIEW reconcile_gave_up IS 'Reconciler items that gave up: past their tries (OZONETEL_MAX_TRIES, HUAWEI_MAX_TRIES, LSQ_MAX_TRIES) or their vendor''s horizon, or refused for good. They spend no more of a vendor''s budget; the reason says what happened.';
COMMENT ON COLUMN reconcile_gave_up.source IS 'Reconciler source: ozonetel, huawei, huawei-discovery or leadsquared.';
COMMENT ON COLUMN reconcile_gave_up.kind IS 'What the item is: an Ozonetel window, a Huawei call detail or campaign day, a LeadSquared request (with its final status: failed or expired).';
COMMENT ON COLUMN reconcile_gave_up.item IS 'The item: campaign and window (UTC), vdnId:callId, vdnId:campaignId and day, or the LeadSquared RequestId.';
COMMENT ON COLUMN reconcile_gave_up.about_time IS 'When the item is about (UTC): window start, call first seen, day start (UTC midnight of the tenant day), request registered.';
COMMENT ON COLUMN reconcile_gave_up.tries IS 'Calls made for it (Ozonetel: every call; Huawei: detail/page calls; LeadSquared: failed calls).';
COMMENT ON COLUMN reconcile_gave_up.reason IS 'The last error and why it gave up.';
