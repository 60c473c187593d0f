"""Partition and table-size gauges for /metrics, read from the database at each scrape."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from receiver.web.metrics import exposition_of


def families(parts: list[dict], sizes: dict[str, int]) -> list[GaugeMetricFamily]:
    """The partition and size gauges, from rows already read."""
    ahead = GaugeMetricFamily(
        "callrecon_partitions_ahead",
        "Partitions (weeks; months for the typed call tables) that start after now; below 1, new rows "
        "go to the default partition: run callrecon db upgrade.",
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
    for row in parts:
        ahead.add_metric([row["parent"]], float(row["weeks_ahead"]))
        if row["oldest_age_s"] is not None:
            oldest.add_metric([row["parent"]], float(row["oldest_age_s"]))
        default.add_metric([row["parent"]], float(row["default_rows"]))
    for table, total in sizes.items():
        size.add_metric([table], float(total or 0))
    return [ahead, oldest, default, size]


def exposition(parts: list[dict], sizes: dict[str, int]) -> bytes:
    """Prometheus text for the partition and size gauges."""
    return exposition_of(families(parts, sizes))
