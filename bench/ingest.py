"""Ingest throughput: callrecon's receiver beside a Flask app that stores nothing and a naive one.

One run, one gunicorn config (receiver/gunicorn_conf.py, as the Procfile serves it), one load
generator (wrk, 16 connections, 2 threads), for each post shape (1 record, 20-record arrays),
in interleaved rounds (a b c d a b c d ...):

  a  hello:     Flask reads the body and answers JSON; stores nothing (the framework's ceiling)
  b  naive:     parse, one INSERT, commit, per request (bench/ingest_apps.py)
  c  callrecon: the real receiver and schema (raw_inbox, then typed ozonetel_call rows), as
                shipped (LANDING_MODE=inline: raw row and typed rows in the request's transaction)
  d  deferred:  the same receiver with LANDING_MODE=deferred (raw rows group-committed; a
                `callrecon land --follow` process lands them meanwhile; its drain time is reported)

Prints each app's median round (req/s, records/s, p50, p99, non-2xx), the ratios to a and b
(machines here are noisy: interleaving puts a slow spell on every app), and checks that
every acknowledged record is in Postgres (c, d: ozonetel_call rows; b: records in naive_callback).
Exit status 0 only when the single-record acceptance holds: c >= 0.7 a, c >= 3 b, p99(c) <= 50 ms,
0 non-2xx and 0 acknowledged-but-missing.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time

import psycopg
from benchlib import BIN, DEFAULT_ADMIN_URL, ROOT, free_port, fresh_database, serve, service_urls, stop
from ingest_apps import NAIVE_TABLE

TOKEN = "ingest-token-7d41c0"
APIKEY = "KKingest-apikey-52e9"
APPS = {
    "a": ("hello", "ingest_apps:hello_app()"),
    "b": ("naive", "ingest_apps:naive_app()"),
    "c": ("callrecon", None),
    "d": ("deferred", None),
}


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
        if app == "b":
            return conn.execute(
                "SELECT count(*) FROM naive_callback, jsonb_array_elements(CASE jsonb_typeof(body) WHEN 'array' "
                "THEN body ELSE jsonb_build_array(body) END) AS record "
                "WHERE record->>'monitorUCID' LIKE 'bench-%'"
            ).fetchone()[0]
        return conn.execute("SELECT count(*) FROM ozonetel_call WHERE monitor_ucid LIKE 'bench-%'").fetchone()[0]


def procfile_command(process: str) -> list[str]:
    """A Procfile line's command, with callrecon taken from this virtualenv."""
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith(f"{process}:"))
    return [str(BIN / "callrecon") if word == "callrecon" else word for word in line.split(":", 1)[1].split()]


