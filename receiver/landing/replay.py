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
from receiver.vendors.registry import PUSHES

# Raw rows per landing transaction. Each batch pays fixed costs (the pending scan, five statements,
# the commit) whatever its size: one lander over 10,000 fresh callbacks used 190 us of CPU per row
# (Python and PostgreSQL) at 200, 155 us at 1,000, and no less at 2,000.
BATCH = 1000
log = logging.getLogger("callrecon.landing")


def land_batch(conn, work: list, settings) -> list:
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
                    landed = land_unguarded(conn, PUSHES[source], [work[n][1:] for n in indexes], settings)
                    for n, outcome in zip(indexes, landed, strict=True):
                        outcomes[n] = outcome
            return outcomes
        except psycopg.OperationalError:
            raise
        except Exception:
            log.info("a landing batch of %d raw rows failed; landing them one by one", len(work))
    return [land(conn, PUSHES[source].land, raw, records, settings) for source, raw, records in work]


@dataclass
class ReplayReport:
    """Counts of raw rows by their status after the replay."""

    by_status: Counter = field(default_factory=Counter)
    skipped_sources: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Raw rows re-parsed."""
        return sum(self.by_status.values())


def replay(conn, settings, *, include_all=False, source=None, ids=None, limit=None, pending_only=False) -> ReplayReport:
    """Re-parse quarantined (or, with include_all, every) raw row; one transaction per batch.

    pending_only lands rows a deferred-landing receiver stored and nothing has parsed yet.
    """
    report = ReplayReport()
    after_id = 0
    while limit is None or report.total < limit:
        batch = BATCH if limit is None else min(BATCH, limit - report.total)
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
            work = []
            for raw_id, received_at, row_source, content_type, body, apikey_check in rows:
                after_id = raw_id
                if row_source not in PUSHES:
                    report.skipped_sources[row_source] += 1
                    continue
                try:
                    records = mask_records(decode(bytes(body), content_type))
                except BodyError as exc:
                    records = exc
                work.append((row_source, RawRef(raw_id, received_at, apikey_check), records))
            for outcome in land_batch(conn, work, settings):
                report.by_status[outcome.status] += 1
        if len(rows) < batch:
            break
    return report
