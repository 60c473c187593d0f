-- Time partitioning: raw_inbox and the sightings become range-partitioned by the raw
-- callback's received_at, one partition per ISO week (UTC, Monday 00:00). Why weekly: retention
-- drops whole partitions and deletes in batches only in the one partition that straddles the age,
-- so the partition size bounds the batch work (a week, not a month, of rows); 52 partitions a
-- year per table keep planning cheap. Plain PostgreSQL: no extension needed.
--
-- Uniqueness without the partition key: a raw row's received_at never changes, and every sighting
-- carries the received_at of its raw row, so a given raw id (and a given raw id + record index)
-- always routes to the same partition. A key unique inside each partition is therefore unique
-- overall. Each partition carries its own primary key (raw_inbox: id; sightings: raw_id,
-- record_index), which is also the arbiter of the landing code's ON CONFLICT DO NOTHING: a replayed
-- record is still a duplicate. The typed call tables (one row per call, updated by later pushes,
-- detail fetches and discovery) stay single tables: they dedupe on the call's own key.
--
-- Upgrade without copying: the existing table is renamed <table>_legacy and attached, as it is, as
-- the partition for everything received before the next week starts; weekly partitions take over
-- from there. Only catalog changes and one read-only check of the legacy rows happen here
-- (`callrecon db upgrade` validates that check beforehand, without blocking inserts, so this
-- transaction is short). No row is copied.

CREATE TABLE callrecon_partitioned (
    parent        text PRIMARY KEY,
    time_column   text NOT NULL,
    local_key     text NOT NULL,
    raw_id_column text NOT NULL
);
COMMENT ON TABLE callrecon_partitioned IS 'Tables partitioned by week of the raw callback''s received_at; callrecon_ensure_partitions and callrecon prune work on these.';
COMMENT ON COLUMN callrecon_partitioned.parent IS 'The partitioned table, as analysts query it.';
COMMENT ON COLUMN callrecon_partitioned.time_column IS 'The partition key: the raw callback''s received_at.';
COMMENT ON COLUMN callrecon_partitioned.local_key IS 'Primary key of each partition (unique overall, since a key always routes to one partition).';
COMMENT ON COLUMN callrecon_partitioned.raw_id_column IS 'Column holding the raw_inbox.id the row belongs to; prune keeps rows of raw callbacks it keeps.';

INSERT INTO callrecon_partitioned VALUES
    ('raw_inbox', 'received_at', 'id', 'id'),
    ('ozonetel_sighting', 'received_at', 'raw_id, record_index', 'raw_id'),
    ('huawei_sighting', 'received_at', 'raw_id, record_index', 'raw_id');