def measure(app: str, records: int, seconds: int, connections: int, admin_url: str) -> dict:
    name, spec = APPS[app]
    url = fresh_database(admin_url, "callrecon_ingest")
    if app == "b":
        with psycopg.connect(url) as conn:
            conn.execute(NAIVE_TABLE)
    port = free_port()
    env = {
        **os.environ,
        # callrecon's web process and lander log in as the web role, never as the superuser (#19).
        "DATABASE_URL": service_urls(url)["web"] if app in "cd" else url,
        "OZONETEL_CALLBACK_TOKENS": TOKEN,
        "OZONETEL_API_KEY": APIKEY,
        "LANDING_MODE": "deferred" if app == "d" else "inline",
    }
    server = serve(env, port, f"/tmp/callrecon-ingest-{name}.log", app=spec)
    # The lander runs as the Procfile runs it (at a low CPU priority).
    lander = (
        subprocess.Popen(
            procfile_command("lander"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open("/tmp/callrecon-ingest-lander.log", "ab"),
        )
        if app == "d"
        else None
    )
    load_env = {
        **os.environ,
        "INGEST_PATH": f"/callbacks/ozonetel/{TOKEN}",
        "INGEST_RECORDS": str(records),
        "INGEST_APIKEY": APIKEY,
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
    try:
        subprocess.run(wrk + ["-d2s"], env={**load_env, "INGEST_PREFIX": "warm"}, capture_output=True, check=True)
        out = subprocess.run(wrk + [f"-d{seconds}s"], env=load_env, capture_output=True, text=True, check=True)
    finally:
        stop(server)
    drain = None
    if lander:
        ended = time.monotonic()
        with psycopg.connect(url) as conn:
            while conn.execute("SELECT count(*) FROM raw_inbox WHERE status = 'received'").fetchone()[0]:
                time.sleep(0.2)
        drain = time.monotonic() - ended
        lander.terminate()
        lander.wait(timeout=30)
    result = parse_wrk(out.stdout)
    result["drain_s"] = drain
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


def median_run(results: list[dict]) -> dict:
    """The run with the median req/s (the lower middle one for an even count)."""
    return sorted(results, key=lambda r: r["rps"])[(len(results) - 1) // 2]


def ensure_wrk() -> None:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode == 0:
        return
    print("installing wrk from Debian's packages ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--records", type=int, action="append", help="records per post (repeatable; default 1 and 20)")
    parser.add_argument("--apps", default="abcd", help="which of a, b, c, d to run (default abcd)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per post shape (default 3)")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    ensure_wrk()
    print(
        f"machine: {machine()}; wrk -t2 -c{args.connections} -d{args.seconds}s; gunicorn "
        f"receiver/gunicorn_conf.py (WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', 'default')})"
    )
    ok = True
    for records in args.records or [1, 20]:
        # Rounds interleave the apps (a b c d a b c d ...), so a slow spell of this shared machine
        # falls on all of them; each app's figures are from its median round by req/s.
        runs: dict[str, list[dict]] = {app: [] for app in args.apps}
        for round_no in range(1, args.rounds + 1):
            for app in args.apps:
                print(
                    f"round {round_no}/{args.rounds}: {APPS[app][0]} with {records} record(s) per post ...",
                    file=sys.stderr,
                    flush=True,
                )
                runs[app].append(measure(app, records, args.seconds, args.connections, args.database_url))
                time.sleep(1)
        rows = {app: median_run(results) for app, results in runs.items()}
        per_round = "; ".join(
            f"{app} " + ", ".join(f"{r['rps']:.0f}" for r in results) for app, results in runs.items()
        )
        print(f"\n{records} record(s) per post; req/s of each round: {per_round}")
        print(
            "app | req/s | records/s | p50 ms | p99 ms | non-2xx | socket errors | acknowledged records "
            "| stored | acked-but-missing (all rounds)"
        )
        for app, r in rows.items():
            missing = sum(x["missing"] for x in runs[app])
            non2xx = sum(x["non2xx"] for x in runs[app])
            print(
                f"{r['app']} {r['name']} | {r['rps']:.0f} | {r['rec_s']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                f"{non2xx} | {r['socket_errors']} | {(r['requests'] - r['non2xx']) * records} | "
                f"{r['stored'] if r['stored'] is not None else '-'} | {missing}"
            )
        for app in "cd":
            if app not in rows:
                continue
            c = rows[app]
            ca = c["rps"] / rows["a"]["rps"] if "a" in rows else None
            cb = c["rps"] / rows["b"]["rps"] if "b" in rows else None
            print(
                f"{app}/a = {ca:.2f}" if ca else f"{app}/a = -",
                f"; {app}/b = {cb:.2f}" if cb else f"; {app}/b = -",
                f"; landed {c['drain_s']:.1f} s after the load ended" if c["drain_s"] is not None else "",
                sep="",
            )
            if records == 1:
                checks = {
                    f"{app} >= 0.7 a": ca is None or ca >= 0.7,
                    f"{app} >= 3 b": cb is None or cb >= 3,
                    f"p99({app}) <= 50 ms": c["p99"] <= 50,
                    "0 non-2xx": all(x["non2xx"] == 0 for x in runs[app]),
                    "0 acked-but-missing": all(x["missing"] == 0 for results in runs.values() for x in results),
                }
                for label, held in checks.items():
                    print(f"  {'PASS' if held else 'FAIL'} {label}")
                ok = ok and all(checks.values())
        ok = ok and all(x["missing"] == 0 for results in runs.values() for x in results)
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
