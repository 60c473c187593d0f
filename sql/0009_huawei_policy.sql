-- Huawei policy: the zone every naive Huawei time is read in is named wherever such a
-- time is stored (HUAWEI_TIMEZONE is now required; Ozonetel's say OZONETEL_TIMEZONE).

COMMENT ON COLUMN huawei_call.call_time IS 'callTimeStr, a naive time read in HUAWEI_TIMEZONE (the tenant''s zone; see source_timezone), stored as UTC.';
COMMENT ON COLUMN huawei_call.ack_begin_time IS 'ackBeginTime: ringing started (detail fetch); a naive time read in HUAWEI_TIMEZONE (see source_timezone), stored as UTC.';
COMMENT ON COLUMN huawei_call.call_begin_time IS 'callBeginTime: call connected (detail fetch); a naive time read in HUAWEI_TIMEZONE (see source_timezone), stored as UTC.';
COMMENT ON COLUMN huawei_call.call_end_time IS 'callEndTime: call released (detail fetch); a naive time read in HUAWEI_TIMEZONE (see source_timezone), stored as UTC.';
COMMENT ON COLUMN huawei_call_explained.call_time IS 'See huawei_call.call_time (read in HUAWEI_TIMEZONE, UTC).';
COMMENT ON COLUMN huawei_call_explained.ack_begin_time IS 'See huawei_call.ack_begin_time (read in HUAWEI_TIMEZONE, UTC).';
COMMENT ON COLUMN huawei_call_explained.call_begin_time IS 'See huawei_call.call_begin_time (read in HUAWEI_TIMEZONE, UTC).';
COMMENT ON COLUMN huawei_call_explained.call_end_time IS 'See huawei_call.call_end_time (read in HUAWEI_TIMEZONE, UTC).';
COMMENT ON COLUMN call.ring_time IS 'When the call started ringing, UTC (Ozonetel StartTime read in OZONETEL_TIMEZONE; Huawei ackBeginTime, else callTimeStr, read in HUAWEI_TIMEZONE).';
COMMENT ON COLUMN call.connect_time IS 'When the call was answered, UTC (Ozonetel StartTime + TimeToAnswer when answered, read in OZONETEL_TIMEZONE; Huawei callBeginTime read in HUAWEI_TIMEZONE).';
COMMENT ON COLUMN call.end_time IS 'When the call ended, UTC (Ozonetel EndTime read in OZONETEL_TIMEZONE; Huawei callEndTime read in HUAWEI_TIMEZONE).';

-- One failure policy (reconciler/failures.py): HUAWEI_MAX_TRIES failed calls, or the horizon, end an item.
ALTER TABLE huawei_discovery_window ADD COLUMN failures integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN huawei_discovery_window.failures IS 'Failed calls for this window since its last good page; at HUAWEI_MAX_TRIES, or once the day is HUAWEI_DETAIL_HORIZON old, the window becomes failed.';
COMMENT ON COLUMN huawei_discovery_window.state IS 'pending (pages left or the day not over), covered (every page fetched after the day ended), failed (a parameter error, HUAWEI_MAX_TRIES failed calls, or past HUAWEI_DETAIL_HORIZON; see last_error).';
COMMENT ON COLUMN huawei_discovery_window.last_error IS 'Last error for this window: Huawei returnCode, resultDesc then returnDesc, or the HTTP failure with what to check.';
COMMENT ON COLUMN huawei_call.detail_status IS 'pending (detail not fetched yet), done, not-found (0200007 after HUAWEI_NOT_FOUND_TRIES tries), failed (a parameter error about the call, HUAWEI_MAX_TRIES failed calls, or past the horizon: the recording link''s expiry, else first_seen_at + HUAWEI_DETAIL_HORIZON; see detail_error).';
COMMENT ON COLUMN huawei_call.detail_attempts IS 'Detail calls made for this call that counted a try (calls parked while their VDN is stopped do not count).';
COMMENT ON COLUMN huawei_call.detail_error IS 'Last detail error: Huawei returnCode, resultDesc then returnDesc (when it differs), or the HTTP failure with what to check.';

-- Event-time order: a late or repeated record about an earlier moment never overwrites newer state.
ALTER TABLE huawei_call ADD COLUMN event_time timestamptz;
COMMENT ON COLUMN huawei_call.event_time IS 'Event time of the newest record applied to this call: callEndTime, else callTimeStr (read in HUAWEI_TIMEZONE, UTC). A push, bulk row or detail with an older event time only fills empty columns; NULL for calls landed before 0009 until their next record.';
COMMENT ON COLUMN huawei_call.value_sources IS 'Which source last set each column: {"called": "push", "call_end_time": "detail", ...}; sources are push, detail, bulk. A record older by event_time never replaces a value.';
