-- Time partitioning of the typed call tables: ozonetel_call and huawei_call become
-- range-partitioned by first_seen_at, one partition per calendar month (UTC), kept apart from the
-- raw tables' weeks and pruned with their own age (callrecon prune --typed-older-than,
-- TYPED_RETENTION).
--
-- Why first_seen_at, not the vendor's call time. A typed row is one call, updated by every later
-- push, re-requested push, detail fetch and discovery of it, and its vendor time is neither always
-- there nor stable: an Ozonetel dial-status lead has no StartTime (tests/fixtures/ozonetel/
-- dial_status__lead.json) and a lead re-dialled later keeps its data:<campaign>:<DataUniqueId> key
-- with a new StartTime; Huawei re-pushes an earlier attempt of the same callId with an older
-- callTimeStr, a push may have no time at all, and the detail fetch carries none (vendors.md §2.3).
-- A partition key must never change (ON CONFLICT DO UPDATE cannot move a row to another
-- partition), so the key is the moment callrecon first stored the call, which it sets itself and
-- never updates.
--
-- Why monthly: typed rows are kept for months or years, and every landing looks a call up in every
-- partition (below), so 12 partitions a year, not 52; a month bounds the rows that prune deletes
-- one by one at the retention age.
--
-- Deduplication across partitions. A unique key on a partitioned table must include the partition
-- key, so the tables' keys become (call_key, first_seen_at) and (vdn_id, call_id, first_seen_at):
-- unique only if every row of a call carries the same first_seen_at. The landing statements make it
-- so through callrecon_ozonetel_homes / callrecon_huawei_homes: they take a transaction-scoped
-- advisory lock per call key (in hash order within a statement; across the statements of one
-- transaction landers can still deadlock, as on the rows' own locks before, and PostgreSQL then
-- cancels one, which lands again), then look the
-- call up in every partition with a fresh snapshot (the functions are VOLATILE) and hand back its
-- first_seen_at. A re-push days or months later therefore upserts the row where it is; a call seen
-- for the first time gets the time of the record that brought it; and two landers storing the same
-- new call at once are serialised by the lock, so the second finds the first's row. No extra table
-- is kept: a key table (call key -> month) would have to be copied on upgrade under the tables'
-- lock, and emptied row by row when prune drops a month, which is what partitioning avoids.
--
-- The ledgers are left as they are. Huawei's detail ledger lives in huawei_call's own columns, so it
-- is partitioned with it. lsq_request grows with call logs, but other systems register ids with a
-- documented `ON CONFLICT ((lower(request_id))) DO NOTHING` (README) and know no time to partition
-- by; its key must stay the id alone. ozonetel_request (one row per campaign and window),
-- ozonetel_request_try, ozonetel_request_credit (per re-requested callback), huawei_discovery_window
-- (per campaign and day) and reconcile_run (per run) grow with windows, days and runs, not calls.
--
-- Upgrade without copying, as migration 0017 did: the existing table becomes the partition
-- <table>_legacy for every call first seen before the next month starts. `callrecon db upgrade`
-- first validates that bound and builds the (key, first_seen_at) index concurrently, outside this
-- transaction (receiver/landing/partitions.py prepare_upgrade), so here only catalog changes happen.
-- Triggers on the old table (e.g. statement-level rollup triggers) are re-created on the
-- partitioned parent from pg_trigger, and views are re-pointed at it.

-- The registry learns each table's period and which retention age applies to it.
ALTER TABLE callrecon_partitioned
    ADD COLUMN period interval NOT NULL DEFAULT '1 week' CHECK (period IN ('1 week', '1 month')),
    ADD COLUMN retention text NOT NULL DEFAULT 'raw' CHECK (retention IN ('raw', 'typed')),
    ALTER COLUMN raw_id_column DROP NOT NULL;
