-- Ozonetel's CDR report (fetchCdrByPagination): the reconciler pulls every call detail record of a
-- day instead of waiting for a push (docs/ozonetel.md, "CDR pull"; docs/vendors.md §1.5).
-- Each leg lands in ozonetel_call through the same landing code as a push; this migration adds what
-- the calls need to say where their values came from, the day ledger, the counts completeness
-- reads, and the one token every process shares.

-- Which calls a push carried, which a CDR leg carried, and who set each value. Constant defaults:
-- PostgreSQL adds these columns without rewriting a partition.
ALTER TABLE ozonetel_call
    ADD COLUMN pushed boolean NOT NULL DEFAULT true,
    ADD COLUMN cdr_at timestamptz,
    ADD COLUMN value_sources jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN ozonetel_call.pushed IS 'true once a push carried the call (a callback to callBackUrl, asked for or not); false for a call only the CDR report knows.';
COMMENT ON COLUMN ozonetel_call.cdr_at IS 'When a CDR leg first matched the call (UTC); NULL while the CDR report has not shown it.';
COMMENT ON COLUMN ozonetel_call.value_sources IS 'Columns whose value a CDR leg set, as {"column": "cdr"}; every other non-empty column came from a push.';
-- The partitions already there take the new columns' comments (partitions made later copy the parent's).
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT p.partition, a.attname, col_description('ozonetel_call'::regclass, a.attnum) AS comment
             FROM callrecon_partitions p JOIN pg_attribute a ON a.attrelid = 'ozonetel_call'::regclass
             WHERE p.parent = 'ozonetel_call' AND a.attname IN ('pushed', 'cdr_at', 'value_sources') LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', c.partition, c.attname, c.comment);
    END LOOP;
END;
$$;

-- Another id that names a call: a CDR leg's UCID or CallID, pointing at the call it landed on, so a
-- push that arrives later under that id (as its monitorUCID) updates the same call.
CREATE TABLE ozonetel_call_alias (
    alias         text        PRIMARY KEY,
    call_key      text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ozonetel_call_alias IS 'Ids that name an Ozonetel call besides its call_key: the UCID and CallID of each CDR leg that landed on it. The landing code reads them, so a push and a CDR leg of one call are one row.';
COMMENT ON COLUMN ozonetel_call_alias.alias IS 'A CDR leg''s UCID or CallID, as digits.';
COMMENT ON COLUMN ozonetel_call_alias.call_key IS 'ozonetel_call.call_key of the call it names.';
COMMENT ON COLUMN ozonetel_call_alias.created_at IS 'When the alias was written (UTC).';

-- The CDR ledger: one row per day (OZONETEL_TIMEZONE) and campaign ('' for the whole account).
CREATE TABLE ozonetel_cdr_day (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_name    text        NOT NULL DEFAULT '',
    day              date        NOT NULL,
    state            text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'expired', 'failed')),
    passes           integer     NOT NULL DEFAULT 0,
    next_page        integer     NOT NULL DEFAULT 1,
    total_count      integer,
    legs             integer     NOT NULL DEFAULT 0,
    tries            integer     NOT NULL DEFAULT 0,
    next_at          timestamptz NOT NULL,
    last_error       text,
    first_fetched_at timestamptz,
    last_fetched_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_name, day)
);
CREATE INDEX ozonetel_cdr_day_due_idx ON ozonetel_cdr_day (next_at, id) WHERE state = 'pending';
CREATE INDEX ozonetel_cdr_day_gave_up_idx ON ozonetel_cdr_day (id) WHERE state IN ('failed', 'expired');
COMMENT ON TABLE ozonetel_cdr_day IS 'The CDR reconciler''s ledger: each day (in OZONETEL_TIMEZONE) of each campaign of OZONETEL_CAMPAIGNS, or of the whole account, fetched page by page once the day has settled, and once more later for late changes.';
COMMENT ON COLUMN ozonetel_cdr_day.id IS 'Item key (callrecon items, /ops/work).';
COMMENT ON COLUMN ozonetel_cdr_day.campaign_name IS 'The campaign asked for; empty for the whole account.';
COMMENT ON COLUMN ozonetel_cdr_day.day IS 'The calendar day of the CDR (CallDate), in OZONETEL_TIMEZONE.';
COMMENT ON COLUMN ozonetel_cdr_day.state IS 'pending (a pass to fetch), done (every pass fetched), expired (past Ozonetel''s lookback before it was done), failed (gave up).';
COMMENT ON COLUMN ozonetel_cdr_day.passes IS 'Full fetches done: the first once the day settled, the second later for late changes (OZONETEL_CDR_REFETCH).';
COMMENT ON COLUMN ozonetel_cdr_day.next_page IS 'The page the pass in progress fetches next (pageNo).';
COMMENT ON COLUMN ozonetel_cdr_day.total_count IS 'Legs in the day as Ozonetel''s last reply counted them (totalCount).';
COMMENT ON COLUMN ozonetel_cdr_day.legs IS 'Legs landed by the pass in progress, or by the last pass once it ended.';
COMMENT ON COLUMN ozonetel_cdr_day.tries IS 'Failed calls counted against OZONETEL_CDR_MAX_TRIES (rate-limit replies are not counted).';
COMMENT ON COLUMN ozonetel_cdr_day.next_at IS 'When the day is fetched next (UTC).';
COMMENT ON COLUMN ozonetel_cdr_day.last_error IS 'The last failure, and why the day expired or gave up.';
COMMENT ON COLUMN ozonetel_cdr_day.first_fetched_at IS 'When its first page was first fetched (UTC).';
COMMENT ON COLUMN ozonetel_cdr_day.last_fetched_at IS 'When its last page was fetched (UTC).';
COMMENT ON COLUMN ozonetel_cdr_day.created_at IS 'When the reconciler added the day (UTC).';

