"""The raw inbox: store a callback before anything else, record what parsing made of it."""

from __future__ import annotations

import hashlib

from psycopg.types.json import Jsonb

INSERT_RAW = """
INSERT INTO raw_inbox (source, client_addr, content_type, headers, body, body_sha256, body_bytes)
VALUES (%(source)s, %(client_addr)s, %(content_type)s, %(headers)s, %(body)s, %(body_sha256)s, %(body_bytes)s)
RETURNING id, received_at
"""

RECORD_OUTCOME = """
UPDATE raw_inbox
SET status = %(status)s, record_count = %(record_count)s, landed_count = %(landed)s,
    error = %(error)s, parsed_at = now(), parse_count = parse_count + 1
WHERE id = %(id)s
"""

# Replay walks ids upward in batches; SKIP LOCKED lets two replays (or a replay and pruning) share.
SELECT_FOR_REPLAY = """
SELECT id, received_at, source, content_type, body
FROM raw_inbox
WHERE id > %(after_id)s
  AND (%(all)s OR status IN ('quarantined', 'received'))
  AND (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
ORDER BY id
LIMIT %(batch)s
FOR UPDATE SKIP LOCKED
"""


def store(conn, *, source, client_addr, content_type, headers, body: bytes, received_bytes: int):
    """Insert one raw callback (already masked); returns (id, received_at)."""
    row = conn.execute(INSERT_RAW, {
        "source": source,
        "client_addr": client_addr,
        "content_type": content_type,
        "headers": Jsonb(headers),
        "body": body,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_bytes": received_bytes,
    }).fetchone()
    return row[0], row[1]


def record_outcome(conn, raw_id: int, outcome) -> None:
    """Write what landing made of a raw row into the row itself."""
    error = outcome.error_json()
    conn.execute(RECORD_OUTCOME, {
        "id": raw_id, "status": outcome.status, "record_count": outcome.record_count,
        "landed": outcome.landed, "error": Jsonb(error) if error is not None else None,
    })


def rows_for_replay(conn, *, after_id: int, include_all: bool, source, ids, batch: int):
    """The next batch of raw rows to re-parse, locked for this transaction."""
    return conn.execute(SELECT_FOR_REPLAY, {
        "after_id": after_id, "all": include_all, "source": source, "ids": ids, "batch": batch,
    }).fetchall()
