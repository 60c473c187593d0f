"""Fault injection: what production does to callrecon, and proof that nothing acknowledged is lost.

Runs each scenario against a real gunicorn (the Procfile's web command) or real reconciler
processes, and PostgreSQL, all on loopback, then prints one table:
scenario | requests | acknowledged | acked-but-missing | errors | recovery s.

- pg-restart: `pg_ctlcluster … restart` in the middle of a callback stream. During the outage the
  receiver answers 503 + Retry-After; recovery is the time from PostgreSQL accepting connections
  again to the first 2xx. (This restarts the machine's PostgreSQL: don't run it beside other work.)
- pg-outage: the same with `stop`, 3 s down, `start`; /readyz is polled while the database is down.
- worker-kill: SIGKILL one gunicorn worker under load; the master replaces it.
- reconciler-kill: SIGKILL a reconciler mid-run, start another: no item lost or finalised twice
  (a trigger in the bench database counts second finalisations).
- vendor-faults: LeadSquared answering 2 % HTTP 500, 1 % non-JSON 200s, 1 % stalls of 20 s and
  bursts of 429: every item ends final or failed with its reason; no crash.
- storm: 20,000 callbacks from 16 connections, one in ten hostile (malformed JSON, wrong types,
  empty, oversized, bad token, duplicates): 0 acknowledged-but-missing, 0 5xx.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import psycopg
from benchlib import BIN, DEFAULT_ADMIN_URL, free_port, fresh_database, serve, start_fake, stop

TOKEN = "faults-token-5c1b9e"
APIKEY = "KKfaults-apikey-8d2e"
LSQ_KEY = "faults-lsq-key-31f0"
SECRETS = (TOKEN, APIKEY, LSQ_KEY)


def web(url: str, port: int, extra_env=None) -> subprocess.Popen:
    """callrecon's receiver under gunicorn, configured with this bench's secrets."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "OZONETEL_CALLBACK_TOKENS": TOKEN,
        "OZONETEL_API_KEY": APIKEY,
        "MAX_BODY_BYTES": "65536",
        **(extra_env or {}),
    }
    return serve(env, port, "/tmp/callrecon-faults-web.log")


class Load:
    """Threads posting callbacks over keep-alive connections; remembers what was acknowledged."""

    def __init__(
        self,
        port: int,
        connections: int = 16,
        hostile_every: int = 0,
        limit: int | None = None,
        seconds: float | None = None,
    ):
        self.port, self.connections, self.hostile_every = port, connections, hostile_every
        self.limit, self.seconds = limit, seconds
        self.lock = threading.Lock()
        self.sent = 0
        self.acked: list[str] = []  # monitorUCIDs of valid records answered 2xx
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.first_2xx_after: dict[float, float] = {}
        self.ok_times: list[float] = []
        self.retry_after_missing = 0  # 503s without a Retry-After header
        self.stop = threading.Event()

    def body(self, n: int, rng: random.Random) -> tuple[bytes, str, str | None, str]:
        """(body, content type, monitorUCID if a valid record, path token)."""
        ucid = f"f-{n}"
        valid = json.dumps(
            {
                "monitorUCID": ucid,
                "CampaignName": "Faults",
                "CallerID": "9876500000",
                "StartTime": "2026-11-23 10:00:00",
                "Status": "Answered",
                "Apikey": APIKEY,
            }
        ).encode()
        if self.hostile_every and n % self.hostile_every == 0:
            kind = rng.choice(["malformed", "types", "empty", "oversized", "token", "duplicate"])
            if kind == "malformed":
                return b'{"monitorUCID": "x", ', "application/json", None, TOKEN
            if kind == "types":
                return b'{"monitorUCID": {"a": 1}, "StartTime": 5}', "application/json", None, TOKEN
            if kind == "empty":
                return b"", "application/json", None, TOKEN
            if kind == "oversized":
                return b'{"x": "' + b"9" * 70000 + b'"}', "application/json", None, TOKEN
            if kind == "token":
                return valid, "application/json", None, "not-the-token"
            return json.dumps({"monitorUCID": "dup-1", "Apikey": APIKEY}).encode(), "application/json", "dup-1", TOKEN
        return valid, "application/json", ucid, TOKEN

    def _worker(self, index: int) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            with self.lock:
                if self.limit is not None and self.sent >= self.limit:
                    return
                n = self.sent
                self.sent += 1
            body, content_type, ucid, token = self.body(n, rng)
            try:
                conn.request("POST", f"/callbacks/ozonetel/{token}", body=body, headers={"Content-Type": content_type})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                time.sleep(0.01)
                continue
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    self.ok_times.append(time.monotonic())
                    if ucid:
                        self.acked.append(ucid)
            if status == 503:
                if not resp.getheader("Retry-After"):
                    with self.lock:
                        self.retry_after_missing += 1
                time.sleep(0.05)

    def run(self) -> None:
        threads = [threading.Thread(target=self._worker, args=(i,)) for i in range(self.connections)]
        for t in threads:
            t.start()
        if self.seconds:
            self.stop.wait(self.seconds)
            self.stop.set()
        for t in threads:
            t.join()

    def acked_missing(self, url: str) -> int:
        """Acknowledged valid records whose call row is not in Postgres."""
        with psycopg.connect(url) as conn:
            present = {r[0] for r in conn.execute("SELECT call_key FROM ozonetel_call")}
        return len(set(self.acked) - present)


