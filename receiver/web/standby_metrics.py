"""Gauges of the analysts' hot standby (STANDBY_DATABASE_URL), read from both servers at each scrape.

Absent unless a standby is configured. Analysts' numbers (and the console's pages, when they read
the standby) are as old as its replay, so the lag is what an alert should watch; `up` tells a
standby that does not answer, or that answers but is no standby (promoted, or a wrong URL).
"""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from receiver.web.metrics import exposition_of


def families(state: dict | None) -> list[GaugeMetricFamily]:
    """The standby's gauges from receiver.database.standby.lag's answer (None: it did not answer)."""
    up = GaugeMetricFamily(
        "callrecon_standby_up",
        "1 when the standby at STANDBY_DATABASE_URL answers and is in recovery (a hot standby), else 0.",
    )
    lag = GaugeMetricFamily(
        "callrecon_standby_replay_lag_seconds",
        "0 when the standby has replayed all the primary has written; else the age of the last transaction "
        "it replayed (absent when unknown).",
    )
    behind = GaugeMetricFamily(
        "callrecon_standby_replay_behind_bytes",
        "Bytes of WAL the primary has written and the standby has not replayed yet.",
    )
    standby = bool(state and state["in_recovery"])
    up.add_metric([], 1.0 if standby else 0.0)
    if standby:
        if state["lag_s"] is not None:
            lag.add_metric([], float(state["lag_s"]))
        behind.add_metric([], float(state["behind_bytes"]))
    return [up, lag, behind]


def exposition(state: dict | None) -> bytes:
    """Prometheus text for the standby's gauges."""
    return exposition_of(families(state))
