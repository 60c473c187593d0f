"""Gauges of yesterday's completeness: completeness_daily's measures for the last closed business day.

A closed day is what the vendors' own reports answer for (Ozonetel's CDR report serves a day once it
has closed), so an alert on it ("calls only the CDR brought" above zero: pushes were lost) does not
fire on a day still under way. Read through receiver/completeness.py, as the console and `callrecon
status` read it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from prometheus_client.core import GaugeMetricFamily

from receiver import completeness
from receiver.web.metrics import exposition_of


def families(conn, zone: zoneinfo.ZoneInfo, now: dt.datetime | None = None) -> list[GaugeMetricFamily]:
    """One gauge, labelled by vendor, campaign and measure (a completeness_daily column); unknown ones are left out."""
    now = now or dt.datetime.now(dt.timezone.utc)
    gauge = GaugeMetricFamily(
        "callrecon_completeness_yesterday",
        "completeness_daily's measures for the last closed business day (BUSINESS_TIMEZONE), by vendor, campaign "
        "and measure: calls, calls_pushed, calls_cdr_only, pushes_without_cdr, cdr_legs... (docs/schema.md).",
        labels=["vendor", "campaign", "measure"],
    )
    for row in completeness.last_days(conn, now, zone, 1, closed=True):
        for measure in completeness.MEASURES:
            if row[measure] is not None:
                gauge.add_metric([row["vendor"], row["campaign"] or "", measure], float(row[measure]))
    return [gauge]


def exposition(conn, zone: zoneinfo.ZoneInfo, now: dt.datetime | None = None) -> bytes:
    """Prometheus text for the gauge."""
    return exposition_of(families(conn, zone, now))
