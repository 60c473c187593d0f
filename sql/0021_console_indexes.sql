-- The /ops console and /metrics read these at every page view and scrape. Each index
-- bounds a read to the rows shown: open Ozonetel windows (the overview's and the metrics' counts),
-- windows by start (the completeness page's days), and quarantined callbacks by source (the overview
-- and the quarantine page), instead of scanning the whole ledger or inbox.

CREATE INDEX ozonetel_request_open_idx ON ozonetel_request (window_from)
    WHERE state IN ('pending', 'requested', 'timed-out');
CREATE INDEX ozonetel_request_window_from_idx ON ozonetel_request (window_from);
CREATE INDEX raw_inbox_quarantined_idx ON raw_inbox (source, received_at) WHERE status = 'quarantined';

COMMENT ON INDEX ozonetel_request_open_idx IS 'Windows the reconciler still works on: the console''s and /metrics'' open, failing and oldest counts.';
COMMENT ON INDEX ozonetel_request_window_from_idx IS 'Windows by start: the console''s completeness page reads only the days it shows.';
COMMENT ON INDEX raw_inbox_quarantined_idx IS 'Quarantined callbacks by source: the console''s overview counts and quarantine page.';