def readyz_status(port: int) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None


def streaming(admin_url: str, seconds: float):
    """A fresh database, callrecon serving it, and a callback stream 3 s under way."""
    url = fresh_database(admin_url, "callrecon_faults")
    port = free_port()
    server = web(url, port)
    load = Load(port, seconds=seconds)
    runner = threading.Thread(target=load.run)
    runner.start()
    time.sleep(3)
    return url, port, server, load, runner


def pg_outage(admin_url: str, name: str, actions: list[tuple[str, float]]) -> dict:
    """Callbacks stream while PostgreSQL goes through `actions` (pg_ctlcluster verb, pause after)."""
    url, port, server, load, runner = streaming(admin_url, 14)
    version = os.listdir("/etc/postgresql")[0]
    readyz_down: set[int | None] = set()
    for verb, pause in actions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", verb], check=True, capture_output=True
        )
        until = time.monotonic() + pause
        while time.monotonic() < until:
            readyz_down.add(readyz_status(port))
            time.sleep(0.2)
    back = None
    while back is None:
        try:
            psycopg.connect(admin_url, connect_timeout=1).close()
            back = time.monotonic()
        except psycopg.OperationalError:
            time.sleep(0.05)
    runner.join()
    stop(server)
    after = [t for t in load.ok_times if t >= back]
    note = (
        f"503 + Retry-After during the outage {load.statuses.get(503, 0)} "
        f"(without Retry-After {load.retry_after_missing}); no reply {load.errors}"
    )
    if readyz_down:
        note += f"; /readyz while down: {sorted(readyz_down, key=str)}"
    return {
        "scenario": name,
        "requests": load.sent,
        "acknowledged": sum(v for k, v in load.statuses.items() if 200 <= k < 300),
        "missing": load.acked_missing(url),
        "errors": sum(v for k, v in load.statuses.items() if k >= 500 and k != 503) + load.retry_after_missing,
        "recovery_s": round(min(after) - back, 2) if after else None,
        "note": note,
    }


def scenario_pg_restart(admin_url: str) -> dict:
    """`pg_ctlcluster … restart` mid-stream: the outage lasts as long as the restart does."""
    return pg_outage(admin_url, "pg-restart", [("restart", 0)])


def scenario_pg_outage(admin_url: str) -> dict:
    """`stop`, 3 s down, `start`: long enough to see the 503s and /readyz saying so."""
    return pg_outage(admin_url, "pg-outage", [("stop", 3), ("start", 0)])


