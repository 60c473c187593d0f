"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from flask import Blueprint, Response, current_app, jsonify
from psycopg_pool import PoolTimeout

from receiver.database import migrations, standby
from receiver.landing import partitions
from receiver.web import completeness_metrics, health, metrics, partition_metrics, standby_metrics, work_metrics

bp = Blueprint("ops", __name__)

# Probes answer within a load balancer's usual 1-2 s probe timeout, even while callbacks wait
# DB_POOL_TIMEOUT for a connection during a database outage.
PROBE_POOL_TIMEOUT_S = 1.0
log = logging.getLogger("callrecon.ops")


def now() -> dt.datetime:
    """The time partitions are measured against."""
    return dt.datetime.now(dt.timezone.utc)


def vendors():
    """The app's vendor registry (create_app's `vendors`)."""
    return current_app.extensions["callrecon_vendors"]


def accepting(settings, registry) -> list[str]:
    """The push sources with at least one callback token: the only ones a callback can reach."""
    return [source for source, push in registry.pushes.items() if push.tokens(settings)]


def no_tokens_message(registry) -> str:
    """What to set when no push source has a token."""
    names = " or ".join(f"{source.upper()}_CALLBACK_TOKENS" for source in registry.pushes)
    return f"no callback token is configured, so every push would get 401: set {names} (`make run` writes them)"


@bp.get("/healthz")
def healthz():
    """The process is up and serving requests (says nothing about the database)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers and every migration in sql/ is applied; else 503."""
    settings = current_app.config["CALLRECON_SETTINGS"]
    try:
        with current_app.extensions["callrecon_pool"].connection(timeout=PROBE_POOL_TIMEOUT_S) as conn:
            waiting = migrations.pending(conn, settings.sql_dir)
    except (psycopg.Error, PoolTimeout) as exc:
        return jsonify(
            status="unavailable",
            database="unreachable",
            message=f"database not reachable ({type(exc).__name__}): check DATABASE_URL and that PostgreSQL is running",
        ), 503
    if waiting:
        return jsonify(
            status="unavailable",
            database="ok",
            pending_migrations=[m.name for m in waiting],
            message="migrations are pending: run `callrecon db upgrade`",
        ), 503
    if not accepting(settings, vendors()):
        return jsonify(
            status="unavailable",
            database="ok",
            pending_migrations=[],
            accepting=[],
            message=no_tokens_message(vendors()),
        ), 503
    return jsonify(status="ready", database="ok", pending_migrations=[])


@bp.get("/metrics")
def prometheus():
    """Prometheus exposition of callback counters and latency, plus source silence and backlog from the database."""
    payload, content_type = metrics.render()
    try:
        with current_app.extensions["callrecon_pool"].connection(timeout=PROBE_POOL_TIMEOUT_S) as conn:
            payload += health.exposition(
                health.source_health(conn),
                health.unlanded(conn),
                health.gave_up(conn, vendors().ledgers),
                health.landing_lag(conn, vendors().pushes),
            )
            payload += work_metrics.exposition(
                conn, list(vendors().ledgers.values()), current_app.config["CALLRECON_SETTINGS"].sql_dir
            )
            payload += partition_metrics.exposition(partitions.overview(conn, now()), partitions.table_bytes(conn))
            payload += completeness_metrics.exposition(
                conn, current_app.config["CALLRECON_SETTINGS"].business_timezone, now()
            )
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("source health unavailable for /metrics", extra={"fields": {"error": type(exc).__name__}})
    standby_url = current_app.config["CALLRECON_SETTINGS"].standby_database_url
    if standby_url:
        payload += standby_metrics.exposition(standby_state(standby_url))
    return Response(payload, content_type=content_type)


def standby_state(standby_url: str) -> dict | None:
    """The standby's lag against the primary (receiver.database.standby), or None when either does not answer."""
    try:
        with current_app.extensions["callrecon_pool"].connection(timeout=PROBE_POOL_TIMEOUT_S) as conn:
            return standby.read(conn, standby_url)
    except (psycopg.Error, PoolTimeout) as exc:
        # The URL may hold a password: the log names the error's kind, the status command the place.
        log.warning("standby lag unavailable for /metrics", extra={"fields": {"error": type(exc).__name__}})
        return None
