"""Benchmark: a 15-day backfill of Ozonetel's CDR, 40 % of the pushes missing, two reconciler processes.

The pushes that did arrive (60 % of the calls, bench/ozonetel_cdr_legs.py) are landed first,
through the landing code, in bodies of 1,000 records. Then two `callrecon reconcile --source
ozonetel --once` processes pull every day of the last 15 from a fake CDR report
(bench/fake_ozonetel_cdr.py) that refuses calls past the limit.

Ozonetel allows 2 calls a minute: 300 pages at that pace take 2.5 hours. The bench keeps the
limit's shape and shortens its period by --speedup (20: 2 calls per 3 s), which is harder than the
real thing, since the landing of each 1,000-leg page must keep up with a budget 20 times faster.
It prints the calls made per period against the limit (the ratio is what holds at any speed),
the limit's refusals, the pushes recovered, duplicate calls created, pages served twice, and
each process's peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import urllib.request
import zoneinfo

import psycopg
from benchlib import BENCH_ENV, DEFAULT_ADMIN_URL, free_port, fresh_database, run_reconcilers, start_fake
from ozonetel_cdr_legs import push

API_KEY = "bench-cdr-key"
IST = zoneinfo.ZoneInfo("Asia/Kolkata")
PUSH_BODY = 1000  # records per landed push body


def land_pushes(url: str, env: dict, days: int, per_day: int) -> int:
    """Land the pushes that arrived, as the lander lands stored callbacks; returns how many."""
    from receiver.config import Settings
    from receiver.landing import inbox
    from receiver.landing.land import RawRef, land
    from receiver.vendors import VENDORS
    from receiver.vendors.ozonetel.records import land_records

    settings = Settings.from_env({**env, "DATABASE_URL": url}, VENDORS)
    today = dt.datetime.now(IST).date()
    records = [
        record
        for index in range(days)
        for n in range(per_day)
        if (record := push(index, today - dt.timedelta(days=days - index), n, per_day)) is not None
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, len(records), PUSH_BODY):
            body = json.dumps(records[start : start + PUSH_BODY]).encode()
            with conn.transaction():
                raw_id, received_at = inbox.store(
                    conn,
                    source="ozonetel",
                    client_addr="127.0.0.1",
                    content_type="application/json",
                    headers={},
                    body=body,
                    received_bytes=len(body),
                )
                land(conn, land_records, RawRef(raw_id, received_at), records[start : start + PUSH_BODY], settings)
    return len(records)


def pace(arrivals: list[float], calls: int, period: float) -> tuple[float, float, int]:
    """(calls per second while days remained, the most that limit allows, the most calls in any period)."""
    starts = sorted(arrivals)
    achieved = (len(starts) - calls) / (starts[-1] - starts[calls - 1]) if len(starts) > calls else float("nan")
    busiest = max((sum(1 for u in starts if 0 <= u - t < period) for t in starts), default=0)
    return achieved, calls / period, busiest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=15, help="days of CDR to backfill (Ozonetel keeps 15)")
    parser.add_argument("--legs-per-day", type=int, default=20000)
    parser.add_argument("--page-size", type=int, default=1000, help="OZONETEL_CDR_PAGE_SIZE")
    parser.add_argument("--speedup", type=float, default=20.0, help="the limit's period is 60 s / this")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    calls, period = 2, 60.0 / args.speedup
    pages = args.days * -(-args.legs_per_day // args.page_size)
    legs = args.days * args.legs_per_day

    url = fresh_database(args.database_url)
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": url,
        "OZONETEL_API_KEY": API_KEY,
        "OZONETEL_USERNAME": "bench_ops",
        "OZONETEL_TIMEZONE": "Asia/Kolkata",
        "OZONETEL_CDR_AUTH": "apikey",
        "OZONETEL_CDR_RATE_LIMIT": f"{calls}/{period:g}s",
        "OZONETEL_CDR_SETTLE": "1s",  # every closed day is due at once
        "OZONETEL_CDR_PAGE_SIZE": str(args.page_size),
        "LOG_LEVEL": "WARNING",
    }
    print(f"landing the pushes that arrived (60 % of {legs} calls) ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    pushed = land_pushes(url, env, args.days, args.legs_per_day)
    push_s = time.monotonic() - started
    port = free_port()
    fake = start_fake("fake_ozonetel_cdr.py", port, calls, period, args.legs_per_day, args.days, API_KEY)
    env["OZONETEL_CDR_URL"] = f"http://127.0.0.1:{port}"
    try:
        print(
            f"pulling {args.days} days, {pages} pages at {calls}/{period:g}s, {args.processes} processes ...",
            file=sys.stderr,
            flush=True,
        )
        runs, rss_kib, wall = run_reconcilers(
            env, ["reconcile", "--source", "ozonetel", "--once"], args.processes, 3 * pages * period + 600
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=30) as resp:
            stats = json.load(resp)
    finally:
        fake.terminate()
        fake.wait()
    with psycopg.connect(url) as conn:
        rows, recovered, matched, days_done = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT pushed AND cdr_at IS NOT NULL), "
            "count(*) FILTER (WHERE pushed AND cdr_at IS NOT NULL), "
            "(SELECT count(*) FROM ozonetel_cdr_day WHERE passes = 1) FROM ozonetel_call"
        ).fetchone()
    achieved, allowed, busiest = pace(stats["arrivals"], calls, period)
    missing = legs - pushed
    result = {
        "days": args.days,
        "legs": legs,
        "pages": pages,
        "calls_made": len(stats["arrivals"]),
        "limit": f"{calls}/{period:g}s",
        "speedup": args.speedup,
        "calls_per_min_scaled": round(achieved * period / calls * 2, 3),
        "ratio_to_limit": round(achieved / allowed, 3),
        "busiest_period": busiest,
        "refused_over_limit": stats["over_limit"],
        "days_fetched": days_done,
        "pushes": pushed,
        "pushes_missing": missing,
        "recovered": recovered,
        "pushes_matched": matched,
        "duplicates_created": rows - legs,
        "pages_served_twice": stats["served_twice"],
        "peak_rss_mib": [round(r / 1024, 1) for r in rss_kib],
        "push_landing_s": round(push_s, 1),
        "pull_wall_s": round(wall, 1),
        "outcomes": [[r.get("source") + ":" + r.get("outcome", "?") for r in run] for run in runs],
    }
    print(
        "days | legs | pages | calls | limit | calls/min (scaled to 2/min) | ratio | busiest period | refused | "
        "pushes missing | recovered | pushes matched | duplicates | pages twice | peak RSS MiB | wall s"
    )
    print(
        f"{args.days} | {legs} | {pages} | {result['calls_made']} | {result['limit']} | "
        f"{result['calls_per_min_scaled']} | {result['ratio_to_limit']} | {busiest} | {stats['over_limit']} | "
        f"{missing} | {recovered} | {matched} | {rows - legs} | {stats['served_twice']} | "
        f"{result['peak_rss_mib']} | {wall:.1f}"
    )
    print(json.dumps(result))
    ok = (
        result["ratio_to_limit"] >= 0.95
        and stats["over_limit"] == 0
        and recovered == missing
        and matched == pushed
        and rows == legs
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