-- The CDR's own count of each day, per campaign: what completeness compares the pushes with.
CREATE TABLE ozonetel_cdr_count (
    day           date        NOT NULL,
    campaign_name text        NOT NULL,
    legs          integer     NOT NULL,
    counted_at    timestamptz NOT NULL,
    PRIMARY KEY (day, campaign_name)
);
COMMENT ON TABLE ozonetel_cdr_count IS 'Legs in Ozonetel''s CDR per day (OZONETEL_TIMEZONE) and campaign, as the last fetched pass of that day counted them.';
COMMENT ON COLUMN ozonetel_cdr_count.day IS 'CallDate of the legs.';
COMMENT ON COLUMN ozonetel_cdr_count.campaign_name IS 'CampaignName of the legs.';
COMMENT ON COLUMN ozonetel_cdr_count.legs IS 'Legs the CDR held for that campaign and day (one call can have several: transfers).';
COMMENT ON COLUMN ozonetel_cdr_count.counted_at IS 'When the pass that counted them ended (UTC).';

-- The token every process shares (token auth): a new token voids the older ones, so there is one.
CREATE TABLE ozonetel_cdr_token (
    id         integer     PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    token      text        NOT NULL,
    minted_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    minted_by  text        NOT NULL
);
COMMENT ON TABLE ozonetel_cdr_token IS 'The one CDR API token of the account (OZONETEL_CDR_AUTH token or both), shared by every reconciler process: Ozonetel voids a token when another is made. Only the reconciler role may read it.';
COMMENT ON COLUMN ozonetel_cdr_token.id IS 'Always 1: one token.';
COMMENT ON COLUMN ozonetel_cdr_token.token IS 'The bearer token. A secret: never logged or shown.';
COMMENT ON COLUMN ozonetel_cdr_token.minted_at IS 'When it was made (UTC).';
COMMENT ON COLUMN ozonetel_cdr_token.expires_at IS 'When Ozonetel stops taking it (UTC): 60 minutes after minted_at.';
COMMENT ON COLUMN ozonetel_cdr_token.minted_by IS 'The host:pid that made it.';

