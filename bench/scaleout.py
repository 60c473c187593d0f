"""Past one box: what N receivers and N reconcilers cost PostgreSQL, straight and through PgBouncer.

Everything runs on a PostgreSQL cluster of the bench's own (initdb, fsync on, on a free loopback
port) with a streaming hot standby beside it (pg_basebackup -R), because the machine's server may
refuse replication connections and is never reconfigured. In front of the primary, Debian's
PgBouncer in transaction mode (at most 10 server connections to the database; SCRAM logins for the
web and reconciler roles), exactly as docs/scaling.md documents it.

For each N of --receivers (default 1, 2, 4), straight (DATABASE_POOLER=none, the baseline of the
same run) and through PgBouncer (DATABASE_POOLER=transaction); ingest also runs straight with
DATABASE_POOLER=transaction ("unprepared"), which splits the pooler's cost into what not preparing
statements costs and what the hop through PgBouncer costs:

- ingest, in --rounds interleaved rounds (the median round is kept; lost callbacks are summed over
  all): N gunicorn receivers (1 worker, 4 threads and 1 lander each, the shipped deferred
  landing), N wrk processes splitting --connections between them for --seconds, single-record
  Ozonetel pushes: req/s, p99 (the worst of the N), non-2xx, acknowledged-but-missing after the
  landers drained, the most server connections the database held, PgBouncer's CPU per callback,
  and the standby's replay lag (bytes and seconds) at its worst during the load;
- reconcile: N `callrecon reconcile --source leadsquared --once` processes (RECONCILE_CONCURRENCY
  2) over a fresh backlog of --items against bench/fake_leadsquared.py (a limit high enough that
  the database is what is measured): items/s, repeat polls of final items, 429s, server
  connections.

On 2 cores more receivers are not faster; the figures are what the pooler costs and how many
server connections N processes need. The ratio pooled / straight is measured in the same run.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
from benchlib import (
    BENCH_ENV,
    ROOT,
    ensure_wrk,
    free_port,
    fresh_database,
    service_urls,
    start_fake,
    stop,
)
from benchlib import serve as serve_receiver
from ingest import machine, parse_wrk

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from engines import PgBouncer, missing  # noqa: E402
from standby_cluster import Pair, wait_for_replay  # noqa: E402

from receiver.database import standby  # noqa: E402

DBNAME = "callrecon_scaleout"
TOKEN = "scaleout-token-0c4f"
APIKEY = "KKscaleout"
MAX_SERVER = 10
# Straight (the baseline), straight with DATABASE_POOLER=transaction (what not preparing statements costs
# alone), and through PgBouncer (that plus the pooler's hop).
INGEST_MODES = ("direct", "unprepared", "pgbouncer")
LSQ_LIMIT = (2000, 1.0)
SAMPLE_S = 0.1
DRAIN_LIMIT_S = 300

CONNECTIONS = """
SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


