-- A rollup of calls: per vendor, campaign and 15-minute slot of ring time, the counts that
-- answer_rate_by_campaign_day, gaps_last_7_days, completeness_daily and the console's completeness
-- page used to compute from every call of their period (about 1 s at 10M calls in bench/scale).
--
-- Why 15-minute UTC slots and not business days: the business day depends on BUSINESS_TIMEZONE,
-- which `db upgrade` may change and which a long-lived connection reads once; a slot is the same
-- in every zone, and every zone in use today is a whole number of quarter hours from UTC
-- (Asia/Kolkata +05:30, Asia/Kathmandu +05:45), so a slot never straddles a business midnight and
-- the day of a slot is the day of every call in it. Hourly slots would be 4 times fewer rows but
-- wrong for India, the vendors' home.
--
-- Kept exact whatever writes the typed rows (the receiver, the landers' batches, replay, the
-- reconciler's fetched results, COPY): statement-level AFTER INSERT/UPDATE/DELETE triggers with
-- transition tables append each statement's delta (+ the new rows, - the old ones), summed by key,
-- to call_rollup. Only appends: two landers never wait on each other's rollup rows.
-- callrecon_rollup_compact() (each reconciler pass) folds the appended deltas of a key into one row.
-- The facts of a call (campaign, ring time, outcome, source, missing detail) are the call view's
-- own expressions (sql/0007, sql/0015), in one function used by the triggers and the rebuild.
-- Triggers with transition tables are allowed on a partitioned table (not on its partitions):
-- a migration that partitions a typed table re-runs callrecon_rollup_install() and
-- callrecon_rollup_rebuild().

CREATE FUNCTION callrecon_rollup_slot(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT date_bin('15 minutes', t, timestamptz '2000-01-01 00:00+00') $$;
COMMENT ON FUNCTION callrecon_rollup_slot(timestamptz) IS 'The 15-minute slot (UTC, from :00, :15, :30, :45) a ring time falls in: call_rollup''s time key.';

CREATE TABLE call_rollup (
    vendor               text        NOT NULL,
    campaign             text,
    slot                 timestamptz NOT NULL,
    calls                integer     NOT NULL,
    answered             integer     NOT NULL,
    calls_pushed         integer     NOT NULL,
    calls_re_requested   integer     NOT NULL,
    calls_discovered     integer     NOT NULL,
    calls_missing_detail integer     NOT NULL,
    compacted            boolean     NOT NULL DEFAULT false
);
CREATE INDEX call_rollup_slot_idx ON call_rollup (slot);
CREATE INDEX call_rollup_delta_idx ON call_rollup (slot) WHERE NOT compacted;

COMMENT ON TABLE call_rollup IS 'Calls per vendor, campaign and 15-minute slot of ring time, as deltas to sum by (vendor, campaign, slot): written by triggers on ozonetel_call and huawei_call, folded by callrecon_rollup_compact(). Same definitions as the call view; calls without a ring time are not counted. Sum the rows of a key: a key may have several rows until the next compaction.';
COMMENT ON COLUMN call_rollup.vendor IS 'ozonetel or huawei (call.vendor).';
COMMENT ON COLUMN call_rollup.campaign IS 'call.campaign: Ozonetel campaign name, Huawei campaignId.';
COMMENT ON COLUMN call_rollup.slot IS 'Start of the 15-minute slot (UTC) of call.ring_time: callrecon_rollup_slot(ring_time). The business day is (slot AT TIME ZONE zone)::date, exact in every zone a whole number of quarter hours from UTC.';
COMMENT ON COLUMN call_rollup.calls IS 'Change in the number of calls that rang in the slot (sum the key''s rows for the count).';
COMMENT ON COLUMN call_rollup.answered IS 'Change in the number of those whose call.outcome is answered.';
COMMENT ON COLUMN call_rollup.calls_pushed IS 'Change in the number of those whose call.source is push.';
COMMENT ON COLUMN call_rollup.calls_re_requested IS 'Change in the number of those whose call.source is re-requested push.';
COMMENT ON COLUMN call_rollup.calls_discovered IS 'Change in the number of those whose call.source is bulk query.';
COMMENT ON COLUMN call_rollup.calls_missing_detail IS 'Change in the number of Huawei calls whose detail_status is not done (docs/schema.md, Definitions).';
COMMENT ON COLUMN call_rollup.compacted IS 'true for the one row callrecon_rollup_compact() left per key; false for a delta appended since.';

-- The facts of each call as a SELECT over `relation` (the table itself, or a trigger's transition
-- table), each row weighted `sign`: the call view's expressions, restricted to calls with a ring time.
CREATE FUNCTION callrecon_rollup_facts(vendor text, relation text, sign integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT CASE vendor
    WHEN 'ozonetel' THEN format($q$
        SELECT %s AS n, 'ozonetel'::text AS vendor, campaign_name AS campaign, start_time AS ring_time,
               callrecon_ozonetel_outcome(dial_status, status) = 'answered' AS answered,
               CASE WHEN request_unique_id IS NOT NULL THEN 're-requested push' ELSE 'push' END AS source,
               false AS missing_detail
        FROM %I WHERE start_time IS NOT NULL$q$, sign, relation)
    WHEN 'huawei' THEN format($q$
        SELECT %s AS n, 'huawei'::text AS vendor, campaign_id AS campaign,
               COALESCE(ack_begin_time, call_time) AS ring_time,
               callrecon_huawei_outcome(call_status, fail_code) = 'answered' AS answered,
               CASE WHEN push_count > 0 THEN 'push' WHEN value_sources ? 'call_status' THEN
                    CASE value_sources->>'call_status' WHEN 'bulk' THEN 'bulk query' ELSE 'detail fetch' END
                    ELSE 'tracked' END AS source,
               detail_status <> 'done' AS missing_detail
        FROM %I WHERE COALESCE(ack_begin_time, call_time) IS NOT NULL$q$, sign, relation)
    END
$fn$;
COMMENT ON FUNCTION callrecon_rollup_facts(text, text, integer) IS 'The SELECT that reads the rollup facts of each call (campaign, ring time, answered, source, missing detail: the call view''s expressions) from a vendor table or a trigger''s transition table, weighted by sign.';

-- The INSERT of the summed facts: one row per key, keys whose sums are all zero left out (a re-push
-- that changes nothing the rollup counts writes nothing).
CREATE FUNCTION callrecon_rollup_sum(facts text, compacted boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
    INSERT INTO call_rollup (vendor, campaign, slot, calls, answered, calls_pushed, calls_re_requested,
                             calls_discovered, calls_missing_detail, compacted)
    SELECT * FROM (
        SELECT vendor, campaign, callrecon_rollup_slot(ring_time) AS slot, sum(n) AS calls,
               COALESCE(sum(n) FILTER (WHERE answered), 0) AS answered,
               COALESCE(sum(n) FILTER (WHERE source = 'push'), 0) AS calls_pushed,
               COALESCE(sum(n) FILTER (WHERE source = 're-requested push'), 0) AS calls_re_requested,
               COALESCE(sum(n) FILTER (WHERE source = 'bulk query'), 0) AS calls_discovered,
               COALESCE(sum(n) FILTER (WHERE missing_detail), 0) AS calls_missing_detail, %L::boolean AS compacted
        FROM (%s) f
        GROUP BY vendor, campaign, callrecon_rollup_slot(ring_time)) s
    WHERE calls <> 0 OR answered <> 0 OR calls_pushed <> 0 OR calls_re_requested <> 0 OR calls_discovered <> 0
       OR calls_missing_detail <> 0$q$, compacted, facts)
$fn$;
COMMENT ON FUNCTION callrecon_rollup_sum(text, boolean) IS 'The INSERT INTO call_rollup of the facts a SELECT reads (callrecon_rollup_facts), summed per vendor, campaign and slot.';

-- What a trigger of one vendor's table runs for one operation (insert, update, delete): the new rows
-- counted +1, the old ones -1, summed per key.
CREATE FUNCTION callrecon_rollup_trigger_body(vendor text, op text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT callrecon_rollup_sum(array_to_string(
    CASE op WHEN 'insert' THEN ARRAY[callrecon_rollup_facts(vendor, 'new_rows', 1)]
            WHEN 'update' THEN ARRAY[callrecon_rollup_facts(vendor, 'new_rows', 1),
                                     callrecon_rollup_facts(vendor, 'old_rows', -1)]
            WHEN 'delete' THEN ARRAY[callrecon_rollup_facts(vendor, 'old_rows', -1)] END, ' UNION ALL '), false) || ';'
$fn$;
COMMENT ON FUNCTION callrecon_rollup_trigger_body(text, text) IS 'The statements the statement trigger of a vendor''s table runs for insert, update or delete (callrecon_rollup_install writes them into the trigger functions).';

-- The one place the triggers are defined: a migration that replaces a typed table (e.g. by a
-- partitioned one) calls it again, then callrecon_rollup_rebuild(). It writes one trigger function
-- per table and operation with the statements as static SQL, so PL/pgSQL plans them once per
-- session: the same text run through EXECUTE was planned at every landing statement (about 40
-- times the cost of the upsert itself). SECURITY DEFINER: the services write call_rollup only
-- through these functions, so they need no right on it; two landers only ever append.
CREATE FUNCTION callrecon_rollup_install() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    op text;
    fn text;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('ozonetel_call', 'ozonetel'), ('huawei_call', 'huawei')) v(tab, vendor) LOOP
        FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            fn := format('callrecon_rollup_%s_%s', t.vendor, op);
            EXECUTE format('CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                           'SET search_path = public, pg_temp AS %L', fn,
                           'BEGIN ' || callrecon_rollup_trigger_body(t.vendor, op) || ' RETURN NULL; END;');
            EXECUTE format('COMMENT ON FUNCTION %I() IS %L', fn,
                           format('Statement trigger after %s on %s, written by callrecon_rollup_install() from '
                                  'callrecon_rollup_trigger_body(%L, %L).', upper(op), t.tab, t.vendor, op));
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', 'call_rollup_' || op, t.tab);
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %I REFERENCING %s FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                           'call_rollup_' || op, upper(op), t.tab,
                           CASE op WHEN 'insert' THEN 'NEW TABLE AS new_rows'
                                   WHEN 'update' THEN 'OLD TABLE AS old_rows NEW TABLE AS new_rows'
                                   ELSE 'OLD TABLE AS old_rows' END, fn);
        END LOOP;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION callrecon_rollup_install() IS '(Re)creates the statement triggers (and their functions) that keep call_rollup current on ozonetel_call and huawei_call.';

-- Recount everything from the typed tables, writes to them held off meanwhile (SHARE lock).
CREATE FUNCTION callrecon_rollup_rebuild() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    LOCK TABLE ozonetel_call, huawei_call IN SHARE MODE;
    DELETE FROM call_rollup;
    EXECUTE callrecon_rollup_sum(callrecon_rollup_facts('ozonetel', 'ozonetel_call', 1)
                                 || ' UNION ALL ' || callrecon_rollup_facts('huawei', 'huawei_call', 1), true);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END;
$$;
COMMENT ON FUNCTION callrecon_rollup_rebuild() IS 'Recounts call_rollup from ozonetel_call and huawei_call (writes to them wait meanwhile); returns the rows written. The upgrade to 0023 runs it once.';

-- Fold each key's deltas into one row, in one statement: every row of a key with a delta is deleted
-- and their sum inserted (if not zero). Deltas appended meanwhile are not in this statement's snapshot
-- and stay for the next run; two runs at once delete each row once (the second skips what the first
-- deleted), so the sums stay exact.
CREATE FUNCTION callrecon_rollup_compact() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH dirty AS (
    SELECT DISTINCT vendor, campaign, slot FROM call_rollup WHERE NOT compacted),
gone AS (
    DELETE FROM call_rollup r USING dirty d
    WHERE r.slot = d.slot AND r.vendor = d.vendor AND r.campaign IS NOT DISTINCT FROM d.campaign
    RETURNING r.*),
folded AS (
    INSERT INTO call_rollup (vendor, campaign, slot, calls, answered, calls_pushed, calls_re_requested,
                             calls_discovered, calls_missing_detail, compacted)
    SELECT vendor, campaign, slot, sum(calls), sum(answered), sum(calls_pushed), sum(calls_re_requested),
           sum(calls_discovered), sum(calls_missing_detail), true
    FROM gone GROUP BY vendor, campaign, slot
    HAVING sum(calls) <> 0 OR sum(answered) <> 0 OR sum(calls_pushed) <> 0 OR sum(calls_re_requested) <> 0
        OR sum(calls_discovered) <> 0 OR sum(calls_missing_detail) <> 0
    RETURNING 1)
SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION callrecon_rollup_compact() IS 'Folds call_rollup''s deltas into one row per vendor, campaign and slot (each reconciler pass runs it); returns the rows folded. Safe to run at any time and twice at once: the sums do not change.';

SELECT callrecon_rollup_install();
SELECT callrecon_rollup_rebuild();

-- completeness_daily read every call of all time; its call counts now come from the rollup (same
-- definitions, same numbers: tests/test_rollup.py compares them with the call view's).
CREATE OR REPLACE VIEW completeness_daily AS
WITH tz AS (SELECT callrecon_setting('business_timezone', 'UTC') AS zone),
call_counts AS (
    SELECT r.vendor, r.campaign, (r.slot AT TIME ZONE tz.zone)::date AS day,
           sum(r.calls)::bigint AS calls, sum(r.calls_pushed)::bigint AS calls_pushed,
           sum(r.calls_re_requested)::bigint AS calls_re_requested,
           sum(r.calls_discovered)::bigint AS calls_discovered,
           sum(r.calls_missing_detail)::bigint AS calls_missing_detail
    FROM call_rollup r, tz GROUP BY 1, 2, 3 HAVING sum(r.calls) <> 0),
windows AS (
    SELECT 'ozonetel'::text AS vendor, r.campaign_name AS campaign, (r.window_from AT TIME ZONE tz.zone)::date AS day,
           count(*) FILTER (WHERE r.state <> 'pending') AS windows_requested,
           count(*) FILTER (WHERE r.state = 'received') AS windows_received,
           count(*) FILTER (WHERE r.state = 'failed') AS windows_failed
    FROM ozonetel_request r, tz GROUP BY 1, 2, 3)
SELECT COALESCE(c.vendor, w.vendor) AS vendor, COALESCE(c.campaign, w.campaign) AS campaign,
       COALESCE(c.day, w.day) AS day,
       COALESCE(c.calls, 0) AS calls, COALESCE(c.calls_pushed, 0) AS calls_pushed,
       COALESCE(c.calls_re_requested, 0) AS calls_re_requested, COALESCE(c.calls_discovered, 0) AS calls_discovered,
       COALESCE(c.calls_missing_detail, 0) AS calls_missing_detail,
       COALESCE(w.windows_requested, 0) AS windows_requested, COALESCE(w.windows_received, 0) AS windows_received,
       COALESCE(w.windows_failed, 0) AS windows_failed
FROM call_counts c FULL JOIN windows w ON w.vendor = c.vendor AND w.campaign = c.campaign AND w.day = c.day;