-- The rollup counts what the CDR adds: calls only the CDR knows, and calls a CDR leg matched.
ALTER TABLE call_rollup
    ADD COLUMN calls_cdr_only integer NOT NULL DEFAULT 0,
    ADD COLUMN calls_with_cdr integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN call_rollup.calls_cdr_only IS 'Change in the number of calls whose call.source is cdr (no push carried them).';
COMMENT ON COLUMN call_rollup.calls_with_cdr IS 'Change in the number of calls a CDR leg matched (cdr_at set), pushed or not.';

CREATE OR REPLACE FUNCTION callrecon_rollup_facts(vendor text, relation text, sign integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT CASE vendor
    WHEN 'ozonetel' THEN format($q$
        SELECT %s AS n, 'ozonetel'::text AS vendor, campaign_name AS campaign, start_time AS ring_time,
               callrecon_ozonetel_outcome(dial_status, status) = 'answered' AS answered,
               CASE WHEN NOT pushed THEN 'cdr' WHEN request_unique_id IS NOT NULL THEN 're-requested push'
                    ELSE 'push' END AS source,
               false AS missing_detail, cdr_at IS NOT NULL AS with_cdr
        FROM %I WHERE start_time IS NOT NULL$q$, sign, relation)
    WHEN 'huawei' THEN format($q$
        SELECT %s AS n, 'huawei'::text AS vendor, campaign_id AS campaign,
               COALESCE(ack_begin_time, call_time) AS ring_time,
               callrecon_huawei_outcome(call_status, fail_code) = 'answered' AS answered,
               CASE WHEN push_count > 0 THEN 'push' WHEN value_sources ? 'call_status' THEN
                    CASE value_sources->>'call_status' WHEN 'bulk' THEN 'bulk query' ELSE 'detail fetch' END
                    ELSE 'tracked' END AS source,
               detail_status <> 'done' AS missing_detail, false AS with_cdr
        FROM %I WHERE COALESCE(ack_begin_time, call_time) IS NOT NULL$q$, sign, relation)
    END
$fn$;

CREATE OR REPLACE FUNCTION callrecon_rollup_sum(facts text, compacted boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
    INSERT INTO call_rollup (vendor, campaign, slot, calls, answered, calls_pushed, calls_re_requested,
                             calls_discovered, calls_missing_detail, calls_cdr_only, calls_with_cdr, compacted)
    SELECT * FROM (
        SELECT vendor, campaign, callrecon_rollup_slot(ring_time) AS slot, sum(n) AS calls,
               COALESCE(sum(n) FILTER (WHERE answered), 0) AS answered,
               COALESCE(sum(n) FILTER (WHERE source = 'push'), 0) AS calls_pushed,
               COALESCE(sum(n) FILTER (WHERE source = 're-requested push'), 0) AS calls_re_requested,
               COALESCE(sum(n) FILTER (WHERE source = 'bulk query'), 0) AS calls_discovered,
               COALESCE(sum(n) FILTER (WHERE missing_detail), 0) AS calls_missing_detail,
               COALESCE(sum(n) FILTER (WHERE source = 'cdr'), 0) AS calls_cdr_only,
               COALESCE(sum(n) FILTER (WHERE with_cdr), 0) AS calls_with_cdr, %L::boolean AS compacted
        FROM (%s) f
        GROUP BY vendor, campaign, callrecon_rollup_slot(ring_time)) s
    WHERE calls <> 0 OR answered <> 0 OR calls_pushed <> 0 OR calls_re_requested <> 0 OR calls_discovered <> 0
       OR calls_missing_detail <> 0 OR calls_cdr_only <> 0 OR calls_with_cdr <> 0$q$, compacted, facts)
$fn$;

CREATE OR REPLACE FUNCTION callrecon_rollup_compact() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH dirty AS (
    SELECT DISTINCT vendor, campaign, slot FROM call_rollup WHERE NOT compacted),
gone AS (
    DELETE FROM call_rollup r USING dirty d
    WHERE r.slot = d.slot AND r.vendor = d.vendor AND r.campaign IS NOT DISTINCT FROM d.campaign
    RETURNING r.*),
folded AS (
    INSERT INTO call_rollup (vendor, campaign, slot, calls, answered, calls_pushed, calls_re_requested,
                             calls_discovered, calls_missing_detail, calls_cdr_only, calls_with_cdr, compacted)
    SELECT vendor, campaign, slot, sum(calls), sum(answered), sum(calls_pushed), sum(calls_re_requested),
           sum(calls_discovered), sum(calls_missing_detail), sum(calls_cdr_only), sum(calls_with_cdr), true
    FROM gone GROUP BY vendor, campaign, slot
    HAVING sum(calls) <> 0 OR sum(answered) <> 0 OR sum(calls_pushed) <> 0 OR sum(calls_re_requested) <> 0
        OR sum(calls_discovered) <> 0 OR sum(calls_missing_detail) <> 0 OR sum(calls_cdr_only) <> 0
        OR sum(calls_with_cdr) <> 0
    RETURNING 1)
SELECT count(*) FROM gone
$$;

-- The trigger functions are written from the two functions above: write them again. Every call
-- already stored was pushed and has no CDR leg, so its new counts are the columns' default, 0: no
-- recount of the rollup is needed.
SELECT callrecon_rollup_install();

-- Who set one value of an Ozonetel call: the CDR where value_sources says so, else the push.
CREATE FUNCTION callrecon_ozonetel_source(value_sources jsonb, request_unique_id text, column_name text,
                                          present boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN present THEN COALESCE(value_sources->>column_name,
    CASE WHEN request_unique_id IS NOT NULL THEN 're-requested push' ELSE 'push' END) END
$$;
COMMENT ON FUNCTION callrecon_ozonetel_source(jsonb, text, text, boolean) IS 'The source that set one column of an Ozonetel call, for the call view''s value_sources: cdr, re-requested push or push; NULL when the value is empty.';

-- The call view: a call only the CDR knows comes from 'cdr', and each value names the source that set it.
CREATE OR REPLACE VIEW call AS
SELECT 'ozonetel'::text AS vendor,
       o.call_key AS vendor_call_id,
       o.campaign_name AS campaign,
       COALESCE(o.phone_number, o.dialed_number, o.caller_id) AS phone_number,
       CASE WHEN lower(o.call_type) = 'inbound' THEN 'inbound'
            WHEN o.call_type IS NOT NULL THEN 'outbound' END AS direction,
       o.start_time AS ring_time,
       CASE WHEN o.time_to_answer_s IS NOT NULL AND callrecon_ozonetel_outcome(o.dial_status, o.status) = 'answered'
            THEN o.start_time + make_interval(secs => o.time_to_answer_s) END AS connect_time,
       o.end_time,
       COALESCE(o.duration_s, o.call_duration_s) AS duration_s,
       callrecon_ozonetel_outcome(o.dial_status, o.status) AS outcome,
       COALESCE(o.dial_status, o.status) AS vendor_status,
       o.disposition,
       o.audio_file AS recording_url,
       NULL::timestamptz AS recording_expires_at,
       o.first_seen_at,
       o.last_seen_at,
       CASE WHEN NOT o.pushed THEN 'cdr' WHEN o.request_unique_id IS NOT NULL THEN 're-requested push'
            ELSE 'push' END AS source,
       jsonb_strip_nulls(jsonb_build_object(
           'campaign', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, 'campaign_name', o.campaign_name IS NOT NULL),
           'phone_number', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, COALESCE(
               CASE WHEN o.phone_number IS NOT NULL THEN 'phone_number' END,
               CASE WHEN o.dialed_number IS NOT NULL THEN 'dialed_number' END, 'caller_id'),
               COALESCE(o.phone_number, o.dialed_number, o.caller_id) IS NOT NULL),
           'ring_time', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, 'start_time', o.start_time IS NOT NULL),
           'connect_time', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, 'time_to_answer_s', o.time_to_answer_s IS NOT NULL
               AND callrecon_ozonetel_outcome(o.dial_status, o.status) = 'answered'),
           'end_time', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, 'end_time', o.end_time IS NOT NULL),
           'duration_s', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, CASE WHEN o.duration_s IS NOT NULL THEN 'duration_s'
               ELSE 'call_duration_s' END, COALESCE(o.duration_s, o.call_duration_s) IS NOT NULL),
           'outcome', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, CASE WHEN o.dial_status IS NOT NULL THEN 'dial_status'
               ELSE 'status' END, true),
           'vendor_status', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, CASE WHEN o.dial_status IS NOT NULL THEN 'dial_status'
               ELSE 'status' END, COALESCE(o.dial_status, o.status) IS NOT NULL),
           'disposition', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, 'disposition', o.disposition IS NOT NULL),
           'recording_url', callrecon_ozonetel_source(o.value_sources, o.request_unique_id, 'audio_file', o.audio_file IS NOT NULL)))
         || CASE WHEN o.request_unique_id IS NOT NULL
                 THEN '{"via": "re-requested push"}'::jsonb ELSE '{}'::jsonb END AS value_sources
