-- Huawei CC-iSales outbound call results: pushes, per-call detail fetches and bulk discovery
-- all land in huawei_call, one row per (vdnId, callId) (vendors.md §2).

CREATE TABLE huawei_call (
    vdn_id             integer     NOT NULL,
    call_id            text        NOT NULL,
    campaign_id        text,
    session_id         text,
    called             text,
    call_time          timestamptz,
    call_status        integer,
    fail_code          text,
    result_code        text,
    custom_field       text,
    record_path        text,
    record_expires_at  timestamptz,
    ack_begin_time     timestamptz,
    call_begin_time    timestamptz,
    call_end_time      timestamptz,
    value_sources      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    extra              jsonb       NOT NULL DEFAULT '{}'::jsonb,
    source_timezone    text        NOT NULL,
    first_seen_at      timestamptz NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    push_count         integer     NOT NULL DEFAULT 0,
    first_raw_id       bigint,
    last_raw_id        bigint,
    detail_status      text        NOT NULL DEFAULT 'pending'
                       CHECK (detail_status IN ('pending', 'done', 'not-found', 'failed')),
    detail_attempts    integer     NOT NULL DEFAULT 0,
    detail_next_at     timestamptz NOT NULL DEFAULT now(),
    detail_fetched_at  timestamptz,
    detail_error       text,
    PRIMARY KEY (vdn_id, call_id)
);
CREATE INDEX huawei_call_detail_due_idx ON huawei_call (detail_next_at, vdn_id, call_id) WHERE detail_status = 'pending';
CREATE INDEX huawei_call_campaign_time_idx ON huawei_call (campaign_id, call_time);

CREATE TABLE huawei_sighting (
    raw_id       bigint  NOT NULL REFERENCES raw_inbox (id) ON DELETE CASCADE,
    record_index integer NOT NULL,
    vdn_id       integer NOT NULL,
    call_id      text    NOT NULL,
    PRIMARY KEY (raw_id, record_index)
);
CREATE INDEX huawei_sighting_call_idx ON huawei_sighting (vdn_id, call_id);

CREATE TABLE huawei_discovery_window (
    vdn_id       integer     NOT NULL,
    campaign_id  integer     NOT NULL,
    day          date        NOT NULL,
    next_page    integer     NOT NULL DEFAULT 1,
    total_count  integer,
    calls_seen   integer     NOT NULL DEFAULT 0,
    state        text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'covered', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    covered_at   timestamptz,
    last_error   text,
    PRIMARY KEY (vdn_id, campaign_id, day)
);
CREATE INDEX huawei_discovery_window_due_idx ON huawei_discovery_window (next_at) WHERE state = 'pending';

CREATE TABLE huawei_fail_code (
    fail_code text PRIMARY KEY,
    category  text NOT NULL,
    meaning   text NOT NULL
);
INSERT INTO huawei_fail_code (fail_code, category, meaning) VALUES
    ('00000', 'success', 'Success'),
    ('00531', 'subscriber', 'Subscriber hung up'),
    ('00551', 'subscriber', 'Subscriber hung up'),
    ('00537', 'subscriber', 'Subscriber busy'),
    ('00538', 'subscriber', 'Vacant or wrong number'),
    ('00548', 'subscriber', 'Subscriber powered off'),
    ('00549', 'subscriber', 'Subscriber out of service area'),
    ('00601', 'subscriber', 'Subscriber hung up before answering'),
    ('00603', 'subscriber', 'No answer'),
    ('00604', 'subscriber', 'Call rejected'),
    ('00701', 'subscriber', 'Subscriber hung up while queuing'),
    ('00702', 'platform', 'Queuing timed out'),
    ('01040', 'platform', 'Ringing timed out'),
    ('01043', 'platform', 'Waiting for the result timed out'),
    ('01046', 'platform', 'Failed to occupy an agent'),
    ('01049', 'platform', 'Detection timed out'),
    ('34601', 'platform', 'Outbound task does not exist'),
    ('34605', 'platform', 'Empty called number'),
    ('34606', 'platform', 'Call attempt failed (e.g. concurrency cap)'),
    ('34608', 'platform', 'No result (timeout)'),
    ('00602', 'resource', 'Insufficient resources'),
    ('00605', 'resource', 'Insufficient resources'),
    ('01048', 'resource', 'Insufficient resources'),
    ('00606', 'system', 'System error'),
    ('34611', 'system', 'System error'),
    ('00129', 'subscriber', 'Vacant number'),
    ('00145', 'subscriber', 'Subscriber busy'),
    ('00208', 'subscriber', 'Subscriber powered off');

