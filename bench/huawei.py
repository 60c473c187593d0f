"""Benchmark: Huawei detail fetch for a backlog of calls, two reconciler processes, one shared limit.

A fake CC-iSales adds LATENCY to every call and counts requests in flight. The limit is
HUAWEI_CONCURRENCY calls in flight across all processes, each slot resting HUAWEI_BATCH_GAP after
its call (§2.2: ≤10 concurrent, >1 s between batches). The most that limit allows is
concurrency / (gap + latency) calls/s: every slot busy for one call, then resting. The achieved
rate is (calls − concurrency) over the time from the concurrency-th call's start to the last
call's start. It prints the ratio, the peak concurrency seen, and duplicate fetches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request

import psycopg
from benchlib import DEFAULT_ADMIN_URL, free_port, fresh_database, run_reconcilers, start_fake


def register(url: str, count: int) -> None:
    """`count` calls missing detail, all due now."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY huawei_call (vdn_id, call_id, source_timezone, first_seen_at, last_seen_at) FROM STDIN"
        ) as copy:
            for n in range(count):
                copy.write_row((8, f"bench-{n:06d}", "UTC", "2022-02-10 00:00+00", "2022-02-10 00:00+00"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="backlog of calls missing detail")
    parser.add_argument("--latency", type=float, default=0.05, help="fake iSales seconds per call")
    parser.add_argument("--concurrency", type=int, default=10, help="HUAWEI_CONCURRENCY")
    parser.add_argument("--gap", type=float, default=1.0, help="HUAWEI_BATCH_GAP seconds")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()

    url = fresh_database(args.database_url)
    register(url, args.calls)
    port = free_port()
    fake = start_fake("fake_isales.py", port, args.latency)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HUAWEI_BASE_URL": f"http://127.0.0.1:{port}",
        "HUAWEI_AK": "bench-ak",
        "HUAWEI_SK": "bench-sk",
        "HUAWEI_TIMEZONE": "Asia/Shanghai",
        "HUAWEI_CONCURRENCY": str(args.concurrency),
        "HUAWEI_BATCH_GAP": f"{args.gap}s",
        "RECONCILE_CONCURRENCY": str(args.concurrency),
        "LOG_LEVEL": "WARNING",
    }
    try:
        print(f"fetching {args.calls} details, two processes ...", file=sys.stderr, flush=True)
        runs, rss_kib, wall = run_reconcilers(env, ["reconcile", "--source", "huawei", "--once"], 2, 900)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as resp:
            stats = json.load(resp)
    finally:
        fake.terminate()
        fake.wait()
    with psycopg.connect(url) as conn:
        done = conn.execute("SELECT count(*) FROM huawei_call WHERE detail_status = 'done'").fetchone()[0]
    starts = sorted(start for start, _ in stats["spans"])
    n = args.concurrency
    achieved = (len(starts) - n) / (starts[-1] - starts[n - 1]) if len(starts) > n else float("nan")
    allowed = n / (args.gap + args.latency)
    ratio = achieved / allowed
    print(
        "calls | done | wall_s | achieved_per_s | allowed_per_s | ratio | allowed_ignoring_latency | "
        "peak_concurrency | limit | duplicate_fetches | peak_rss_mib"
    )
    print(
        f"{stats['calls']} | {done} | {wall:.1f} | {achieved:.2f} | {allowed:.2f} | {ratio:.3f} | "
        f"{achieved / (n / args.gap):.3f} | {stats['peak']} | {n} | {stats['duplicates']} | "
        f"{[round(r / 1024, 1) for r in rss_kib]}"
    )
    ok = ratio >= 0.9 and stats["peak"] <= n and stats["duplicates"] == 0 and done == args.calls
    print(
        "every target met"
        if ok
        else "target missed: need ratio >= 0.9, peak concurrency <= limit, 0 duplicates, every call done"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
