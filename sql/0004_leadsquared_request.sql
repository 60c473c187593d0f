-- LeadSquared async-API requests tracked until LeadSquared reports a final status (vendors.md §3).

CREATE TABLE lsq_request (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id        text        NOT NULL CHECK (request_id <> '' AND length(request_id) <= 200),
    kind              text        NOT NULL CHECK (kind IN ('call-log', 'lead-update', 'opportunity-capture')),
    registered_at     timestamptz NOT NULL DEFAULT now(),
    registered_by     text,
    status            text        CHECK (status IS NULL OR status IN
                                  ('In-Queue', 'Success', 'FAILURE', 'ERROR', 'not-found', 'expired')),
    status_raw        text,
    status_reason     text,
    task_type         text,
    task_current_step text,
    task_last_step    text,
    request_body      jsonb,
    request_body_text text,
    message           jsonb,
    message_text      text,
    attempts          integer     NOT NULL DEFAULT 0,
    not_found_runs    integer     NOT NULL DEFAULT 0,
    last_not_found_run bigint,
    next_poll_at      timestamptz NOT NULL DEFAULT now(),
    last_polled_at    timestamptz,
    final_at          timestamptz,
    last_error        text
);

CREATE UNIQUE INDEX lsq_request_request_id_key ON lsq_request (lower(request_id));
CREATE INDEX lsq_request_due_idx ON lsq_request (next_poll_at, id) WHERE final_at IS NULL;

COMMENT ON TABLE lsq_request IS 'LeadSquared async requests (call log, lead update, opportunity capture) polled until final. Register with callrecon track leadsquared, or INSERT INTO lsq_request (request_id, kind, registered_by) VALUES (...) ON CONFLICT ((lower(request_id))) DO NOTHING.';
COMMENT ON COLUMN lsq_request.id IS 'Internal id.';
COMMENT ON COLUMN lsq_request.request_id IS 'LeadSquared RequestId/RequestID as registered; unique ignoring case.';
COMMENT ON COLUMN lsq_request.kind IS 'Which async API the request went to: call-log, lead-update or opportunity-capture (picks the status URL).';
COMMENT ON COLUMN lsq_request.registered_at IS 'When the request was registered for tracking (UTC); the poll horizon counts from here.';
COMMENT ON COLUMN lsq_request.registered_by IS 'Who registered it (free text, e.g. cli:alice or the submitting system).';
COMMENT ON COLUMN lsq_request.status IS 'NULL until first polled; then In-Queue, Success, FAILURE, ERROR (LeadSquared''s TaskStatus.Status, canonical case), not-found (unknown id in several runs) or expired (still not final at the horizon).';
COMMENT ON COLUMN lsq_request.status_raw IS 'TaskStatus.Status exactly as LeadSquared sent it last.';
COMMENT ON COLUMN lsq_request.status_reason IS 'TaskStatus.StatusReason, e.g. Request was successfully completed, or the failure reason.';
COMMENT ON COLUMN lsq_request.task_type IS 'TaskStatus.TaskType, e.g. Telephony-LogCall, Lead Update, Opportunity Capture.';
COMMENT ON COLUMN lsq_request.task_current_step IS 'TaskStatus.TaskCurrentStep (free text; LeadSquared publishes no list).';
COMMENT ON COLUMN lsq_request.task_last_step IS 'TaskStatus.TaskLastStep, e.g. In-Process-Queue.';
COMMENT ON COLUMN lsq_request.request_body IS 'TaskStatus.RequestBody decoded from its JSON-in-a-string form; NULL when it was not JSON (see request_body_text).';
COMMENT ON COLUMN lsq_request.request_body_text IS 'TaskStatus.RequestBody as text when it was not JSON; NULL when request_body holds it.';
COMMENT ON COLUMN lsq_request.message IS 'TaskStatus.Message decoded from its JSON-in-a-string form (shape differs per kind: see README); NULL when absent or not JSON.';
COMMENT ON COLUMN lsq_request.message_text IS 'TaskStatus.Message as text when it was not JSON.';
COMMENT ON COLUMN lsq_request.attempts IS 'Status calls made for this request (every HTTP call, including failed ones).';
COMMENT ON COLUMN lsq_request.not_found_runs IS 'Number of distinct reconciler runs in which LeadSquared answered 400 (unknown id).';
COMMENT ON COLUMN lsq_request.last_not_found_run IS 'reconcile_run.id of the last run that got a 400 for this id.';
COMMENT ON COLUMN lsq_request.next_poll_at IS 'When the reconciler will poll it next (UTC); meaningless once final.';
COMMENT ON COLUMN lsq_request.last_polled_at IS 'When it was last polled (UTC).';
COMMENT ON COLUMN lsq_request.final_at IS 'When it reached a final status (UTC); a final request is never polled again.';
COMMENT ON COLUMN lsq_request.last_error IS 'Last polling error (HTTP status or network failure, with a short excerpt); NULL after a good poll.';
