"""Benchmark: every /ops console page on the 1M-call database of bench/queries, plus 1M raw callbacks.

Loads the calls with bench/queries.py's COPY loader, then adds one raw callback per call (with its
sighting, so journeys and typed rows resolve), a few hundred quarantined and unlanded ones. Each
page is requested through the Flask test client of a signed-in session: one warm-up, then --runs
timed requests; it prints the median and max per page, the warm-up's time (the first view, with
cold caches: PostgreSQL's and the overview chart's kept bins), the ratio to /readyz timed in the same run
(one database round trip through the same stack), and a last line of JSON. Target: every page's
median <= 300 ms.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time

import psycopg
from benchlib import DEFAULT_ADMIN_URL, fresh_database
from queries import load

from receiver import create_app
from receiver.config import Settings
from receiver.vendors import VENDORS

LIMIT_MS = 300.0
TOKEN = "bench-ops-token-4f1c9a7e2b"
RAW = """
WITH ins AS (
    INSERT INTO raw_inbox (received_at, source, content_type, body, body_sha256, body_bytes, status, record_count,
                           landed_count, parsed_at, parse_count, error)
    SELECT o.start_time + interval '2 minutes', 'ozonetel', 'application/json', b.body, md5(b.body), length(b.body),
           CASE WHEN o.call_key LIKE '%%37' THEN 'quarantined' ELSE 'landed' END, 1,
           CASE WHEN o.call_key LIKE '%%37' THEN 0 ELSE 1 END, o.start_time + interval '2 minutes', 1,
           CASE WHEN o.call_key LIKE '%%37' THEN '{"message": "1 of 1 records failed validation"}'::jsonb END
    FROM ozonetel_call o,
         LATERAL (SELECT convert_to(json_build_object('monitorUCID', o.call_key, 'CampaignName', o.campaign_name,
                  'CallerID', o.phone_number, 'Status', o.status, 'Apikey', '***')::text, 'UTF8') AS body) b
    ORDER BY o.start_time
    RETURNING id, received_at, convert_from(body, 'UTF8')::json->>'monitorUCID' AS call_key)
INSERT INTO ozonetel_sighting (raw_id, record_index, call_key, received_at) SELECT id, 0, call_key, received_at FROM ins
"""
RAW_HUAWEI = """
WITH ins AS (
    INSERT INTO raw_inbox (received_at, source, content_type, body, body_sha256, body_bytes, status, record_count,
                           landed_count, parsed_at, parse_count)
    SELECT h.call_time + interval '1 minute', 'huawei', 'application/json', b.body, md5(b.body), length(b.body),
           'landed', 1, 1, h.call_time + interval '1 minute', 1
    FROM huawei_call h,
         LATERAL (SELECT convert_to(json_build_array(json_build_object('vdnId', h.vdn_id, 'callId', h.call_id,
                  'called', h.called, 'callStatus', h.call_status))::text, 'UTF8') AS body) b
    ORDER BY h.call_time
    RETURNING id, received_at, (convert_from(body, 'UTF8')::json->0->>'vdnId')::int AS vdn_id,
              convert_from(body, 'UTF8')::json->0->>'callId' AS call_id)
INSERT INTO huawei_sighting (raw_id, record_index, vdn_id, call_id, received_at)
SELECT id, 0, vdn_id, call_id, received_at FROM ins
"""
UNLANDED = """
UPDATE raw_inbox SET status = 'received', parsed_at = NULL
WHERE id IN (SELECT id FROM raw_inbox WHERE source = 'ozonetel' ORDER BY id DESC LIMIT 200)
"""


def load_raw(url: str) -> dict:
    """One raw callback per call, with sightings; a few quarantined and unlanded."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RAW)
        conn.execute(RAW_HUAWEI)
        conn.execute(UNLANDED)
        conn.execute("VACUUM ANALYZE")
        return dict(conn.execute("SELECT status, count(*) FROM raw_inbox GROUP BY status").fetchall())


