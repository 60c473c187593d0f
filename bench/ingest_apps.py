"""The baselines bench/ingest measures callrecon against, served by the same gunicorn config.

- `hello_app()`: reads the body and answers JSON; stores nothing. The framework's own ceiling.
- `durable_pool_app()`: the minimal durable receiver, one way: the raw body, one INSERT and one
  commit per request over a connection pool; no parsing, no logging; answers after the commit.
- `durable_group_app()`: the minimal durable receiver, the other way: the raw body queued for a
  group commit (requests arriving while a commit is in flight share the next one, one multi-row
  INSERT on one held autocommit connection), answered after that commit; no parsing, no logging.
  It uses callrecon's own GroupCommit, which is generic: the baseline gets the same batching.

bench/ingest takes the faster of the two durable ones as its baseline b, per post shape.
"""

from __future__ import annotations

import functools
import os

import psycopg
from flask import Flask, jsonify, request
from psycopg_pool import ConnectionPool

from receiver.landing.groupcommit import GroupCommit

DURABLE_TABLE = (
    "CREATE TABLE IF NOT EXISTS durable_callback (id bigserial PRIMARY KEY, "
    "received_at timestamptz NOT NULL DEFAULT now(), body bytea NOT NULL)"
)


def hello_app() -> Flask:
    app = Flask("bench_hello")

    @app.post("/callbacks/<source>/<token>")
    def receive(source, token):
        body = request.get_data(cache=False)
        return jsonify(status="ok", bytes=len(body))

    return app


def durable_pool_app() -> Flask:
    app = Flask("bench_durable_pool")
    pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=4, max_size=8, open=True)

    @app.post("/callbacks/<source>/<token>")
    def receive(source, token):
        body = request.get_data(cache=False)
        with pool.connection() as conn:  # commits on leaving the block
            row = conn.execute("INSERT INTO durable_callback (body) VALUES (%s) RETURNING id", (body,)).fetchone()
        return jsonify(status="stored", id=row[0])

    return app


class _Held:
    """The one autocommit connection the group-commit leader writes on (GroupCommit's `db`)."""

    def __init__(self, url: str):
        self.url, self.conn = url, None

    def held(self):
        if self.conn is not None and not self.conn.closed:
            return self.conn, False
        self.conn = psycopg.connect(self.url, autocommit=True)
        return self.conn, True

    def drop_held(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


@functools.cache
def _insert_many(count: int) -> str:
    values = ", ".join(f"(${n}::bytea)" for n in range(1, count + 1))
    return f"INSERT INTO durable_callback (body) VALUES {values} RETURNING id"


def _write(conn, bodies: list[bytes]) -> list[int]:
    with psycopg.RawCursor(conn) as cur:
        return sorted(row[0] for row in cur.execute(_insert_many(len(bodies)), bodies).fetchall())


def durable_group_app() -> Flask:
    app = Flask("bench_durable_group")
    writer = GroupCommit(_Held(os.environ["DATABASE_URL"]), _write)

    @app.post("/callbacks/<source>/<token>")
    def receive(source, token):
        raw_id = writer.submit(request.get_data(cache=False))  # returns after the commit
        return jsonify(status="stored", id=raw_id)

    return app