FROM ozonetel_call o
UNION ALL
SELECT 'huawei',
       h.vdn_id || ':' || h.call_id,
       h.campaign_id,
       h.called,
       'outbound',
       COALESCE(h.ack_begin_time, h.call_time),
       h.call_begin_time,
       h.call_end_time,
       CASE WHEN h.call_end_time IS NOT NULL AND h.call_begin_time IS NOT NULL
            THEN extract(epoch FROM h.call_end_time - h.call_begin_time)::integer END,
       callrecon_huawei_outcome(h.call_status, h.fail_code),
       h.call_status || COALESCE('/' || h.fail_code, ''),
       h.result_code,
       h.record_path,
       h.record_expires_at,
       h.first_seen_at,
       h.last_seen_at,
       CASE WHEN h.push_count > 0 THEN 'push' WHEN h.value_sources ? 'call_status' THEN
            CASE h.value_sources->>'call_status' WHEN 'bulk' THEN 'bulk query' ELSE 'detail fetch' END
            ELSE 'tracked' END,
       jsonb_strip_nulls(jsonb_build_object(
           'campaign', h.value_sources->>'campaign_id',
           'phone_number', h.value_sources->>'called',
           'ring_time', COALESCE(h.value_sources->>'ack_begin_time', h.value_sources->>'call_time'),
           'connect_time', h.value_sources->>'call_begin_time',
           'end_time', h.value_sources->>'call_end_time',
           'outcome', h.value_sources->>'call_status',
           'disposition', h.value_sources->>'result_code',
           'recording_url', h.value_sources->>'record_path'))
