"""Raw callbacks: search and page through them, read one (masked), and replay the quarantined ones."""

from __future__ import annotations

import datetime as dt
import json
import re

from flask import abort, flash, redirect, request, url_for
from psycopg.rows import dict_row

from receiver.landing.replay import replay
from receiver.web.console import access, bp, caught_up, clean, log, page, pool, reads, settings, utc, vendors
from receiver.web.console import now as clock

PAGE = 50
MAX_DAYS = 31  # the widest time range one search reads
STATUSES = ("landed", "quarantined", "note", "received")
# The callbacks one page of a body search reads, all sources together: at a million callbacks a day a
# day's bodies take seconds to scan, so a page searches the newest SCAN_ROWS of its range and says how
# far back it got; "Older" goes on from there.
SCAN_ROWS = 15_000
# One index range scan per source (raw_inbox_source_received_idx), newest first, keyset-paginated on
# (received_at, id). Per source: the matches among the rows read (at most `scan`: a page without a
# body search reads no more than it shows), and the oldest row read when it read all it could
# (`stop`); one_page ends the merged page there, so no source's unread rows are skipped.
SEARCH = """
SELECT e.* FROM unnest(%(sources)s::text[]) AS s(source)
CROSS JOIN LATERAL (
    WITH read AS (
        SELECT id, received_at, source, status, record_count, landed_count, error, body
        FROM raw_inbox r
        WHERE r.source = s.source AND r.received_at >= %(since)s AND r.received_at < %(until)s
          AND (%(status)s::text IS NULL OR r.status = %(status)s)
          AND (r.received_at, r.id) < (%(before_at)s, %(before_id)s)
        ORDER BY r.received_at DESC, r.id DESC
        LIMIT %(scan)s),
    hits AS (
        SELECT * FROM read WHERE %(q)s::text IS NULL OR position(convert_to(%(q)s, 'UTF8') IN body) > 0
        ORDER BY received_at DESC, id DESC LIMIT %(limit)s)
    SELECT id, received_at, source, status, record_count, landed_count,
           CASE WHEN status = 'quarantined' THEN callrecon_quarantine_cause(error) END AS reason,
           left(callrecon_utf8_or_null(body), 240) AS excerpt, false AS stop
    FROM hits
    UNION ALL
    SELECT id, received_at, source, NULL, NULL, NULL, NULL, NULL, true
    FROM (SELECT id, received_at, source FROM read ORDER BY received_at, id LIMIT 1) oldest
    WHERE (SELECT count(*) FROM read) = %(scan)s) e
"""
DETAIL = """
SELECT id, received_at, source, client_addr, content_type, headers, callrecon_utf8_or_null(body) AS body_text,
       body_bytes, body_sha256, status, record_count, landed_count, error, parsed_at, parse_count, apikey_check
FROM raw_inbox WHERE id = %(id)s
"""
# The quarantine by cause (sql/0031: the first failing field and rule, "no call identity", "not JSON",
# apikey_mismatch, ...), not by the summary line, which put unrelated failures together.
# A typed table's columns in their order, as docs/schema.md lists them.
COLUMN_ORDER = """
SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%(tbl)s) AND attnum > 0 AND NOT attisdropped
ORDER BY attnum
"""
# Grouped by the stored error first: rows that failed alike share it, so the cause is worked out once
# per distinct error rather than once per row (6,000 rows: 18 ms rather than 300).
REASONS = """
SELECT source, callrecon_quarantine_cause(error) AS reason, sum(n)::bigint AS rows,
       min(first_at) AS first_at, max(last_at) AS last_at, min(example_id) AS example_id
FROM (SELECT source, error, count(*) AS n, min(received_at) AS first_at, max(received_at) AS last_at,
             min(id) AS example_id
      FROM raw_inbox WHERE status = 'quarantined' AND (%(source)s::text IS NULL OR source = %(source)s)
      GROUP BY source, error) by_error
GROUP BY 1, 2 ORDER BY rows DESC, reason LIMIT 200
"""
QUARANTINED = """
SELECT id, received_at, source, callrecon_quarantine_cause(error) AS reason, error->>'message' AS summary
FROM raw_inbox
WHERE status = 'quarantined' AND (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(reason)s::text IS NULL OR callrecon_quarantine_cause(error) = %(reason)s)
ORDER BY id DESC LIMIT %(limit)s
"""
REPLAY_CAP = 5000  # rows one "replay all of this cause" click re-parses; click again for more
AFTER = """
SELECT id, status, CASE WHEN status = 'quarantined' THEN callrecon_quarantine_cause(error) END AS reason
FROM raw_inbox WHERE id = ANY(%(ids)s) ORDER BY id
"""


