-- The landing upsert asks callrecon_ozonetel_homes / callrecon_huawei_homes where each call of a
-- batch already lives. PL/pgSQL caches the plan of that look-up after a few calls; made while the
-- month's partition was new (no statistics, a few pages), it scanned the partition whole for every
-- batch, comparing each row with every key of the batch: landing slowed as the month filled
-- (measured: 0.8 s of a 2.8 s pass landing 10,000 callbacks into a fresh month, and O(rows) per
-- batch until autovacuum analysed the partition). These are key look-ups, and each partition has
-- its key as an index: plan them on that index whatever the statistics say.
ALTER FUNCTION callrecon_ozonetel_homes(text[]) SET enable_seqscan = off;
ALTER FUNCTION callrecon_huawei_homes(integer[], text[]) SET enable_seqscan = off;
COMMENT ON FUNCTION callrecon_ozonetel_homes(text[]) IS 'Lock the given Ozonetel call keys until the transaction ends, then return the first_seen_at (the partition key) of those already stored: the landing upsert writes a known call where it is, and a new one only once. Planned with enable_seqscan off: a key look-up on each partition''s primary key, even in a new month without statistics.';
COMMENT ON FUNCTION callrecon_huawei_homes(integer[], text[]) IS 'Lock the given Huawei calls (vdn_id, call_id pairs) until the transaction ends, then return the first_seen_at (the partition key) of those already stored: the landing upsert writes a known call where it is, and a new one only once. Planned with enable_seqscan off: a key look-up on each partition''s primary key, even in a new month without statistics.';