FROM huawei_call h;

-- completeness_daily gains the CDR's figures; the function it reads (sql/0029) returns them too.
DROP VIEW completeness_daily;
DROP FUNCTION callrecon_completeness(timestamptz, timestamptz, text);
CREATE FUNCTION callrecon_completeness(since timestamptz, until timestamptz, zone text)
RETURNS TABLE (vendor text, campaign text, day date, calls bigint, calls_pushed bigint, calls_re_requested bigint,
               calls_discovered bigint, calls_missing_detail bigint, windows_requested bigint,
               windows_received bigint, windows_failed bigint, cdr_legs bigint, calls_cdr_only bigint,
               pushes_without_cdr bigint)
LANGUAGE sql STABLE AS $$
WITH call_counts AS (
    SELECT r.vendor, r.campaign, (r.slot AT TIME ZONE zone)::date AS day,
           sum(r.calls)::bigint AS calls, sum(r.calls_pushed)::bigint AS calls_pushed,
           sum(r.calls_re_requested)::bigint AS calls_re_requested,
           sum(r.calls_discovered)::bigint AS calls_discovered,
           sum(r.calls_missing_detail)::bigint AS calls_missing_detail,
           sum(r.calls_cdr_only)::bigint AS calls_cdr_only, sum(r.calls_with_cdr)::bigint AS calls_with_cdr
    FROM call_rollup r WHERE r.slot >= since AND r.slot < until
    GROUP BY 1, 2, 3 HAVING sum(r.calls) <> 0),