def samples(url: str) -> dict:
    """Ids and numbers to ask the pages about: a recent call's phone and id, a quarantined callback, a day."""
    with psycopg.connect(url) as conn:
        phone, key, day = conn.execute(
            "SELECT phone_number, call_key, (start_time AT TIME ZONE 'UTC')::date FROM ozonetel_call "
            "ORDER BY start_time DESC LIMIT 1 OFFSET 500"
        ).fetchone()
        huawei = conn.execute(
            "SELECT vdn_id || ':' || call_id FROM huawei_call ORDER BY call_time DESC LIMIT 1 OFFSET 500"
        ).fetchone()[0]
        quarantined = conn.execute("SELECT max(id) FROM raw_inbox WHERE status = 'quarantined'").fetchone()[0]
        if quarantined is None:  # bench/scale's database: every callback landed
            quarantined = conn.execute("SELECT max(id) FROM raw_inbox").fetchone()[0]
        campaign = conn.execute("SELECT campaign_name FROM ozonetel_call WHERE call_key = %s", (key,)).fetchone()[0]
    return {"phone": phone, "key": key, "huawei": huawei, "raw": quarantined, "day": day, "campaign": campaign}


def pages(s: dict) -> dict[str, str]:
    """Every console page, with realistic arguments."""
    return {
        "overview": "/ops/",
        "events (last 24 h)": "/ops/events",
        "events: quarantined, 7 days": f"/ops/events?status=quarantined&since={_days_ago(7)}",
        "events: body contains phone, 24 h": f"/ops/events?q={s['phone']}",
        "event detail": f"/ops/events/{s['raw']}",
        "quarantine": "/ops/quarantine",
        "journey by phone": f"/ops/journey?q={s['phone']}",
        "journey by Ozonetel id": f"/ops/journey?q={s['key']}",
        "journey by Huawei id": f"/ops/journey?q={s['huawei']}",
        "completeness 7 days": "/ops/completeness",
        "completeness 14 days": "/ops/completeness?days=14",
        "calls of one cell": f"/ops/calls?vendor=ozonetel&campaign={s['campaign']}&day={s['day']}",
        "work: ozonetel gave up": "/ops/work?source=ozonetel&state=gave-up",
        "work: huawei open": "/ops/work?source=huawei&state=open",
        "work: leadsquared open": "/ops/work?source=leadsquared&state=open",
    }


def _days_ago(days: int) -> str:
    import datetime as dt

    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def timed(client, path: str, runs: int) -> list[float]:
    """Milliseconds per request, the warm-up (first) one first; every answer must be 200."""
    timings = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return timings


def plans(url: str, s: dict) -> dict[str, list[str]]:
    """The indexes the planner really uses for each page's main query, as the page runs it."""
    import datetime as dt

    from psycopg import sql

    from receiver import completeness as completeness_rows
    from receiver import ledgers as work_items
    from receiver.web.console import events, journey, overview, push_chart

    now = dt.datetime.now(dt.timezone.utc)
    week = (now - dt.timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0)
    search = {
        "sources": list(VENDORS.pushes),
        "since": now - dt.timedelta(days=1),
        "until": now,
        "status": None,
        "q": None,
        "before_at": now,
        "before_id": 2**62,
        "limit": events.PAGE,
        "scan": events.PAGE,
    }
    wanted = {
        "overview: push figures": (
            overview.PUSH_FIGURES,
            {"now": now, "sources": list(VENDORS.pushes), "cap": overview.COUNT_CAP},
        ),
        "overview: 24 h chart (first view)": (
            push_chart.COUNTS,
            {"now": now, "sources": list(VENDORS.pushes), "bin": push_chart.BIN_S, "since": now - dt.timedelta(days=1)},
        ),
        "events: search": (events.SEARCH, search),
        "events: quarantined": (events.SEARCH, {**search, "status": "quarantined"}),
        "quarantine: reasons": (events.REASONS, {"source": None}),
        "journey: calls by phone": (journey.CALLS, {"phone": s["phone"], "id": None, "limit": journey.MAX_CALLS}),
        "completeness: 7 days": (completeness_rows.QUERY, {"since": week, "until": now, "zone": "UTC"}),
    }
    for name, table in VENDORS.ledgers.items():
        wanted[f"work counts: {name}"] = (work_items.counts_query(table, overview.COUNT_CAP), {})
    used = {}
    with psycopg.connect(url) as conn:
        for name, (query, params) in wanted.items():
            explain = sql.SQL("EXPLAIN (FORMAT JSON) ") + (
                query if isinstance(query, sql.Composable) else sql.SQL(query)
            )
            plan = json.dumps(conn.execute(explain, params).fetchone()[0])
            used[name] = sorted(set(re.findall(r'"Index Name": "([^"]+)"', plan))) + (
                [
                    "Seq Scan on " + t
                    for t in sorted(set(re.findall(r'"Node Type": "Seq Scan".*?"Relation Name": "([^"]+)"', plan)))
                ]
            )
    return used


