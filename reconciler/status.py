"""`callrecon status`: per source, what is pending, due, final, failing, and how the last run went."""

from __future__ import annotations

import json

import psycopg
from psycopg.rows import dict_row

from receiver import completeness, ledgers
from receiver.database import standby
from receiver.landing import partitions
from receiver.web import health
from reconciler import sources as vendor_sources
from reconciler.core import blocks, budget
from reconciler.core.clock import SystemClock

COMPLETENESS_DAYS = 7  # as the console's completeness page shows by default
# How `status` names completeness_daily's measures (docs/schema.md defines each).
MEASURE_WORDS = {
    "calls": "calls",
    "calls_pushed": "pushed",
    "calls_re_requested": "re-requested",
    "calls_discovered": "discovered",
    "calls_missing_detail": "missing detail",
    "cdr_legs": "CDR legs",
    "calls_cdr_only": "recovered by CDR",
    "pushes_without_cdr": "pushes without CDR",
}
LAST_RUN = """
SELECT id, started_at, finished_at, outcome, counts, error
FROM reconcile_run WHERE source = %(source)s ORDER BY started_at DESC, id DESC LIMIT 1
"""


def collect(conn, settings, vendors, clock=None) -> dict:
    """{source: counts and last run} for every source of `vendors` (the registry)."""
    now = (clock or SystemClock()).now()
    report = {}
    for source_class in (cls for group in vendor_sources.load(vendors).values() for cls in group):
        name = source_class.name
        source = source_class(settings)
        entry = ledgers.status(conn, vendors.ledgers[name], now)
        entry["rate_budget"] = budget.state(conn, source.budget_name)
        entry["oldest_pending_s"] = round(float(entry["oldest_pending_s"]), 1) if entry["oldest_pending_s"] else None
        with conn.cursor(row_factory=dict_row) as cur:
            last = cur.execute(LAST_RUN, {"source": name}).fetchone()
        entry["last_run"] = (
            None
            if last is None
            else {
                **last,
                "started_at": last["started_at"].isoformat(),
                "finished_at": last["finished_at"] and last["finished_at"].isoformat(),
            }
        )
        report[name] = entry
    pushes = vendors.pushes
    rows = health.source_health(conn)
    lags = health.landing_lag(conn, [row["source"] for row in rows])
    backlog = health.unlanded(conn)
    report["push_sources"] = {
        row["source"]: {
            "silent": row["silent"],
            "in_working_hours": row["in_working_hours"],
            "last_callback_age_s": None if row["silent_for_s"] is None else round(float(row["silent_for_s"]), 1),
            "quarantined": row["quarantined"],
            "configured": row["source"] in pushes and bool(pushes[row["source"]].tokens(settings)),
            **_landing(lags.get(row["source"]), backlog.get(row["source"])),
        }
        for row in rows
    }
    for source, count in health.gave_up(conn, vendors.ledgers).items():
        if source in report:
            report[source]["gave_up"] = count
    report["partitions"] = {
        row.pop("parent"): {**row, "covered_until": row["covered_until"] and row["covered_until"].isoformat()}
        for row in partitions.overview(conn, now)
    }
    report["table_bytes"] = partitions.table_bytes(conn)
    report["completeness"] = {
        "days": COMPLETENESS_DAYS,
        "by_vendor": completeness.totals(
            completeness.last_days(conn, now, settings.business_timezone, COMPLETENESS_DAYS)
        ),
    }
    if settings.standby_database_url:
        report["standby"] = _standby(conn, settings.standby_database_url)
    report["stopped"] = [
        {**stop, **{k: stop[k].isoformat() for k in ("since", "last_seen_at", "recheck_at")}}
        for stop in blocks.listing(conn)
    ]
    return report


def _standby(conn, url: str) -> dict:
    """The analysts' standby (STANDBY_DATABASE_URL) against this primary: its replay lag, or why it cannot say."""
    try:
        state = standby.read(conn, url)
    except psycopg.Error as exc:
        return {"answers": False, "error": standby.unanswered(url, exc)}
    at = state["replayed_commit_at"]
    return {
        "answers": True,
        "in_recovery": state["in_recovery"],
        "lag_s": None if state["lag_s"] is None else round(float(state["lag_s"]), 1),
        "behind_bytes": None if state["behind_bytes"] is None else int(state["behind_bytes"]),
        "replayed_commit_at": at and at.isoformat(),
    }


def _standby_line(s: dict) -> str:
    """One line: the standby's replay lag, or what to check."""
    if not s["answers"]:
        return f"standby: DOES NOT ANSWER: {s['error']}"
    if not s["in_recovery"]:
        return (
            "standby: NOT A STANDBY: STANDBY_DATABASE_URL answers but is not in recovery (promoted, or the "
            "primary's own URL); point it at the analysts' hot standby"
        )
    lag = "unknown (no transaction replayed since it started)" if s["lag_s"] is None else f"{s['lag_s']:g} s"
    return (
        f"standby: replay lag {lag}, {s['behind_bytes']} bytes of WAL behind the primary; "
        f"last replayed commit {s['replayed_commit_at'] or '-'}"
    )


def _landing(lag: dict | None, backlog: tuple | None) -> dict:
    """Landing lag over the last health.LAG_WINDOW_S (p50, p99) and the unlanded backlog, for one source."""
    unlanded, oldest = backlog or (0, None)
    return {
        "landed_recently": int(lag["landed"]) if lag else 0,
        "landing_lag_p50_s": round(float(lag["p50"]), 3) if lag else None,
        "landing_lag_p99_s": round(float(lag["p99"]), 3) if lag else None,
        "unlanded": int(unlanded),
        "oldest_unlanded_s": None if oldest is None else round(float(oldest), 1),
    }