COMMENT ON TABLE callrecon_partitioned IS 'Tables partitioned by time (weekly by the raw callback''s received_at, monthly by a call''s first_seen_at); callrecon_ensure_partitions and callrecon prune work on these.';
COMMENT ON COLUMN callrecon_partitioned.time_column IS 'The partition key: the raw callback''s received_at, or the typed call''s first_seen_at.';
COMMENT ON COLUMN callrecon_partitioned.local_key IS 'Primary key of each partition: unique overall, since a key always routes to one partition (raw ids never move; a call keeps its first_seen_at).';
COMMENT ON COLUMN callrecon_partitioned.raw_id_column IS 'Column holding the raw_inbox.id the row belongs to; prune keeps rows of raw callbacks it keeps. NULL for typed tables (their rows outlive raw callbacks).';
COMMENT ON COLUMN callrecon_partitioned.period IS 'One partition per 1 week (Monday 00:00 UTC) or 1 month (the 1st, 00:00 UTC).';
COMMENT ON COLUMN callrecon_partitioned.retention IS 'Which age prune applies: raw (--raw-older-than) or typed (--typed-older-than, TYPED_RETENTION).';

CREATE FUNCTION callrecon_period_start(at timestamptz, period interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
SELECT CASE WHEN period = interval '1 month'
            THEN date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            ELSE callrecon_week_start(at) END
$$;
COMMENT ON FUNCTION callrecon_period_start(timestamptz, interval) IS 'Start (UTC) of the week or month holding the time: where a partition of that period starts.';

-- The same function as migration 0017's, for weeks and months: from the period of `since` (default:
-- of `at`) up to the end of the week `ahead` weeks after the week of `at`, every period that starts
-- before it, so a monthly table is covered at least as far ahead as the weekly ones; and next month.
CREATE OR REPLACE FUNCTION callrecon_ensure_partitions(ahead integer, since timestamptz DEFAULT NULL,
                                                       at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t record;
    start timestamptz;
    horizon timestamptz := callrecon_week_start(at) + make_interval(weeks => ahead + 1);
    part text;
    created integer := 0;
BEGIN
    IF ahead < 0 THEN
        RAISE EXCEPTION 'ahead must be 0 or more weeks, not %', ahead;
    END IF;
    -- One creator at a time (web workers, reconcilers and the release step may all call this).
    PERFORM pg_advisory_xact_lock(7110018);
    FOR t IN SELECT * FROM callrecon_partitioned ORDER BY parent LOOP
        start := callrecon_period_start(COALESCE(LEAST(since, at), at), t.period);
        -- A monthly table also always gets next month, so one partition ahead always exists (the
        -- callrecon_partitions_ahead gauge), even early in a month.
        WHILE start < horizon OR (t.period = interval '1 month' AND start <= callrecon_period_start(at, t.period) + t.period) LOOP
            part := t.parent || CASE WHEN t.period = interval '1 month'
                                     THEN '_m' || to_char(start AT TIME ZONE 'UTC', 'YYYYMM')
                                     ELSE '_w' || to_char(start AT TIME ZONE 'UTC', 'YYYYMMDD') END;
            -- Bounds straight from the catalog (callrecon_partitions would also size every partition,
            -- at every reconciler pass); a range already covered (the legacy one) is skipped.
            IF to_regclass(part) IS NULL AND NOT EXISTS (
                SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
                WHERE i.inhparent = to_regclass(t.parent) AND b.expr <> 'DEFAULT'
                  AND COALESCE(substring(b.expr FROM 'FROM \(''([^'']+)''\)')::timestamptz, '-infinity')
                      < start + t.period
                  AND substring(b.expr FROM 'TO \(''([^'']+)''\)')::timestamptz > start) THEN
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                               'INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)', part, t.parent);
                EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', part, t.local_key);
                EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)', part,
                               part || '_range', t.time_column, start, t.time_column, start + t.period);
                IF to_regclass(t.parent || '_default') IS NOT NULL THEN
                    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) '
                                   'INSERT INTO %I SELECT * FROM moved', t.parent || '_default',
                                   t.time_column, start, t.time_column, start + t.period, part);
                END IF;
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               t.parent, part, start, start + t.period);
                EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
                EXECUTE format('COMMENT ON TABLE %I IS %L', part,
                    CASE WHEN t.retention = 'typed'
                         THEN format('%s rows of calls first seen in the month from %s (UTC); dropped whole by callrecon prune --typed-older-than.',
                                     t.parent, to_char(start AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
                         ELSE format('%s received in the week from %s (UTC); dropped whole by callrecon prune.',
                                     t.parent, to_char(start AT TIME ZONE 'UTC', 'YYYY-MM-DD')) END);
                created := created + 1;
            END IF;
            start := start + t.period;
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;
COMMENT ON FUNCTION callrecon_ensure_partitions(integer, timestamptz, timestamptz) IS 'Create the partitions (weekly or monthly, per callrecon_partitioned.period) of every partitioned table from the period of since (default: of at) to the one holding the end of the week ahead weeks after the week of at; returns how many it created. Run by callrecon db upgrade, the reconciler and the lander (PARTITIONS_AHEAD).';

-- A call's home: the first_seen_at its row already has in any partition, after a lock that makes
-- a concurrent first landing of the same call wait for the other to commit (see the top).
CREATE FUNCTION callrecon_ozonetel_homes(keys text[]) RETURNS TABLE (call_key text, first_seen_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h)
       FROM (SELECT DISTINCT hashtextextended('ozonetel_call:' || k, 0) AS h FROM unnest(keys) AS k ORDER BY 1) l;
    RETURN QUERY SELECT c.call_key, min(c.first_seen_at) FROM ozonetel_call c
                 WHERE c.call_key = ANY (keys) GROUP BY c.call_key;
END;
$$;
COMMENT ON FUNCTION callrecon_ozonetel_homes(text[]) IS 'Lock the given Ozonetel call keys until the transaction ends, then return the first_seen_at (the partition key) of those already stored: the landing upsert writes a known call where it is, and a new one only once.';

CREATE FUNCTION callrecon_huawei_homes(vdn_ids integer[], call_ids text[])
RETURNS TABLE (vdn_id integer, call_id text, first_seen_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h)
       FROM (SELECT DISTINCT hashtextextended('huawei_call:' || v || ':' || i, 0) AS h
             FROM unnest(vdn_ids, call_ids) AS k(v, i) ORDER BY 1) l;
    RETURN QUERY SELECT c.vdn_id, c.call_id, min(c.first_seen_at) FROM huawei_call c
                 JOIN unnest(vdn_ids, call_ids) AS k(v, i) ON c.vdn_id = k.v AND c.call_id = k.i
                 GROUP BY c.vdn_id, c.call_id;
END;
$$;
COMMENT ON FUNCTION callrecon_huawei_homes(integer[], text[]) IS 'Lock the given Huawei calls (vdn_id, call_id pairs) until the transaction ends, then return the first_seen_at (the partition key) of those already stored: the landing upsert writes a known call where it is, and a new one only once.';

INSERT INTO callrecon_partitioned (parent, time_column, local_key, raw_id_column, period, retention) VALUES
    ('huawei_call', 'first_seen_at', 'vdn_id, call_id, first_seen_at', NULL, '1 month', 'typed'),
    ('ozonetel_call', 'first_seen_at', 'call_key, first_seen_at', NULL, '1 month', 'typed');

-- Converts one typed table with migration 0017's callrecon_partition_table (rename to
-- <table>_legacy, parent with the same columns, comments and indexes, views re-pointed, the legacy
-- table attached for everything before the cut-over, or dropped when empty), then gives the parent
-- its key (the legacy table's matching key is attached, not rebuilt) and moves the triggers.
CREATE FUNCTION callrecon_partition_calls(tbl text, cutover timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t callrecon_partitioned;
    legacy text := tbl || '_legacy';
    fresh boolean;
    trg record;
    triggers text[] := '{}';
    trigger_names text[] := '{}';
    def text;
    prepared text := tbl || '_home_key';
BEGIN
    SELECT * INTO STRICT t FROM callrecon_partitioned WHERE parent = tbl;
    EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I)', tbl) INTO fresh;
    -- Every user trigger, as SQL naming the table (not yet renamed): re-created on the parent, where
    -- statement-level triggers fire for statements on the parent (a partition's would not) and
    -- row-level ones are cloned to every partition.
    FOR trg IN SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger
               WHERE tgrelid = tbl::regclass AND NOT tgisinternal ORDER BY tgname LOOP
        triggers := triggers || trg.def;
        trigger_names := trigger_names || trg.tgname::text;
    END LOOP;
    -- The legacy table's key becomes (key, first_seen_at): prepare_upgrade built that index without
    -- blocking writes; on a small table (or a test) it is built here.
    IF to_regclass(prepared) IS NULL THEN
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (%s)', prepared, tbl, t.local_key);
    END IF;
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', tbl, tbl || '_pkey');
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I', tbl, tbl || '_pkey', prepared);
    PERFORM callrecon_partition_table(tbl, cutover, fresh);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', tbl, t.local_key);
    IF NOT fresh THEN
        FOR i IN 1 .. cardinality(trigger_names) LOOP
            EXECUTE format('DROP TRIGGER %I ON %I', trigger_names[i], legacy);
        END LOOP;
        EXECUTE format('COMMENT ON TABLE %I IS %L', legacy,
                       format('%s rows of calls first seen before migration 0025 (partitioning), up to %s; dropped whole by callrecon prune --typed-older-than once all of it is past the typed retention age.',
                              tbl, to_char(cutover AT TIME ZONE 'UTC', 'YYYY-MM-DD')));
    END IF;
    FOREACH def IN ARRAY triggers LOOP
        EXECUTE def;
    END LOOP;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                   'INCLUDING COMPRESSION INCLUDING COMMENTS)', tbl || '_default', tbl);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', tbl || '_default', t.local_key);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', tbl, tbl || '_default');
    EXECUTE format('COMMENT ON TABLE %I IS %L', tbl || '_default',
                   format('%s rows of calls first seen in a month no partition covers: it should stay empty (callrecon status says when not).', tbl));
END;
$$;
COMMENT ON FUNCTION callrecon_partition_calls(text, timestamptz) IS 'Used once by migration 0025: turn a typed call table into a monthly-partitioned one without copying rows (the old table becomes its legacy partition), keeping its triggers.';

-- Cut-over: the start of next month, so calls that old code still stores fit the legacy range.
SELECT callrecon_partition_calls(parent, callrecon_period_start(now(), '1 month') + interval '1 month')
FROM callrecon_partitioned WHERE retention = 'typed' ORDER BY parent;

COMMENT ON COLUMN ozonetel_call.first_seen_at IS 'When the first callback that landed this call was received (UTC). The partition key (one partition per month): set once, never updated.';
COMMENT ON COLUMN huawei_call.first_seen_at IS 'When callrecon first stored the call (UTC): the push''s receipt, or the fetch that found it. The partition key (one partition per month): set once, never updated.';
COMMENT ON VIEW callrecon_partitions IS 'Every partition of the partitioned tables (weekly raw, monthly typed), with its time range and size on disk.';
COMMENT ON COLUMN callrecon_partitions.is_default IS 'True for the default partition: rows no weekly or monthly partition covers. It should stay empty, except raw callbacks prune kept (quarantined or not landed) from a dropped week.';
COMMENT ON COLUMN callrecon_partitions.partition IS 'The partition: <parent>_wYYYYMMDD (the week starting that Monday), <parent>_mYYYYMM (the month), <parent>_legacy (rows from before partitioning: migration 0017 for raw, 0025 for typed) or <parent>_default.';

-- The legacy partitions keep their old column comments; the reworded ones come from the parent.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT p.partition, a.attname, col_description(to_regclass(p.parent), a.attnum) AS comment
             FROM callrecon_partitions p JOIN callrecon_partitioned r ON r.parent = p.parent AND r.retention = 'typed'
             JOIN pg_attribute a ON a.attrelid = to_regclass(p.parent) AND a.attnum > 0
             WHERE NOT a.attisdropped LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', c.partition, c.attname, c.comment);
    END LOOP;
END;
$$;

SELECT callrecon_ensure_partitions(4);
