"""A hot standby of callrecon's database: how far behind the primary it is, and waiting for it to catch up.

Analysts (and, with CONSOLE_DATABASE_URL, the console's pages) may read a streaming replica
(docs/scaling.md, "A replica for analysts"). What they see is as old as the standby's replay, so
/metrics, `callrecon status` and the console's actions ask both servers: the primary how much WAL
it has written, the standby how much it has replayed. The functions asked need no privilege, so
any login works on either side.
"""

from __future__ import annotations

import time

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from receiver.landing.masking import mask_text

PRIMARY_LSN = "SELECT pg_current_wal_lsn()"
# Lag in time is 0 when the standby has replayed all the primary had written when asked; else the
# age of the last transaction it replayed (its commit time on the primary, by the standby's clock).
# A standby cut off from the primary keeps "replayed = received", so the bytes behind the primary,
# not the standby's own receive position, tell that it stopped following.
STANDBY_STATE = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       pg_last_xact_replay_timestamp() AS replayed_commit_at,
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_replay_lsn() >= %(primary)s::pg_lsn THEN 0.0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag_s,
       greatest(pg_wal_lsn_diff(%(primary)s::pg_lsn, pg_last_wal_replay_lsn()), 0)::float8 AS behind_bytes
"""
# A server not in recovery has nothing to replay: reads there already see every commit it has.
REPLAYED = "SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= %(primary)s::pg_lsn"
POLL_S = 0.02


def primary_lsn(conn) -> str:
    """The primary's WAL position now (what a standby must replay to show every commit made so far)."""
    return str(conn.execute(PRIMARY_LSN).fetchone()[0])


def lag(primary_conn, standby_conn) -> dict:
    """The standby's state against the primary's current position: in_recovery, replayed_lsn, replayed_commit_at,
    lag_s (None when unknown: no transaction replayed since the standby started) and behind_bytes."""
    position = primary_lsn(primary_conn)
    with standby_conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(STANDBY_STATE, {"primary": position}).fetchone()


def read(primary_conn, standby_url: str, connect_timeout: int = 2) -> dict:
    """lag() on a connection of its own to `standby_url` (a scrape or `callrecon status` now and then: no pool)."""
    with psycopg.connect(standby_url, autocommit=True, connect_timeout=connect_timeout) as standby_conn:
        return lag(primary_conn, standby_conn)


def wait_for_replay(standby_database, position: str, timeout_s: float) -> bool:
    """Wait until the standby (a receiver.database.pool.Database) has replayed `position`; False after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        with standby_database.connection() as conn:
            if conn.execute(REPLAYED, {"primary": position}).fetchone()[0]:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def unanswered(url: str, exc: Exception) -> str:
    """One line for an operator: which standby did not answer and why (password masked), and what to check."""
    info = conninfo_to_dict(url)
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    reason = mask_text(reason, [p for p in [info.get("password")] if p])
    return (
        f"the standby at {where} does not answer ({reason}); check STANDBY_DATABASE_URL and that the standby "
        "runs (docs/scaling.md, A replica for analysts)"
    )
