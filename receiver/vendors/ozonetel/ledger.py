"""Match Ozonetel pushes to the Campaign Dial Status requests that asked for them (ozonetel_request).

Rule (docs/ozonetel.md, "Matching pushes to requests"): a record carrying a `uniqueId` counts for the request
whose call (any try, not only the last) got that uniqueId. A record without one counts for every
asked-for request of its campaign whose window holds the record's StartTime. Each raw callback is
credited once per request, so replays count nothing twice. A status notice
(`{"status", "message", "uniqueId"}` without call data) with a uniqueId closes its request: `success`
as received with no records, `error` as failed.
"""

from __future__ import annotations

from receiver import json_text
from receiver.landing.masking import normalise_key

# One statement credits a callback's records to their windows: by any try's uniqueId (a late push
# for an earlier try still counts), else by campaign and StartTime in a window already asked for.
# The credit row per (window, raw callback) makes a replay of the same callback count nothing.
MATCH = """
WITH matched AS (
    SELECT t.request_id AS id
    FROM unnest(%(ids)s::text[]) AS x(unique_id)
    JOIN LATERAL (SELECT request_id FROM ozonetel_request_try
                  WHERE unique_id = x.unique_id ORDER BY try DESC LIMIT 1) t ON true
    UNION ALL
    SELECT r.id
    FROM unnest(%(campaigns)s::text[], %(times)s::timestamptz[]) AS x(campaign, t)
    JOIN ozonetel_request r ON r.campaign_name = x.campaign AND x.t >= r.window_from AND x.t < r.window_to
    WHERE r.state IN ('requested', 'timed-out', 'received')
), credit AS (
    INSERT INTO ozonetel_request_credit (request_id, raw_id, records, credited_at)
    SELECT id, %(raw_id)s, count(*)::int, %(now)s FROM matched GROUP BY id
    ON CONFLICT DO NOTHING
    RETURNING request_id, records
)
UPDATE ozonetel_request r SET state = 'received', records_received = records_received + c.records,
    received_at = COALESCE(received_at, %(now)s), last_received_at = %(now)s, last_error = NULL
FROM credit c WHERE r.id = c.request_id
"""
CLOSE_BY_NOTICE = """
UPDATE ozonetel_request SET
    state = CASE WHEN %(ok)s THEN 'received' ELSE 'failed' END,
    received_at = CASE WHEN %(ok)s THEN COALESCE(received_at, %(now)s) ELSE received_at END,
    last_received_at = %(now)s,
    last_error = CASE WHEN %(ok)s THEN NULL ELSE 'Ozonetel pushed an error: ' || %(message)s END
WHERE id IN (SELECT request_id FROM ozonetel_request_try WHERE unique_id = %(unique_id)s)
  AND state IN ('requested', 'timed-out')
"""


# MATCH for many callbacks at once: each element carries its raw row and time.
MATCH_MANY = """
WITH x AS (
    SELECT * FROM jsonb_to_recordset(%(sightings)s::jsonb)
                  AS x(raw_id bigint, seen_at timestamptz, unique_id text, campaign text, t timestamptz)
), matched AS (
    SELECT x.raw_id, x.seen_at, t.request_id AS id
    FROM x
    JOIN LATERAL (SELECT request_id FROM ozonetel_request_try
                  WHERE unique_id = x.unique_id ORDER BY try DESC LIMIT 1) t ON true
    WHERE x.unique_id IS NOT NULL
    UNION ALL
    SELECT x.raw_id, x.seen_at, r.id
    FROM x
    JOIN ozonetel_request r ON r.campaign_name = x.campaign AND x.t >= r.window_from AND x.t < r.window_to
    WHERE x.unique_id IS NULL AND r.state IN ('requested', 'timed-out', 'received')
), credit AS (
    INSERT INTO ozonetel_request_credit (request_id, raw_id, records, credited_at)
    SELECT id, raw_id, count(*)::int, min(seen_at) FROM matched GROUP BY id, raw_id
    ON CONFLICT DO NOTHING
    RETURNING request_id, records, credited_at
), per_request AS (
    SELECT request_id, sum(records)::int AS records, min(credited_at) AS first_at, max(credited_at) AS last_at
    FROM credit GROUP BY request_id
)
UPDATE ozonetel_request r SET state = 'received', records_received = records_received + c.records,
    received_at = COALESCE(received_at, c.first_at), last_received_at = c.last_at, last_error = NULL
FROM per_request c WHERE r.id = c.request_id
"""


def notice_fields(record: dict) -> tuple[str, str, str]:
    """(uniqueId, status, message) of a status notice, by field name ignoring case."""
    folded = {normalise_key(str(k)): v for k, v in record.items()}
    return (
        str(folded.get("uniqueid") or ""),
        str(folded.get("status") or "").lower(),
        str(folded.get("message") or "")[:500],
    )


def match(conn, raw_id: int, rows: list[dict], notices: list[dict], now) -> None:
    """Credit one callback's landed rows and notices to their requests, in the landing transaction."""
    ids = [r["request_unique_id"] for r in rows if r.get("request_unique_id")]
    timed = [
        (r["campaign_name"], r["start_time"])
        for r in rows
        if not r.get("request_unique_id") and r.get("campaign_name") and r.get("start_time")
    ]
    if ids or timed:
        conn.execute(
            MATCH,
            {
                "ids": ids,
                "campaigns": [c for c, _ in timed],
                "times": [t for _, t in timed],
                "raw_id": raw_id,
                "now": now,
            },
        )
    for notice in notices:
        unique_id, status, message = notice_fields(notice)
        if unique_id:
            conn.execute(
                CLOSE_BY_NOTICE, {"unique_id": unique_id, "ok": status == "success", "message": message, "now": now}
            )


def match_many(conn, callbacks: list) -> None:
    """match() for many callbacks [(RawRef, landed rows, notices)] in one statement (plus one per notice)."""
    sightings = []
    for raw, rows, _ in callbacks:
        seen = raw.received_at.isoformat()
        for r in rows:
            if r.get("request_unique_id"):
                unique_id, campaign, at = r["request_unique_id"], None, None
            elif r.get("campaign_name") and r.get("start_time"):
                unique_id, campaign, at = None, r["campaign_name"], r["start_time"].isoformat()
            else:
                continue
            sightings.append({"raw_id": raw.id, "seen_at": seen, "unique_id": unique_id, "campaign": campaign, "t": at})
    if sightings:
        # One JSON document, not five arrays: psycopg dumps list elements in Python (see inbox.RECORD_OUTCOMES).
        conn.execute(MATCH_MANY, {"sightings": json_text.dumps(sightings)})
    for raw, _, notices in callbacks:
        for notice in notices:
            unique_id, status, message = notice_fields(notice)
            if unique_id:
                conn.execute(
                    CLOSE_BY_NOTICE,
                    {"unique_id": unique_id, "ok": status == "success", "message": message, "now": raw.received_at},
                )
