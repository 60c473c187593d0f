"""The landing page: per vendor, is anything missing or stuck, and what to do about it."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from psycopg.rows import dict_row

from receiver import ledgers as work_items
from receiver.web.console import bp, capped, page, push_chart, reads, settings, vendors
from receiver.web.console import now as clock
from receiver.web.console.svg import sparkline

# Counts on this page stop at COUNT_CAP and show as "10000+": a backlog or a ledger of a million rows
# would otherwise be counted row by row on every view (1.3 s at bench/scale's 1M open LeadSquared
# requests). The work and quarantine pages list them; /metrics and `callrecon status` count exactly.
COUNT_CAP = 10_000
# Each figure is one index range scan: raw_inbox_source_received_idx for the last callback,
# raw_inbox_unlanded_idx (partial, status <> 'landed') for backlog and quarantine.
PUSH_FIGURES = """
SELECT s.source,
       (SELECT max(received_at) FROM raw_inbox r WHERE r.source = s.source AND r.received_at <= %(now)s) AS last_at,
       (SELECT count(*) FROM (SELECT 1 FROM raw_inbox r WHERE r.status = 'received' AND r.source = s.source
                              LIMIT %(cap)s) u) AS unlanded,
       (SELECT min(received_at) FROM raw_inbox r WHERE r.status = 'received' AND r.source = s.source)
           AS oldest_unlanded,
       (SELECT count(*) FROM (SELECT 1 FROM raw_inbox r WHERE r.status = 'quarantined' AND r.source = s.source
                              LIMIT %(cap)s) q) AS quarantined
FROM unnest(%(sources)s::text[]) AS s(source)
"""
LAST_RUN = """
SELECT id, started_at, finished_at, outcome, counts, error FROM reconcile_run
WHERE source = %(source)s ORDER BY started_at DESC, id DESC LIMIT 1
"""
BLOCKS = "SELECT source, scope, key, reason, fix, since, recheck_at FROM reconcile_block ORDER BY source, scope, key"


def in_working_hours(moment: dt.datetime, app_settings) -> bool:
    """The working-hours rule of the source_health view (BUSINESS_TIMEZONE, WORKING_HOURS, WORKING_DAYS).

    Evaluated here at the page's clock rather than read from the view, whose aggregate over the whole
    raw_inbox is too slow for a page; tests/test_console.py checks the two agree.
    """
    local = moment.astimezone(app_settings.business_timezone)
    opens, closes = app_settings.working_hours.split("-")
    return local.isoweekday() in app_settings.working_days and opens <= local.strftime("%H:%M") < closes


def silent(last_at, moment: dt.datetime, app_settings) -> bool:
    """A push source is silent when nothing came for SILENCE_THRESHOLD during working hours."""
    quiet = last_at is None or (moment - last_at).total_seconds() > app_settings.silence_threshold
    return in_working_hours(moment, app_settings) and quiet


def day_axis(moment: dt.datetime) -> list[tuple[float, str]]:
    """The 24 h chart's time axis: a tick every 6 hours back from now, as UTC clock times."""
    utc_now = moment.astimezone(dt.timezone.utc)
    return [(n / 4, (utc_now - dt.timedelta(hours=24 - 6 * n)).strftime("%H:%M")) for n in range(5)]


def push_rows(conn, moment: dt.datetime, app_settings) -> dict[str, dict]:
    """Per push source: last callback, silence, 24 h chart, backlog and quarantine."""
    pushes = vendors().pushes
    sources = list(pushes)
    params = {"now": moment, "sources": sources, "cap": COUNT_CAP}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = {r["source"]: r for r in cur.execute(PUSH_FIGURES, params).fetchall()}
    kept = current_app.extensions.setdefault("callrecon_push_chart", push_chart.KeptBins())
    bins = push_chart.per_bin(conn, moment, sources, kept)
    for source, row in rows.items():
        row["configured"] = bool(pushes[source].tokens(app_settings))
        # A vendor with no settings and nothing ever received is not used here: shown quietly, never a problem.
        row["used"] = app_settings.uses(source) or row["last_at"] is not None
        row["silent"] = row["used"] and silent(row["last_at"], moment, app_settings)
        row["cap"] = COUNT_CAP
        row["callbacks_24h"] = sum(bins[source])
        row["chart"] = sparkline(
            [n / (push_chart.BIN_S / 60) for n in bins[source]],
            label=f"{source}: {row['callbacks_24h']} callbacks in 24 h",
            axis=day_axis(moment),
        )
    return rows


def work_rows(conn, moment: dt.datetime) -> dict[str, list[dict]]:
    """Per vendor: each of its reconciler sources' counts, last run and budget use."""
    out: dict[str, list[dict]] = {}
    tables = work_items_by_vendor()
    every = [t for ts in tables.values() for t in ts]
    with conn.cursor(row_factory=dict_row) as cur:
        for vendor, vendor_tables in tables.items():
            for table in vendor_tables:
                out.setdefault(vendor, []).append(
                    {
                        "source": table.source,
                        "budget_name": table.budget,
                        "counts": work_items.counts(conn, table, moment, cap=COUNT_CAP),
                        "last_run": cur.execute(LAST_RUN, {"source": table.source}).fetchone(),
                        "budget": work_items.budget_use(conn, table.budget, every, moment),
                    }
                )
    return out


def work_items_by_vendor() -> dict[str, tuple]:
    """The registry's ledgers, by vendor."""
    return {vendor.name: vendor.ledgers for vendor in vendors() if vendor.ledgers}


def enable_fix(push) -> str:
    """How to turn a vendor's pushes on, from what its registry entry says they need (Push.enable)."""
    needs = "; ".join(f"{variable} to {what}" for variable, what in push.enable) or "its callback token variable"
    return f"set {needs}; restart callrecon; then give the vendor the URL that `callrecon urls` prints"


@bp.get("/", strict_slashes=False)
def overview():
    """One row per vendor: pushes, silence, backlog, reconciler work, budget, last run, what to fix."""
    moment, app_settings = clock(), settings()
    with reads().connection() as conn:
        pushes = push_rows(conn, moment, app_settings)
        work = work_rows(conn, moment)
        with conn.cursor(row_factory=dict_row) as cur:
            blocks = cur.execute(BLOCKS).fetchall()
    problems = [
        {"source": name, "what": "no callback token: every push gets 401", "fix": enable_fix(vendors().pushes[name])}
        for name, row in pushes.items()
        if row["used"] and not row["configured"]
    ]
    problems += [
        {
            "source": b["source"] + ("" if b["scope"] == "source" else f" {b['scope']} {b['key']}"),
            "what": f"stopped since {b['since']:%Y-%m-%d %H:%M} UTC: {b['reason']}",
            "fix": f"{b['fix']} (tried again by itself once the settings change, or at {b['recheck_at']:%H:%M} UTC)",
        }
        for b in blocks
    ]
    problems += [
        {
            "source": row["source"],
            "what": f"{capped(n, COUNT_CAP)} open item{'s wait' if n != 1 else ' waits'}, but the source cannot run",
            "fix": "; ".join(found),
        }
        for rows in work.values()
        for row in rows
        if (n := row["counts"]["open"]) and (found := vendors().ledgers[row["source"]].problems(app_settings))
    ]
    rows = [{"name": v.name, "push": pushes.get(v.name), "work": work.get(v.name, [])} for v in vendors()]
    return page("overview.html", vendors=rows, problems=problems, moment=moment)
