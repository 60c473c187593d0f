"""The two baselines bench/ingest measures callrecon against, served by the same gunicorn config.

- `hello_app()`: reads the body and answers JSON; stores nothing. The framework's own ceiling.
- `naive_app()`: parses the JSON, one INSERT, one commit per request. What a first receiver does.
"""

from __future__ import annotations

import json
import os

from flask import Flask, jsonify, request
from psycopg_pool import ConnectionPool


def hello_app() -> Flask:
    app = Flask("bench_hello")

    @app.post("/callbacks/<source>/<token>")
    def receive(source, token):
        body = request.get_data(cache=False)
        return jsonify(status="ok", bytes=len(body))

    return app


NAIVE_TABLE = (
    "CREATE TABLE IF NOT EXISTS naive_callback (id bigserial PRIMARY KEY, "
    "received_at timestamptz NOT NULL DEFAULT now(), body jsonb NOT NULL)"
)


def naive_app() -> Flask:
    app = Flask("bench_naive")
    pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=1, max_size=8, open=True)

    @app.post("/callbacks/<source>/<token>")
    def receive(source, token):
        body = json.loads(request.get_data(cache=False))
        with pool.connection() as conn:  # commits on leaving the block
            row = conn.execute(
                "INSERT INTO naive_callback (body) VALUES (%s) RETURNING id", (json.dumps(body),)
            ).fetchone()
        return jsonify(status="stored", id=row[0])

    return app
