"""Completeness per campaign and day: calls known, pushed, recovered by the reconciler, missing detail, windows.

The counts follow completeness_daily's definitions column for column (sql/0015), but bounded to the
days shown, so each vendor table is read on its time index instead of aggregated whole; a test
checks that the page and the view give the same numbers. Each cell links to the calls behind it.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, request
from psycopg.rows import dict_row

from receiver.web.console import bp, page, pool, settings
from receiver.web.console import now as clock
from receiver.web.console.svg import bars

# 14 days of 1M calls stay within the 300 ms page budget (bench/console.py); longer: completeness_daily
MAX_DAYS = 14
COMPLETENESS = """
WITH calls AS (
    SELECT c.vendor, c.campaign, (c.ring_time AT TIME ZONE %(zone)s)::date AS day, c.source
    FROM call c WHERE c.ring_time >= %(since)s AND c.ring_time < %(until)s),
call_counts AS (
    SELECT vendor, campaign, day, count(*) AS calls,
           count(*) FILTER (WHERE source = 'push') AS calls_pushed,
           count(*) FILTER (WHERE source = 're-requested push') AS calls_re_requested,
           count(*) FILTER (WHERE source = 'bulk query') AS calls_discovered
    FROM calls GROUP BY 1, 2, 3),
detail AS (
    SELECT 'huawei'::text AS vendor, h.campaign_id AS campaign,
           (COALESCE(h.ack_begin_time, h.call_time) AT TIME ZONE %(zone)s)::date AS day, count(*) AS missing
    FROM huawei_call h
    WHERE COALESCE(h.ack_begin_time, h.call_time) >= %(since)s AND COALESCE(h.ack_begin_time, h.call_time) < %(until)s
      AND h.detail_status <> 'done'
    GROUP BY 1, 2, 3),
windows AS (
    SELECT 'ozonetel'::text AS vendor, r.campaign_name AS campaign, (r.window_from AT TIME ZONE %(zone)s)::date AS day,
           count(*) FILTER (WHERE r.state <> 'pending') AS windows_requested,
           count(*) FILTER (WHERE r.state = 'received') AS windows_received,
           count(*) FILTER (WHERE r.state = 'failed') AS windows_failed
    FROM ozonetel_request r WHERE r.window_from >= %(since)s AND r.window_from < %(until)s
    GROUP BY 1, 2, 3),
both_counts AS (
    SELECT COALESCE(c.vendor, d.vendor) AS vendor, COALESCE(c.campaign, d.campaign) AS campaign,
           COALESCE(c.day, d.day) AS day, COALESCE(c.calls, 0) AS calls, COALESCE(c.calls_pushed, 0) AS calls_pushed,
           COALESCE(c.calls_re_requested, 0) AS calls_re_requested, COALESCE(c.calls_discovered, 0) AS calls_discovered,
           COALESCE(d.missing, 0) AS calls_missing_detail
    FROM call_counts c FULL JOIN detail d ON d.vendor = c.vendor AND d.campaign = c.campaign AND d.day = c.day)
SELECT COALESCE(c.vendor, w.vendor) AS vendor, COALESCE(c.campaign, w.campaign) AS campaign,
       COALESCE(c.day, w.day) AS day,
       COALESCE(c.calls, 0) AS calls, COALESCE(c.calls_pushed, 0) AS calls_pushed,
       COALESCE(c.calls_re_requested, 0) AS calls_re_requested, COALESCE(c.calls_discovered, 0) AS calls_discovered,
       COALESCE(c.calls_missing_detail, 0) AS calls_missing_detail,
       COALESCE(w.windows_requested, 0) AS windows_requested, COALESCE(w.windows_received, 0) AS windows_received,
       COALESCE(w.windows_failed, 0) AS windows_failed
FROM both_counts c FULL JOIN windows w ON w.vendor = c.vendor AND w.campaign = c.campaign AND w.day = c.day
ORDER BY day DESC, vendor, campaign
"""
# The calls behind one cell: a vendor, campaign and business day, optionally how they arrived.
CELL_CALLS = """
SELECT c.vendor, c.vendor_call_id, c.phone_number, c.ring_time, c.outcome, c.source
FROM call c
WHERE c.vendor = %(vendor)s AND c.campaign = %(campaign)s AND c.ring_time >= %(since)s AND c.ring_time < %(until)s
  AND (%(source)s::text IS NULL OR c.source = %(source)s)
ORDER BY c.ring_time LIMIT 500
"""
KINDS = {"pushed": "push", "re-requested": "re-requested push", "discovered": "bulk query"}


def day_bounds(first: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """UTC bounds of `days` business days from `first` (BUSINESS_TIMEZONE midnights)."""
    zone = settings().business_timezone
    start = dt.datetime.combine(first, dt.time(), zone)
    return start.astimezone(dt.timezone.utc), (start + dt.timedelta(days=days)).astimezone(dt.timezone.utc)


def rows_for(conn, since: dt.datetime, until: dt.datetime) -> list[dict]:
    """completeness_daily's rows for the business days within [since, until)."""
    params = {"since": since, "until": until, "zone": settings().business_timezone.key}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(COMPLETENESS, params).fetchall()


@bp.get("/completeness")
def completeness():
    """The last N business days (7 by default), as a table and as bars per day."""
    try:
        days = int(request.args.get("days", 7))
    except ValueError:
        abort(400, "days must be a whole number")
    if not 1 <= days <= MAX_DAYS:
        abort(400, f"days must be between 1 and {MAX_DAYS}")
    today = clock().astimezone(settings().business_timezone).date()
    since, until = day_bounds(today - dt.timedelta(days=days - 1), days)
    with pool().connection() as conn:
        rows = rows_for(conn, since, until)
    totals: dict = {}
    for r in rows:
        t = totals.setdefault(r["day"], {"calls": 0, "pushed": 0, "recovered": 0, "missing": 0})
        t["calls"] += r["calls"]
        t["pushed"] += r["calls_pushed"]
        t["recovered"] += r["calls_re_requested"] + r["calls_discovered"]
        t["missing"] += r["calls_missing_detail"]
    chart = bars(
        [
            (
                day.isoformat(),
                [
                    ("known calls", t["calls"], "#8c959f"),
                    ("received by push", t["pushed"], "#2f6feb"),
                    ("recovered by reconciler", t["recovered"], "#1a7f37"),
                    ("missing detail", t["missing"], "#cf222e"),
                ],
            )
            for day, t in sorted(totals.items(), reverse=True)
        ]
    )
    return page("completeness.html", rows=rows, chart=chart, days=days)


@bp.get("/calls")
def calls():
    """The calls behind one completeness cell (at most 500), each linking to its journey."""
    args = request.args
    try:
        day = dt.date.fromisoformat(args.get("day", ""))
    except ValueError:
        abort(400, "day must be a date like 2026-03-04")
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        abort(400, f"kind must be one of {', '.join(KINDS)}")
    since, until = day_bounds(day, 1)
    params = {
        "vendor": args.get("vendor", ""),
        "campaign": args.get("campaign", ""),
        "since": since,
        "until": until,
        "source": KINDS.get(kind) if kind else None,
    }
    with pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(CELL_CALLS, params).fetchall()
    return page("calls.html", rows=rows, day=day, kind=kind, vendor=params["vendor"], campaign=params["campaign"])