class Sampler(threading.Thread):
    """Every SAMPLE_S while a load runs: the database's server connections and the standby's replay lag."""

    def __init__(self, primary_admin: str, standby_url: str):
        super().__init__(daemon=True)
        self.primary_admin, self.standby_url = primary_admin, standby_url
        self.running = threading.Event()
        self.peak_connections, self.peak_lag_s, self.peak_behind_bytes = 0, 0.0, 0.0

    def run(self):
        with (
            psycopg.connect(self.primary_admin, autocommit=True) as primary,
            psycopg.connect(self.standby_url, autocommit=True) as replica,
        ):
            while self.running.is_set():
                held = primary.execute(CONNECTIONS, (DBNAME,)).fetchone()[0]
                self.peak_connections = max(self.peak_connections, held)
                state = standby.lag(primary, replica)
                self.peak_lag_s = max(self.peak_lag_s, state["lag_s"] or 0.0)
                self.peak_behind_bytes = max(self.peak_behind_bytes, state["behind_bytes"] or 0.0)
                time.sleep(SAMPLE_S)

    def __enter__(self):
        self.running.set()
        self.start()
        return self

    def __exit__(self, *exc):
        self.running.clear()
        self.join(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pgbouncer_pid(bouncer: PgBouncer) -> int:
    """PgBouncer's own pid (under runuser when started as root)."""
    out = subprocess.run(["pgrep", "-f", str(bouncer.dir / "pgbouncer.ini")], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return max(pids)  # runuser's child, the daemon itself, started after runuser


def database_url(mode: str, urls: dict, bouncer: PgBouncer, role: str) -> str:
    """The role's login URL, straight to the primary or through PgBouncer."""
    if mode != "pgbouncer":
        return urls[role]
    user = psycopg.conninfo.conninfo_to_dict(urls[role])["user"]
    return bouncer.url(user)


def wait_landed(url: str) -> None:
    """Until no raw row waits for a lander."""
    deadline = time.monotonic() + DRAIN_LIMIT_S
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT EXISTS (SELECT FROM raw_inbox WHERE status = 'received')").fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the landers left rows unlanded for {DRAIN_LIMIT_S} s")
            time.sleep(0.05)


def median(rows: list[dict]) -> dict:
    """The round with the median req/s (the lower middle one for an even count)."""
    return sorted(rows, key=lambda r: r["rps"])[(len(rows) - 1) // 2]


def ingest(mode, n, args, urls, bouncer, admin, standby_url, bouncer_pid, label) -> dict:
    """N receivers under N wrk processes; figures of the measured burst."""
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": database_url(mode, urls, bouncer, "web"),
        "DATABASE_POOLER": "none" if mode == "direct" else "transaction",
        "OZONETEL_CALLBACK_TOKENS": TOKEN,
        "OZONETEL_API_KEY": APIKEY,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
        "LANDER_PROCESSES": "1",
    }
    for setting in ("LANDING_MODE", "LANDER"):
        env.pop(setting, None)
    ports = [free_port() for _ in range(n)]
    servers = [serve_receiver(env, port, f"/tmp/callrecon-scaleout-{mode}-{n}-{i}.log") for i, port in enumerate(ports)]
    per = max(1, args.connections // n)
    prefix = f"{label}{mode}{n}"

    def wrk(port, seconds, ids):
        load_env = {
            **os.environ,
            "INGEST_PATH": f"/callbacks/ozonetel/{TOKEN}",
            "INGEST_RECORDS": "1",
            "INGEST_APIKEY": APIKEY,
            "INGEST_PREFIX": ids,
            "INGEST_SPREAD": "1",
        }
        argv = ["wrk", "-t1", f"-c{per}", f"-d{seconds}s", "--latency", "-s", str(ROOT / "bench" / "ingest_post.lua")]
        return subprocess.Popen(
            [*argv, f"http://127.0.0.1:{port}"], env=load_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    primary_url = urls["release"]
    try:
        for proc in [wrk(port, 2, f"warm{prefix}p{i}") for i, port in enumerate(ports)]:
            proc.communicate()
        wait_landed(primary_url)
        cpu_before = cpu_seconds(bouncer_pid)
        with Sampler(admin, standby_url) as sampler:
            loads = [wrk(port, args.seconds, f"{prefix}p{i}") for i, port in enumerate(ports)]
            outs = [proc.communicate()[0] for proc in loads]
            wait_landed(primary_url)
        cpu_used = cpu_seconds(bouncer_pid) - cpu_before
    finally:
        for server in servers:
            stop(server)
    runs = [parse_wrk(out) for out in outs]
    requests = sum(r["requests"] for r in runs)
    non2xx = sum(r["non2xx"] for r in runs)
    with psycopg.connect(primary_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM ozonetel_call WHERE monitor_ucid LIKE %s", (f"{prefix}p%",)
        ).fetchone()[0]
    return {
        "rps": round(sum(r["rps"] for r in runs), 1),
        "p99_ms": round(max(r["p99"] for r in runs), 1),
        "non2xx": non2xx,
        "missing": max(requests - non2xx - stored, 0),
        "server_connections": sampler.peak_connections,
        "pgbouncer_cpu_us_per_callback": round(cpu_used / max(requests, 1) * 1e6, 1) if mode == "pgbouncer" else None,
        "standby_lag_s": round(sampler.peak_lag_s, 3),
        "standby_behind_kib": round(sampler.peak_behind_bytes / 1024, 1),
    }


def register(url: str, prefix: str, count: int) -> None:
    """A backlog of `count` LeadSquared ids, due now."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY lsq_request (request_id, kind, registered_by) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row((f"{prefix}-{i:06d}", "call-log", "bench"))


def reconcile(mode, n, args, urls, bouncer, admin, standby_url) -> dict:
    """N reconcilers over a fresh backlog; items/s and what the vendor saw."""
    prefix = f"{mode}{n}"
    register(urls["release"], prefix, args.items)
    port = free_port()
    fake = start_fake("fake_leadsquared.py", port, *LSQ_LIMIT)
    env = {
        **os.environ,
        **BENCH_ENV,
        "DATABASE_URL": database_url(mode, urls, bouncer, "reconciler"),
        "DATABASE_POOLER": "transaction" if mode == "pgbouncer" else "none",
        "LSQ_ASYNC_BASE_URL": f"http://127.0.0.1:{port}",
        "LSQ_API_KEY": "bench-key",
        "LSQ_RATE_LIMIT": f"{LSQ_LIMIT[0]}/{LSQ_LIMIT[1]:g}s",
        "RECONCILE_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
    }
    argv = [str(Path(sys.executable).parent / "callrecon"), "reconcile", "--source", "leadsquared", "--once"]
    try:
        with Sampler(admin, standby_url) as sampler:
            started = time.monotonic()
            procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
            outs = [proc.communicate(timeout=600) for proc in procs]
            wall = time.monotonic() - started
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as resp:
            stats = json.load(resp)
    finally:
        fake.terminate()
        fake.wait()
    with psycopg.connect(urls["release"]) as conn:
        done = conn.execute(
            "SELECT count(*) FROM lsq_request WHERE request_id LIKE %s AND status = 'Success'", (f"{prefix}-%",)
        ).fetchone()[0]
    errors = [err.decode()[-300:] for out, err in outs if b'"level": "error"' in err]
    return {
        "items_s": round(done / wall, 1),
        "done": done,
        "calls": stats["accepted"],
        "repeat_final_polls": stats["repeat_final"],
        "http_429": stats["too_many"],
        "server_connections": sampler.peak_connections,
        "errors": len(errors),
    }


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A plain text table."""
    lines = ["  ".join(f"{title:>12}" for _, title in columns)]
    for row in rows:
        lines.append("  ".join(f"{'' if row.get(key) is None else row[key]!s:>12}" for key, _ in columns))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receivers", default="1,2,4", help="process counts, comma-separated (default 1,2,4)")
    parser.add_argument("--seconds", type=int, default=8, help="length of each measured burst (default 8)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections in all (default 16)")
    parser.add_argument("--items", type=int, default=1500, help="LeadSquared backlog per reconcile run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ingest rounds (default 3)")
    args = parser.parse_args()
    counts = [int(c) for c in args.receivers.split(",")]
    why = missing()
    if why:
        print(f"bench/scaleout: {why}", file=sys.stderr)
        return 2
    ensure_wrk()
    print(
        f"machine: {machine()}; {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; wrk -t1 per receiver, "
        f"{args.connections} connections in all, {args.seconds} s; PgBouncer transaction mode, "
        f"max_db_connections {MAX_SERVER}"
    )
    pair = Pair()
    bouncer = None
    try:
        pair.start_primary(fsync="on", shared_buffers="256MB", max_connections=200)
        admin = pair.primary.url("postgres")
        fresh_database(admin, DBNAME)
        urls = service_urls(pair.primary.url(DBNAME))
        pair.start_standby()
        standby_url = pair.standby.url(DBNAME)
        logins = {}
        for role in ("web", "reconciler"):
            info = psycopg.conninfo.conninfo_to_dict(urls[role])
            logins[info["user"]] = info["password"]
        bouncer = PgBouncer(DBNAME, logins, server=("127.0.0.1", pair.primary.port), max_server=MAX_SERVER).start()
        pid = pgbouncer_pid(bouncer)
        rounds: dict[tuple[str, int], list[dict]] = {}
        for r in range(args.rounds):
            for n in counts:
                for mode in INGEST_MODES:
                    row = ingest(mode, n, args, urls, bouncer, admin, standby_url, pid, f"r{r}")
                    rounds.setdefault((mode, n), []).append(row)
                    print(json.dumps({"ingest": {"mode": mode, "processes": n, "round": r, **row}}), file=sys.stderr)
        ingest_rows = [
            {"mode": mode, "processes": n, **median(runs), "rounds_rps": [r["rps"] for r in runs]}
            for (mode, n), runs in rounds.items()
        ]
        for row in ingest_rows:  # nothing lost in any round, not only the median one
            row["missing"] = sum(r["missing"] for r in rounds[(row["mode"], row["processes"])])
            row["non2xx"] = sum(r["non2xx"] for r in rounds[(row["mode"], row["processes"])])
        reconcile_rows = []
        for n in counts:
            for mode in ("direct", "pgbouncer"):
                row = {"mode": mode, "processes": n, **reconcile(mode, n, args, urls, bouncer, admin, standby_url)}
                reconcile_rows.append(row)
                print(json.dumps({"reconcile": row}), file=sys.stderr)
        wait_for_replay(pair.primary.url(DBNAME), standby_url, 60)
    finally:
        if bouncer is not None:
            bouncer.stop()
        pair.stop()
    for rows, key in ((ingest_rows, "rps"), (reconcile_rows, "items_s")):
        direct = {r["processes"]: r[key] for r in rows if r["mode"] == "direct"}
        for r in rows:
            r["ratio_to_direct"] = round(r[key] / direct[r["processes"]], 2) if direct[r["processes"]] else None
    print(f"\ningest (single-record Ozonetel pushes, deferred landing; median of {args.rounds} rounds)")
    print(
        table(
            ingest_rows,
            [
                ("mode", "mode"),
                ("processes", "receivers"),
                ("rps", "req/s"),
                ("ratio_to_direct", "/ direct"),
                ("p99_ms", "p99 ms"),
                ("non2xx", "non-2xx"),
                ("missing", "missing"),
                ("server_connections", "server conns"),
                ("pgbouncer_cpu_us_per_callback", "bouncer us/cb"),
                ("standby_lag_s", "standby lag s"),
                ("standby_behind_kib", "behind KiB"),
            ],
        )
    )
    print("\nreconcile (LeadSquared status polls, RECONCILE_CONCURRENCY 2 per process)")
    print(
        table(
            reconcile_rows,
            [
                ("mode", "mode"),
                ("processes", "reconcilers"),
                ("items_s", "items/s"),
                ("ratio_to_direct", "/ direct"),
                ("done", "done"),
                ("repeat_final_polls", "repeat polls"),
                ("http_429", "429s"),
                ("server_connections", "server conns"),
                ("errors", "error logs"),
            ],
        )
    )
    lost = sum(r["missing"] + r["non2xx"] for r in ingest_rows)
    twice = sum(r["repeat_final_polls"] for r in reconcile_rows)
    unfinished = sum(args.items - r["done"] for r in reconcile_rows)
    pooled_max = max(r["server_connections"] for r in ingest_rows + reconcile_rows if r["mode"] == "pgbouncer")
    ok = lost == 0 and twice == 0 and unfinished == 0 and pooled_max <= MAX_SERVER
    print(
        f"\nlost or refused callbacks {lost}, items polled again after final {twice}, items left {unfinished}, "
        f"most server connections through PgBouncer {pooled_max} (cap {MAX_SERVER})"
    )
    print(
        json.dumps(
            {
                "bench": "scaleout",
                "machine": machine(),
                "ingest": ingest_rows,
                "reconcile": reconcile_rows,
                "lost_callbacks": lost,
                "repeat_final_polls": twice,
                "pooled_server_connections_max": pooled_max,
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
