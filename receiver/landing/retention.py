"""`callrecon prune`: drop whole weekly partitions past the age, delete in batches only at the edge.

Raw callbacks and their sightings are partitioned by week of received_at (migration 0017). A week
entirely older than the age goes at once: its partitions are detached and dropped, which frees
their disk at once and leaves no dead rows for vacuum. Raw rows of that week that are quarantined
(unless asked) or not landed yet are kept: moved, with their sightings, into the default
partition first. Only the week straddling the age (and the default partition) is deleted row by
row, in short batches that skip locked rows, so callbacks keep flowing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from psycopg import sql

BATCH = 1000
# The lock_timeout of a week's drop is set on callrecon_drop_week (migration 0022).

# The raw tables only: the typed call tables have their own age (receiver/landing/typed_retention.py).
TABLES = (
    "SELECT parent, raw_id_column FROM callrecon_partitioned WHERE retention = 'raw' "
    "ORDER BY parent <> 'raw_inbox', parent"
)
DROPPABLE = """
SELECT from_at, to_at, array_agg(p.parent ORDER BY p.parent <> 'raw_inbox', p.parent),
       array_agg(partition ORDER BY p.parent <> 'raw_inbox', p.parent),
       sum(total_bytes)::bigint, max(reltuples) FILTER (WHERE p.parent = 'raw_inbox')
FROM callrecon_partitions p JOIN pg_class c ON c.relname = p.partition
JOIN callrecon_partitioned r ON r.parent = p.parent AND r.retention = 'raw'
WHERE NOT is_default AND to_at <= %(before)s
GROUP BY from_at, to_at ORDER BY to_at
"""
# Raw callbacks that a dropped week keeps: not landed yet, or quarantined unless the operator said so.
KEEP = "status = 'received' OR (status = 'quarantined' AND NOT {quarantined})"
# Through the parent, bounded to the week (partition pruning reads only its partition): the service
# roles have rights on the partitioned tables, not on each partition.
COUNT_KEPT = (
    "SELECT count(*) FROM raw_inbox WHERE received_at >= %(from_at)s AND received_at < %(to_at)s AND (" + KEEP + ")"
)
# Rows left for the batches: those after the dropped weeks, and older ones in the default partition.
COUNT_EDGE = """
SELECT (SELECT count(*) FROM raw_inbox WHERE received_at >= %(edge)s AND received_at < %(before)s AND {deletable})
     + (SELECT count(*) FROM raw_inbox_default WHERE received_at < %(edge)s AND {deletable})
"""
DELETABLE = "(status IN ('landed', 'note') OR (%(quarantined)s AND status = 'quarantined'))"
DELETE_BATCH = """
WITH gone AS (
    DELETE FROM raw_inbox WHERE id IN (
        SELECT id FROM raw_inbox
        WHERE received_at < %(before)s
          AND (status IN ('landed', 'note') OR (%(quarantined)s AND status = 'quarantined'))
        ORDER BY id
        LIMIT %(batch)s
        FOR UPDATE SKIP LOCKED)
    RETURNING id){sightings}
SELECT count(*) FROM gone
"""


@dataclass
class Week:
    """One week's partitions (raw_inbox's and each sighting table's) wholly past the age."""

    from_at: object
    to_at: object
    parents: list
    partitions: list
    bytes: int
    raw_rows_estimate: int
    kept: int = 0

    def describe(self, unit: str, rows: str) -> str:
        """This week (or month) for people: its range, partitions, rows and size, and what it keeps."""
        since = "the start" if self.from_at is None else f"{self.from_at:%Y-%m-%d}"
        kept = f"; keeps {self.kept} quarantined or unlanded raw callbacks (moved to the default partition)"
        return (
            f"{unit} {since}..{self.to_at:%Y-%m-%d}: {', '.join(self.partitions)} "
            f"(~{self.raw_rows_estimate} {rows}, {self.bytes} bytes){kept if self.kept else ''}"
        )

    @property
    def raw_partition(self) -> str | None:
        """raw_inbox's partition for the week (a legacy range may have none: it was empty)."""
        return dict(zip(self.parents, self.partitions, strict=True)).get("raw_inbox")


