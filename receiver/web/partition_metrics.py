"""Partition and table-size gauges for /metrics, read from the database at each scrape."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry


class _Snapshot:
    """A one-off collector over rows already read."""

    def __init__(self, parts: list[dict], sizes: dict[str, int]):
        self.parts, self.sizes = parts, sizes

    def collect(self):
        ahead = GaugeMetricFamily(
            "callrecon_partitions_ahead",
            "Weekly partitions that start after now; below 1, new rows go to the default partition: "
            "run callrecon db upgrade.",
            labels=["table"],
        )
        oldest = GaugeMetricFamily(
            "callrecon_partition_oldest_age_seconds",
            "Age of the oldest partition's start (of its end for the legacy one).",
            labels=["table"],
        )
        default = GaugeMetricFamily(
            "callrecon_partition_default_rows",
            "Rows in the default partition: 0, or raw callbacks prune kept from a dropped week.",
            labels=["table"],
        )
        size = GaugeMetricFamily(
            "callrecon_table_bytes",
            "Bytes on disk per table, its partitions, indexes and TOAST included.",
            labels=["table"],
        )
        for row in self.parts:
            ahead.add_metric([row["parent"]], float(row["weeks_ahead"]))
            if row["oldest_age_s"] is not None:
                oldest.add_metric([row["parent"]], float(row["oldest_age_s"]))
            default.add_metric([row["parent"]], float(row["default_rows"]))
        for table, total in self.sizes.items():
            size.add_metric([table], float(total or 0))
        yield from (ahead, oldest, default, size)


def exposition(parts: list[dict], sizes: dict[str, int]) -> bytes:
    """Prometheus text for the partition and size gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(parts, sizes))
    return generate_latest(registry)