windows AS (
    SELECT 'ozonetel'::text AS vendor, r.campaign_name AS campaign, (r.window_from AT TIME ZONE zone)::date AS day,
           count(*) FILTER (WHERE r.state <> 'pending') AS windows_requested,
           count(*) FILTER (WHERE r.state = 'received') AS windows_received,
           count(*) FILTER (WHERE r.state = 'failed') AS windows_failed
    FROM ozonetel_request r WHERE r.window_from >= since AND r.window_from < until
    GROUP BY 1, 2, 3),
legs AS (
    SELECT 'ozonetel'::text AS vendor, c.campaign_name AS campaign, c.day, c.legs::bigint AS cdr_legs
    FROM ozonetel_cdr_count c
    WHERE c.day >= (since AT TIME ZONE zone)::date AND c.day < (until AT TIME ZONE zone)::date),
fetched AS (
    SELECT DISTINCT d.campaign_name AS campaign, d.day FROM ozonetel_cdr_day d
    WHERE d.passes > 0 AND d.day >= (since AT TIME ZONE zone)::date AND d.day < (until AT TIME ZONE zone)::date)
SELECT COALESCE(c.vendor, w.vendor, l.vendor), COALESCE(c.campaign, w.campaign, l.campaign),
       COALESCE(c.day, w.day, l.day),
       COALESCE(c.calls, 0), COALESCE(c.calls_pushed, 0), COALESCE(c.calls_re_requested, 0),
       COALESCE(c.calls_discovered, 0), COALESCE(c.calls_missing_detail, 0),
       COALESCE(w.windows_requested, 0), COALESCE(w.windows_received, 0), COALESCE(w.windows_failed, 0),
       l.cdr_legs, COALESCE(c.calls_cdr_only, 0),
       CASE WHEN EXISTS (SELECT 1 FROM fetched f WHERE f.day = COALESCE(c.day, w.day, l.day)
                         AND f.campaign IN ('', COALESCE(c.campaign, w.campaign, l.campaign)))
            THEN COALESCE(c.calls_pushed + c.calls_re_requested - (c.calls_with_cdr - c.calls_cdr_only), 0) END
FROM call_counts c
FULL JOIN windows w ON w.vendor = c.vendor AND w.campaign = c.campaign AND w.day = c.day
FULL JOIN legs l ON l.vendor = COALESCE(c.vendor, w.vendor) AND l.campaign = COALESCE(c.campaign, w.campaign)
                AND l.day = COALESCE(c.day, w.day)
$$;
COMMENT ON FUNCTION callrecon_completeness(timestamptz, timestamptz, text) IS 'completeness_daily''s rows for the business days (in zone) that start within [since, until): the view reads all of them, the console''s completeness page its last days.';

CREATE VIEW completeness_daily AS
SELECT * FROM callrecon_completeness('-infinity', 'infinity', callrecon_setting('business_timezone', 'UTC'));
COMMENT ON VIEW completeness_daily IS 'Per vendor, campaign and business day (BUSINESS_TIMEZONE): calls by how they arrived, Huawei calls missing detail, Ozonetel windows requested/received/failed, and what Ozonetel''s CDR report says of the day.';
COMMENT ON COLUMN completeness_daily.vendor IS 'ozonetel or huawei.';
COMMENT ON COLUMN completeness_daily.campaign IS 'Campaign name (Ozonetel) or id (Huawei).';
COMMENT ON COLUMN completeness_daily.day IS 'Business day, in the callrecon.business_timezone database setting.';
COMMENT ON COLUMN completeness_daily.calls IS 'Calls that rang that day.';
COMMENT ON COLUMN completeness_daily.calls_pushed IS 'Of those, first brought by a vendor push.';
COMMENT ON COLUMN completeness_daily.calls_re_requested IS 'Of those, brought by a push callrecon asked for (Ozonetel dial status).';
COMMENT ON COLUMN completeness_daily.calls_discovered IS 'Of those, found only by the Huawei bulk query.';
COMMENT ON COLUMN completeness_daily.calls_missing_detail IS 'Huawei calls whose detail fetch has not succeeded: huawei_call.detail_status is pending, not-found or failed (docs/schema.md, Definitions).';
COMMENT ON COLUMN completeness_daily.windows_requested IS 'Ozonetel dial-status windows of that day sent to Ozonetel.';
COMMENT ON COLUMN completeness_daily.windows_received IS 'Of those, windows whose push arrived.';
COMMENT ON COLUMN completeness_daily.windows_failed IS 'Of those, windows given up or refused.';
COMMENT ON COLUMN completeness_daily.cdr_legs IS 'Legs in Ozonetel''s CDR report for that campaign and day (its CallDate, in OZONETEL_TIMEZONE), as the last fetched pass counted them; NULL until the day is fetched. A transfer makes two legs of one call.';
COMMENT ON COLUMN completeness_daily.calls_cdr_only IS 'Calls that rang that day and that only the CDR report brought: no push carried them (recovered by the CDR pull).';
COMMENT ON COLUMN completeness_daily.pushes_without_cdr IS 'Pushed calls of that day that no CDR leg matched, once the CDR of the day (its campaign or the whole account) has been fetched; NULL before.';

