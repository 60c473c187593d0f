"""One psycopg connection pool per process, opened after gunicorn forks (in create_app)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool


def make_pool(settings, name: str = "callrecon") -> ConnectionPool:
    """A pool that checks connections on checkout, so a restarted database heals by itself."""
    return ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.db_pool_size,
        timeout=settings.db_pool_timeout,
        check=ConnectionPool.check_connection,
        name=name,
        open=True,
    )
