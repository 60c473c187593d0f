-- Huawei policy (issue #14): the zone every naive Huawei time is read in is named wherever such a
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