CREATE FUNCTION callrecon_week_start(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT date_trunc('week', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;
COMMENT ON FUNCTION callrecon_week_start(timestamptz) IS 'Monday 00:00 UTC of the week holding the time: where a weekly partition starts.';

CREATE VIEW callrecon_partitions AS
SELECT p.parent, c.relname::text AS partition,
       CASE WHEN b.expr = 'DEFAULT' THEN NULL
            ELSE substring(b.expr FROM 'FROM \(''([^'']+)''\)')::timestamptz END AS from_at,
       CASE WHEN b.expr = 'DEFAULT' THEN NULL
            ELSE substring(b.expr FROM 'TO \(''([^'']+)''\)')::timestamptz END AS to_at,
       b.expr = 'DEFAULT' AS is_default,
       pg_total_relation_size(c.oid) AS total_bytes
FROM callrecon_partitioned p
JOIN pg_inherits i ON i.inhparent = to_regclass(p.parent)
JOIN pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b;
COMMENT ON VIEW callrecon_partitions IS 'Every partition of the partitioned tables, with its time range and size on disk.';
COMMENT ON COLUMN callrecon_partitions.parent IS 'The partitioned table.';
COMMENT ON COLUMN callrecon_partitions.partition IS 'The partition: <parent>_wYYYYMMDD (the week starting that Monday), <parent>_legacy (rows from before migration 0017) or <parent>_default.';
COMMENT ON COLUMN callrecon_partitions.from_at IS 'Start of its range (inclusive, UTC); NULL for the legacy partition (no lower bound) and the default one.';
COMMENT ON COLUMN callrecon_partitions.to_at IS 'End of its range (exclusive, UTC); NULL for the default partition.';
COMMENT ON COLUMN callrecon_partitions.is_default IS 'True for the default partition: rows no weekly partition covers. It should stay empty, except raw callbacks prune kept (quarantined or not landed) from a dropped week.';
COMMENT ON COLUMN callrecon_partitions.total_bytes IS 'Size on disk, indexes and TOAST included.';

-- Creates the weekly partitions from the week of `since` (default: of `at`) to `ahead` weeks after
-- the week of `at`, for every partitioned table. A new week is attached, not created as a
-- partition, so it takes only SHARE UPDATE EXCLUSIVE on the parent: inserts and queries go on.
-- Rows the default partition holds for that week move into it first.
CREATE FUNCTION callrecon_ensure_partitions(ahead integer, since timestamptz DEFAULT NULL,
                                            at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    week timestamptz;
    last_week timestamptz := callrecon_week_start(at) + make_interval(weeks => ahead);
    part text;
    created integer := 0;
BEGIN
    IF ahead < 0 THEN
        RAISE EXCEPTION 'ahead must be 0 or more weeks, not %', ahead;
    END IF;
    -- One creator at a time (web workers, reconcilers and the release step may all call this).
    PERFORM pg_advisory_xact_lock(7110018);
    FOR t IN SELECT * FROM callrecon_partitioned ORDER BY parent LOOP
        week := callrecon_week_start(COALESCE(LEAST(since, at), at));
        WHILE week <= last_week LOOP
            part := t.parent || '_w' || to_char(week AT TIME ZONE 'UTC', 'YYYYMMDD');
            -- Bounds straight from the catalog (callrecon_partitions would also size every partition,
            -- at every reconciler pass); a range already covered (the legacy one) is skipped.
            IF to_regclass(part) IS NULL AND NOT EXISTS (
                SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
                WHERE i.inhparent = to_regclass(t.parent) AND b.expr <> 'DEFAULT'
                  AND COALESCE(substring(b.expr FROM 'FROM \(''([^'']+)''\)')::timestamptz, '-infinity')
                      < week + interval '1 week'
                  AND substring(b.expr FROM 'TO \(''([^'']+)''\)')::timestamptz > week) THEN
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                               'INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)', part, t.parent);
                EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', part, t.local_key);
                EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)', part,
                               part || '_range', t.time_column, week, t.time_column, week + interval '1 week');
                IF to_regclass(t.parent || '_default') IS NOT NULL THEN
                    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) '
                                   'INSERT INTO %I SELECT * FROM moved', t.parent || '_default',
                                   t.time_column, week, t.time_column, week + interval '1 week', part);
                END IF;
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               t.parent, part, week, week + interval '1 week');
                EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
                EXECUTE format('COMMENT ON TABLE %I IS %L', part,
                               format('%s received in the week from %s (UTC); dropped whole by callrecon prune.',
                                      t.parent, to_char(week AT TIME ZONE 'UTC', 'YYYY-MM-DD')));
                created := created + 1;
            END IF;
            week := week + interval '1 week';
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;
-- Attaching a partition needs the parent's owner; the reconciler and lander need not own tables
-- (least-privilege roles), so the function runs with its owner's rights, on a fixed search_path.
-- It only ever creates weekly partitions of the registered tables.
ALTER FUNCTION callrecon_ensure_partitions(integer, timestamptz, timestamptz)
    SECURITY DEFINER SET search_path = public, pg_temp;
COMMENT ON FUNCTION callrecon_ensure_partitions(integer, timestamptz, timestamptz) IS 'Create the weekly partitions of every partitioned table from the week of since (default: of at) to ahead weeks after the week of at; returns how many it created. Run by callrecon db upgrade, the reconciler and the lander (PARTITIONS_AHEAD).';

