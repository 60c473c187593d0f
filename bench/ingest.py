"""Ingest throughput: callrecon's receiver against the durable limit of this machine.

One run, one gunicorn config (receiver/gunicorn_conf.py, as the Procfile serves it), one load
generator (wrk, 16 connections, 2 threads), for each post shape (1 record, 20-record arrays),
in interleaved rounds (every app once per round):

  a   hello:          Flask reads the body and answers JSON; stores nothing (the framework's ceiling)
  bp  durable pool:   the raw body, one INSERT and a commit per request over a pool; no parsing,
                      no logging (bench/ingest_apps.py)
  bg  durable group:  the raw body, group-committed (one multi-row INSERT per commit), answered
                      after its commit; no parsing, no logging
  c   callrecon:      as shipped, the defaults: LANDING_MODE=deferred, and the lander the web
                      server runs itself (LANDER=with-web)
  i   inline:         callrecon with LANDING_MODE=inline (typed rows in the request's transaction)

b, the durable limit, is the faster of bp and bg (median round, per post shape). For c it also
measures landing: the lag from receipt to typed rows of the burst's callbacks (p50, p99), and how
long after the burst ended the last one landed. By default every call of the burst is in one
campaign at one time of one day (their rollup rows and ledger matches all meet on one key);
--spread spreads them over 20 campaigns and 28 days.

Prints each app's median round (req/s, records/s, p50, p99, non-2xx), the ratios to b, and checks
that every acknowledged record is in Postgres (c, i: ozonetel_call rows; bp, bg: raw rows). The
last line is one JSON object. Each check belongs to one target, and the run says per target
whether it was met (`met_by_target` in the JSON):
  fast by default   for single-record posts: c >= 0.95 b, p99(c) <= 50 ms, 0 non-2xx, the last row
                    landed within 2 s of the burst's end;
  nothing lost      for every app and shape 0 acknowledged-but-missing, and callrecon's own
                    connections (web workers, landers) logged in as non-superuser roles, as
                    pg_stat_activity saw them.
Exit status 0 only when every check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

import psycopg
from benchlib import DEFAULT_ADMIN_URL, ROOT, ensure_wrk, free_port, fresh_database, serve, service_urls, stop
from ingest_apps import DURABLE_TABLE

TOKEN = "ingest-token-7d41c0"
APIKEY = "KKingest-apikey-52e9"
APPS = {
    "a": ("hello", "ingest_apps:hello_app()"),
    "bp": ("durable pool", "ingest_apps:durable_pool_app()"),
    "bg": ("durable group", "ingest_apps:durable_group_app()"),
    "c": ("callrecon default", None),
    "i": ("callrecon inline", None),
}
DRAIN_LIMIT_S = 600


def parse_wrk(text: str) -> dict:
    """req/s, p50/p99 ms, completed requests, non-2xx and socket errors from `wrk --latency` output."""

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"^\s*(\d+) requests in", text, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50": ms("50"),
        "p99": ms("99"),
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def stored_records(url: str, app: str) -> int:
    with psycopg.connect(url) as conn:
        if app in ("bp", "bg"):
            return conn.execute(
                "SELECT coalesce(sum(jsonb_array_length(CASE jsonb_typeof(b) WHEN 'array' THEN b "
                "ELSE jsonb_build_array(b) END)), 0) FROM (SELECT convert_from(body, 'UTF8')::jsonb AS b "
                "FROM durable_callback) d WHERE b::text LIKE '%bench-%'"
            ).fetchone()[0]
        return conn.execute("SELECT count(*) FROM ozonetel_call WHERE monitor_ucid LIKE 'bench-%'").fetchone()[0]


def landing(url: str, started, ended, seconds_after: float) -> dict:
    """Lag of the callbacks received during the measured burst, from raw_inbox (database clock), and the
    typed records per second from the burst's start to its last landing (landing's own throughput)."""
    with psycopg.connect(url) as conn:
        p50, p99, last = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP "
            "(ORDER BY lag), max(parsed_at) FROM (SELECT extract(epoch FROM parsed_at - received_at) AS lag, "
            "parsed_at FROM raw_inbox WHERE received_at BETWEEN %s AND %s) r",
            (started, ended),
        ).fetchone()
        landed = conn.execute(
            "SELECT coalesce(sum(landed_count), 0) FROM raw_inbox WHERE received_at BETWEEN %s AND %s",
            (started, ended),
        ).fetchone()[0]
    span = (last - started).total_seconds() if last else None
    return {
        "lag_p50_s": p50,
        "lag_p99_s": p99,
        "last_landed_after_s": seconds_after,
        "landed_records_s": landed / span if span else None,
    }


def db_now(url: str):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def measure(app: str, records: int, seconds: int, connections: int, admin_url: str, spread: bool = False) -> dict:
    name, spec = APPS[app]
    url = fresh_database(admin_url, "callrecon_ingest")
    if app in ("bp", "bg"):
        with psycopg.connect(url) as conn:
            conn.execute(DURABLE_TABLE)
    port = free_port()
    env = {
        **os.environ,
        # callrecon's web process and its landers log in as the web role, never as the superuser.
        "DATABASE_URL": service_urls(url)["web"] if app in ("c", "i") else url,
        "OZONETEL_CALLBACK_TOKENS": TOKEN,
        "OZONETEL_API_KEY": APIKEY,
    }
    for setting in ("LANDING_MODE", "LANDER"):  # c runs the defaults, whatever this shell exports
        env.pop(setting, None)
    if app == "i":
        env["LANDING_MODE"] = "inline"
    elif app != "c":
        env["LANDER"] = "separate"  # the same gunicorn config serves the baselines: no lander there
    server = serve(env, port, f"/tmp/callrecon-ingest-{app}.log", app=spec)
    load_env = {
        **os.environ,
        "INGEST_PATH": f"/callbacks/ozonetel/{TOKEN}",
        "INGEST_RECORDS": str(records),
        "INGEST_APIKEY": APIKEY,
        "INGEST_SPREAD": "1" if spread else "0",
    }
    wrk = [
        "wrk",
        "-t2",
        f"-c{connections}",
        "--latency",
        "-s",
        str(ROOT / "bench" / "ingest_post.lua"),
        f"http://127.0.0.1:{port}",
    ]
    lag = None
    try:
        subprocess.run(wrk + ["-d2s"], env={**load_env, "INGEST_PREFIX": "warm"}, capture_output=True, check=True)
        if app == "c":
            wait_landed(url, DRAIN_LIMIT_S)  # the warm-up's rows, so the burst starts from an empty backlog
        started = db_now(url)
        out = subprocess.run(wrk + [f"-d{seconds}s"], env=load_env, capture_output=True, text=True, check=True)
        ended, ended_at = db_now(url), time.monotonic()
        logins = service_logins(url)
        if app == "c":
            wait_landed(url, DRAIN_LIMIT_S)
            lag = landing(url, started, ended, time.monotonic() - ended_at)
    finally:
        stop(server)
    result = parse_wrk(out.stdout)
    result["landing"] = lag
    result["logins"] = logins
    acked = (result["requests"] - result["non2xx"]) * records
    result.update(app=app, name=name, records=records, rec_s=result["rps"] * records)
    if app != "a":
        # Ids are unique per record and the warm-up's start with "warm-", so every acknowledged
        # record of the measured run is one row here; a request cut off when wrk stops may add one.
        result["stored"] = stored_records(url, app)
        result["missing"] = max(acked - result["stored"], 0)
    else:
        result["stored"], result["missing"] = None, 0
    return result


# Who the server's own connections (web workers, landers) log in as, seen by the server.
SERVICE_LOGINS = """
SELECT DISTINCT a.usename::text, r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
ORDER BY 1
"""


def service_logins(url: str) -> list:
    """[(login, is superuser)] of every connection to the bench database but this one."""
    with psycopg.connect(url) as conn:
        return [tuple(row) for row in conn.execute(SERVICE_LOGINS)]


def wait_landed(url: str, limit_s: float) -> None:
    """Return once no raw row waits for the lander (polled every 50 ms)."""
    deadline = time.monotonic() + limit_s
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT EXISTS (SELECT FROM raw_inbox WHERE status = 'received')").fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the lander left rows unlanded for {limit_s} s")
            time.sleep(0.05)


def median_run(results: list[dict]) -> dict:
    """The run with the median req/s (the lower middle one for an even count)."""
    return sorted(results, key=lambda r: r["rps"])[(len(results) - 1) // 2]


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured burst (default 10)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--records", type=int, action="append", help="records per post (repeatable; default 1 and 20)")
    parser.add_argument("--apps", default="a,bp,bg,c,i", help="which apps to run, comma-separated (default all)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per post shape (default 3)")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument(
        "--spread",
        action="store_true",
        help="spread the calls over 20 campaigns and 28 days (default: every call in one campaign, one day)",
    )
    args = parser.parse_args()
    apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    ensure_wrk()
    print(
        f"machine: {machine()}; wrk -t2 -c{args.connections} -d{args.seconds}s; gunicorn "
        f"receiver/gunicorn_conf.py (WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', 'default')})"
    )
    calls = "spread over 20 campaigns and 28 days" if args.spread else "all in one campaign and day"
    print(f"calls: {calls}")
    ok, summary = True, {"seconds": args.seconds, "connections": args.connections, "spread": args.spread, "shapes": {}}
    for records in args.records or [1, 20]:
        # Rounds interleave the apps, so a slow spell of this shared machine falls on all of them;
        # each app's figures are from its median round by req/s.
        runs: dict[str, list[dict]] = {app: [] for app in apps}
        for round_no in range(1, args.rounds + 1):
            for app in apps:
                print(
                    f"round {round_no}/{args.rounds}: {APPS[app][0]} with {records} record(s) per post ...",
                    file=sys.stderr,
                    flush=True,
                )
                runs[app].append(measure(app, records, args.seconds, args.connections, args.database_url, args.spread))
                time.sleep(1)
        rows = {app: median_run(results) for app, results in runs.items()}
        durable = [app for app in ("bp", "bg") if app in rows]
        b_app = max(durable, key=lambda app: rows[app]["rps"]) if durable else None
        b = rows[b_app]["rps"] if b_app else None
        per_round = "; ".join(
            f"{app} " + ", ".join(f"{r['rps']:.0f}" for r in results) for app, results in runs.items()
        )
        print(f"\n{records} record(s) per post; req/s of each round: {per_round}")
        print(f"b (the durable limit) = {APPS[b_app][0] if b_app else '-'}")
        print(
            "app | req/s | × b | records/s | p50 ms | p99 ms | non-2xx | lag p50 s | lag p99 s "
            "| last landed after burst s | landed records/s | acked records | stored | acked-but-missing (all rounds)"
        )
        shape = {"b": b_app, "apps": {}}
        for app, r in rows.items():
            missing = sum(x["missing"] for x in runs[app])
            non2xx = sum(x["non2xx"] for x in runs[app])
            lag = r["landing"] or {}
            ratio = r["rps"] / b if b else None

            def fmt(value, digits=2):
                return "-" if value is None else f"{value:.{digits}f}"

            print(
                f"{app} {r['name']} | {r['rps']:.0f} | {fmt(ratio)} | {r['rec_s']:.0f} | {r['p50']:.2f} | "
                f"{r['p99']:.2f} | {non2xx} | {fmt(lag.get('lag_p50_s'))} | {fmt(lag.get('lag_p99_s'))} | "
                f"{fmt(lag.get('last_landed_after_s'))} | {fmt(lag.get('landed_records_s'), 0)} | "
                f"{(r['requests'] - r['non2xx']) * records} | "
                f"{r['stored'] if r['stored'] is not None else '-'} | {missing}"
            )
            shape["apps"][app] = {
                "req_s": round(r["rps"], 1),
                "records_s": round(r["rec_s"], 1),
                "ratio_to_b": round(ratio, 3) if ratio else None,
                "p50_ms": r["p50"],
                "p99_ms": r["p99"],
                "non2xx": non2xx,
                "acked_but_missing": missing,
                "rounds_req_s": [round(x["rps"], 1) for x in runs[app]],
                **{k: (round(v, 3) if v is not None else None) for k, v in lag.items()},
            }
        # Each check belongs to a target: fast by default, or nothing lost (the services as
        # least-privilege logins lose no callback).
        checks = {
            "nothing lost: 0 acked-but-missing (every app, every round)": all(
                x["missing"] == 0 for results in runs.values() for x in results
            )
        }
        callrecon = [x for app in ("c", "i") for x in runs.get(app, [])]
        if callrecon:
            seen = sorted({login for x in callrecon for login in x["logins"]})
            print(f"callrecon's connections logged in as: {', '.join(f'{u} (superuser: {s})' for u, s in seen)}")
            shape["callrecon_logins"] = [u for u, _ in seen]
            checks["nothing lost: callrecon's web workers and landers connected as non-superuser logins"] = bool(
                seen
            ) and not any(superuser for _, superuser in seen)
        if records == 1 and "c" in rows:
            c, lag = rows["c"], rows["c"]["landing"]
            checks.update(
                {
                    "fast by default: c >= 0.95 b": b is not None and c["rps"] >= 0.95 * b,
                    "fast by default: p99(c) <= 50 ms": c["p99"] <= 50,
                    "fast by default: 0 non-2xx for c": all(x["non2xx"] == 0 for x in runs["c"]),
                    "fast by default: c's last row landed <= 2 s after the burst": lag["last_landed_after_s"] <= 2,
                }
            )
        for label, held in checks.items():
            print(f"  {'met' if held else 'MISSED'}: {label}")
        shape["checks"] = checks
        summary["shapes"][str(records)] = shape
        ok = ok and all(checks.values())
    by_target = {}
    for shape in summary["shapes"].values():
        for label, held in shape["checks"].items():
            target = label.split(":")[0]
            by_target[target] = by_target.get(target, True) and held
    for target, held in sorted(by_target.items()):
        print(f"{target}: {'met' if held else 'MISSED'}")
    print("\nevery target met" if ok else "\na target was missed")
    summary["targets_met"] = ok
    summary["met_by_target"] = by_target
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
