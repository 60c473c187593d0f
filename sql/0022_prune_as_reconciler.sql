-- Retention without the owner's login (the reconciler role prunes). Dropping a week's
-- partitions is DDL (DETACH PARTITION, DROP TABLE), which PostgreSQL allows only the tables' owner.
-- This function does it with the owner's rights for the reconciler, and for nothing else: every
-- table it is given must be a weekly (or legacy) partition of a registered partitioned table
-- (callrecon_partitioned) whose range ends in the past, never a default partition. The raw rows
-- such a week keeps (not landed yet, or quarantined unless include_quarantined) are moved, with
-- their sightings, into the default partitions before the drop, as `callrecon prune` did when it
-- ran as the owner. The reconciler may already DELETE those landed raw rows one by one, so this
-- gives it no new power over data, only the fast way to do what it could. Only the reconciler role
-- may execute it (reconciler/roles.py EXECUTE; PUBLIC's default right is revoked here).
-- lock_timeout: the drop takes a brief exclusive lock on each parent; waiting behind a long analyst
-- query would queue every callback behind it, so it gives up instead (prune says so).

CREATE FUNCTION callrecon_drop_week(partitions text[], include_quarantined boolean) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    p record;
    parents text[] := '{}';
    names text[] := '{}';
    raw_part text;
    freed bigint := 0;
    columns text;
    keep text := format('status = %L OR (status = %L AND NOT %L::boolean)', 'received', 'quarantined',
                        include_quarantined);
BEGIN
    IF partitions IS NULL OR cardinality(partitions) = 0 THEN
        RETURN 0;
    END IF;
    FOR p IN SELECT x.name, cp.parent, cp.to_at, cp.is_default, cp.total_bytes
             FROM unnest(partitions) WITH ORDINALITY AS x(name, n)
             LEFT JOIN callrecon_partitions cp ON cp.partition = x.name
             ORDER BY cp.parent <> 'raw_inbox', cp.parent, x.n LOOP
        -- (A login that owns the tables anyway, such as the release step's, may also drop a week
        -- that has not ended: a test of the upgrade prunes the legacy partition at its cut-over.)
        IF p.parent IS NULL OR p.is_default OR p.to_at IS NULL
           OR (p.to_at > now() AND NOT pg_has_role(session_user, current_user, 'USAGE')) THEN
            RAISE EXCEPTION 'callrecon_drop_week: % is not a partition of a callrecon table wholly in the past', p.name
                USING HINT = 'callrecon prune chooses the partitions; run it rather than calling this by hand';
        END IF;
        parents := parents || p.parent::text;
        names := names || p.name;
        freed := freed + p.total_bytes;
        IF p.parent = 'raw_inbox' THEN
            raw_part := p.name;
        END IF;
    END LOOP;
    -- Detach them all first: once no partition covers the week, kept rows go to the default one.
    FOR i IN 1 .. cardinality(names) LOOP
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parents[i], names[i]);
    END LOOP;
    IF raw_part IS NOT NULL THEN
        FOR i IN 1 .. cardinality(names) LOOP
            SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
              FROM pg_attribute WHERE attrelid = parents[i]::regclass AND attnum > 0 AND NOT attisdropped;
            EXECUTE format('INSERT INTO %I (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %I '
                           'WHERE %I IN (SELECT id FROM %I WHERE %s)',
                           parents[i], columns, columns, names[i],
                           (SELECT raw_id_column FROM callrecon_partitioned WHERE parent = parents[i]), raw_part, keep);
        END LOOP;
    END IF;
    FOR i IN REVERSE cardinality(names) .. 1 LOOP
        EXECUTE format('DROP TABLE %I', names[i]);
    END LOOP;
    RETURN freed;
END;
$$;
COMMENT ON FUNCTION callrecon_drop_week(text[], boolean) IS 'Detach and drop the given weekly partitions (of registered partitioned tables, wholly in the past), first moving the raw callbacks the week keeps (not landed, or quarantined unless include_quarantined) and their sightings into the default partitions; returns the bytes freed. Runs with the owner''s rights so that callrecon prune works as the reconciler role, which alone may execute it.';
REVOKE ALL ON FUNCTION callrecon_drop_week(text[], boolean) FROM PUBLIC;