-- A CDR page the reconciler fetched is stored in raw_inbox under its vendor's source, so it can be
-- replayed like a push; it marks itself with the X-Callrecon-Fetched header. It is not a push: the
-- silence alarm reads pushes only, or a day of CDR pages would hide an endpoint Ozonetel stopped reaching.
CREATE OR REPLACE VIEW source_health AS
WITH sources AS (SELECT unnest(ARRAY['ozonetel', 'huawei']) AS source),
last_push AS (
    SELECT s.source,
           (SELECT max(r.received_at) FROM raw_inbox r
            WHERE r.source = s.source AND NOT r.headers ? 'X-Callrecon-Fetched') AS last_callback_at,
           q.quarantined, q.quarantined_7d
    FROM sources s
    CROSS JOIN LATERAL (
        SELECT count(*) AS quarantined,
               count(*) FILTER (WHERE r.received_at > now() - interval '7 days') AS quarantined_7d
        FROM raw_inbox r WHERE r.status = 'quarantined' AND r.source = s.source) q),
settings AS (
    SELECT callrecon_setting('silence_threshold', '30 minutes')::interval AS threshold,
           callrecon_setting('business_timezone', 'UTC') AS zone,
           split_part(callrecon_setting('working_hours', '09:00-19:00'), '-', 1)::time AS opens,
           split_part(callrecon_setting('working_hours', '09:00-19:00'), '-', 2)::time AS closes,
           string_to_array(callrecon_setting('working_days', '1,2,3,4,5,6'), ',')::int[] AS days)
SELECT s.source, p.last_callback_at, now() - p.last_callback_at AS silent_for,
       COALESCE(p.quarantined, 0) AS quarantined, COALESCE(p.quarantined_7d, 0) AS quarantined_7d,
       (extract(isodow FROM now() AT TIME ZONE st.zone)::int = ANY (st.days)
        AND (now() AT TIME ZONE st.zone)::time >= st.opens AND (now() AT TIME ZONE st.zone)::time < st.closes)
           AS in_working_hours,
       (extract(isodow FROM now() AT TIME ZONE st.zone)::int = ANY (st.days)
        AND (now() AT TIME ZONE st.zone)::time >= st.opens AND (now() AT TIME ZONE st.zone)::time < st.closes
        AND (p.last_callback_at IS NULL OR now() - p.last_callback_at > st.threshold)) AS silent
FROM sources s CROSS JOIN settings st LEFT JOIN last_push p ON p.source = s.source;
COMMENT ON COLUMN source_health.last_callback_at IS 'When the last authenticated callback from this source arrived (UTC); NULL if never. Pages the reconciler fetched (header X-Callrecon-Fetched) are not callbacks.';

COMMENT ON COLUMN call.source IS 'How the call first reached callrecon: push, re-requested push (Ozonetel answered our dial-status request), cdr (only Ozonetel''s CDR report knows it: no push came), bulk query, detail fetch, or tracked (registered, detail pending).';
COMMENT ON COLUMN call.value_sources IS 'Which source set each value, by column: push, re-requested push, cdr, detail, bulk.';
