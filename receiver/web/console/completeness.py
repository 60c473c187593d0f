"""Completeness per campaign and day: calls known, pushed, recovered by the reconciler, missing detail, windows,
and what Ozonetel's CDR report counted.

The page reads the function the completeness_daily view reads (receiver/completeness.py), bounded
to the days shown, so both give the same numbers by construction. Each cell links to the
calls behind it.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, current_app, request
from psycopg.rows import dict_row

from receiver import completeness as completeness_rows
from receiver.web.console import bp, page, reads, settings
from receiver.web.console import now as clock
from receiver.web.console.svg import bars

# The page's range; longer ranges: completeness_daily in SQL (the same rollup, all days)
MAX_DAYS = 14
# The calls behind one cell: a vendor, campaign and business day, optionally how they arrived.
CELL_CALLS = """
SELECT c.vendor, c.vendor_call_id, c.phone_number, c.ring_time, c.outcome, c.source
FROM call c
WHERE c.vendor = %(vendor)s AND c.campaign = %(campaign)s AND c.ring_time >= %(since)s AND c.ring_time < %(until)s
  AND (%(source)s::text IS NULL OR c.source = %(source)s)
ORDER BY c.ring_time LIMIT 500
"""
KINDS = {"pushed": "push", "re-requested": "re-requested push", "discovered": "bulk query", "cdr-only": "cdr"}


def day_bounds(first: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """UTC bounds of `days` business days from `first` (BUSINESS_TIMEZONE midnights)."""
    return completeness_rows.day_bounds(first, days, settings().business_timezone)


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
    with reads().connection() as conn:
        rows = completeness_rows.rows(conn, since, until, settings().business_timezone)
    totals: dict = {}
    for r in rows:
        t = totals.setdefault(r["day"], {"calls": 0, "pushed": 0, "recovered": 0, "missing": 0})
        t["calls"] += r["calls"]
        t["pushed"] += r["calls_pushed"]
        t["recovered"] += r["calls_re_requested"] + r["calls_discovered"] + r["calls_cdr_only"]
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
    return page("completeness.html", rows=rows, chart=chart, days=days, columns=column_help())


# The view's own column comments (docs/schema.md): the page's headers carry them, so they cannot drift.
COLUMN_HELP = """
SELECT a.attname, col_description(a.attrelid, a.attnum)
FROM pg_attribute a WHERE a.attrelid = 'completeness_daily'::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""


def column_help() -> dict[str, str]:
    """{column: 'column: its documented meaning'} for completeness_daily, kept for the app's life."""
    kept = current_app.extensions.get("callrecon_completeness_help")
    if kept is None:
        with reads().connection() as conn:
            kept = {name: f"{name}: {text or ''}" for name, text in conn.execute(COLUMN_HELP).fetchall()}
        current_app.extensions["callrecon_completeness_help"] = kept
    return kept


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
    with reads().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(CELL_CALLS, params).fetchall()
    return page("calls.html", rows=rows, day=day, kind=kind, vendor=params["vendor"], campaign=params["campaign"])
