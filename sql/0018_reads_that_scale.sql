-- Reads that bench/scale found scanning whole tables, rewritten to stay index lookups however
-- many months the tables hold.

-- source_health (read by every /metrics scrape and `callrecon status`) aggregated all of raw_inbox
-- to find each source's last callback and quarantined count: about a second per million rows.
-- Now per source: the newest received_at from raw_inbox_source_received_idx (one short backward
-- scan per weekly partition) and the quarantined rows from raw_inbox_unlanded_idx.
CREATE OR REPLACE VIEW source_health AS
WITH sources AS (SELECT unnest(ARRAY['ozonetel', 'huawei']) AS source),
last_push AS (
    SELECT s.source,
           (SELECT max(r.received_at) FROM raw_inbox r WHERE r.source = s.source) AS last_callback_at,
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

-- sql/queries/leadsquared_failures_by_reason.sql asks for five end statuses; the partial index of
-- 0007 covers two of them, so with a year of requests (or a million open ones) it read the table.
CREATE INDEX lsq_request_ended_badly_idx ON lsq_request (registered_at)
    WHERE status IN ('FAILURE', 'ERROR', 'failed', 'not-found', 'expired');

-- sql/queries/calls_missing_detail.sql (the oldest Huawei calls still without detail) sorted all of
-- huawei_call; the calls missing detail are few, so a partial index in the query's order serves it.
CREATE INDEX huawei_call_missing_detail_idx ON huawei_call (first_seen_at, vdn_id, call_id)
    WHERE detail_status <> 'done';
