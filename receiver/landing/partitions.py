"""Weekly partitions of the raw inbox and the sightings: created ahead, and what exists now.

Every process that can run for weeks creates the weeks ahead (`callrecon db upgrade`, each
reconciler pass), so an insert never needs a partition that does not exist; should all of them stop
for longer than PARTITIONS_AHEAD weeks, rows still land, in the default partition, and
`callrecon status` and /metrics say so.
"""

from __future__ import annotations

from psycopg.rows import dict_row

ENSURE = "SELECT callrecon_ensure_partitions(%(ahead)s, %(since)s, COALESCE(%(at)s::timestamptz, now()))"

# One row per partitioned table. The legacy partition (from before migration 0017) has no lower
# bound, so its age is that of its end: it holds older rows too. The default partition is counted
# row by row: it should hold none, or the few raw callbacks prune kept from a dropped week.
OVERVIEW = """
SELECT p.parent,
       count(*) FILTER (WHERE NOT is_default) AS partitions,
       count(*) FILTER (WHERE from_at > %(now)s) AS weeks_ahead,
       max(to_at) AS covered_until,
       extract(epoch FROM %(now)s - CASE WHEN bool_or(from_at IS NULL AND NOT is_default)
                                         THEN min(to_at) FILTER (WHERE from_at IS NULL AND NOT is_default)
                                         ELSE min(from_at) END)::float8 AS oldest_age_s,
       sum(total_bytes)::bigint AS total_bytes
FROM callrecon_partitions p GROUP BY p.parent ORDER BY p.parent
"""
DEFAULT_ROWS = "SELECT count(*) FROM {}"
# Size on disk of every table (a partitioned one: all its partitions), indexes and TOAST included.
TABLE_BYTES = """
SELECT c.relname::text AS table_name,
       CASE c.relkind WHEN 'p' THEN (SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t)
                      ELSE pg_total_relation_size(c.oid) END::bigint AS total_bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 2 DESC, 1
"""


def ensure(conn, ahead: int, at=None, since=None) -> int:
    """Create the weekly partitions from the week of `since` (a bulk load of history) or `at` (default now)
    up to `ahead` weeks after `at`; returns how many were new."""
    with conn.transaction():
        return conn.execute(ENSURE, {"ahead": ahead, "at": at, "since": since}).fetchone()[0]


def overview(conn, now) -> list[dict]:
    """Per partitioned table: partitions, weeks ahead of `now`, covered until, oldest age, bytes, default rows."""
    from psycopg import sql

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(OVERVIEW, {"now": now}).fetchall()
    for row in rows:
        default = sql.SQL(DEFAULT_ROWS).format(sql.Identifier(f"{row['parent']}_default"))
        row["default_rows"] = conn.execute(default).fetchone()[0]
    return rows


def table_bytes(conn) -> dict[str, int]:
    """{table: bytes on disk}, largest first."""
    return dict(conn.execute(TABLE_BYTES).fetchall())


# Before migration 0017 turns raw_inbox into a partitioned table, prove outside its transaction
# that every row fits the legacy range: VALIDATE CONSTRAINT reads the whole table holding only
# SHARE UPDATE EXCLUSIVE, so callbacks keep being stored meanwhile. The migration then attaches the
# old table without reading it again, under its exclusive lock for only a moment. The bound is
# computed exactly as the migration computes its cut-over.
CUTOVER = "date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 week'"
# A plain raw_inbox (relkind r) exists only before migration 0017 and after 0001.
NEEDS_PREPARING = "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'raw_inbox' AND relkind = 'r')"
PREPARE = (
    "ALTER TABLE raw_inbox ADD CONSTRAINT raw_inbox_before_partitioning CHECK (received_at < {cutover}) NOT VALID",
    "ALTER TABLE raw_inbox VALIDATE CONSTRAINT raw_inbox_before_partitioning",
)
UNPREPARE = "ALTER TABLE raw_inbox DROP CONSTRAINT IF EXISTS raw_inbox_before_partitioning"


def prepare_upgrade(conn) -> bool:
    """Validate the legacy range of an unpartitioned raw_inbox ahead of migration 0017; True if it did."""
    if not conn.execute(NEEDS_PREPARING).fetchone()[0]:
        return False
    conn.execute(UNPREPARE)
    conn.execute(PREPARE[0].format(cutover=CUTOVER))
    conn.execute(PREPARE[1])
    return True


def unprepare(conn) -> None:
    """Drop the check again (a failed upgrade must not leave a bound that refuses next week's rows)."""
    conn.execute(UNPREPARE)