def _landing_text(e: dict) -> str:
    """'; landing lag p50 0.2 s, p99 1.1 s (last 5 min); unlanded 3, oldest 4.0 s' where there is any."""
    text = ""
    if e.get("landing_lag_p50_s") is not None:
        text += (
            f"; landing lag p50 {e['landing_lag_p50_s']:g} s, p99 {e['landing_lag_p99_s']:g} s "
            f"(last {health.LAG_WINDOW_S // 60} min)"
        )
    if e.get("unlanded"):
        text += f"; unlanded {e['unlanded']}, oldest {e['oldest_unlanded_s']:g} s"
    return text


def render(report: dict) -> str:
    """Human-readable lines for a terminal."""
    lines = []
    for name, e in report.get("push_sources", {}).items():
        if not e.get("configured", True) and e["last_callback_age_s"] is None:
            lines.append(f"{name} pushes: not configured (set {name.upper()}_CALLBACK_TOKENS to receive them)")
            continue
        age = "never" if e["last_callback_age_s"] is None else f"{e['last_callback_age_s'] / 60:.1f} min ago"
        flag = "SILENT" if e["silent"] else "ok"
        lines.append(
            f"{name} pushes: {flag}; last callback {age}; quarantined {e['quarantined']}"
            + ("" if e["in_working_hours"] else " (outside working hours)")
            + _landing_text(e)
        )
    lines += _partition_lines(report.get("partitions", {}), report.get("table_bytes", {}))
    if "standby" in report:
        lines.append(_standby_line(report["standby"]))
    for stop in report.get("stopped", []):
        what = stop["source"] if stop["scope"] == "source" else f"{stop['source']} {stop['scope']} {stop['key']!r}"
        lines.append(
            f"STOPPED {what} since {stop['since']}: {stop['reason']}; fix: {stop['fix']} "
            f"(tried again by itself once the settings change, or at {stop['recheck_at']})"
        )
    lines += _completeness_lines(report.get("completeness"))
    for name, e in report.items():
        if name in ("push_sources", "stopped", "partitions", "table_bytes", "completeness", "standby"):
            continue
        age = f"{e['oldest_pending_s'] / 60:.1f} min" if e["oldest_pending_s"] is not None else "-"
        finals = ", ".join(f"{k} {v}" for k, v in sorted(e["final_by_status"].items())) or "none"
        lines.append(
            f"{name}: pending {e['pending']} (due now {e['due_now']}, failing {e['failing']}), "
            f"oldest pending {age}; final: {finals}; expired {e['expired']}; gave up {e.get('gave_up', 0)} "
            "(SELECT * FROM reconcile_gave_up)"
        )
        if e.get("rate_budget"):
            lines.append(_budget_line(e["rate_budget"]))
        run = e["last_run"]
        if run:
            tail = f" error: {run['error']}" if run["error"] else ""
            lines.append(
                f"  last run #{run['id']} {run['outcome']} at {run['started_at']} "
                f"counts {json.dumps(run['counts'])}{tail}"
            )
        else:
            lines.append("  never run")
    return "\n".join(lines)


def _completeness_lines(found: dict | None) -> list[str]:
    """One line per vendor: its calls of the last business days by how they arrived, and what the CDR counted."""
    if not found:
        return []
    lines = []
    for vendor, sums in sorted(found["by_vendor"].items()):
        known = ", ".join(f"{word} {sums[name]}" for name, word in MEASURE_WORDS.items() if sums.get(name) is not None)
        lines.append(
            f"{vendor} completeness, last {found['days']} business days: {known} (SELECT * FROM completeness_daily)"
        )
    return lines


def _partition_lines(parts: dict, sizes: dict) -> list[str]:
    """One line per partitioned table, flagged when no week (month) is left ahead or the default partition has rows."""
    lines = []
    for table, p in parts.items():
        flag = "ok"
        period = p.get("period", "weekly")
        unit = "months" if period == "monthly" else "weeks"
        if p["weeks_ahead"] < 1:
            flag = f"NO {unit[:-1].upper()} AHEAD (run callrecon db upgrade)"
        elif p["default_rows"]:
            flag = "DEFAULT PARTITION HAS ROWS"
        oldest = "-" if p["oldest_age_s"] is None else f"{p['oldest_age_s'] / 86400:.1f} days"
        lines.append(
            f"{table}: {flag}; {p['partitions']} {period} partitions, {p['weeks_ahead']} {unit} ahead "
            f"(to {(p['covered_until'] or '-')[:10]}); oldest {oldest}; {_mib(p['total_bytes'])}; "
            f"default partition {p['default_rows']} rows"
        )
    if sizes:
        lines.append("table sizes: " + ", ".join(f"{t} {_mib(b)}" for t, b in list(sizes.items())[:8]))
    return lines


def _mib(size) -> str:
    """Bytes as MiB for people."""
    return f"{(size or 0) / 2**20:.1f} MiB"


def _budget_line(b: dict) -> str:
    """The budget in force, and the limit the vendor stated if it ever did."""
    if not b["learned"]:
        return f"  rate budget {b['in_force']} (configured)"
    applied = "" if b["in_force"] != b["configured"] else ", not stricter: ignored"
    return (
        f"  rate budget {b['in_force']} in force (configured {b['configured']}; the vendor stated "
        f"{b['learned']} at {b['learned_at']}{applied})"
    )
