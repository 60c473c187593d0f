"""Partitions (weekly: the raw inbox and the sightings; monthly: the typed calls): created ahead, and what exists.

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
SELECT p.parent, CASE WHEN r.period = interval '1 month' THEN 'monthly' ELSE 'weekly' END AS period,
       count(*) FILTER (WHERE NOT is_default) AS partitions,
       count(*) FILTER (WHERE from_at > %(now)s) AS weeks_ahead,
       max(to_at) AS covered_until,
       extract(epoch FROM %(now)s - CASE WHEN bool_or(from_at IS NULL AND NOT is_default)
                                         THEN min(to_at) FILTER (WHERE from_at IS NULL AND NOT is_default)
                                         ELSE min(from_at) END)::float8 AS oldest_age_s,
       sum(total_bytes)::bigint AS total_bytes
FROM callrecon_partitions p JOIN callrecon_partitioned r ON r.parent = p.parent
GROUP BY p.parent, r.period ORDER BY p.parent
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
# computed exactly as the migration computes its cut-over. Migration 0025 does the same for the
# typed call tables (bound: the next month), whose key also becomes (call key, first_seen_at): that
# index is built here with CREATE INDEX CONCURRENTLY, so the migration only swaps it in.
CUTOVER = "date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 week'"
TYPED_CUTOVER = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 month'"
# A plain (relkind r) table exists only before its partitioning migration.
NEEDS_PREPARING = "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'r')"
TIME_COLUMN = {"raw_inbox": "received_at"}


def prepared(monthly_tables) -> list[tuple[str, str, str | None]]:
    """Each table to prepare, its cut-over and, for the typed ones (its vendor's `monthly_tables`), the key
    its partitions get (migration 0025)."""
    return [("raw_inbox", CUTOVER, None), *((table, TYPED_CUTOVER, key) for table, key in monthly_tables)]


def prepare_upgrade(conn, monthly_tables) -> bool:
    """Validate the legacy range of each still unpartitioned table (and build the typed tables' new key)
    ahead of migrations 0017 and 0025, without blocking writes; True if it did anything."""
    from psycopg import sql

    did = False
    for table, cutover, key in prepared(monthly_tables):
        if not conn.execute(NEEDS_PREPARING, (table,)).fetchone()[0]:
            continue
        check = sql.Identifier(f"{table}_before_partitioning")
        name = sql.Identifier(table)
        column = sql.Identifier(TIME_COLUMN.get(table, "first_seen_at"))
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(name, check))
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} < {}) NOT VALID").format(
                name, check, column, sql.SQL(cutover)
            )
        )
        conn.execute(sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(name, check))
        if key:
            index = sql.Identifier(f"{table}_home_key")
            columns = sql.SQL(", ").join(sql.Identifier(c.strip()) for c in key.split(","))
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index))  # a failed build's leftover
            conn.execute(sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {} ON {} ({})").format(index, name, columns))
        did = True
    return did


def unprepare(conn, monthly_tables) -> None:
    """Drop the checks again (a failed upgrade must not leave a bound that refuses next period's rows)."""
    from psycopg import sql

    for table, _, _ in prepared(monthly_tables):
        if conn.execute(NEEDS_PREPARING, (table,)).fetchone()[0]:
            check = sql.Identifier(f"{table}_before_partitioning")
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(sql.Identifier(table), check))