def scenario_worker_kill(admin_url: str) -> dict:
    url, port, server, load, runner = streaming(admin_url, 10)
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    killed = int(children[0])
    os.kill(killed, signal.SIGKILL)
    killed_at = time.monotonic()
    runner.join()
    after = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    stop(server)
    ok_after = [t for t in load.ok_times if t >= killed_at]
    return {
        "scenario": "worker-kill",
        "requests": load.sent,
        "acknowledged": sum(v for k, v in load.statuses.items() if 200 <= k < 300),
        "missing": load.acked_missing(url),
        "errors": sum(v for k, v in load.statuses.items() if k >= 500),
        "recovery_s": round(min(ok_after) - killed_at, 2) if ok_after else None,
        "note": f"workers before/after: {len(children)}/{len(after)}; replaced: {str(killed) not in after}; "
        f"requests cut off in the killed worker (no reply, so the sender retries) {load.errors}",
    }


AUDIT = """
CREATE TABLE finalisations (id bigint, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION audit_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.final_at IS NOT NULL AND NEW.final_at IS DISTINCT FROM OLD.final_at THEN
        INSERT INTO finalisations (id) VALUES (NEW.id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_final AFTER UPDATE ON lsq_request FOR EACH ROW EXECUTE FUNCTION audit_final();
"""


def lsq_env(url: str, port: int, extra=None) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "LSQ_ASYNC_BASE_URL": f"http://127.0.0.1:{port}",
        "LSQ_API_KEY": LSQ_KEY,
        "LSQ_RATE_LIMIT": "300/1s",
        "LOG_LEVEL": "INFO",
        **(extra or {}),
    }


def register(url: str, count: int) -> None:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY lsq_request (request_id, kind, registered_by) FROM STDIN") as copy:
            for n in range(count):
                copy.write_row((f"faults-{n:05d}", "call-log", "bench"))
        conn.execute(AUDIT)


def reconciler(env: dict, log_path: str, *argv) -> subprocess.Popen:
    return subprocess.Popen(
        [BIN / "callrecon", "reconcile", "--source", "leadsquared", *argv],
        env=env,
        stdout=open(log_path, "ab"),
        stderr=subprocess.STDOUT,
    )


def final_counts(url: str) -> tuple[int, int, int, dict]:
    with psycopg.connect(url) as conn:
        not_final = conn.execute("SELECT count(*) FROM lsq_request WHERE final_at IS NULL").fetchone()[0]
        twice = conn.execute(
            "SELECT count(*) FROM (SELECT id FROM finalisations GROUP BY id HAVING count(*) > 1) t"
        ).fetchone()[0]
        no_reason = conn.execute(
            "SELECT count(*) FROM lsq_request WHERE status NOT IN ('Success', 'FAILURE', "
            "'ERROR') AND last_error IS NULL"
        ).fetchone()[0]
        by_status = dict(conn.execute("SELECT status, count(*) FROM lsq_request GROUP BY 1").fetchall())
    return not_final, twice, no_reason, by_status


def scenario_reconciler_kill(admin_url: str) -> dict:
    url = fresh_database(admin_url, "callrecon_faults")
    register(url, 3000)
    port = free_port()
    fake = start_fake("fake_leadsquared.py", port, 400, 1.0)
    env = lsq_env(url, port)
    log = "/tmp/callrecon-faults-reconciler.log"
    first = reconciler(env, log, "--once")
    time.sleep(2.0)
    first.send_signal(signal.SIGKILL)
    first.wait()
    with psycopg.connect(url) as conn:
        done_at_kill = conn.execute("SELECT count(*) FROM lsq_request WHERE final_at IS NOT NULL").fetchone()[0]
    restarted = time.monotonic()
    second = reconciler(env, log, "--once")
    second.wait(timeout=300)
    recovery = time.monotonic() - restarted
    fake.terminate()
    not_final, twice, _, by_status = final_counts(url)
    return {
        "scenario": "reconciler-kill",
        "requests": 3000,
        "acknowledged": by_status.get("Success", 0),
        "missing": not_final,
        "errors": twice,
        "recovery_s": round(recovery, 2),
        "note": f"final at kill {done_at_kill}; lost {not_final}; finalised twice {twice}; "
        f"second run exit {second.returncode}",
    }


