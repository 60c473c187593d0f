-- call_end_to_crm_log computed exact percentiles over every linked call log of its window: at a
-- million calls a day that is 700,000 logs a week, read and sorted at each run. Its latencies are
-- now also kept per UTC day as a histogram of fixed buckets, 10 % wide, by a statement trigger on
-- call_log_link (which keeps the links themselves, migration 0024), and the query reads a week of
-- buckets: a few hundred rows, whatever the calls. Each percentile it gives is a bucket, [low, high)
-- seconds: the exact percentile lies in it (tests/test_rollup.py compares them).
--
-- Buckets (callrecon_latency_bucket): 0 holds (-1 s, 1 s); n > 0 holds [1.1^(n-1), 1.1^n) seconds and
-- -n its mirror (-1.1^n, -1.1^(n-1)] (a log submitted before its call ended). Like call_rollup, the
-- trigger appends deltas; callrecon_latency_compact() (each reconciler pass) folds them.

CREATE FUNCTION callrecon_latency_bucket(seconds double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN seconds IS NULL THEN NULL
            WHEN abs(seconds) < 1 THEN 0
            ELSE sign(seconds)::integer * (1 + floor(ln(abs(seconds)) / ln(1.1))::integer) END
$$;
COMMENT ON FUNCTION callrecon_latency_bucket(double precision) IS 'The call_log_latency bucket of a latency in seconds: 0 for under 1 s either way; n > 0 for [1.1^(n-1), 1.1^n) s; -n for its negative mirror.';

CREATE FUNCTION callrecon_latency_low(bucket integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN bucket = 0 THEN -1.0 WHEN bucket > 0 THEN power(1.1, bucket - 1) ELSE -power(1.1, -bucket) END
$$;
COMMENT ON FUNCTION callrecon_latency_low(integer) IS 'The lowest latency (seconds) of a call_log_latency bucket (exclusive for buckets 0 and below).';

CREATE FUNCTION callrecon_latency_high(bucket integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN bucket = 0 THEN 1.0 WHEN bucket > 0 THEN power(1.1, bucket) ELSE -power(1.1, -bucket - 1) END
$$;
COMMENT ON FUNCTION callrecon_latency_high(integer) IS 'The highest latency (seconds) of a call_log_latency bucket (exclusive for buckets above 0).';

CREATE TABLE call_log_latency (
    day       date    NOT NULL,
    vendor    text    NOT NULL,
    measure   text    NOT NULL CHECK (measure IN ('submitted', 'confirmed')),
    bucket    integer NOT NULL,
    logs      integer NOT NULL,
    compacted boolean NOT NULL DEFAULT false
);
CREATE INDEX call_log_latency_day_idx ON call_log_latency (day) INCLUDE (vendor, measure, bucket, logs);
CREATE INDEX call_log_latency_delta_idx ON call_log_latency (day) WHERE NOT compacted;

COMMENT ON TABLE call_log_latency IS 'Per UTC day of registration, vendor and measure: how many linked LeadSquared call logs took how long after their call ended, in buckets 10 % wide (callrecon_latency_bucket). Deltas to sum by (day, vendor, measure, bucket): written by a trigger on call_log_link, folded by callrecon_latency_compact(). Read by sql/queries/call_end_to_crm_log.sql.';
COMMENT ON COLUMN call_log_latency.day IS 'The UTC day of call_log_link.registered_at.';
COMMENT ON COLUMN call_log_latency.vendor IS 'ozonetel or huawei: the vendor of the call the log is linked to.';
COMMENT ON COLUMN call_log_latency.measure IS 'submitted: registered_at minus the call''s end; confirmed: final_at minus the call''s end (logs with a final_at only).';
COMMENT ON COLUMN call_log_latency.bucket IS 'callrecon_latency_bucket of the latency in seconds; its bounds are callrecon_latency_low(bucket) and callrecon_latency_high(bucket).';
COMMENT ON COLUMN call_log_latency.logs IS 'Change in the number of call logs in the bucket (sum the key''s rows for the count).';
COMMENT ON COLUMN call_log_latency.compacted IS 'true for the one row callrecon_latency_compact() left per key; false for a delta appended since.';

-- The latencies of the links in `relation` (call_log_link or a transition table), each weighted `sign`.
CREATE FUNCTION callrecon_latency_facts(relation text, sign integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
    SELECT (l.registered_at AT TIME ZONE 'UTC')::date AS day, v.vendor, m.measure,
           callrecon_latency_bucket(m.seconds) AS bucket, %s AS n
    FROM %I l
    CROSS JOIN LATERAL (VALUES ('ozonetel'::text, l.ozonetel_end_time), ('huawei', l.huawei_end_time)) v (vendor, end_time)
    CROSS JOIN LATERAL (VALUES ('submitted'::text, extract(epoch FROM l.registered_at - v.end_time)::float8),
                               ('confirmed', extract(epoch FROM l.final_at - v.end_time)::float8)) m (measure, seconds)
    WHERE v.end_time IS NOT NULL AND m.seconds IS NOT NULL$q$, sign, relation)
$fn$;
COMMENT ON FUNCTION callrecon_latency_facts(text, integer) IS 'The SELECT of (day, vendor, measure, bucket, n) of the call logs in a relation, as call_log_latency counts them.';

-- The deltas of one statement, summed per key; keys whose sum is 0 are left out.
CREATE FUNCTION callrecon_latency_add(facts text, compacted boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
    INSERT INTO call_log_latency (day, vendor, measure, bucket, logs, compacted)
    SELECT day, vendor, measure, bucket, sum(n), %L::boolean FROM (%s) f
    GROUP BY day, vendor, measure, bucket HAVING sum(n) <> 0$q$, compacted, facts)
$fn$;

CREATE FUNCTION callrecon_latency_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE callrecon_latency_add(callrecon_latency_facts('new_rows', 1), false);
    RETURN NULL;
END;
$$;
CREATE FUNCTION callrecon_latency_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE callrecon_latency_add(callrecon_latency_facts('new_rows', 1) || ' UNION ALL '
                                  || callrecon_latency_facts('old_rows', -1), false);
    RETURN NULL;
END;
$$;
CREATE FUNCTION callrecon_latency_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE callrecon_latency_add(callrecon_latency_facts('old_rows', -1), false);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION callrecon_latency_insert() IS 'Statement trigger on call_log_link: counts the new links'' latencies into call_log_latency.';
COMMENT ON FUNCTION callrecon_latency_update() IS 'Statement trigger on call_log_link: moves changed links'' latencies between call_log_latency buckets.';
COMMENT ON FUNCTION callrecon_latency_delete() IS 'Statement trigger on call_log_link: takes deleted links'' latencies out of call_log_latency.';

CREATE TRIGGER call_log_latency_insert AFTER INSERT ON call_log_link REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callrecon_latency_insert();
CREATE TRIGGER call_log_latency_update AFTER UPDATE ON call_log_link REFERENCING OLD TABLE AS old_rows
    NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION callrecon_latency_update();
CREATE TRIGGER call_log_latency_delete AFTER DELETE ON call_log_link REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callrecon_latency_delete();

-- As callrecon_rollup_compact: each key's rows deleted and their sum inserted, in one statement.
CREATE FUNCTION callrecon_latency_compact() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH dirty AS (
    SELECT DISTINCT day, vendor, measure, bucket FROM call_log_latency WHERE NOT compacted),
gone AS (
    DELETE FROM call_log_latency r USING dirty d
    WHERE r.day = d.day AND r.vendor = d.vendor AND r.measure = d.measure AND r.bucket = d.bucket
    RETURNING r.*),
folded AS (
    INSERT INTO call_log_latency (day, vendor, measure, bucket, logs, compacted)
    SELECT day, vendor, measure, bucket, sum(logs), true FROM gone
    GROUP BY day, vendor, measure, bucket HAVING sum(logs) <> 0
    RETURNING 1)
SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION callrecon_latency_compact() IS 'Folds call_log_latency''s deltas into one row per day, vendor, measure and bucket (each reconciler pass runs it); returns the rows folded. Safe to run at any time and twice at once.';

-- The links already there, counted once, compacted.
DO $$ BEGIN EXECUTE callrecon_latency_add(callrecon_latency_facts('call_log_link', 1), true); END $$;
