-- Time range: call logs registered on the last 7 UTC days, today included (SET callrecon.query_days = N
-- for another range): whole days, so up to one day more than the last 7 x 24 hours.
-- Time from a call's end to its LeadSquared call log: when the log was submitted (registered) and
-- when LeadSquared confirmed it (final). Medians and p90 read from per-day histograms, not from the
-- logs: each is given as a range that holds the exact percentile (_low <= exact <= _high) and an
-- estimate inside it (interpolated by rank). The range is the bucket of the value at the
-- percentile's rank, a tenth wide (-1 to 1 s under a second), widened to the next value's bucket when
-- percentile_cont interpolates between two values in different buckets (few logs); the bounds are
-- rounded outwards to 0.1 s. The counts are exact.
-- Link rule (docs/analysts.md, "Linking LeadSquared call logs to calls"): the call log's RequestBody
-- DestinationNumber equals the call's phone number (as in the call view) and its StartTime (UTC) is
-- within 2 minutes of the call's ring time (the nearest such call, if several). Each successful call
-- log keeps its link in call_log_link (migration 0024), and its latencies are counted per UTC day in
-- call_log_latency (migration 0032): this query reads a few hundred bucket rows per week, whatever
-- the calls (the exact percentiles over 700,000 logs a week took about 300 ms).
-- Uses: call_log_latency_day_idx (index-only: it covers the columns read)
WITH buckets AS (
    SELECT vendor, measure, bucket, sum(logs) AS logs
    FROM call_log_latency
    WHERE day >= (now() AT TIME ZONE 'UTC')::date - (callrecon_setting('query_days', '7')::int - 1)
    GROUP BY vendor, measure, bucket
    HAVING sum(logs) > 0),
ranked AS (
    SELECT vendor, measure, bucket, logs,
           sum(logs) OVER (PARTITION BY vendor, measure ORDER BY bucket) AS through,
           sum(logs) OVER (PARTITION BY vendor, measure) AS total
    FROM buckets),
-- percentile_cont's rank (0-based) of each percentile: between the values at floor and ceil of it.
wanted AS (
    SELECT DISTINCT vendor, measure, total, q, q * (total - 1) AS pos
    FROM ranked, (VALUES (0.5), (0.9)) p (q)),
figures AS (
    SELECT w.vendor, w.measure, w.q, w.total,
           callrecon_latency_low(lo.bucket) AS low, callrecon_latency_high(hi.bucket) AS high,
           callrecon_latency_low(lo.bucket) + (callrecon_latency_high(lo.bucket) - callrecon_latency_low(lo.bucket))
               * (w.pos - (lo.through - lo.logs) + 0.5) / lo.logs AS estimate
    FROM wanted w
    JOIN LATERAL (SELECT * FROM ranked r WHERE (r.vendor, r.measure) = (w.vendor, w.measure)
                  AND r.through > floor(w.pos) ORDER BY r.bucket LIMIT 1) lo ON true
    JOIN LATERAL (SELECT * FROM ranked r WHERE (r.vendor, r.measure) = (w.vendor, w.measure)
                  AND r.through > ceil(w.pos) ORDER BY r.bucket LIMIT 1) hi ON true)
SELECT vendor,
       max(total) FILTER (WHERE measure = 'submitted') AS linked_calls,
       round(max(estimate) FILTER (WHERE measure = 'submitted' AND q = 0.5)::numeric, 1) AS median_s_to_submit,
       floor(max(low) FILTER (WHERE measure = 'submitted' AND q = 0.5)::numeric * 10) / 10 AS median_s_to_submit_low,
       ceil(max(high) FILTER (WHERE measure = 'submitted' AND q = 0.5)::numeric * 10) / 10 AS median_s_to_submit_high,
       round(max(estimate) FILTER (WHERE measure = 'confirmed' AND q = 0.5)::numeric, 1) AS median_s_to_confirmed,
       floor(max(low) FILTER (WHERE measure = 'confirmed' AND q = 0.5)::numeric * 10) / 10 AS median_s_to_confirmed_low,
       ceil(max(high) FILTER (WHERE measure = 'confirmed' AND q = 0.5)::numeric * 10) / 10 AS median_s_to_confirmed_high,
       round(max(estimate) FILTER (WHERE measure = 'confirmed' AND q = 0.9)::numeric, 1) AS p90_s_to_confirmed,
       floor(max(low) FILTER (WHERE measure = 'confirmed' AND q = 0.9)::numeric * 10) / 10 AS p90_s_to_confirmed_low,
       ceil(max(high) FILTER (WHERE measure = 'confirmed' AND q = 0.9)::numeric * 10) / 10 AS p90_s_to_confirmed_high
FROM figures
GROUP BY vendor
HAVING max(total) FILTER (WHERE measure = 'submitted') IS NOT NULL;