def _time(value: str | None, default: dt.datetime) -> dt.datetime:
    """A form's 'YYYY-MM-DD HH:MM' (UTC, 24-hour; a 'T' between works too) or the default.

    A text input, not the browser's date-time picker: the picker shows the browser's own locale and
    clock (12-hour in many), while every table on the console is ISO UTC, 24-hour.
    """
    if not value:
        return default
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        abort(400, f"{value!r} is not a time like 2026-03-04 10:00 (UTC, 24-hour)")
    if moment.tzinfo is not None and moment.utcoffset() != dt.timedelta(0):
        abort(400, f"{value!r} is not in UTC: write the time in UTC, without an offset")
    return moment.replace(tzinfo=dt.timezone.utc)


@bp.get("/events")
def events():
    """Search raw callbacks by source, status, time range (UTC, at most MAX_DAYS) and a substring of the body."""
    moment = clock()
    args = request.args
    until = _time(args.get("until"), moment + dt.timedelta(minutes=1))
    since = _time(args.get("since"), until - dt.timedelta(days=1))
    if until - since > dt.timedelta(days=MAX_DAYS) or since >= until:
        abort(400, f"the time range must run forwards and span at most {MAX_DAYS} days")
    source = args.get("source") or None
    pushes = vendors().pushes
    if source is not None and source not in pushes:
        abort(400, f"unknown source {source!r}")
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        abort(400, f"status must be one of {', '.join(STATUSES)}")
    q = (args.get("q") or "").strip() or None
    before_at, before_id = until, 2**62
    if args.get("before"):
        at, _, raw_id = args["before"].partition("|")
        try:
            before_at, before_id = dt.datetime.fromisoformat(at), int(raw_id)
        except ValueError:
            abort(400, "the page link is damaged: go back to the first page of the search")
    sources = [source] if source else list(pushes)
    params = {
        "sources": sources,
        "since": since,
        "until": until,
        "status": status,
        "q": q,
        "before_at": before_at,
        "before_id": before_id,
        "limit": PAGE,
        "scan": max(PAGE, SCAN_ROWS // len(sources)) if q else PAGE,
    }
    with reads().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(SEARCH, params).fetchall()
    rows, end, searched_to = one_page(found)
    searched_to = searched_to if q else None  # without a body search a page reads only what it shows
    more = None
    if end is not None:
        more = {**args.to_dict(), "before": f"{end[0].isoformat()}|{end[1]}"}
    form = {
        "source": source or "",
        "status": status or "",
        "q": q or "",
        "since": since.strftime("%Y-%m-%d %H:%M"),
        "until": until.strftime("%Y-%m-%d %H:%M"),
    }
    return page(
        "events.html", rows=rows, form=form, sources=list(pushes), statuses=STATUSES, more=more, searched_to=searched_to
    )


def one_page(found: list[dict]) -> tuple[list[dict], tuple | None, dt.datetime | None]:
    """(the page's rows, the (received_at, id) the next page starts before, how far back a body search read).

    Each source that could read more stopped at a row; rows older than the newest such stop wait for the
    next page, which reads every source again from there: nothing is skipped or shown twice.
    """

    def key(row):
        return (row["received_at"], row["id"])

    scanned_to = [key(r) for r in found if r["stop"]]
    stops = list(scanned_to)
    rows = sorted((r for r in found if not r["stop"]), key=key, reverse=True)
    for source in {r["source"] for r in rows}:  # a source with a full page of matches may have more below it
        mine = [key(r) for r in rows if r["source"] == source]
        if len(mine) == PAGE:
            stops.append(min(mine))
    end = max(stops) if stops else None
    if end is not None:
        rows = [r for r in rows if key(r) >= end]
    if len(rows) > PAGE:
        rows, end = rows[:PAGE], key(rows[PAGE - 1])
    searched_to = end[0] if end is not None and end in scanned_to else None
    return rows, end, searched_to


@bp.get("/events/<int:raw_id>")
def event(raw_id: int):
    """One callback: masked body, kept headers, parse result and the typed rows it produced."""
    with reads().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(DETAIL, {"id": raw_id}).fetchone()
        if row is None:
            abort(404, f"no raw callback {raw_id}")
        typed = [
            found
            for push in vendors().pushes.values()
            if push.typed_rows
            for found in cur.execute(push.typed_rows, {"id": raw_id}).fetchall()
        ]
        order = {t["tbl"]: [c for (c,) in conn.execute(COLUMN_ORDER, {"tbl": t["tbl"]})] for t in typed}
    body = row["body_text"]
    if body is not None:
        try:
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return page(
        "event.html",
        row=row,
        body=clean(body) if body is not None else None,
        headers=clean(json.dumps(row["headers"], indent=2)),
        error=clean(json.dumps(row["error"], indent=2)) if row["error"] else None,
        typed=[{**t, "columns": columns(t["row"], order[t["tbl"]])} for t in typed],
    )


_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def columns(row: dict, order: list[str]) -> list[tuple[str, str, bool, int]]:
    """A typed row as (column, value shown, filled?, nested keys) in the table's column order (docs/schema.md's),
    values masked: a time as UTC 'YYYY-MM-DD HH:MM:SS' like every table; an object or list as compact JSON,
    with its number of keys (the page folds it)."""
    shown = []
    for name in order or sorted(row):
        value = row.get(name)
        filled = value not in (None, "", {}, [])
        nested = len(value) if isinstance(value, (dict, list)) else 0
        if nested or isinstance(value, (dict, list)):
            text = json.dumps(value, ensure_ascii=False, default=str)
        elif isinstance(value, str) and _TIMESTAMP.match(value):
            text = utc(dt.datetime.fromisoformat(value))
        else:
            text = "-" if value is None else str(value)
        shown.append((name, clean(text), filled, nested))
    return shown


@bp.get("/quarantine")
def quarantine():
    """Quarantined callbacks counted by cause, with the newest rows of the chosen cause."""
    source = request.args.get("source") or None
    reason = request.args.get("reason") or None
    with reads().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        reasons = cur.execute(REASONS, {"source": source}).fetchall()
        rows = cur.execute(QUARANTINED, {"source": source, "reason": reason, "limit": PAGE}).fetchall()
    return page("quarantine.html", reasons=reasons, rows=rows, source=source, reason=reason)


@bp.post("/quarantine/replay")
def replay_rows():
    """Replay one quarantined row (raw_id) or all of one cause, through `callrecon replay`'s code."""
    form = request.form
    if form.get("raw_id"):
        ids = [int(form["raw_id"])]
        what = f"raw callback {ids[0]}"
    elif form.get("reason"):
        with pool().connection() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    QUARANTINED, {"source": form.get("source") or None, "reason": form["reason"], "limit": REPLAY_CAP}
                ).fetchall()
            ]
        what = f"{len(ids)} callbacks quarantined as {form['reason']!r}"
    else:
        abort(400, "say what to replay: a raw_id, or a cause")
    if not ids:
        flash("Nothing to replay: no quarantined row matches (another replay may have landed them).")
        return redirect(url_for("console.quarantine"))
    with pool().connection() as conn:
        report = replay(conn, settings(), vendors().pushes, ids=ids)
        with conn.cursor(row_factory=dict_row) as cur:
            after = cur.execute(AFTER, {"ids": ids}).fetchall()
    counts = ", ".join(f"{status} {n}" for status, n in sorted(report.by_status.items())) or "nothing re-parsed"
    log.info(
        "console replay",
        extra={"fields": {"operator": access.operator(), "what": what, "by_status": dict(report.by_status)}},
    )
    if form.get("raw_id") and after:
        one = after[0]
        result = "landed" if one["status"] == "landed" else f"still {one['status']}: {one['reason'] or '-'}"
        flash(f"Replayed raw callback {one['id']}: {result}.")
        caught_up()
        return redirect(url_for("console.event", raw_id=one["id"]))
    flash(f"Replayed {what}: {counts}.")
    caught_up()
    return redirect(url_for("console.quarantine", source=form.get("source") or None))
