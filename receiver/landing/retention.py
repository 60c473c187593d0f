"""`callrecon prune`: delete old raw callbacks whose typed rows are landed, in small batches.

Each batch is its own short transaction and skips rows another transaction holds (SKIP LOCKED),
so pruning never blocks the callback path, which only inserts new rows. Deleting a raw row also
deletes its sightings (ON DELETE CASCADE); typed rows and their seen counts stay.
"""

from __future__ import annotations

BATCH = 1000

COUNT = """
SELECT count(*) FROM raw_inbox
WHERE received_at < %(before)s AND (status IN ('landed', 'note') OR (%(quarantined)s AND status = 'quarantined'))
"""
DELETE_BATCH = """
DELETE FROM raw_inbox WHERE id IN (
    SELECT id FROM raw_inbox
    WHERE received_at < %(before)s
      AND (status IN ('landed', 'note') OR (%(quarantined)s AND status = 'quarantined'))
    ORDER BY id
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED)
"""


def prune(conn, before, include_quarantined: bool, dry_run: bool, batch: int = BATCH) -> int:
    """Delete (or, dry run, count) raw rows received before `before`; returns how many."""
    params = {"before": before, "quarantined": include_quarantined, "batch": batch}
    if dry_run:
        return conn.execute(COUNT, params).fetchone()[0]
    deleted = 0
    while True:
        with conn.transaction():
            count = conn.execute(DELETE_BATCH, params).rowcount
        deleted += count
        if count < batch:
            return deleted
