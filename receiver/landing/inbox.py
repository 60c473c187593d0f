"""The raw inbox: store a callback before anything else, record what parsing made of it."""

from __future__ import annotations

import functools
import hashlib

import psycopg
from psycopg.types.json import Jsonb

from receiver import json_text

INSERT_RAW = """
INSERT INTO raw_inbox (source, client_addr, content_type, headers, body, body_sha256, body_bytes, apikey_check)
VALUES (%(source)s, %(client_addr)s, %(content_type)s, %(headers)s, %(body)s, %(body_sha256)s, %(body_bytes)s,
        %(apikey_check)s)
RETURNING id, received_at
"""

# Many raw rows in one statement (group commit), one VALUES row each. Profiling showed psycopg's
# array dumpers (the earlier unnest form) costing more than the rest of the batch; scalar
# parameters in PostgreSQL's own $n form go through a raw cursor as they are, and psycopg
# prepares each batch size's statement after a few uses. Identity values are drawn in VALUES
# order, so ordering the returned rows by id gives the input order.
INSERT_RAW_VALUES = (
    "INSERT INTO raw_inbox (source, client_addr, content_type, headers, body, body_sha256, "
    "body_bytes, apikey_check)\n"
    "VALUES {rows}\nRETURNING id, received_at"
)
RAW_VALUES_ROW = "(${}::text, ${}::inet, ${}::text, ${}::jsonb, ${}::bytea, ${}::text, ${}::int, ${}::jsonb)"


@functools.cache
def insert_raw_many(count: int) -> str:
    """INSERT_RAW_VALUES for `count` rows."""
    width = RAW_VALUES_ROW.count("{}")
    return INSERT_RAW_VALUES.format(
        rows=",\n       ".join(
            RAW_VALUES_ROW.format(*range(n * width + 1, n * width + width + 1)) for n in range(count)
        )
    )


RECORD_OUTCOME = """
UPDATE raw_inbox
SET status = %(status)s, record_count = %(record_count)s, landed_count = %(landed)s,
    error = %(error)s, parsed_at = now(), parse_count = parse_count + 1
WHERE id = %(id)s AND received_at = %(received_at)s
"""

# Replay walks ids upward in batches; SKIP LOCKED lets two replays (or a replay and pruning) share.
SELECT_FOR_REPLAY = """
SELECT id, received_at, source, content_type, body, apikey_check
FROM raw_inbox
WHERE id > %(after_id)s
  AND (%(all)s OR status IN ('quarantined', 'received'))
  AND (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
ORDER BY id
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED
"""


# Rows stored by a deferred-landing receiver and not yet parsed (raw_inbox_unlanded_idx).
SELECT_PENDING = """
SELECT id, received_at, source, content_type, body, apikey_check
FROM raw_inbox
WHERE status = 'received' AND id > %(after_id)s
ORDER BY id
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED
"""


def store(
    conn,
    *,
    source,
    client_addr,
    content_type,
    headers,
    body: bytes,
    received_bytes: int,
    apikey_check: dict | None = None,
):
    """Insert one raw callback (already masked); returns (id, received_at)."""
    row = conn.execute(
        INSERT_RAW,
        {
            "source": source,
            "client_addr": client_addr,
            "content_type": content_type,
            "headers": Jsonb(headers),
            "body": body,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_bytes": received_bytes,
            "apikey_check": Jsonb(apikey_check) if apikey_check is not None else None,
        },
    ).fetchone()
    return row[0], row[1]


def store_many(conn, rows: list[dict]) -> list[tuple[int, object]]:
    """Insert raw callbacks (keyword arguments of `store`) in one statement; (id, received_at) each."""
    args: list = []
    for row in rows:
        body = row["body"]
        args += (
            row["source"],
            row["client_addr"],
            row["content_type"],
            json_text.dumps(row["headers"]),
            body,
            hashlib.sha256(body).hexdigest(),
            row["received_bytes"],
            json_text.dumps(row["apikey_check"]) if row.get("apikey_check") is not None else None,
        )
    with psycopg.RawCursor(conn) as cur:
        return sorted(cur.execute(insert_raw_many(len(rows)), args).fetchall())


def record_outcome(conn, raw_id: int, outcome, received_at) -> None:
    """Write what landing made of a raw row into the row itself (received_at: the week it is stored in)."""
    error = outcome.error_json()
    conn.execute(
        RECORD_OUTCOME,
        {
            "id": raw_id,
            "received_at": received_at,
            "status": outcome.status,
            "record_count": outcome.record_count,
            "landed": outcome.landed,
            "error": Jsonb(error) if error is not None else None,
        },
    )


# record_outcome for many raw rows: one statement instead of one per row. The received_at of each
# lets the executor visit only the weeks (partitions) the batch's rows are in. The rows travel as
# one JSON document: psycopg dumps lists into arrays element by element in Python, which the
# lander profiled at more than its statements' own share of the batch.
RECORD_OUTCOMES = """
UPDATE raw_inbox r
SET status = u.status, record_count = u.record_count, landed_count = u.landed, error = u.error,
    parsed_at = now(), parse_count = r.parse_count + 1
FROM jsonb_to_recordset(%(outcomes)s::jsonb)
     AS u(id bigint, received_at timestamptz, status text, record_count int, landed int, error jsonb)
WHERE r.id = u.id AND r.received_at = u.received_at
"""


def record_outcomes(conn, outcomes: list) -> None:
    """record_outcome for many [(RawRef, Outcome)] at once."""
    if not outcomes:
        return
    rows = [
        {
            "id": raw.id,
            "received_at": raw.received_at.isoformat(),
            "status": outcome.status,
            "record_count": outcome.record_count,
            "landed": outcome.landed,
            "error": outcome.error_json(),
        }
        for raw, outcome in outcomes
    ]
    conn.execute(RECORD_OUTCOMES, {"outcomes": json_text.dumps(rows)})


def rows_for_replay(conn, *, after_id: int, include_all: bool, source, ids, batch: int, pending_only=False):
    """The next batch of raw rows to re-parse (or, pending_only, never parsed), locked for this transaction."""
    if pending_only:
        return conn.execute(SELECT_PENDING, {"after_id": after_id, "batch": batch}).fetchall()
    return conn.execute(
        SELECT_FOR_REPLAY,
        {
            "after_id": after_id,
            "all": include_all,
            "source": source,
            "ids": ids,
            "batch": batch,
        },
    ).fetchall()
