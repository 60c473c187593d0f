"""The worker's database: one psycopg pool per process (opened after gunicorn forks, in create_app).

It also remembers whether the last attempt reached the database. During an outage every request
would otherwise wait the full DB_POOL_TIMEOUT for a connection, holding all worker threads, so
that /readyz could not answer; once an attempt has failed, callbacks wait only briefly until one
succeeds again.

Beside the pool it keeps one autocommit connection for the group-commit leader (deferred
landing). Profiling showed a pooled batch costing five round trips (the checkout's health check,
BEGIN, INSERT, COMMIT, the return); on a held autocommit connection the INSERT is the whole
transaction, one round trip, and its reply still comes only after the commit.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from receiver.database.connect import Connector
from receiver.landing.masking import mask_text

WAIT_WHILE_DOWN_S = 0.1


class Database:
    """A connection pool plus what it last learned about the database's availability."""

    def __init__(self, pool: ConnectionPool, wait_s: float):
        self.pool, self.wait_s, self.down = pool, wait_s, False
        self._held: psycopg.Connection | None = None
        self.companions: list[Database] = []  # closed with this one (the console's own pool)

    @contextmanager
    def connection(self, timeout: float | None = None):
        """A pooled connection; commits on a clean exit (psycopg_pool's contract)."""
        if timeout is None:
            timeout = WAIT_WHILE_DOWN_S if self.down else self.wait_s
        try:
            with self.pool.connection(timeout=timeout) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout):
            self.down = True
            raise
        self.down = False

    def held(self) -> tuple[psycopg.Connection, bool]:
        """The held autocommit connection, and whether it was just opened (False: it may have died idle).

        One thread at a time uses it (the group-commit leader), so it needs no lock of its own.
        """
        if self._held is not None and not self._held.closed:
            return self._held, False
        self._held = psycopg.connect(
            self.pool.conninfo, autocommit=True, connect_timeout=max(1, round(self.wait_s)), **(self.pool.kwargs or {})
        )
        return self._held, True

    def drop_held(self) -> None:
        """Close the held connection (after an error it may be broken); the next use reconnects."""
        conn, self._held = self._held, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self.drop_held()
        self.pool.close()
        for other in self.companions:
            other.close()


def make_pool(settings, name: str = "callrecon", url: str | None = None) -> Database:
    """A pool that checks connections on checkout, so a restarted database heals by itself."""
    pool = ConnectionPool(
        url or settings.database_url,
        min_size=1,
        max_size=settings.db_pool_size,
        timeout=settings.db_pool_timeout,
        check=ConnectionPool.check_connection,
        kwargs=Connector.of(settings).kwargs(),
        name=name,
        open=True,
    )
    return Database(pool, settings.db_pool_timeout)


def unreachable(database_url: str, exc: Exception, variable: str = "DATABASE_URL") -> str:
    """One line for an operator: where we looked for the database and why it failed, password masked."""
    info = conninfo_to_dict(database_url)
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = mask_text(reason, [p for p in [info.get("password")] if p])
    return (
        f"the database at {where} ({variable}) does not answer ({reason}); "
        f"check {variable}, or run `callrecon db ensure` for a local one"
    )
