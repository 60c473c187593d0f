"""Gauges for what operators alert on beyond the pushes: the reconciler's open and failing work, each
budget's use over the last hour, and readiness, read from the database at each scrape.

They come from the same functions as the /ops console (receiver.work), so a dashboard, an alert and
the console page agree. docs/prometheus-alerts.yml and docs/grafana-dashboard.json use them.
"""

from __future__ import annotations

import datetime as dt

from prometheus_client.core import GaugeMetricFamily

from receiver import ledgers as work_items
from receiver.database import migrations
from receiver.web.metrics import exposition_of


def families(conn, tables: list, sql_dir, now: dt.datetime | None = None) -> list[GaugeMetricFamily]:
    """The gauges of the ledgers `tables` (receiver.ledgers.Ledger), read now."""
    now = now or dt.datetime.now(dt.timezone.utc)
    open_items = GaugeMetricFamily(
        "callrecon_reconcile_open", "Reconciler items still worked on (not final), by source.", labels=["source"]
    )
    failing = GaugeMetricFamily(
        "callrecon_reconcile_failing",
        "Open reconciler items whose last vendor call failed (they are retried with backoff), by source.",
        labels=["source"],
    )
    oldest = GaugeMetricFamily(
        "callrecon_reconcile_oldest_open_seconds",
        "Age of the time the oldest open item is about (window start, call first seen, request registered).",
        labels=["source"],
    )
    for table in tables:
        counts = work_items.counts(conn, table, now)
        open_items.add_metric([table.source], float(counts["open"]))
        failing.add_metric([table.source], float(counts["failing"]))
        if counts["oldest_s"] is not None:
            oldest.add_metric([table.source], float(counts["oldest_s"]))
    budget = GaugeMetricFamily(
        "callrecon_rate_budget_used_ratio",
        "Vendor calls made in the last hour over the hourly limit in force, by rate budget (1 = spent).",
        labels=["budget"],
    )
    for name in dict.fromkeys(t.budget for t in tables):
        use = work_items.budget_use(conn, name, tables, now)
        if use is not None:
            budget.add_metric([name], float(use["share"]))
    ready = GaugeMetricFamily(
        "callrecon_ready", "1 when the database answers and every migration is applied (as /readyz), else 0."
    )
    ready.add_metric([], 0.0 if migrations.pending(conn, sql_dir) else 1.0)
    return [open_items, failing, oldest, budget, ready]


def exposition(conn, tables: list, sql_dir, now: dt.datetime | None = None) -> bytes:
    """Prometheus text for these gauges."""
    return exposition_of(families(conn, tables, sql_dir, now))