def scenario_vendor_faults(admin_url: str) -> dict:
    url = fresh_database(admin_url, "callrecon_faults")
    register(url, 1000)
    port = free_port()
    faults = {
        "error500": 0.02,
        "garbage": 0.01,
        "stall": 0.01,
        "stall_seconds": 20,
        "burst429_every": 250,
        "burst429_length": 10,
    }
    fake = start_fake("fake_leadsquared.py", port, 400, 1.0, json.dumps(faults))
    env = lsq_env(
        url,
        port,
        {
            "LSQ_TIMEOUT": "2s",
            "LSQ_POLL_FIRST_INTERVAL": "1s",
            "LSQ_POLL_MAX_INTERVAL": "2s",
            "RECONCILE_CONCURRENCY": "8",
        },
    )
    started = time.monotonic()
    proc = reconciler(env, "/tmp/callrecon-faults-vendor.log", "--loop", "--interval", "1")
    not_final = None
    while time.monotonic() - started < 120:
        time.sleep(1)
        not_final = final_counts(url)[0]
        if not_final == 0:
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as resp:
        stats = json.load(resp)
    fake.terminate()
    not_final, twice, no_reason, by_status = final_counts(url)
    with psycopg.connect(url) as conn:
        retried = conn.execute("SELECT count(*) FROM lsq_request WHERE attempts > 1").fetchone()[0]
    return {
        "scenario": "vendor-faults",
        "requests": stats["accepted"],
        "acknowledged": by_status.get("Success", 0),
        "missing": not_final,
        "errors": no_reason,
        "recovery_s": round(time.monotonic() - started, 1),
        "note": f"injected {stats.get('injected')}; retried items {retried}; finalised twice {twice}; "
        f"exit {proc.returncode}",
    }


def scenario_storm(admin_url: str) -> dict:
    url = fresh_database(admin_url, "callrecon_faults")
    port = free_port()
    server = web(url, port)
    load = Load(port, hostile_every=10, limit=20_000)
    load.run()
    stop(server)
    fives = sum(v for k, v in load.statuses.items() if k >= 500)
    return {
        "scenario": "storm",
        "requests": load.sent,
        "acknowledged": sum(v for k, v in load.statuses.items() if 200 <= k < 300),
        "missing": load.acked_missing(url),
        "errors": fives,
        "recovery_s": None,
        "note": f"statuses {dict(sorted(load.statuses.items()))}; connections dropped by the server after "
        f"a 413 (body not read) {load.errors}",
    }


def secret_scan(admin_url: str) -> int:
    """Occurrences of the bench's secrets in the last scenario database and the captured logs."""
    hits = 0
    url = psycopg.conninfo.make_conninfo(admin_url, dbname="callrecon_faults")
    with psycopg.connect(url) as conn:
        for (name,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')"
        ).fetchall():
            text = conn.execute(f'SELECT string_agg(t::text, chr(10)) FROM "{name}" t').fetchone()[0] or ""
            hits += sum(text.count(s) for s in SECRETS)
    for path in glob.glob("/tmp/callrecon-faults-*.log"):
        text = open(path, errors="replace").read()
        hits += sum(text.count(s) for s in SECRETS)
    return hits


SCENARIOS = {
    "storm": scenario_storm,
    "worker-kill": scenario_worker_kill,
    "reconciler-kill": scenario_reconciler_kill,
    "vendor-faults": scenario_vendor_faults,
    "pg-restart": scenario_pg_restart,
    "pg-outage": scenario_pg_outage,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these (repeatable)")
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    for path in glob.glob("/tmp/callrecon-faults-*.log"):
        os.remove(path)
    rows = []
    for name in args.only or list(SCENARIOS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.append(SCENARIOS[name](args.database_url))
    print(
        "scenario | requests | acknowledged | acked-but-missing | errors (5xx other than 503; items without "
        "a reason; double finalisations) | recovery s | note"
    )
    for r in rows:
        print(
            f"{r['scenario']} | {r['requests']} | {r['acknowledged']} | {r['missing']} | {r['errors']} | "
            f"{r['recovery_s']} | {r['note']}"
        )
    leaks = secret_scan(args.database_url)
    print(f"secret values found in the last database and the logs: {leaks}")
    ok = all(r["missing"] == 0 for r in rows) and leaks == 0
    ok = ok and all(
        r["recovery_s"] is not None and r["recovery_s"] <= 5 for r in rows if r["scenario"].startswith("pg-")
    )
    print("every target met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
