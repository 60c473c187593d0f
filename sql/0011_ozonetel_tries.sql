-- Ozonetel coverage, matched by the try that asked: every Campaign Dial Status call made for a
-- window is a row here with the uniqueId Ozonetel gave it, so a late push for an earlier try still
-- counts; credits are per raw callback, so replaying a callback never counts its records twice.
-- ozonetel_call gains event_at, so that a late or repeated push with an older event time never
-- overwrites a newer state of the same call.

CREATE TABLE ozonetel_request_try (
    request_id  bigint      NOT NULL REFERENCES ozonetel_request (id) ON DELETE CASCADE,
    try         integer     NOT NULL,
    sent_at     timestamptz NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('accepted', 'failed', 'campaign-invalid')),
    unique_id   text,
    error       text,
    PRIMARY KEY (request_id, try)
);
CREATE INDEX ozonetel_request_try_unique_id_idx ON ozonetel_request_try (unique_id)
    WHERE unique_id IS NOT NULL AND unique_id <> '';

INSERT INTO ozonetel_request_try (request_id, try, sent_at, outcome, unique_id)
SELECT id, tries, sent_at, 'accepted', unique_id FROM ozonetel_request
WHERE sent_at IS NOT NULL AND tries > 0;

COMMENT ON TABLE ozonetel_request_try IS 'Every Campaign Dial Status call callrecon made for a window, with Ozonetel''s answer; a push carrying any try''s uniqueId counts for the window.';
COMMENT ON COLUMN ozonetel_request_try.request_id IS 'The window (ozonetel_request.id).';
COMMENT ON COLUMN ozonetel_request_try.try IS 'Which call for this window, from 1.';
COMMENT ON COLUMN ozonetel_request_try.sent_at IS 'When the call was made (UTC).';
COMMENT ON COLUMN ozonetel_request_try.outcome IS 'accepted (Ozonetel will push), failed (5xx, timeout, unreadable or unknown error: counted against OZONETEL_MAX_TRIES) or campaign-invalid (Ozonetel said campaignName is invalid: the campaign is stopped, see reconcile_block).';
COMMENT ON COLUMN ozonetel_request_try.unique_id IS 'uniqueId of Ozonetel''s reply to this call, if any.';
COMMENT ON COLUMN ozonetel_request_try.error IS 'Why the call failed (masked excerpt); NULL when accepted.';

CREATE TABLE ozonetel_request_credit (
    request_id  bigint      NOT NULL REFERENCES ozonetel_request (id) ON DELETE CASCADE,
    raw_id      bigint      NOT NULL,
    records     integer     NOT NULL,
    credited_at timestamptz NOT NULL,
    PRIMARY KEY (request_id, raw_id)
);
COMMENT ON TABLE ozonetel_request_credit IS 'Which raw callback counted how many records for which window; one row per pair, so a replayed callback is not counted again.';
COMMENT ON COLUMN ozonetel_request_credit.request_id IS 'The window (ozonetel_request.id).';
COMMENT ON COLUMN ozonetel_request_credit.raw_id IS 'The raw callback (raw_inbox.id) whose records matched the window.';
COMMENT ON COLUMN ozonetel_request_credit.records IS 'How many of its records matched.';
COMMENT ON COLUMN ozonetel_request_credit.credited_at IS 'When the callback was received (UTC).';

COMMENT ON COLUMN ozonetel_request.tries IS 'How many Campaign Dial Status calls were made for the window (accepted or failed; see ozonetel_request_try). At OZONETEL_MAX_TRIES the window is failed.';
COMMENT ON COLUMN ozonetel_request.unique_id IS 'uniqueId of Ozonetel''s last accepted reply; earlier tries'' uniqueIds are in ozonetel_request_try and match too.';
COMMENT ON COLUMN ozonetel_request.records_received IS 'Records that arrived for this window (pushes matched by any try''s uniqueId, else by campaign and StartTime), each raw callback counted once.';
COMMENT ON COLUMN ozonetel_request.state IS 'pending (not sent yet), requested (Ozonetel accepted it; waiting for the push), received (a push matched it), timed-out (no push within OZONETEL_PUSH_TIMEOUT, or the last call failed; will be asked again with backoff), failed (OZONETEL_MAX_TRIES calls made, past OZONETEL_HORIZON, or Ozonetel pushed an error; see last_error).';

ALTER TABLE ozonetel_call ADD COLUMN event_at timestamptz;
UPDATE ozonetel_call SET event_at = COALESCE(end_time, start_time);
COMMENT ON COLUMN ozonetel_call.event_at IS 'Event time of the values in this row: EndTime, else StartTime, of the record they came from (UTC). A record with an older event time only fills gaps; it never overwrites. A record without times, or with equal times, is ordered by arrival.';
