-- The analyst layer: one canonical row per call across vendors, daily completeness, source health.
-- Views, not tables: there is no second copy to keep in step with the landing code, and queries
-- on them still use the vendor tables' indexes (filters are pushed into each branch of the UNION).

-- Settings the views read; `callrecon db upgrade` writes them from the environment
-- (BUSINESS_TIMEZONE, SILENCE_THRESHOLD, WORKING_HOURS, WORKING_DAYS) with ALTER DATABASE ... SET.
CREATE FUNCTION callrecon_setting(name text, fallback text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT COALESCE(NULLIF(current_setting('callrecon.' || name, true), ''), fallback) $$;
COMMENT ON FUNCTION callrecon_setting(text, text) IS 'A callrecon.* database setting (written by callrecon db upgrade), or the fallback.';

CREATE FUNCTION callrecon_ozonetel_outcome(dial_status text, status text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN lower(COALESCE(dial_status, status, '')) IN ('answered', 'success') THEN 'answered'
    WHEN lower(COALESCE(dial_status, status, '')) IN ('not_answered', 'notanswered', 'noanswer', 'unanswered', 'no_answer', 'ring') THEN 'no-answer'
    WHEN lower(COALESCE(dial_status, status, '')) IN ('busy', 'user_busy') THEN 'busy'
    WHEN lower(COALESCE(dial_status, status, '')) IN ('user_disconnected', 'rejected') THEN 'rejected'
    WHEN lower(COALESCE(dial_status, status, '')) IN ('invalid_number', 'exception', 'fail', 'failed') THEN 'failed'
    ELSE 'unknown' END
$$;
COMMENT ON FUNCTION callrecon_ozonetel_outcome(text, text) IS 'Ozonetel DialStatus (else Status) folded into answered, no-answer, busy, rejected, failed or unknown.';

CREATE FUNCTION callrecon_huawei_outcome(call_status integer, fail_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN call_status = 6 THEN 'answered'
    WHEN fail_code IN ('00537', '00145') THEN 'busy'
    WHEN fail_code IN ('00603', '01040') THEN 'no-answer'
    WHEN fail_code IN ('00604', '00601') THEN 'rejected'
    WHEN call_status = 5 THEN 'failed'
    ELSE 'unknown' END
$$;
COMMENT ON FUNCTION callrecon_huawei_outcome(integer, text) IS 'Huawei callStatus and failCode folded into answered, no-answer, busy, rejected, failed or unknown.';

CREATE VIEW call AS
SELECT 'ozonetel'::text AS vendor,
       o.call_key AS vendor_call_id,
       o.campaign_name AS campaign,
       COALESCE(o.phone_number, o.dialed_number, o.caller_id) AS phone_number,
       CASE WHEN lower(o.call_type) = 'inbound' THEN 'inbound'
            WHEN o.call_type IS NOT NULL THEN 'outbound' END AS direction,
       o.start_time AS ring_time,
       CASE WHEN o.time_to_answer_s IS NOT NULL AND callrecon_ozonetel_outcome(o.dial_status, o.status) = 'answered'
            THEN o.start_time + make_interval(secs => o.time_to_answer_s) END AS connect_time,
       o.end_time,
       COALESCE(o.duration_s, o.call_duration_s) AS duration_s,
       callrecon_ozonetel_outcome(o.dial_status, o.status) AS outcome,
       COALESCE(o.dial_status, o.status) AS vendor_status,
       o.disposition,
       o.audio_file AS recording_url,
       NULL::timestamptz AS recording_expires_at,
       o.first_seen_at,
       o.last_seen_at,
       CASE WHEN o.request_unique_id IS NOT NULL THEN 're-requested push' ELSE 'push' END AS source,
       jsonb_strip_nulls(jsonb_build_object(
           'campaign', CASE WHEN o.campaign_name IS NOT NULL THEN 'push' END,
           'ring_time', CASE WHEN o.start_time IS NOT NULL THEN 'push' END,
           'end_time', CASE WHEN o.end_time IS NOT NULL THEN 'push' END,
           'outcome', 'push', 'recording_url', CASE WHEN o.audio_file IS NOT NULL THEN 'push' END))
         || CASE WHEN o.request_unique_id IS NOT NULL
                 THEN '{"via": "re-requested push"}'::jsonb ELSE '{}'::jsonb END AS value_sources
FROM ozonetel_call o
UNION ALL
SELECT 'huawei',
       h.vdn_id || ':' || h.call_id,
       h.campaign_id,
       h.called,
       'outbound',
       COALESCE(h.ack_begin_time, h.call_time),
       h.call_begin_time,
       h.call_end_time,
       CASE WHEN h.call_end_time IS NOT NULL AND h.call_begin_time IS NOT NULL
            THEN extract(epoch FROM h.call_end_time - h.call_begin_time)::integer END,
       callrecon_huawei_outcome(h.call_status, h.fail_code),
       h.call_status || COALESCE('/' || h.fail_code, ''),
       h.result_code,
       h.record_path,
       h.record_expires_at,
       h.first_seen_at,
       h.last_seen_at,
       CASE WHEN h.push_count > 0 THEN 'push' WHEN h.value_sources ? 'call_status' THEN
            CASE h.value_sources->>'call_status' WHEN 'bulk' THEN 'bulk query' ELSE 'detail fetch' END
            ELSE 'tracked' END,
       jsonb_strip_nulls(jsonb_build_object(
           'campaign', h.value_sources->>'campaign_id',
           'phone_number', h.value_sources->>'called',
           'ring_time', COALESCE(h.value_sources->>'ack_begin_time', h.value_sources->>'call_time'),
           'connect_time', h.value_sources->>'call_begin_time',
           'end_time', h.value_sources->>'call_end_time',
           'outcome', h.value_sources->>'call_status',
           'disposition', h.value_sources->>'result_code',
           'recording_url', h.value_sources->>'record_path'))
FROM huawei_call h;

COMMENT ON VIEW call IS 'One row per call, whichever vendor and path it came from; filter on vendor, campaign and ring_time.';
COMMENT ON COLUMN call.vendor IS 'ozonetel or huawei.';
COMMENT ON COLUMN call.vendor_call_id IS 'The vendor''s call identity: Ozonetel call_key (monitorUCID, UCID, ...), Huawei vdnId:callId.';
COMMENT ON COLUMN call.campaign IS 'Campaign: Ozonetel campaign name, Huawei campaignId.';
COMMENT ON COLUMN call.phone_number IS 'Customer number called (Ozonetel phone, else DialedNumber, else CallerID; Huawei called).';
COMMENT ON COLUMN call.direction IS 'inbound or outbound where known (Ozonetel Type; Huawei campaigns are outbound).';
COMMENT ON COLUMN call.ring_time IS 'When the call started ringing, UTC (Ozonetel StartTime; Huawei ackBeginTime, else callTimeStr).';
COMMENT ON COLUMN call.connect_time IS 'When the call was answered, UTC (Ozonetel StartTime + TimeToAnswer when answered; Huawei callBeginTime).';
COMMENT ON COLUMN call.end_time IS 'When the call ended, UTC (Ozonetel EndTime; Huawei callEndTime).';
COMMENT ON COLUMN call.duration_s IS 'Talk time in seconds (Ozonetel Duration, else CallDuration; Huawei end minus connect).';
COMMENT ON COLUMN call.outcome IS 'answered, no-answer, busy, rejected, failed or unknown (rules: callrecon_ozonetel_outcome, callrecon_huawei_outcome).';
COMMENT ON COLUMN call.vendor_status IS 'The vendor''s own status: Ozonetel DialStatus (else Status); Huawei callStatus/failCode.';
COMMENT ON COLUMN call.disposition IS 'Ozonetel Disposition; Huawei resultCode (the customisable result).';
COMMENT ON COLUMN call.recording_url IS 'Recording link (Ozonetel AudioFile, Huawei recordPath).';
COMMENT ON COLUMN call.recording_expires_at IS 'When the recording link stops working (Huawei signed URLs); NULL if unknown.';
COMMENT ON COLUMN call.first_seen_at IS 'When callrecon first learned of the call (UTC).';
COMMENT ON COLUMN call.last_seen_at IS 'When callrecon last heard of the call (UTC).';
COMMENT ON COLUMN call.source IS 'How the call first reached callrecon: push, re-requested push (Ozonetel answered our dial-status request), bulk query, detail fetch, or tracked (registered, detail pending).';
COMMENT ON COLUMN call.value_sources IS 'Which source set each value, by column: push, re-requested push, detail, bulk.';

CREATE VIEW completeness_daily AS
WITH tz AS (SELECT callrecon_setting('business_timezone', 'UTC') AS zone),
calls AS (
    SELECT c.vendor, c.campaign, (c.ring_time AT TIME ZONE tz.zone)::date AS day, c.source,
           (c.vendor = 'huawei' AND c.connect_time IS NULL AND c.end_time IS NULL) AS missing_detail
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

COMMENT ON VIEW completeness_daily IS 'Per vendor, campaign and business day (BUSINESS_TIMEZONE): calls by how they arrived, Huawei calls missing detail, Ozonetel windows requested/received/failed.';
COMMENT ON COLUMN completeness_daily.vendor IS 'ozonetel or huawei.';
COMMENT ON COLUMN completeness_daily.campaign IS 'Campaign name (Ozonetel) or id (Huawei).';
COMMENT ON COLUMN completeness_daily.day IS 'Business day, in the callrecon.business_timezone database setting.';
COMMENT ON COLUMN completeness_daily.calls IS 'Calls that rang that day.';
COMMENT ON COLUMN completeness_daily.calls_pushed IS 'Of those, first brought by a vendor push.';
COMMENT ON COLUMN completeness_daily.calls_re_requested IS 'Of those, brought by a push callrecon asked for (Ozonetel dial status).';
COMMENT ON COLUMN completeness_daily.calls_discovered IS 'Of those, found only by the Huawei bulk query.';
COMMENT ON COLUMN completeness_daily.calls_missing_detail IS 'Huawei calls still without ring/connect/end times from the detail fetch.';
COMMENT ON COLUMN completeness_daily.windows_requested IS 'Ozonetel dial-status windows of that day sent to Ozonetel.';
COMMENT ON COLUMN completeness_daily.windows_received IS 'Of those, windows whose push arrived.';
COMMENT ON COLUMN completeness_daily.windows_failed IS 'Of those, windows given up or refused.';

CREATE VIEW source_health AS
WITH last_push AS (
    SELECT source, max(received_at) AS last_callback_at,
           count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
           count(*) FILTER (WHERE status = 'quarantined' AND received_at > now() - interval '7 days') AS quarantined_7d
    FROM raw_inbox GROUP BY source),
settings AS (
    SELECT callrecon_setting('silence_threshold', '30 minutes')::interval AS threshold,
           callrecon_setting('business_timezone', 'UTC') AS zone,
           split_part(callrecon_setting('working_hours', '09:00-19:00'), '-', 1)::time AS opens,
           split_part(callrecon_setting('working_hours', '09:00-19:00'), '-', 2)::time AS closes,
           string_to_array(callrecon_setting('working_days', '1,2,3,4,5,6'), ',')::int[] AS days),
sources AS (SELECT unnest(ARRAY['ozonetel', 'huawei']) AS source)
SELECT s.source, p.last_callback_at, now() - p.last_callback_at AS silent_for,
       COALESCE(p.quarantined, 0) AS quarantined, COALESCE(p.quarantined_7d, 0) AS quarantined_7d,
       (extract(isodow FROM now() AT TIME ZONE st.zone)::int = ANY (st.days)
        AND (now() AT TIME ZONE st.zone)::time >= st.opens AND (now() AT TIME ZONE st.zone)::time < st.closes)
           AS in_working_hours,
       (extract(isodow FROM now() AT TIME ZONE st.zone)::int = ANY (st.days)
        AND (now() AT TIME ZONE st.zone)::time >= st.opens AND (now() AT TIME ZONE st.zone)::time < st.closes
        AND (p.last_callback_at IS NULL OR now() - p.last_callback_at > st.threshold)) AS silent
FROM sources s CROSS JOIN settings st LEFT JOIN last_push p ON p.source = s.source;

COMMENT ON VIEW source_health IS 'Per push source: the last callback, quarantined raw rows, and whether it is silent (no callback for longer than SILENCE_THRESHOLD during WORKING_HOURS on WORKING_DAYS, in BUSINESS_TIMEZONE).';
COMMENT ON COLUMN source_health.source IS 'ozonetel or huawei.';
COMMENT ON COLUMN source_health.last_callback_at IS 'When the last authenticated callback from this source arrived (UTC); NULL if never.';
COMMENT ON COLUMN source_health.silent_for IS 'How long since that callback.';
COMMENT ON COLUMN source_health.quarantined IS 'Raw callbacks from this source that are quarantined (all time).';
COMMENT ON COLUMN source_health.quarantined_7d IS 'Of those, received in the last 7 days.';
COMMENT ON COLUMN source_health.in_working_hours IS 'True while it is working hours now (callrecon.working_hours / working_days in the business time zone).';
COMMENT ON COLUMN source_health.silent IS 'True when in working hours and no callback for longer than callrecon.silence_threshold.';

CREATE VIEW leadsquared_health AS
SELECT kind, status, count(*) AS requests,
       max(now() - registered_at) FILTER (WHERE final_at IS NULL) AS oldest_non_final_age
FROM lsq_request GROUP BY kind, status;

COMMENT ON VIEW leadsquared_health IS 'LeadSquared tracked requests by kind and status, with the age of the oldest one not yet final.';
COMMENT ON COLUMN leadsquared_health.kind IS 'call-log, lead-update or opportunity-capture.';
COMMENT ON COLUMN leadsquared_health.status IS 'lsq_request.status; NULL means not polled yet.';
COMMENT ON COLUMN leadsquared_health.requests IS 'Number of requests.';
COMMENT ON COLUMN leadsquared_health.oldest_non_final_age IS 'Age of the oldest request in this group that is not final; NULL if all are final.';

CREATE INDEX ozonetel_call_start_idx ON ozonetel_call (start_time);
CREATE INDEX huawei_call_ring_idx ON huawei_call ((COALESCE(ack_begin_time, call_time)));
CREATE INDEX lsq_request_status_reason_idx ON lsq_request (status, status_reason) WHERE status IN ('FAILURE', 'ERROR');
CREATE INDEX lsq_request_call_log_link_idx ON lsq_request (registered_at) WHERE kind = 'call-log' AND status = 'Success';
CREATE INDEX ozonetel_call_phone_start_idx ON ozonetel_call ((COALESCE(phone_number, dialed_number, caller_id)), start_time);
CREATE INDEX huawei_call_called_ring_idx ON huawei_call (called, (COALESCE(ack_begin_time, call_time)));