-- Converts one table in place: rename it <table>_legacy, create the partitioned parent with the
-- same columns, defaults, checks, comments and indexes, re-point the views, and attach the legacy
-- table for everything before `cutover`, or drop it on a fresh install (no raw callback yet: then
-- every table's is dropped, so that all three keep the same weeks and prune drops them together).
CREATE FUNCTION callrecon_partition_table(tbl text, cutover timestamptz, fresh boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t callrecon_partitioned;
    legacy text := tbl || '_legacy';
    views text[][];
    v text[];
    idx record;
    indexes text[] := '{}';
    def text;
    fk record;
    seq_value bigint;
    seq_called boolean;
    check_name text := tbl || '_before_partitioning';
BEGIN
    SELECT * INTO STRICT t FROM callrecon_partitioned WHERE parent = tbl;
    -- Views reading the table, to re-point at the parent (a view follows the renamed table).
    SELECT COALESCE(array_agg(ARRAY[d.relname::text, pg_get_viewdef(d.oid)] ORDER BY d.oid), '{}')
      INTO views
      FROM (SELECT DISTINCT v.oid, v.relname FROM pg_depend dep
            JOIN pg_rewrite r ON r.oid = dep.objid JOIN pg_class v ON v.oid = r.ev_class
            WHERE dep.refobjid = tbl::regclass AND dep.classid = 'pg_rewrite'::regclass AND v.oid <> tbl::regclass) d;
    FOR idx IN SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = tbl::regclass AND NOT i.indisprimary LOOP
        indexes := indexes || idx.def;
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname, left(idx.relname, 56) || '_legacy');
    END LOOP;
    -- Foreign keys into or out of the table: a week is dropped on its own, so none may hold it.
    FOR fk IN SELECT conrelid::regclass::text AS rel, conname FROM pg_constraint
              WHERE contype = 'f' AND (confrelid = tbl::regclass OR conrelid = tbl::regclass) LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.conname);
    END LOOP;
    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, legacy);
    EXECUTE format('ALTER INDEX IF EXISTS %I RENAME TO %I', tbl || '_pkey', legacy || '_pkey');
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute WHERE attrelid = legacy::regclass AND attname = t.time_column) THEN
        -- Sightings from before partitioning do not know their callback's time: -infinity, which
        -- the legacy range covers.
        EXECUTE format('ALTER TABLE %I ADD COLUMN %I timestamptz NOT NULL DEFAULT ''-infinity''', legacy, t.time_column);
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                   'INCLUDING COMPRESSION INCLUDING COMMENTS) PARTITION BY RANGE (%I)', tbl, legacy, t.time_column);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I', tbl, check_name);
    EXECUTE format('COMMENT ON TABLE %I IS %L', tbl, obj_description(legacy::regclass, 'pg_class'));
    IF t.raw_id_column <> 'id' THEN
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I DROP DEFAULT', tbl, t.time_column);
    END IF;
    -- raw_inbox.id: the parent draws ids, continuing the legacy table's sequence.
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = legacy::regclass AND attname = 'id' AND attidentity <> '') THEN
        EXECUTE format('SELECT last_value, is_called FROM %s', pg_get_serial_sequence(legacy, 'id'))
            INTO seq_value, seq_called;
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id DROP IDENTITY', legacy);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY', tbl);
        PERFORM setval(pg_get_serial_sequence(tbl, 'id'), seq_value, seq_called);
    END IF;
    FOREACH def IN ARRAY indexes LOOP
        EXECUTE def;  -- the same index on the parent: the legacy one is attached, not rebuilt
    END LOOP;
    IF cardinality(views) > 0 THEN
        FOREACH v SLICE 1 IN ARRAY views LOOP
            EXECUTE format('CREATE OR REPLACE VIEW %I AS %s', v[1], v[2]);
        END LOOP;
    END IF;
    IF fresh THEN
        EXECUTE format('DROP TABLE %I', legacy);
    ELSE
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = legacy::regclass AND conname = check_name) THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I < %L)', legacy, check_name, t.time_column, cutover);
        END IF;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)', tbl, legacy, cutover);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', legacy, check_name);
        EXECUTE format('COMMENT ON TABLE %I IS %L', legacy,
                       format('%s rows from before migration 0017 (partitioning), up to %s; dropped whole by callrecon prune once all of it is past the retention age.',
                              tbl, to_char(cutover AT TIME ZONE 'UTC', 'YYYY-MM-DD')));
    END IF;
END;
$$;
COMMENT ON FUNCTION callrecon_partition_table(text, timestamptz, boolean) IS 'Used once by migration 0017: turn a table into a weekly-partitioned one without copying rows (the old table becomes its legacy partition).';

-- Cut-over: the start of next week, so rows arriving while old code still runs fit the legacy range.
DO $$
DECLARE
    fresh boolean := NOT EXISTS (SELECT 1 FROM raw_inbox);
    t record;
BEGIN
    FOR t IN SELECT parent FROM callrecon_partitioned ORDER BY parent = 'raw_inbox' DESC, parent LOOP
        PERFORM callrecon_partition_table(t.parent, callrecon_week_start(now()) + interval '1 week', fresh);
    END LOOP;
END;
$$;

COMMENT ON COLUMN ozonetel_sighting.received_at IS 'raw_inbox.received_at of the callback (the partition key; -infinity for sightings recorded before migration 0017).';
COMMENT ON COLUMN huawei_sighting.received_at IS 'raw_inbox.received_at of the push (the partition key; -infinity for sightings recorded before migration 0017).';
COMMENT ON COLUMN raw_inbox.received_at IS 'When callrecon received the request (UTC); the partition key (one partition per week).';

-- Raw bodies and headers compress with lz4 where the server has it (Debian's and most builds do):
-- about as small as the default pglz, at a fraction of the CPU on insert and read (bench/scale).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE raw_inbox ALTER COLUMN body SET COMPRESSION lz4, ALTER COLUMN headers SET COMPRESSION lz4;
    END IF;
END;
$$;

-- The last safety net: a row no week covers still lands (callrecon status and /metrics say so).
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT * FROM callrecon_partitioned LOOP
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                       'INCLUDING COMPRESSION INCLUDING COMMENTS)', t.parent || '_default', t.parent);
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', t.parent || '_default', t.local_key);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', t.parent, t.parent || '_default');
        EXECUTE format('COMMENT ON TABLE %I IS %L', t.parent || '_default',
                       format('%s rows no weekly partition covers: it should stay empty (callrecon status says when not), '
                              'except raw callbacks that prune kept (quarantined or not landed) from a dropped week.', t.parent));
    END LOOP;
END;
$$;

-- The legacy partitions keep their old column comments; the new or reworded ones come from the parent.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT p.partition, a.attname, col_description(to_regclass(p.parent), a.attnum) AS comment
             FROM callrecon_partitions p JOIN pg_attribute a ON a.attrelid = to_regclass(p.parent) AND a.attnum > 0
             WHERE NOT a.attisdropped LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', c.partition, c.attname, c.comment);
    END LOOP;
END;
$$;

SELECT callrecon_ensure_partitions(4);