@dataclass
class PruneReport:
    """What a prune did (or, dry run, would do)."""

    weeks: list = field(default_factory=list)
    deleted: int = 0
    seconds: float = 0.0

    @property
    def bytes_freed(self) -> int:
        """Bytes on disk of the dropped partitions."""
        return sum(w.bytes for w in self.weeks)


def _tables(conn) -> list:
    """(parent, raw id column) of each partitioned table, raw_inbox first."""
    return conn.execute(TABLES).fetchall()


def plan(conn, before, include_quarantined: bool) -> PruneReport:
    """Weeks to drop (with the raw rows each keeps) and the rows to delete at the edge."""
    quarantined = sql.Literal(include_quarantined)
    report = PruneReport()
    for from_at, to_at, parents, parts, size, estimate in conn.execute(DROPPABLE, {"before": before}):
        week = Week(from_at, to_at, list(parents), list(parts), size or 0, max(int(estimate or 0), 0))
        if week.raw_partition:
            query = sql.SQL(COUNT_KEPT).format(quarantined=quarantined)
            week.kept = conn.execute(query, {"from_at": from_at or "-infinity", "to_at": to_at}).fetchone()[0]
        report.weeks.append(week)
    edge = report.weeks[-1].to_at if report.weeks else "-infinity"
    params = {"before": before, "quarantined": include_quarantined, "edge": edge}
    report.deleted = conn.execute(sql.SQL(COUNT_EDGE).format(deletable=sql.SQL(DELETABLE)), params).fetchone()[0]
    return report


def _drop_week(conn, week: Week, include_quarantined: bool) -> None:
    """Detach and drop one week's partitions in one short transaction, keeping the rows to keep.

    Through callrecon_drop_week (migration 0022): DDL needs the tables' owner, and the function lends
    the reconciler role the owner's rights for exactly this.
    """
    with conn.transaction():
        conn.execute("SELECT callrecon_drop_week(%s, %s)", (week.partitions, include_quarantined))


def _delete_edge(conn, before, include_quarantined: bool, tables: list, batch: int) -> int:
    """Delete raw rows (and their sightings) older than `before` that no dropped week took."""
    sightings = sql.SQL("").join(
        sql.SQL(", {name} AS (DELETE FROM {parent} WHERE {raw_id} IN (SELECT id FROM gone))").format(
            name=sql.Identifier(f"gone_{n}"), parent=sql.Identifier(parent), raw_id=sql.Identifier(raw_id)
        )
        for n, (parent, raw_id) in enumerate(tables)
        if parent != "raw_inbox"
    )
    statement = sql.SQL(DELETE_BATCH).format(sightings=sightings)
    params = {"before": before, "quarantined": include_quarantined, "batch": batch}
    deleted = 0
    while True:
        with conn.transaction():
            count = conn.execute(statement, params).fetchone()[0]
        deleted += count
        if count < batch:
            return deleted


def prune_partitions(conn, before, include_quarantined: bool, dry_run: bool, batch: int = BATCH) -> PruneReport:
    """Drop the weeks wholly before `before`, then delete what is left before it; dry run: only plan."""
    report = plan(conn, before, include_quarantined)
    if dry_run:
        return report
    tables = _tables(conn)
    started = time.monotonic()
    for week in report.weeks:
        _drop_week(conn, week, include_quarantined)
    report.seconds = time.monotonic() - started
    report.deleted = _delete_edge(conn, before, include_quarantined, tables, batch)
    return report


def prune(conn, before, include_quarantined: bool, dry_run: bool, batch: int = BATCH) -> int:
    """Remove (or, dry run, count) raw rows received before `before`; returns how many (estimated in
    dropped weeks)."""
    report = prune_partitions(conn, before, include_quarantined, dry_run, batch)
    return report.deleted + sum(max(w.raw_rows_estimate - w.kept, 0) for w in report.weeks)
