"""`callrecon prune --typed-older-than`: drop whole months of typed call rows past their own age.

ozonetel_call and huawei_call are partitioned by month of first_seen_at (migration 0025), apart
from the raw tables' weeks, and kept longer: a month wholly older than the typed age (TYPED_RETENTION)
is detached and dropped with the raw weeks' own code, which frees its disk at once. Only the month
straddling the age (and the default partition) is deleted row by row, in short batches that skip
locked rows. A call dropped this way and pushed again later is stored as a new call.
"""

from __future__ import annotations

import time

from psycopg import sql

from receiver.landing.retention import BATCH, PruneReport, Week, _drop_week

TABLES = "SELECT parent, time_column, local_key FROM callrecon_partitioned WHERE retention = 'typed' ORDER BY parent"
DROPPABLE = """
SELECT from_at, to_at, array_agg(p.parent ORDER BY p.parent), array_agg(partition ORDER BY p.parent),
       sum(total_bytes)::bigint, sum(GREATEST(c.reltuples, 0))::bigint
FROM callrecon_partitions p JOIN pg_class c ON c.relname = p.partition
JOIN callrecon_partitioned r ON r.parent = p.parent AND r.retention = 'typed'
WHERE NOT is_default AND to_at <= %(before)s
GROUP BY from_at, to_at ORDER BY to_at
"""
# Rows left for the batches: in the month at the age (partition pruning reads only it), and older
# ones in the default partition.
COUNT_EDGE = "SELECT count(*) FROM {parent} WHERE {time} >= %(edge)s AND {time} < %(before)s"
COUNT_DEFAULT = "SELECT count(*) FROM {default} WHERE {time} < %(edge)s"
DELETE_BATCH = """
DELETE FROM {parent} WHERE ({key}) IN (
    SELECT {key} FROM {parent} WHERE {time} < %(before)s LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
"""


def _tables(conn) -> list:
    """(parent, time column, key columns) of each typed partitioned table."""
    return conn.execute(TABLES).fetchall()


def plan(conn, before) -> PruneReport:
    """Months to drop (whole partitions, all typed tables) and the typed rows to delete at the edge."""
    report = PruneReport()
    for from_at, to_at, parents, parts, size, estimate in conn.execute(DROPPABLE, {"before": before}):
        report.weeks.append(Week(from_at, to_at, list(parents), list(parts), size or 0, int(estimate or 0)))
    edge = report.weeks[-1].to_at if report.weeks else "-infinity"
    for parent, time_column, _ in _tables(conn):
        names = {"parent": sql.Identifier(parent), "time": sql.Identifier(time_column)}
        params = {"edge": edge, "before": before}
        report.deleted += conn.execute(sql.SQL(COUNT_EDGE).format(**names), params).fetchone()[0]
        default = sql.Identifier(f"{parent}_default")
        report.deleted += conn.execute(sql.SQL(COUNT_DEFAULT).format(default=default, **names), params).fetchone()[0]
    return report


def _delete_edge(conn, before, batch: int) -> int:
    """Delete typed rows first seen before `before` that no dropped month took, in short batches."""
    deleted = 0
    for parent, time_column, local_key in _tables(conn):
        key = sql.SQL(", ").join(sql.Identifier(c.strip()) for c in local_key.split(","))
        statement = sql.SQL(DELETE_BATCH).format(
            parent=sql.Identifier(parent), key=key, time=sql.Identifier(time_column)
        )
        while True:
            with conn.transaction():
                count = conn.execute(statement, {"before": before, "batch": batch}).rowcount
            deleted += count
            if count < batch:
                break
    return deleted


def prune_typed(conn, before, dry_run: bool, batch: int = BATCH) -> PruneReport:
    """Drop the months of typed rows wholly before `before`, then delete what is left before it; dry run: plan."""
    report = plan(conn, before)
    if dry_run:
        return report
    started = time.monotonic()
    for month in report.weeks:
        _drop_week(conn, month, False)
    report.seconds = time.monotonic() - started
    report.deleted = _delete_edge(conn, before, batch)
    return report
