-- The reconciler's shared core: rate budgets that all reconciler processes share, and the run log.

-- A budget of N calls per period is N slots; a slot is reused only a full period after its last
-- call finished, so no window of that length ever holds more than N calls, across processes.
CREATE TABLE rate_budget (
    name         text        PRIMARY KEY,
    calls        integer     NOT NULL CHECK (calls > 0),
    period_ms    integer     NOT NULL CHECK (period_ms > 0),
    paused_until timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rate_slot (
    budget   text        NOT NULL REFERENCES rate_budget (name) ON DELETE CASCADE,
    slot     integer     NOT NULL,
    free_at  timestamptz NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    holder   text,
    PRIMARY KEY (budget, slot)
);

CREATE TABLE reconcile_run (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    outcome     text        NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'stopped', 'failed')),
    counts      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error       text,
    host        text,
    pid         integer
);
CREATE INDEX reconcile_run_source_started_idx ON reconcile_run (source, started_at DESC);

COMMENT ON TABLE rate_budget IS 'One shared call budget per vendor API (e.g. leadsquared = 25 calls per 5 s), used by every reconciler process.';
COMMENT ON COLUMN rate_budget.name IS 'Budget name, usually the vendor source (leadsquared, huawei, ozonetel).';
COMMENT ON COLUMN rate_budget.calls IS 'Calls allowed per period (from the source''s *_RATE_LIMIT setting).';
COMMENT ON COLUMN rate_budget.period_ms IS 'Length of the period in milliseconds.';
COMMENT ON COLUMN rate_budget.paused_until IS 'No call may start before this time: set after the vendor answered 429 (Retry-After or one period).';
COMMENT ON COLUMN rate_budget.updated_at IS 'When the budget''s size or pause last changed (UTC).';

COMMENT ON TABLE rate_slot IS 'The budget''s N call slots: a call takes a free slot, and the slot frees one period after the call finished.';
COMMENT ON COLUMN rate_slot.budget IS 'rate_budget.name this slot belongs to.';
COMMENT ON COLUMN rate_slot.slot IS 'Slot number, 0 to calls - 1.';
COMMENT ON COLUMN rate_slot.free_at IS 'When this slot may be used again (UTC).';
COMMENT ON COLUMN rate_slot.holder IS 'Process (host:pid:thread) that used the slot last, for troubleshooting.';

COMMENT ON TABLE reconcile_run IS 'One row per reconciler run of one source: when, the outcome, and counts of what happened to items.';
COMMENT ON COLUMN reconcile_run.id IS 'Run id.';
COMMENT ON COLUMN reconcile_run.source IS 'Vendor source reconciled: leadsquared, huawei or ozonetel.';
COMMENT ON COLUMN reconcile_run.started_at IS 'When the run started (UTC).';
COMMENT ON COLUMN reconcile_run.finished_at IS 'When the run ended (UTC); NULL while running or if the process died.';
COMMENT ON COLUMN reconcile_run.outcome IS 'running, ok (all due work done), stopped (SIGTERM or --limit), failed (see error).';
COMMENT ON COLUMN reconcile_run.counts IS 'Items by what happened to them in this run, e.g. {"Success": 10, "In-Queue": 3, "retry": 1}.';
COMMENT ON COLUMN reconcile_run.error IS 'Why the run failed (e.g. the vendor rejected the API key); NULL otherwise.';
COMMENT ON COLUMN reconcile_run.host IS 'Host name of the reconciler process.';
COMMENT ON COLUMN reconcile_run.pid IS 'Process id of the reconciler process.';