def measure(url: str, runs: int) -> tuple[dict, float, dict]:
    """Each page's median/max ms (signed in, one warm-up, `runs` timed), the /readyz baseline, the plans."""
    app = create_app(
        Settings.from_env(
            {
                "DATABASE_URL": url,
                "OPS_TOKENS": TOKEN,
                "OZONETEL_CALLBACK_TOKENS": "bench-callback-token-1",
                "HUAWEI_TIMEZONE": "UTC",
                "LOG_LEVEL": "WARNING",
            },
            VENDORS,
        )
    )
    try:
        client = app.test_client()
        html = client.get("/ops/sign-in").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
        assert client.post("/ops/sign-in", data={"token": TOKEN, "csrf_token": csrf}).status_code == 302
        baseline = statistics.median(timed(client, "/readyz", runs)[1:])
        results = {}
        for name, path in pages(samples(url)).items():
            first, *timings = timed(client, path, runs)
            median = statistics.median(timings)
            results[name] = {
                "median_ms": round(median, 1),
                "max_ms": round(max(timings), 1),
                "first_ms": round(first, 1),
                "ratio_to_readyz": round(median / baseline, 1),
            }
    finally:
        app.extensions["callrecon_pool"].close()
    return results, baseline, plans(url, samples(url))


def report(results: dict, baseline: float, used: dict) -> bool:
    """Print the pages' table and the plans; True when every page's median is within LIMIT_MS."""
    print(f"{'page':36} | median_ms | max_ms | x /readyz | first view ms")
    for name, r in results.items():
        print(
            f"{name:36} | {r['median_ms']:9.1f} | {r['max_ms']:6.1f} | "
            f"{r['ratio_to_readyz']:9.1f} | {r['first_ms']:13.1f}"
        )
    print(f"{'(target)':36} | {'<= ' + format(LIMIT_MS, 'g'):>9} |")
    print(f"\n{'query':36} | indexes the planner uses")
    for name, indexes in used.items():
        print(f"{name:36} | {', '.join(indexes) or '-'}")
    worst = max(results.values(), key=lambda r: r["median_ms"])["median_ms"]
    ok = worst <= LIMIT_MS
    verdict = "every target met" if ok else "a target was missed"
    print(f"/readyz baseline {baseline:.1f} ms; slowest page {worst:.1f} ms; {verdict} (limit {LIMIT_MS:g} ms)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run loaded")
    parser.add_argument(
        "--database", default="callrecon_bench_console", help="with --reuse: e.g. callrecon_scale, bench/scale's"
    )
    args = parser.parse_args()
    if args.reuse:
        url = psycopg.conninfo.make_conninfo(args.database_url, dbname=args.database)
    else:
        url = fresh_database(args.database_url, "callrecon_bench_console")
        started = time.monotonic()
        counts = load(url, args.calls)
        counts["raw_inbox"] = load_raw(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT callrecon_rollup_compact()")  # as every reconciler pass does
        print(f"loaded {counts} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    results, baseline, used = measure(url, args.runs)
    ok = report(results, baseline, used)
    print(
        json.dumps(
            {
                "bench": "console",
                "calls": args.calls,
                "limit_ms": LIMIT_MS,
                "readyz_ms": round(baseline, 1),
                "pages": results,
                "targets_met": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
