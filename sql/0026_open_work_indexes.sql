-- The console's overview and its LeadSquared work page read the open LeadSquared requests
-- oldest first, and count them. With bench/scale's 1M open requests among 2M, both read the whole
-- table: the overview took 1.3 s and the work page 0.75 s at 10M calls. These partial indexes hold
-- only the open requests (final_at IS NULL, the WorkTable's "open"), in the order the pages read
-- them (registered_at, then id as the tie-break of the keyset), so the first page and the oldest
-- open request are one index probe. The failing ones (open with an error) get their own, smaller
-- index, since they are a few among the open. Both shrink as requests turn final.
CREATE INDEX lsq_request_open_idx ON lsq_request (registered_at, id) WHERE final_at IS NULL;
COMMENT ON INDEX lsq_request_open_idx IS 'Open LeadSquared requests, oldest registration first: the console''s work page, the oldest open request.';
CREATE INDEX lsq_request_failing_idx ON lsq_request (registered_at, id) WHERE final_at IS NULL AND last_error IS NOT NULL;
COMMENT ON INDEX lsq_request_failing_idx IS 'Open LeadSquared requests whose last poll failed: the console''s failing count and list.';
