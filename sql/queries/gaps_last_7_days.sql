-- Where the data has gaps in the last 7 business days: Ozonetel windows not received,
-- Huawei calls without detail. One row per vendor, campaign and day with a gap.
-- Uses: ozonetel_call_start_idx and huawei_call_ring_idx (the view's day filter), ozonetel_request_window_idx.
SELECT vendor, campaign, day, calls, calls_missing_detail,
       windows_requested, windows_received, windows_failed,
       windows_requested - windows_received AS windows_not_received
FROM completeness_daily
WHERE day >= (now() AT TIME ZONE callrecon_setting('business_timezone', 'UTC'))::date - 6
  AND (calls_missing_detail > 0 OR windows_failed > 0 OR windows_requested > windows_received)
ORDER BY day DESC, vendor, campaign;
