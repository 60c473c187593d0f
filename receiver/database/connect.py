"""Every connection callrecon opens, shaped for what sits between it and PostgreSQL (DATABASE_POOLER).

A pooler in transaction mode (PgBouncer 1.18, as Debian ships it) hands each transaction whichever
server connection is free, so a client's session state does not follow it. callrecon keeps none
(advisory locks are per transaction, the rate budget is a table, nothing LISTENs or holds a cursor),
with one exception it does not choose: psycopg prepares a statement on the server after its fifth run
(`_pg3_0`, `_pg3_1`, ...), and the next client handed that server connection collides with it
(DuplicatePreparedStatement) or misses its own (InvalidSqlStatementName). With
DATABASE_POOLER=transaction no statement is prepared on the server.

Where the setting is missing, `check` tells a transaction pooler at start by where a second client's
transaction lands; where that cannot tell, the first prepared-statement error is logged once with the
same line (`one_line`, a filter on every log handler), never as a traceback.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import psycopg

POOLERS = ("none", "transaction")
FIX = (
    "DATABASE_URL leads to a connection pooler in transaction mode (PgBouncer's pool_mode = transaction): "
    "set DATABASE_POOLER=transaction, or point DATABASE_URL at PostgreSQL itself"
)
# psycopg names the statements it prepares _pg3_<n>; a pooler lets another client's meet ours.
POOLER_ERRORS = (psycopg.errors.DuplicatePreparedStatement, psycopg.errors.InvalidSqlStatementName)

_said = threading.Event()


class BehindPooler(Exception):
    """DATABASE_URL reaches a transaction pooler and DATABASE_POOLER does not say so."""


@dataclass(frozen=True)
class Connector:
    """One database URL and the pooler in front of it: opens connections the way that pooler needs."""

    url: str
    pooler: str = "none"

    @classmethod
    def of(cls, settings, url: str | None = None) -> Connector:
        """DATABASE_URL (or `url`, another login to the same server) with the configured DATABASE_POOLER."""
        return cls(url or settings.database_url, settings.database_pooler)

    def kwargs(self) -> dict:
        """psycopg.connect keywords: no server-side prepared statements behind a transaction pooler."""
        return {"prepare_threshold": None} if self.pooler == "transaction" else {}

    def connect(self, *, autocommit: bool = True, timeout: float = 5) -> psycopg.Connection:
        """A connection; autocommit by default, so each unit of work opens its own transaction block."""
        return psycopg.connect(self.url, autocommit=autocommit, connect_timeout=max(1, round(timeout)), **self.kwargs())


def connector(database) -> Connector:
    """A Connector from a Connector or a plain URL (a URL alone means no pooler)."""
    return database if isinstance(database, Connector) else Connector(database)


def behind_transaction_pooler(conn: psycopg.Connection, url: str) -> bool:
    """True when a second client's transaction runs on the server connection conn has just used.

    Connected straight to PostgreSQL (or through a pooler in session mode) each client keeps its own
    server process for life, so that cannot happen: no false alarm is possible. A transaction pooler
    hands the second client the server connection conn released a moment ago (PgBouncer reuses the
    most recent first), so it is almost always seen. conn asks nothing while the other client holds
    its transaction: with a pool of one server connection it would wait for it.
    """
    first = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(url, connect_timeout=5, prepare_threshold=None) as other:
        borrowed = other.execute("SELECT pg_backend_pid()").fetchone()[0]
        other.rollback()
    return borrowed == first


def check(database: Connector, conn: psycopg.Connection | None = None) -> None:
    """Raise BehindPooler when DATABASE_POOLER=none but DATABASE_URL reaches a transaction pooler (on conn, an
    autocommit connection to database.url, when given)."""
    if database.pooler == "transaction":
        return
    if conn is not None:
        if behind_transaction_pooler(conn, database.url):
            raise BehindPooler(FIX)
        return
    with psycopg.connect(database.url, autocommit=True, connect_timeout=5, prepare_threshold=None) as own:
        check(database, own)


def explain(exc: BaseException) -> str | None:
    """The DATABASE_POOLER line when exc is what a transaction pooler does to prepared statements, else None."""
    return FIX if isinstance(exc, POOLER_ERRORS) and "_pg3_" in str(exc) else None


def one_line(record: logging.LogRecord) -> bool:
    """Log filter: a record carrying a pooler's prepared-statement error becomes the DATABASE_POOLER line, once
    per process, with no traceback; the same error again is not logged (it is the same fix)."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is None or explain(exc) is None:
        return True
    if _said.is_set():
        return False
    _said.set()
    record.msg, record.args, record.exc_info, record.exc_text = FIX, None, None, None
    record.levelno, record.levelname = logging.ERROR, "ERROR"
    record.fields = {**getattr(record, "fields", {}), "error": type(exc).__name__}
    return True
