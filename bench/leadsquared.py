"""Benchmark: two reconciler processes share LeadSquared's rate limit on one backlog.

For each scenario it registers a backlog in a fresh database, starts a fake LeadSquared that
enforces the limit (and answers 429 past it), runs two `callrecon reconcile --source leadsquared
--once` processes at once, and prints:

- achieved calls/s ÷ allowed calls/s while due work remained. Achieved is (calls − N) divided by
  the time from the N-th call (the moment the window first filled) to the last call: a client
  that reuses every slot the moment the window lets it scores 1.0, whether it starts with a
  burst or evenly, and a client that leaves budget idle scores less (backlogs are whole multiples
  of N, so the last window is a full one);
- 429 answers, repeat polls of items already final, and each process's peak RSS (wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request

import psycopg
from benchlib import DEFAULT_ADMIN_URL, free_port, fresh_database, run_reconcilers, start_fake

SCENARIOS = {
    "real": [("25/5s", 25, 5.0, 350)],
    "scaled": [("500/5s", 500, 5.0, 2_000), ("500/5s", 500, 5.0, 20_000)],
}
RUN_LIMIT_SECONDS = 900


def register(url: str, count: int) -> None:
    """Track `count` ids, all due now."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY lsq_request (request_id, kind, registered_by) FROM STDIN") as copy:
            for n in range(count):
                copy.write_row((f"bench-{n:06d}", "call-log", "bench"))


def run_scenario(admin_url: str, label: str, calls: int, period: float, ids: int, concurrency: int) -> dict:
    """One scenario; returns its figures."""
    url = fresh_database(admin_url)
    register(url, ids)
    port = free_port()
    fake = start_fake("fake_leadsquared.py", port, calls, period)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LSQ_ASYNC_BASE_URL": f"http://127.0.0.1:{port}",
        "LSQ_API_KEY": "bench-key",
        "LSQ_RATE_LIMIT": label,
        "RECONCILE_CONCURRENCY": str(concurrency),
        "LOG_LEVEL": "WARNING",
    }
    try:
        runs, rss_kib, wall = run_reconcilers(
            env, ["reconcile", "--source", "leadsquared", "--once"], 2, RUN_LIMIT_SECONDS
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as resp:
            stats = json.load(resp)
    finally:
        fake.terminate()
        fake.wait()
    summaries = [run[-1] for run in runs]
    with psycopg.connect(url) as conn:
        done = conn.execute("SELECT count(*) FROM lsq_request WHERE status = 'Success'").fetchone()[0]
    times = stats["times"]
    span = times[-1] - times[calls - 1] if len(times) > calls else float("nan")
    achieved = (len(times) - calls) / span if span and len(times) > calls else float("nan")
    return {
        "limit": label,
        "ids": ids,
        "calls": stats["accepted"],
        "success_rows": done,
        "wall_s": round(wall, 1),
        "achieved_per_s": round(achieved, 2),
        "allowed_per_s": calls / period,
        "ratio": round(achieved / (calls / period), 3),
        "http_429": stats["too_many"],
        "repeat_final_polls": stats["repeat_final"],
        "peak_rss_mib": [round(r / 1024, 1) for r in rss_kib],
        "outcomes": [s.get("outcome") for s in summaries],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="run one scenario group")
    parser.add_argument("--concurrency", type=int, default=4, help="RECONCILE_CONCURRENCY per process")
    parser.add_argument("--ids", type=int, help="override every scenario's backlog size (a quick smoke run)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_ADMIN_URL,
        help="server to create the callrecon_bench database on (default %(default)s)",
    )
    args = parser.parse_args()
    groups = [args.only] if args.only else list(SCENARIOS)
    rows = []
    for group in groups:
        for label, calls, period, ids in SCENARIOS[group]:
            print(f"running {label} with {ids} ids, two processes ...", file=sys.stderr, flush=True)
            rows.append(run_scenario(args.database_url, label, calls, period, args.ids or ids, args.concurrency))
    header = (
        "limit",
        "ids",
        "calls",
        "wall_s",
        "achieved_per_s",
        "allowed_per_s",
        "ratio",
        "http_429",
        "repeat_final_polls",
        "peak_rss_mib",
        "outcomes",
    )
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    scaled = [r for r in rows if r["limit"] == "500/5s"]
    ok = all(
        r["ratio"] >= 0.95 and r["http_429"] == 0 and r["repeat_final_polls"] == 0 and r["success_rows"] == r["ids"]
        for r in rows
    )
    if len(scaled) == 2:
        small = max(scaled[0]["peak_rss_mib"])
        large = max(scaled[1]["peak_rss_mib"])
        growth = large / small - 1
        ok = ok and abs(growth) <= 0.10
        print(
            f"peak RSS {scaled[0]['ids']} ids: {small} MiB; {scaled[1]['ids']} ids: {large} MiB; "
            f"growth {growth:+.1%} (must stay within 10%)"
        )
    print(
        "every target met"
        if ok
        else "target missed: see the table (ratio >= 0.95, 0 x 429, 0 repeat polls, every id Success)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
