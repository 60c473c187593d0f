-- The console's overview counts the Huawei detail fetches that are failing (pending, with an
-- error): that read the heap of every pending call, 80,000 of them at bench/scale's 10M calls,
-- 330 ms of a 385 ms page. This partial index holds the pending ones with an error only.
CREATE INDEX huawei_call_detail_failing_idx ON huawei_call (first_seen_at)
    WHERE detail_status = 'pending' AND detail_error IS NOT NULL;
COMMENT ON INDEX huawei_call_detail_failing_idx IS 'Huawei calls whose detail fetch is pending after a failed try: the console''s failing count and list.';
