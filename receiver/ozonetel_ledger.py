"""Match Ozonetel pushes to the Campaign Dial Status requests that asked for them (ozonetel_request).

Rule (README "Matching pushes to requests"): a record carrying a `uniqueId` counts for the request
with that uniqueId. A record without one counts for every request of its campaign whose window
holds the record's StartTime. A status notice (`{"status", "message", "uniqueId"}` without call
data) with a uniqueId closes its request: `success` as received with no records, `error` as failed.
"""

from __future__ import annotations

from .masking import normalise_key

MATCH_BY_UNIQUE_ID = """
WITH m AS (
    SELECT r.id, count(*)::int AS n
    FROM ozonetel_request r JOIN unnest(%(ids)s::text[]) AS x(unique_id) ON r.unique_id = x.unique_id
    GROUP BY r.id)
UPDATE ozonetel_request r SET state = 'received', records_received = records_received + m.n,
    received_at = COALESCE(received_at, %(now)s), last_received_at = %(now)s, last_error = NULL
FROM m WHERE r.id = m.id
"""
MATCH_BY_WINDOW = """
WITH m AS (
    SELECT r.id, count(*)::int AS n
    FROM ozonetel_request r
    JOIN unnest(%(campaigns)s::text[], %(times)s::timestamptz[]) AS x(campaign, t)
      ON r.campaign_name = x.campaign AND x.t >= r.window_from AND x.t < r.window_to
    WHERE r.state IN ('requested', 'timed-out', 'received')
    GROUP BY r.id)
UPDATE ozonetel_request r SET state = 'received', records_received = records_received + m.n,
    received_at = COALESCE(received_at, %(now)s), last_received_at = %(now)s, last_error = NULL
FROM m WHERE r.id = m.id
"""
CLOSE_BY_NOTICE = """
UPDATE ozonetel_request SET
    state = CASE WHEN %(ok)s THEN 'received' ELSE 'failed' END,
    received_at = CASE WHEN %(ok)s THEN COALESCE(received_at, %(now)s) ELSE received_at END,
    last_received_at = %(now)s,
    last_error = CASE WHEN %(ok)s THEN NULL ELSE 'Ozonetel pushed an error: ' || %(message)s END
WHERE unique_id = %(unique_id)s AND state IN ('requested', 'timed-out')
"""


def notice_fields(record: dict) -> tuple[str, str, str]:
    """(uniqueId, status, message) of a status notice, by field name ignoring case."""
    folded = {normalise_key(str(k)): v for k, v in record.items()}
    return (str(folded.get("uniqueid") or ""), str(folded.get("status") or "").lower(),
            str(folded.get("message") or "")[:500])


def match(conn, rows: list[dict], notices: list[dict], now) -> None:
    """Credit landed rows and notices to their requests, in the landing transaction."""
    ids = [r["request_unique_id"] for r in rows if r.get("request_unique_id")]
    if ids:
        conn.execute(MATCH_BY_UNIQUE_ID, {"ids": ids, "now": now})
    timed = [(r["campaign_name"], r["start_time"]) for r in rows
             if not r.get("request_unique_id") and r.get("campaign_name") and r.get("start_time")]
    if timed:
        conn.execute(MATCH_BY_WINDOW, {"campaigns": [c for c, _ in timed], "times": [t for _, t in timed],
                                       "now": now})
    for notice in notices:
        unique_id, status, message = notice_fields(notice)
        if unique_id:
            conn.execute(CLOSE_BY_NOTICE, {"unique_id": unique_id, "ok": status == "success",
                                           "message": message, "now": now})
