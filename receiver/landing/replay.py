"""Re-parse stored raw callbacks after a parser fix, through the same landing path as a push."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import psycopg

from receiver.landing import inbox
from receiver.landing.land import RawRef, land, land_unguarded
from receiver.landing.masking import mask_records
from receiver.landing.payloads import BodyError, decode

# Raw rows per landing transaction. Each batch pays fixed costs (the pending scan, five statements,
# the commit) whatever its size: one lander over 10,000 fresh callbacks used 190 us of CPU per row
# (Python and PostgreSQL) at 200, 155 us at 1,000, and no less at 2,000.
BATCH = 1000
# Records per landing transaction, whatever the rows: landing locks each call (an advisory lock per
# call key, until commit), and PostgreSQL's lock table holds max_locks_per_transaction x
# max_connections locks (6,400 by default) for every session together. 1,000 rows of 20-record
# posts were 20,000 locks: "out of shared memory", and nothing landed.
RECORDS_PER_BATCH = 2000
log = logging.getLogger("callrecon.landing")


def land_batch(conn, work: list, settings, pushes: dict) -> list:
    """Land many raw rows [(source, RawRef, records)] behind one savepoint, in set-based statements.

    Landing row by row, each behind its own savepoint, cost about ten statements per callback,
    and the lander spent most of its time on them. Here each vendor's rows land together (its
    `land_many`, else its `land` per callback, pipelined). Should anything in the batch fail (a
    value the database rejects, a parser bug), the batch is rolled back to its savepoint and
    landed again callback by callback, where land() quarantines just the one at fault.
    """
    by_source: dict[str, list[int]] = {}
    for n, (source, _, _) in enumerate(work):
        by_source.setdefault(source, []).append(n)
    if len(work) > 1:
        try:
            outcomes = [None] * len(work)
            with conn.transaction(), conn.pipeline():
                for source, indexes in by_source.items():
                    landed = land_unguarded(conn, pushes[source], [work[n][1:] for n in indexes], settings)
                    for n, outcome in zip(indexes, landed, strict=True):
                        outcomes[n] = outcome
            return outcomes
        except psycopg.OperationalError:
            raise
        except Exception:
            log.info("a landing batch of %d raw rows failed; landing them one by one", len(work))
    return [land(conn, pushes[source].land, raw, records, settings) for source, raw, records in work]


@dataclass
class BatchSizer:
    """How many raw rows to fetch next: BATCH, fewer when callbacks carry many records each.

    Learns records per row from the batches landed so far; a lander keeps one across its passes.
    A batch that still holds too many records is cut (its tail stays pending for the next one).
    """

    records_cap: int = RECORDS_PER_BATCH
    rows: int = 0
    records: int = 0

    def next_rows(self, most: int) -> int:
        if self.records <= self.rows:
            return most
        return max(1, min(most, self.records_cap * self.rows // self.records))

    def landed(self, rows: int, records: int) -> None:
        # A recent window: halve the history once it is large, so a change of post shape shows soon.
        if self.rows > 50 * BATCH:
            self.rows, self.records = self.rows // 2, self.records // 2
        self.rows += rows
        self.records += records

    def shrink(self) -> None:
        """After PostgreSQL ran out of lock space: half the records per batch from now on."""
        self.records_cap = max(1, self.records_cap // 2)


@dataclass
class ReplayReport:
    """Counts of raw rows by their status after the replay."""

    by_status: Counter = field(default_factory=Counter)
    skipped_sources: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Raw rows re-parsed."""
        return sum(self.by_status.values())


def replay(
    conn,
    settings,
    pushes: dict,
    *,
    include_all=False,
    source=None,
    ids=None,
    limit=None,
    pending_only=False,
    sizer=None,
) -> ReplayReport:
    """Re-parse quarantined (or, with include_all, every) raw row; one transaction per batch.

    pushes: each pushing vendor's receiver.registry.Push, by name (rows of other sources are skipped).
    pending_only lands rows a deferred-landing receiver stored and nothing has parsed yet.
    sizer: a BatchSizer kept across calls (the lander's); a fresh one otherwise.
    """
    report = ReplayReport()
    sizer = sizer or BatchSizer()
    after_id = 0
    while limit is None or report.total < limit:
        batch = sizer.next_rows(BATCH if limit is None else min(BATCH, limit - report.total))
        with conn.transaction():
            rows = inbox.rows_for_replay(
                conn,
                after_id=after_id,
                include_all=include_all,
                source=source,
                ids=ids,
                batch=batch,
                pending_only=pending_only,
            )
            work, records_in_batch, cut = [], 0, False
            for raw_id, received_at, row_source, content_type, body, apikey_check in rows:
                if row_source not in pushes:
                    after_id = raw_id
                    report.skipped_sources[row_source] += 1
                    continue
                try:
                    records = mask_records(decode(bytes(body), content_type))
                except BodyError as exc:
                    records = exc
                count = len(records) if isinstance(records, list) else 1
                if work and records_in_batch + count > sizer.records_cap:
                    cut = True  # this row and the rest stay pending: the next batch starts here
                    break
                after_id = raw_id
                records_in_batch += count
                work.append((row_source, RawRef(raw_id, received_at, apikey_check), records))
            for outcome in land_batch(conn, work, settings, pushes) if work else ():
                report.by_status[outcome.status] += 1
        sizer.landed(len(work), records_in_batch)
        if len(rows) < batch and not cut:
            break
    return report
