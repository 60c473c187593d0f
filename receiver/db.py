"""The worker's database: one psycopg pool per process (opened after gunicorn forks, in create_app).

It also remembers whether the last attempt reached the database. During an outage every request
would otherwise wait the full DB_POOL_TIMEOUT for a connection, holding all worker threads, so
that /readyz could not answer; once an attempt has failed, callbacks wait only briefly until one
succeeds again.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

WAIT_WHILE_DOWN_S = 0.1


class Database:
    """A connection pool plus what it last learned about the database's availability."""

    def __init__(self, pool: ConnectionPool, wait_s: float):
        self.pool, self.wait_s, self.down = pool, wait_s, False

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

    def close(self) -> None:
        self.pool.close()


def make_pool(settings, name: str = "callrecon") -> Database:
    """A pool that checks connections on checkout, so a restarted database heals by itself."""
    pool = ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.db_pool_size,
        timeout=settings.db_pool_timeout,
        check=ConnectionPool.check_connection,
        name=name,
        open=True,
    )
    return Database(pool, settings.db_pool_timeout)
