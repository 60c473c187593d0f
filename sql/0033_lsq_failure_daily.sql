-- leadsquared_failures_by_reason counted the failed requests of its window (30 days by default)
-- row by row: at a million calls a day, 100,000 call logs a day of which 7 % fail, that is 210,000
-- rows fetched from lsq_request, 512 ms (bench/scale, 30 days). The failures are now also kept per
-- UTC day of registration, kind, status and reason by statement triggers on lsq_request, and the
-- query reads the whole days of its window from them (a few rows a day) and only the window's
-- first, partial day from lsq_request itself: its counts stay exact.
--
-- first_registered and last_final of a key are bounds: the earliest registration and the latest
-- final time of the requests ever counted in it, a request that left it since (a retry) included.
-- Like call_rollup, the triggers append deltas; callrecon_lsq_failure_compact() (each reconciler
-- pass) folds them.

CREATE FUNCTION callrecon_lsq_failed(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT status IN ('FAILURE', 'ERROR', 'failed', 'not-found', 'expired') $$;
COMMENT ON FUNCTION callrecon_lsq_failed(text) IS 'Whether a lsq_request status is an end that went badly (FAILURE, ERROR, failed, not-found, expired): the statuses lsq_failure_daily counts.';

CREATE TABLE lsq_failure_daily (
    day              date        NOT NULL,
    kind             text        NOT NULL,
    status           text        NOT NULL,
    reason           text,
    requests         integer     NOT NULL,
    first_registered timestamptz NOT NULL,
    last_final       timestamptz,
    compacted        boolean     NOT NULL DEFAULT false
);
CREATE INDEX lsq_failure_daily_day_idx ON lsq_failure_daily (day);
CREATE INDEX lsq_failure_daily_delta_idx ON lsq_failure_daily (day) WHERE NOT compacted;

COMMENT ON TABLE lsq_failure_daily IS 'Per UTC day of registration, kind, status and reason: how many LeadSquared requests ended badly (callrecon_lsq_failed). Deltas to sum by (day, kind, status, reason): written by triggers on lsq_request, folded by callrecon_lsq_failure_compact(). Read by sql/queries/leadsquared_failures_by_reason.sql.';
COMMENT ON COLUMN lsq_failure_daily.day IS 'The UTC day of lsq_request.registered_at.';
COMMENT ON COLUMN lsq_failure_daily.kind IS 'lsq_request.kind.';
COMMENT ON COLUMN lsq_failure_daily.status IS 'lsq_request.status: FAILURE, ERROR, failed, not-found or expired.';
COMMENT ON COLUMN lsq_failure_daily.reason IS 'COALESCE(lsq_request.status_reason, lsq_request.last_error).';
COMMENT ON COLUMN lsq_failure_daily.requests IS 'Change in the number of requests of the key (sum the key''s rows for the count).';
COMMENT ON COLUMN lsq_failure_daily.first_registered IS 'The earliest registered_at of the requests this row counted (a bound: a request that left the key since is not taken out).';
COMMENT ON COLUMN lsq_failure_daily.last_final IS 'The latest final_at of the requests this row counted (a bound, as first_registered).';
COMMENT ON COLUMN lsq_failure_daily.compacted IS 'true for the one row callrecon_lsq_failure_compact() left per key; false for a delta appended since.';

-- The failed requests in `relation` (lsq_request or a transition table), each weighted `sign`, summed
-- per key into lsq_failure_daily; keys whose sum is 0 are left out.
CREATE FUNCTION callrecon_lsq_failure_add(relations text[], signs integer[], compacted boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
    INSERT INTO lsq_failure_daily (day, kind, status, reason, requests, first_registered, last_final, compacted)
    SELECT day, kind, status, reason, sum(n), min(registered_at), max(final_at), %L::boolean FROM (%s) f
    GROUP BY day, kind, status, reason HAVING sum(n) <> 0$q$, compacted,
    (SELECT string_agg(format($r$SELECT (registered_at AT TIME ZONE 'UTC')::date AS day, kind, status,
                                        COALESCE(status_reason, last_error) AS reason, %s AS n, registered_at, final_at
                                 FROM %I WHERE callrecon_lsq_failed(status)$r$, s, r), ' UNION ALL ')
     FROM unnest(relations, signs) AS u (r, s)))
$fn$;
COMMENT ON FUNCTION callrecon_lsq_failure_add(text[], integer[], boolean) IS 'The INSERT INTO lsq_failure_daily of the failed requests in each relation, weighted by its sign, summed per key.';

-- Static SQL in each trigger function, so PL/pgSQL plans it once per session.
DO $$
DECLARE
    op text;
BEGIN
    FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
        EXECUTE format('CREATE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                       'SET search_path = public, pg_temp AS %L', 'callrecon_lsq_failure_' || op,
                       'BEGIN ' || CASE op
                           WHEN 'insert' THEN callrecon_lsq_failure_add(ARRAY['new_rows'], ARRAY[1], false)
                           WHEN 'update' THEN callrecon_lsq_failure_add(ARRAY['new_rows', 'old_rows'], ARRAY[1, -1], false)
                           ELSE callrecon_lsq_failure_add(ARRAY['old_rows'], ARRAY[-1], false) END
                       || '; RETURN NULL; END;');
        EXECUTE format('COMMENT ON FUNCTION %I() IS %L', 'callrecon_lsq_failure_' || op,
                       format('Statement trigger after %s on lsq_request: counts the failed requests it wrote into lsq_failure_daily.', upper(op)));
        EXECUTE format('CREATE TRIGGER %I AFTER %s ON lsq_request REFERENCING %s FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                       'lsq_failure_' || op, upper(op),
                       CASE op WHEN 'insert' THEN 'NEW TABLE AS new_rows'
                               WHEN 'update' THEN 'OLD TABLE AS old_rows NEW TABLE AS new_rows'
                               ELSE 'OLD TABLE AS old_rows' END, 'callrecon_lsq_failure_' || op);
    END LOOP;
END
$$;

-- As callrecon_rollup_compact: each key's rows deleted and their sum inserted, in one statement.
CREATE FUNCTION callrecon_lsq_failure_compact() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH dirty AS (
    SELECT DISTINCT day, kind, status, reason FROM lsq_failure_daily WHERE NOT compacted),
gone AS (
    DELETE FROM lsq_failure_daily r USING dirty d
    WHERE r.day = d.day AND r.kind = d.kind AND r.status = d.status AND r.reason IS NOT DISTINCT FROM d.reason
    RETURNING r.*),
folded AS (
    INSERT INTO lsq_failure_daily (day, kind, status, reason, requests, first_registered, last_final, compacted)
    SELECT day, kind, status, reason, sum(requests), min(first_registered), max(last_final), true FROM gone
    GROUP BY day, kind, status, reason HAVING sum(requests) <> 0
    RETURNING 1)
SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION callrecon_lsq_failure_compact() IS 'Folds lsq_failure_daily''s deltas into one row per day, kind, status and reason (each reconciler pass runs it); returns the rows folded. Safe to run at any time and twice at once.';

-- The failed requests already there, counted once, compacted.
DO $$ BEGIN EXECUTE callrecon_lsq_failure_add(ARRAY['lsq_request'], ARRAY[1], true); END $$;