CREATE VIEW huawei_call_explained AS
SELECT c.vdn_id, c.call_id, c.campaign_id, c.called, c.call_time, c.call_status,
       CASE c.call_status WHEN 6 THEN 'success' WHEN 5 THEN 'failed' END AS call_status_meaning,
       c.fail_code, f.category AS fail_category, f.meaning AS fail_meaning, c.result_code,
       c.ack_begin_time, c.call_begin_time, c.call_end_time, c.record_path, c.record_expires_at,
       c.detail_status, c.value_sources
FROM huawei_call c
LEFT JOIN huawei_fail_code f ON f.fail_code = c.fail_code;

COMMENT ON TABLE huawei_call IS 'One row per Huawei CC-iSales outbound call (vdnId, callId): pushed results completed by the per-call detail fetch, or found by bulk discovery.';
COMMENT ON COLUMN huawei_call.vdn_id IS 'Huawei vdnId (1-9999).';
COMMENT ON COLUMN huawei_call.call_id IS 'Huawei callId (call record id).';
COMMENT ON COLUMN huawei_call.campaign_id IS 'Outbound campaign id (campaignId).';
COMMENT ON COLUMN huawei_call.session_id IS 'sessionId of the outbound data record.';
COMMENT ON COLUMN huawei_call.called IS 'Called number.';
COMMENT ON COLUMN huawei_call.call_time IS 'callTimeStr converted from HUAWEI_TIMEZONE to UTC.';
COMMENT ON COLUMN huawei_call.call_status IS 'callStatus: 6 success, 5 failed (string "6" and integer 6 both accepted).';
COMMENT ON COLUMN huawei_call.fail_code IS 'failCode: failure cause (00000 success); see huawei_fail_code.';
COMMENT ON COLUMN huawei_call.result_code IS 'resultCode: the customisable external result code (detail and bulk only).';
COMMENT ON COLUMN huawei_call.custom_field IS 'customField as pushed.';
COMMENT ON COLUMN huawei_call.record_path IS 'recordPath: signed URL of the recording (SaaS only); it expires, see record_expires_at.';
COMMENT ON COLUMN huawei_call.record_expires_at IS 'When the recordPath link stops working (its Expires query parameter), UTC.';
COMMENT ON COLUMN huawei_call.ack_begin_time IS 'ackBeginTime: ringing started (detail fetch), UTC.';
COMMENT ON COLUMN huawei_call.call_begin_time IS 'callBeginTime: call connected (detail fetch), UTC.';
COMMENT ON COLUMN huawei_call.call_end_time IS 'callEndTime: call released (detail fetch), UTC.';
COMMENT ON COLUMN huawei_call.value_sources IS 'Which source last set each column: {"called": "push", "call_end_time": "detail", ...}; sources are push, detail, bulk.';
COMMENT ON COLUMN huawei_call.extra IS 'Fields Huawei sent that have no column, as sent.';
COMMENT ON COLUMN huawei_call.source_timezone IS 'Time zone the naive Huawei times were read in (HUAWEI_TIMEZONE).';
COMMENT ON COLUMN huawei_call.first_seen_at IS 'When callrecon first learned of the call (UTC).';
COMMENT ON COLUMN huawei_call.last_seen_at IS 'When the call was last pushed, fetched or discovered (UTC).';
COMMENT ON COLUMN huawei_call.push_count IS 'How many pushed records carried this call (replays do not count).';
COMMENT ON COLUMN huawei_call.first_raw_id IS 'raw_inbox.id of the first push that carried the call; NULL if never pushed.';
COMMENT ON COLUMN huawei_call.last_raw_id IS 'raw_inbox.id of the latest push that carried the call.';
COMMENT ON COLUMN huawei_call.detail_status IS 'pending (detail not fetched yet), done, not-found (0200007 after HUAWEI_NOT_FOUND_TRIES tries), failed (a permanent error, see detail_error).';
COMMENT ON COLUMN huawei_call.detail_attempts IS 'Detail calls made for this call.';
COMMENT ON COLUMN huawei_call.detail_next_at IS 'When the detail fetch is due (UTC).';
COMMENT ON COLUMN huawei_call.detail_fetched_at IS 'When the detail was fetched (UTC).';
COMMENT ON COLUMN huawei_call.detail_error IS 'Last detail error: Huawei returnCode and resultDesc, or the HTTP failure.';

