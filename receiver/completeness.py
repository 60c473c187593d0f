"""Completeness per vendor, campaign and business day, as completeness_daily defines it, for the days asked.

The console's completeness page, `callrecon status` and /metrics read it through here, so the three
agree with the view analysts query: they call the function the view reads (callrecon_completeness,
sql/0030), bounded to their days, which reads the call rollup and the ledgers' own counts rather
than the calls.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from psycopg.rows import dict_row

QUERY = """
SELECT * FROM callrecon_completeness(%(since)s, %(until)s, %(zone)s)
ORDER BY day DESC, vendor, campaign
"""
# The measures, in the view's column order; a NULL one (CDR figures before the day's report is fetched) is unknown.
MEASURES = (
    "calls",
    "calls_pushed",
    "calls_re_requested",
    "calls_discovered",
    "calls_missing_detail",
    "windows_requested",
    "windows_received",
    "windows_failed",
    "cdr_legs",
    "calls_cdr_only",
    "pushes_without_cdr",
)


def day_bounds(first: dt.date, days: int, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """UTC bounds of `days` business days from `first` (midnights in `zone`)."""
    start = dt.datetime.combine(first, dt.time(), zone)
    return start.astimezone(dt.timezone.utc), (start + dt.timedelta(days=days)).astimezone(dt.timezone.utc)


def rows(conn, since: dt.datetime, until: dt.datetime, zone: zoneinfo.ZoneInfo) -> list[dict]:
    """completeness_daily's rows for the business days that start within [since, until), newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERY, {"since": since, "until": until, "zone": zone.key}).fetchall()


def last_days(conn, now: dt.datetime, zone: zoneinfo.ZoneInfo, days: int, *, closed: bool = False) -> list[dict]:
    """The rows of the last `days` business days: up to today, or up to yesterday when `closed`."""
    last = now.astimezone(zone).date() - dt.timedelta(days=1 if closed else 0)
    return rows(conn, *day_bounds(last - dt.timedelta(days=days - 1), days, zone), zone)


def totals(found: list[dict]) -> dict[str, dict[str, int | None]]:
    """Each vendor's measures summed over `found`; a measure no row knows stays None."""
    out: dict[str, dict[str, int | None]] = {}
    for row in found:
        sums = out.setdefault(row["vendor"], dict.fromkeys(MEASURES))
        for name in MEASURES:
            if row[name] is not None:
                sums[name] = (sums[name] or 0) + int(row[name])
    return out
