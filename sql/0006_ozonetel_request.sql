-- Ozonetel Campaign Dial Status coverage ledger: which campaign x window callrecon asked Ozonetel to
-- push, and whether the push arrived (vendors.md §1.1). Pushes are matched to rows by the landing code.

CREATE TABLE ozonetel_request (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_name    text        NOT NULL,
    window_from      timestamptz NOT NULL,
    window_to        timestamptz NOT NULL CHECK (window_to > window_from),
    state            text        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'requested', 'received', 'timed-out', 'failed')),
    origin           text        NOT NULL DEFAULT 'reconcile' CHECK (origin IN ('reconcile', 'backfill')),
    tries            integer     NOT NULL DEFAULT 0,
    next_at          timestamptz NOT NULL DEFAULT now(),
    params           jsonb,
    sent_at          timestamptz,
    reply_status     text,
    reply_message    text,
    unique_id        text,
    records_received integer     NOT NULL DEFAULT 0,
    received_at      timestamptz,
    last_received_at timestamptz,
    last_error       text,
    UNIQUE (campaign_name, window_from, window_to)
);
CREATE INDEX ozonetel_request_due_idx ON ozonetel_request (next_at, id) WHERE state IN ('pending', 'timed-out');
CREATE INDEX ozonetel_request_unique_id_idx ON ozonetel_request (unique_id) WHERE unique_id IS NOT NULL AND unique_id <> '';
CREATE INDEX ozonetel_request_window_idx ON ozonetel_request (campaign_name, window_from, window_to);

COMMENT ON TABLE ozonetel_request IS 'One row per campaign and time window callrecon asked Ozonetel to push dial status for (Campaign Dial Status API), and what arrived.';
COMMENT ON COLUMN ozonetel_request.id IS 'Internal id.';
COMMENT ON COLUMN ozonetel_request.campaign_name IS 'Ozonetel campaign name (one campaign per request).';
COMMENT ON COLUMN ozonetel_request.window_from IS 'Start of the window (UTC, inclusive); sent as fromDate in OZONETEL_TIMEZONE.';
COMMENT ON COLUMN ozonetel_request.window_to IS 'End of the window (UTC, exclusive); sent as toDate in OZONETEL_TIMEZONE.';
COMMENT ON COLUMN ozonetel_request.state IS 'pending (not sent yet), requested (Ozonetel accepted it; waiting for the push), received (a push matched it), timed-out (no push within OZONETEL_PUSH_TIMEOUT; will be asked again), failed (gave up or Ozonetel refused it; see last_error).';
COMMENT ON COLUMN ozonetel_request.origin IS 'reconcile (the regular run created it) or backfill (callrecon backfill ozonetel).';
COMMENT ON COLUMN ozonetel_request.tries IS 'How many times the window was sent to Ozonetel and accepted.';
COMMENT ON COLUMN ozonetel_request.next_at IS 'When the window is due to be sent (again) (UTC).';
COMMENT ON COLUMN ozonetel_request.params IS 'The parameters of the last request sent (apiKey masked).';
COMMENT ON COLUMN ozonetel_request.sent_at IS 'When Ozonetel last accepted the request (UTC).';
COMMENT ON COLUMN ozonetel_request.reply_status IS 'status of Ozonetel''s last reply (success or error).';
COMMENT ON COLUMN ozonetel_request.reply_message IS 'message of Ozonetel''s last reply.';
COMMENT ON COLUMN ozonetel_request.unique_id IS 'uniqueId of Ozonetel''s last accepted reply; a push carrying it is matched to this row.';
COMMENT ON COLUMN ozonetel_request.records_received IS 'Records that arrived for this window (pushes matched by uniqueId, else by campaign and record time).';
COMMENT ON COLUMN ozonetel_request.received_at IS 'When the first matching push arrived (UTC).';
COMMENT ON COLUMN ozonetel_request.last_received_at IS 'When the latest matching push arrived (UTC).';
COMMENT ON COLUMN ozonetel_request.last_error IS 'Why the last try failed or the window was given up; NULL otherwise.';