COMMENT ON TABLE huawei_sighting IS 'Which raw Huawei push record carried which call; one row per (callback, record position).';
COMMENT ON COLUMN huawei_sighting.raw_id IS 'raw_inbox.id of the push.';
COMMENT ON COLUMN huawei_sighting.record_index IS 'Position of the record in the pushed array.';
COMMENT ON COLUMN huawei_sighting.vdn_id IS 'huawei_call.vdn_id.';
COMMENT ON COLUMN huawei_sighting.call_id IS 'huawei_call.call_id.';

COMMENT ON TABLE huawei_discovery_window IS 'Bulk discovery ledger: one row per campaign and day queried with callresult; a covered day is not queried again unless asked (--since).';
COMMENT ON COLUMN huawei_discovery_window.vdn_id IS 'vdnId of the campaign.';
COMMENT ON COLUMN huawei_discovery_window.campaign_id IS 'campaignId.';
COMMENT ON COLUMN huawei_discovery_window.day IS 'The day queried (beginTime = endTime = this date, in HUAWEI_TIMEZONE).';
COMMENT ON COLUMN huawei_discovery_window.next_page IS 'Next page number to fetch (1-based).';
COMMENT ON COLUMN huawei_discovery_window.total_count IS 'totalCount Huawei reported for the day.';
COMMENT ON COLUMN huawei_discovery_window.calls_seen IS 'Call records landed from this window so far.';
COMMENT ON COLUMN huawei_discovery_window.state IS 'pending (pages left or the day not over), covered (every page fetched after the day ended), failed (permanent error, see last_error).';
COMMENT ON COLUMN huawei_discovery_window.attempts IS 'Calls made for this window.';
COMMENT ON COLUMN huawei_discovery_window.next_at IS 'When the next page is due (UTC).';
COMMENT ON COLUMN huawei_discovery_window.covered_at IS 'When the window became covered (UTC).';
COMMENT ON COLUMN huawei_discovery_window.last_error IS 'Last error for this window.';

COMMENT ON TABLE huawei_fail_code IS 'Huawei failCode meanings (vendors.md §2.5, partial; extend with INSERT as codes are learned).';
COMMENT ON COLUMN huawei_fail_code.fail_code IS 'The failCode value.';
COMMENT ON COLUMN huawei_fail_code.category IS 'success, subscriber, platform, resource or system.';
COMMENT ON COLUMN huawei_fail_code.meaning IS 'What the code means, in plain words.';

COMMENT ON VIEW huawei_call_explained IS 'Each Huawei call with its status and failure code explained.';
COMMENT ON COLUMN huawei_call_explained.vdn_id IS 'See huawei_call.vdn_id.';
COMMENT ON COLUMN huawei_call_explained.call_id IS 'See huawei_call.call_id.';
COMMENT ON COLUMN huawei_call_explained.campaign_id IS 'See huawei_call.campaign_id.';
COMMENT ON COLUMN huawei_call_explained.called IS 'See huawei_call.called.';
COMMENT ON COLUMN huawei_call_explained.call_time IS 'See huawei_call.call_time.';
COMMENT ON COLUMN huawei_call_explained.call_status IS 'See huawei_call.call_status.';
COMMENT ON COLUMN huawei_call_explained.call_status_meaning IS 'success (6), failed (5), NULL otherwise.';
COMMENT ON COLUMN huawei_call_explained.fail_code IS 'See huawei_call.fail_code.';
COMMENT ON COLUMN huawei_call_explained.fail_category IS 'huawei_fail_code.category; NULL for a code not in the table.';
COMMENT ON COLUMN huawei_call_explained.fail_meaning IS 'huawei_fail_code.meaning; NULL for a code not in the table.';
COMMENT ON COLUMN huawei_call_explained.result_code IS 'See huawei_call.result_code.';
COMMENT ON COLUMN huawei_call_explained.ack_begin_time IS 'See huawei_call.ack_begin_time.';
COMMENT ON COLUMN huawei_call_explained.call_begin_time IS 'See huawei_call.call_begin_time.';
COMMENT ON COLUMN huawei_call_explained.call_end_time IS 'See huawei_call.call_end_time.';
COMMENT ON COLUMN huawei_call_explained.record_path IS 'See huawei_call.record_path.';
COMMENT ON COLUMN huawei_call_explained.record_expires_at IS 'See huawei_call.record_expires_at.';
COMMENT ON COLUMN huawei_call_explained.detail_status IS 'See huawei_call.detail_status.';
COMMENT ON COLUMN huawei_call_explained.value_sources IS 'See huawei_call.value_sources.';
