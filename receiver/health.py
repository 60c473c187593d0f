"""Source silence, read from the source_health view: for /metrics and `callrecon status`."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry
from prometheus_client.exposition import generate_latest

SOURCE_HEALTH = """
SELECT source, extract(epoch FROM silent_for) AS silent_for_s, silent, in_working_hours, quarantined
FROM source_health ORDER BY source
"""


def source_health(conn) -> list[dict]:
    """One dict per push source: seconds since the last callback, silent?, quarantined rows."""
    cur = conn.execute(SOURCE_HEALTH)
    return [dict(zip([c.name for c in cur.description], row)) for row in cur.fetchall()]


class _Snapshot:
    """A one-off collector over rows already read."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def collect(self):
        silent = GaugeMetricFamily("callrecon_source_silent",
                                   "1 when a push source sent nothing for longer than SILENCE_THRESHOLD during "
                                   "working hours.", labels=["source"])
        age = GaugeMetricFamily("callrecon_source_last_callback_age_seconds",
                                "Seconds since the last callback from a push source (absent if never).",
                                labels=["source"])
        quarantined = GaugeMetricFamily("callrecon_raw_quarantined", "Quarantined raw callbacks, by source.",
                                        labels=["source"])
        for row in self.rows:
            silent.add_metric([row["source"]], 1.0 if row["silent"] else 0.0)
            if row["silent_for_s"] is not None:
                age.add_metric([row["source"]], float(row["silent_for_s"]))
            quarantined.add_metric([row["source"]], float(row["quarantined"]))
        yield from (silent, age, quarantined)


def exposition(rows: list[dict]) -> bytes:
    """Prometheus text for the source-health gauges (read fresh at each scrape, not per process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(rows))
    return generate_latest(registry)
