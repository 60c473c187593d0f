"""Through a real PgBouncer in transaction mode: receivers, landers and reconcilers share 10 server connections.

Debian's PgBouncer 1.18 predates prepared statements in transaction mode, which psycopg makes after
a statement's fifth run. With DATABASE_POOLER=transaction nothing is prepared; without it, each
process that can tell stops at start with the line naming the setting.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from engines import PgBouncer, missing, server_connections
from psycopg import sql
from test_served import free_port, http, procfile, wait_until_healthy

from conftest import LOGINS, OZONETEL_TOKEN, ROOT, SECRETS
from fakes import FakeLeadSquared, pause, status_body
from receiver.database import connect
from receiver.database.connect import FIX

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

API_KEY = "pooler-key-5b1e0c"
SECRETS.add(API_KEY)
LIMIT = (5, 1.0)  # the fake vendor's limit, and the budget the reconcilers share
PASSWORDS = {kind: f"pw-{kind}-7d41a9" for kind in ("web", "reconciler", "analyst")}
SECRETS.update(PASSWORDS.values())
BIN = Path(sys.executable).parent
MAX_SERVER = 10


class WallClock:
    """The fake vendor's clock: its rate window is real time."""

    def now(self):
        return dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def pgbouncer(database_url, db):
    """PgBouncer in front of this test's database, authenticating the web, reconciler and analyst logins."""
    for kind, password in PASSWORDS.items():
        db.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(LOGINS[kind]), sql.Literal(password)))
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    logins = {LOGINS[k]: p for k, p in PASSWORDS.items()}
    server = (info["host"], int(info["port"]))
    bouncer = PgBouncer(info["dbname"], logins, server=server, max_server=MAX_SERVER).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture
def reset_pooler_note():
    """The pooler line is said once per process; each test starts as a new process would."""
    connect._said.clear()
    yield
    connect._said.clear()


def pooled_env(env, bouncer, **more) -> dict:
    """The environment of a process that reaches the database through PgBouncer."""
    out = {**os.environ, **env, "DATABASE_URL": bouncer.url(LOGINS["web"]), "HOST": "127.0.0.1"}
    out.update({"OPS_DATABASE_URL": bouncer.url(LOGINS["reconciler"]), "DATABASE_POOLER": "transaction"})
    out.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out.update(more)
    return out


