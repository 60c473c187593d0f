-- A rate limit learned from the vendor's own words, and LeadSquared's failure policy.

-- A vendor that says "API calls exceeded the limit of 10 in 5 second(s)" has told us its real
-- limit. It is kept here, beside the configured one, so every reconciler process obeys it and
-- a later `ensure()` with the configured *_RATE_LIMIT does not undo it. The budget in force keeps
-- within both: the fewer calls and the longer period.
ALTER TABLE rate_budget
    ADD COLUMN learned_calls     integer CHECK (learned_calls IS NULL OR learned_calls > 0),
    ADD COLUMN learned_period_ms integer CHECK (learned_period_ms IS NULL OR learned_period_ms > 0),
    ADD COLUMN learned_at        timestamptz,
    ADD CONSTRAINT rate_budget_learned_pair CHECK ((learned_calls IS NULL) = (learned_period_ms IS NULL));
ALTER TABLE rate_budget
    ADD COLUMN effective_calls     integer GENERATED ALWAYS AS (LEAST(calls, learned_calls)) STORED,
    ADD COLUMN effective_period_ms integer GENERATED ALWAYS AS (GREATEST(period_ms, learned_period_ms)) STORED;

COMMENT ON COLUMN rate_budget.learned_calls IS 'Calls per learned period that the vendor itself stated in its last rate-limit reply (e.g. 10 from "limit of 10 in 5 second(s)"); NULL if it never said. Clear it (with learned_period_ms) after a plan upgrade.';
COMMENT ON COLUMN rate_budget.learned_period_ms IS 'The period of learned_calls, in milliseconds; NULL with learned_calls.';
COMMENT ON COLUMN rate_budget.learned_at IS 'When the vendor last stated its limit (UTC).';
COMMENT ON COLUMN rate_budget.effective_calls IS 'Calls per period in force: the configured calls, or the learned ones when fewer. The number of rate_slot rows.';
COMMENT ON COLUMN rate_budget.effective_period_ms IS 'Period in force, in milliseconds: the configured one, or the learned one when longer.';
COMMENT ON COLUMN rate_budget.paused_until IS 'No call may start before this time: set after the vendor answered a rate limit (Retry-After, else the period the vendor stated, else one period).';

-- LeadSquared: failed status calls are counted apart from polls, and bounded (LSQ_MAX_TRIES).
ALTER TABLE lsq_request ADD COLUMN failed_tries integer NOT NULL DEFAULT 0 CHECK (failed_tries >= 0);
ALTER TABLE lsq_request DROP CONSTRAINT lsq_request_status_check;
ALTER TABLE lsq_request ADD CONSTRAINT lsq_request_status_check CHECK (status IS NULL OR status IN
    ('In-Queue', 'Success', 'FAILURE', 'ERROR', 'not-found', 'expired', 'failed'));

COMMENT ON COLUMN lsq_request.failed_tries IS 'Status calls for this request that failed (400, 5xx, timeout, unreadable or unexpected answer); at LSQ_MAX_TRIES it becomes failed. Rate-limited calls and In-Queue polls do not count.';
COMMENT ON COLUMN lsq_request.status IS 'NULL until first polled; then In-Queue, Success, FAILURE, ERROR (LeadSquared''s TaskStatus.Status, canonical case), failed (LSQ_MAX_TRIES failed calls; reason in last_error), expired (not final at the poll horizon), or not-found (written only before migration 0010).';
COMMENT ON COLUMN lsq_request.attempts IS 'Status calls recorded for this request: polls and failed calls (failed_tries counts the failed ones); rate-limited calls are not counted.';
COMMENT ON COLUMN lsq_request.not_found_runs IS 'Obsolete since migration 0010 (a 400 means a malformed request, not an unknown id): runs in which LeadSquared answered 400, as counted before.';
COMMENT ON COLUMN lsq_request.last_not_found_run IS 'Obsolete since migration 0010: reconcile_run.id of the last run that got a 400, as recorded before.';
COMMENT ON COLUMN lsq_request.last_error IS 'Last polling error (e.g. malformed request (HTTP 400) with LeadSquared''s ExceptionMessage, HTTP 500, timeout); on failed or expired, why it gave up. NULL after a good poll.';