def start(argv, env, log, port=None):
    """One process of the set-up, its output into the shared log."""
    env = {**env, "PORT": str(port)} if port else env
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_receivers_landers_and_reconcilers_through_pgbouncer_land_each_callback_and_item_once(
    env, db, database_url, pgbouncer, vendor_server, tmp_path
):
    fake = FakeLeadSquared(vendor_server, API_KEY, limit=LIMIT, clock=WallClock())
    fake.default = lambda request_id, kind: (200, status_body(request_id, "Success"))
    db.execute(
        "INSERT INTO lsq_request (request_id, kind) SELECT 'pool-' || n, 'call-log' FROM generate_series(1, 24) n"
    )
    web_env = pooled_env(
        env,
        pgbouncer,
        LANDING_MODE="deferred",
        LANDER="separate",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="4",
        DB_POOL_SIZE="4",
    )
    reconcile_env = pooled_env(
        env,
        pgbouncer,
        DATABASE_URL=pgbouncer.url(LOGINS["reconciler"]),
        LSQ_ASYNC_BASE_URL=fake.base_url,
        LSQ_API_KEY=API_KEY,
        LSQ_RATE_LIMIT=f"{LIMIT[0]}/{LIMIT[1]:g}s",
        RECONCILE_CONCURRENCY="3",
    )
    log_path = tmp_path / "procs.log"
    log = open(log_path, "wb")
    web_argv = procfile("web")
    web_argv[0] = str(BIN / web_argv[0])
    ports = [free_port() for _ in range(3)]
    procs = [start(web_argv, web_env, log, port) for port in ports]
    lander_argv = [str(BIN / "callrecon"), "land", "--follow", "--interval", "0.2", "--max-lag", "2"]
    procs += [start(lander_argv, web_env, log) for _ in range(2)]
    peak = [0]
    storming = threading.Event()

    def watch():
        """The most server connections PgBouncer opened to the database while the storm ran."""
        users = [LOGINS[k] for k in PASSWORDS]
        admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
        while storming.is_set():
            peak[0] = max(peak[0], server_connections(admin, db.info.dbname, users))
            pause(0.05)

    replies: list[tuple[int, str]] = []

    def push(port, calls):
        """Each call pushed to two receivers at about the same time: every acknowledgement must land once."""
        for n in calls:
            body = {"monitorUCID": f"pool-{n}", "CampaignName": "Renewals", "Status": "Answered"}
            for target in (port, ports[(ports.index(port) + 1) % 3]):
                url = f"http://127.0.0.1:{target}/callbacks/ozonetel/{OZONETEL_TOKEN}"
                replies.append((http("POST", url, json.dumps(body).encode())[0], f"pool-{n}"))

    try:
        for port, proc in zip(ports, procs, strict=False):
            wait_until_healthy(f"http://127.0.0.1:{port}", proc, log_path)
        storming.set()
        watcher = threading.Thread(target=watch)
        watcher.start()
        reconcile_argv = [str(BIN / "callrecon"), "reconcile", "--source", "leadsquared", "--once"]
        reconcilers = [
            subprocess.Popen(reconcile_argv, cwd=ROOT, env=reconcile_env, stdout=subprocess.PIPE, stderr=log)
            for _ in range(2)
        ]
        threads = [threading.Thread(target=push, args=(ports[i % 3], range(i, 240, 6))) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        outputs = [proc.communicate(timeout=120)[0].decode() for proc in reconcilers]
        deadline = time.monotonic() + 60
        while db.execute("SELECT count(*) FROM raw_inbox WHERE status = 'pending'").fetchone()[0]:
            assert time.monotonic() < deadline, "the landers did not land every stored callback within 60 s"
            pause(0.2)
        storming.clear()
        watcher.join(10)
        analyst = psycopg.connect(pgbouncer.url(LOGINS["analyst"]), autocommit=True)
        with analyst:
            # The analyst role's limits are set on the login (ALTER ROLE ... SET): PgBouncer's server
            # connection logs in as the analyst, so they hold through the pooler too.
            timeout = analyst.execute("SHOW statement_timeout").fetchone()[0]
            query = (ROOT / "sql" / "queries" / "gaps_last_7_days.sql").read_text()
            rows = [analyst.execute(query).fetchall() for _ in range(7)]
    finally:
        storming.clear()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        log.close()

    acked = [call for status, call in replies if status == 200]
    assert len(replies) == 480 and len(acked) == 480, [r for r in replies if r[0] != 200][:5]
    # Every acknowledged push is one stored raw row, landed once, in one typed row per call.
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone() == (480,)
    assert db.execute("SELECT count(*) FROM raw_inbox WHERE status <> 'landed'").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM ozonetel_sighting").fetchone() == (480,)
    assert db.execute("SELECT count(*), min(seen_count), max(seen_count) FROM ozonetel_call").fetchone() == (
        240,
        2,
        2,
    )
    # Every polled item was asked about once, by one of the two reconcilers, within the vendor's limit.
    assert all(json.loads(out.splitlines()[-1])["outcome"] == "ok" for out in outputs), outputs
    assert sorted(fake.calls.values()) == [1] * 24 and fake.repeat_final_polls == 0
    assert db.execute("SELECT count(*) FROM lsq_request WHERE status = 'Success'").fetchone() == (24,)
    assert fake.over_limit == 0
    assert sum(json.loads(out.splitlines()[-1])["counts"].get("Success", 0) for out in outputs) == 24
    # PgBouncer held the server side to its pool; the analyst's settings and queries went through it.
    assert 0 < peak[0] <= MAX_SERVER, peak
    assert timeout == "1s" and len(rows) == 7
    text = log_path.read_text()
    errors = [line for line in text.splitlines() if '"level": "error"' in line or "Traceback" in line]
    assert not errors, errors[:5]
    assert "prepared statement" not in text and "prepared statement" not in pgbouncer.log()


def test_without_the_setting_each_process_stops_at_start_naming_it(env, pgbouncer, reconciler_url, tmp_path):
    web_env = pooled_env(env, pgbouncer, DATABASE_POOLER="none", WEB_CONCURRENCY="1")
    web_argv = procfile("web")
    web_argv[0] = str(BIN / web_argv[0])
    served = subprocess.run(
        web_argv, cwd=ROOT, env={**web_env, "PORT": str(free_port())}, capture_output=True, text=True, timeout=60
    )
    reconcile_env = {**web_env, "DATABASE_URL": pgbouncer.url(LOGINS["reconciler"])}
    reconciled = subprocess.run(
        [str(BIN / "callrecon"), "reconcile", "--source", "leadsquared", "--once"],
        cwd=ROOT,
        env=reconcile_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listed = subprocess.run(
        [str(BIN / "callrecon"), "status"],
        cwd=ROOT,
        env=reconcile_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    upgraded = subprocess.run(
        [str(BIN / "callrecon"), "db", "upgrade"],
        cwd=ROOT,
        env={**reconcile_env, "RELEASE_DATABASE_URL": "", "DATABASE_POOLER": "transaction"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    pruned = subprocess.run(
        [str(BIN / "callrecon"), "prune", "--raw-older-than", "90d", "--yes"],
        cwd=ROOT,
        env={**reconcile_env, "DATABASE_POOLER": "transaction"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # prune works through the pooler (each drop is a transaction of its own), told the setting.
    assert pruned.returncode == 0 and "Traceback" not in pruned.stderr, (pruned.stdout, pruned.stderr)
    for done in (served, reconciled, listed):
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert done.stderr.strip().splitlines()[-1] == f"callrecon: {FIX}", done.stderr
        assert "Traceback" not in done.stderr
    # Migrations set the owner role for their session: they refuse a transaction pooler whatever the setting.
    assert upgraded.returncode == 2 and "point DATABASE_URL at PostgreSQL itself" in upgraded.stderr, upgraded.stderr
    assert "Traceback" not in upgraded.stderr


def test_a_pooler_error_the_start_could_not_see_is_logged_once_with_the_setting(
    settings, pgbouncer, capsys, reset_pooler_note
):
    from receiver import logs

    logs.configure(settings)
    log = logging.getLogger("callrecon.test")
    url = pgbouncer.url(LOGINS["web"])
    caught = None
    with psycopg.connect(url, autocommit=True) as first, psycopg.connect(url, autocommit=True) as second:
        try:
            for n in range(7):  # the sixth run of a statement is prepared on the server: _pg3_0 from both
                first.execute("SELECT %s::int", (n,))
                second.execute("SELECT %s::int", (n,))
        except psycopg.Error as exc:
            caught = exc
    assert type(caught).__name__ in {"DuplicatePreparedStatement", "InvalidSqlStatementName"}, caught
    for _ in range(2):  # as two of the receiver's handlers log what they did not expect
        try:
            raise caught
        except psycopg.Error:
            log.exception("landing failed")
    try:
        raise ValueError("not the pooler")
    except ValueError:
        log.exception("something else failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [(line["level"], line["msg"]) for line in lines] == [("error", FIX), ("error", "something else failed")]
    assert "exc" not in lines[0] and lines[0]["error"] == type(caught).__name__
    assert "ValueError" in lines[1]["exc"]
