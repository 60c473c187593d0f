"""The Procfile's web command, really served by gunicorn on loopback, against the test database."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

import pytest

from conftest import FIXTURE_APIKEY, OZONETEL_TOKEN, ROOT, fixture_bytes
from fakes import pause


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile(kind: str) -> list[str]:
    """One Procfile entry as argv."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return shlex.split(line.split(":", 1)[1])
    raise AssertionError(f"no {kind} entry in Procfile")


def http(method, url, body=None, content_type="application/json"):
    """(status, parsed JSON or text) of one request."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def wait_for_text(path: Path, text: str, seconds: float = 10) -> str:
    """The file's content once it contains text (access log lines are written after the reply)."""
    deadline = time.monotonic() + seconds
    while text not in path.read_text() and time.monotonic() < deadline:
        pause(0.05)
    return path.read_text()


def wait_until_healthy(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    """Return once gunicorn answers /healthz; fail with its log if it dies or takes over 20 s."""
    deadline = time.monotonic() + 20
    while True:
        try:
            if http("GET", f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass
        assert proc.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, "gunicorn did not start:\n" + log_path.read_text()
        pause(0.1)


@contextlib.contextmanager
def serving(env: dict, tmp_path: Path):
    """gunicorn running the Procfile's web command with `env`; yields its base URL and log path."""
    port = free_port()
    argv = procfile("web")
    argv[0] = str(Path(sys.executable).parent / argv[0])
    log_path = tmp_path / "gunicorn.log"
    proc_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2"}
    proc_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, log_path)
        yield base, log_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def served(env, tmp_path):
    """The web command with LANDING_MODE=inline (the test env), for tests that read the reply."""
    with serving(env, tmp_path) as served:
        yield served


@pytest.fixture
def default_env(env) -> dict:
    """The test env without the landing pin: what a new install runs (deferred, lander with web)."""
    return {k: v for k, v in env.items() if k not in ("LANDING_MODE", "LANDER")}


def test_procfile_web_command_serves_callbacks_into_postgres(served, db):
    base, log_path = served
    status, body = http(
        "POST", f"{base}/callbacks/ozonetel/{OZONETEL_TOKEN}", fixture_bytes("ozonetel", "call_details__single.json")
    )
    assert status == 200 and body["landed"] == 1
    assert db.execute("SELECT count(*) FROM ozonetel_call WHERE call_key = '2105221234567890'").fetchone() == (1,)
    assert http("GET", f"{base}/readyz")[0] == 200
    # several workers, one sum: prometheus-client multiprocess mode is on under gunicorn
    for _ in range(4):
        http("POST", f"{base}/callbacks/ozonetel/{OZONETEL_TOKEN}", b'{"monitorUCID": "x"}')
    _, metrics = http("GET", f"{base}/metrics")
    assert 'callrecon_callbacks_total{outcome="landed",source="ozonetel"} 5.0' in metrics
    log = wait_for_text(log_path, "/callbacks/ozonetel/***")
    deadline = time.monotonic() + 10  # each line is written just after its reply
    while log.count('"msg": "callback"') < 5 and time.monotonic() < deadline:
        pause(0.05)
        log = log_path.read_text()
    assert "/callbacks/ozonetel/***" in log and '"msg": "callback"' in log
    assert OZONETEL_TOKEN not in log and FIXTURE_APIKEY not in log
    # One JSON line per callback, written by the access logger with the access facts; no text access line.
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    callbacks = [line for line in lines if line["msg"] == "callback"]
    assert len(callbacks) == 5 and {line["path"] for line in callbacks} == {"/callbacks/ozonetel/***"}
    assert callbacks[0]["outcome"] == "landed" and callbacks[0]["raw_id"] and callbacks[0]["status"] == 200
    assert all(line["request_ms"] >= 0 and line["bytes_sent"] > 0 for line in callbacks)
    assert not [line for line in log.splitlines() if '"POST /callbacks/' in line]
    assert '"GET /readyz' in log  # other requests keep gunicorn's access line


def post_chunked(base: str, path: str, chunks: list[bytes]) -> tuple[int, dict]:
    """POST with Transfer-Encoding: chunked (no Content-Length), as some HTTP clients send a body."""
    host, port = base.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, body=iter(chunks), headers={"Content-Type": "application/json"}, encode_chunked=True)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_bodies_with_a_length_and_chunked_ones_are_stored_as_sent_and_held_to_the_limit(env, tmp_path, db):
    """The callback route reads a body with a Content-Length itself and leaves any other to werkzeug:
    both are stored byte for byte, and both get 413 past MAX_BODY_BYTES."""
    body = fixture_bytes("ozonetel", "call_details__single.json")
    with serving({**env, "MAX_BODY_BYTES": "4096"}, tmp_path) as (base, _):
        path = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"
        status, reply = http("POST", base + path, body)
        assert status == 200 and reply["landed"] == 1
        status, chunked = post_chunked(base, path, [body[:100], body[100:]])
        assert status == 200 and chunked["stored"] is True
        for raw_id in (reply["raw_id"], chunked["raw_id"]):
            stored = db.execute("SELECT body_bytes, body FROM raw_inbox WHERE id = %s", (raw_id,)).fetchone()
            assert stored[0] == len(body) and b"call" in bytes(stored[1]).lower()
        status, too_big = http("POST", base + path, b"[" + b" " * 5000 + b"]")
        assert status == 413 and "MAX_BODY_BYTES=4096" in too_big["message"]
        status, too_big = post_chunked(base, path, [b"[", b" " * 5000, b"]"])
        assert status == 413 and "MAX_BODY_BYTES=4096" in too_big["message"]
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone() == (2,)


def test_procfile_release_step_is_the_migration_command():
    assert procfile("release") == ["callrecon", "db", "upgrade"]


@pytest.fixture
def deferred_env(env):
    return {**env, "LANDING_MODE": "deferred", "LANDER": "separate"}


def test_procfile_lander_lands_what_a_deferred_web_stored_under_concurrent_posts(deferred_env, tmp_path, db):
    """Real gunicorn (LANDING_MODE=deferred, LANDER=separate) and the Procfile's lander process, side by side."""
    port = free_port()
    web_argv = procfile("web")
    web_argv[0] = str(Path(sys.executable).parent / web_argv[0])
    lander_argv = procfile("lander")
    lander_argv[lander_argv.index("callrecon")] = str(Path(sys.executable).parent / "callrecon")
    proc_env = {**os.environ, **deferred_env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2"}
    proc_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "procs.log", "wb")
    web = subprocess.Popen(web_argv, cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT)
    lander = subprocess.Popen(lander_argv, cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/callbacks/ozonetel/{OZONETEL_TOKEN}"
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", web, tmp_path / "procs.log")
        replies = []

        def post(n):
            for i in range(10):
                replies.append(http("POST", base, json.dumps({"monitorUCID": f"srv-{n}-{i}"}).encode()))

        threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(replies) == 80 and all(s == 200 and b["status"] == "stored" for s, b in replies)
        deadline = time.monotonic() + 20
        while db.execute("SELECT count(*) FROM ozonetel_call WHERE call_key LIKE 'srv-%'").fetchone()[0] < 80:
            assert time.monotonic() < deadline, (tmp_path / "procs.log").read_text()
            pause(0.1)
        assert db.execute("SELECT count(*) FROM raw_inbox WHERE status <> 'landed'").fetchone()[0] == 0
    finally:
        for proc in (web, lander):
            proc.terminate()
            proc.wait(timeout=30)
        log.close()
    assert lander.returncode == 0  # SIGTERM ends it cleanly


def test_a_configuration_typo_stops_the_web_process_with_one_line(env):
    """a typo used to bury the one-line message under two workers' tracebacks and gunicorn's own."""
    argv = procfile("web")
    argv[0] = str(Path(sys.executable).parent / argv[0])
    proc_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(free_port()), "OZONETEL_TIMEZONE": "Mars/X"}
    proc_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(argv, cwd=ROOT, env=proc_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "callrecon: OZONETEL_TIMEZONE='Mars/X' is not an IANA time zone: use a name like 'Asia/Kolkata'"
    )


def readme_try_it_block() -> str:
    """The shell block the README (and `make run`) gives a new user to try the receiver."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```sh\nsource .callrecon.env") + len("```sh\n")
    return text[start : text.index("```", start)]


def test_the_readme_try_it_block_runs_as_written_against_a_live_server(default_env, reconciler_url, tmp_path):
    """The README's curl and psql examples, run as written, against gunicorn on its port (defaults)."""
    env = default_env
    with serving(env, tmp_path) as (base, _):
        run_readme_block(base, env, reconciler_url, tmp_path)


def run_readme_block(base, env, reconciler_url, tmp_path):
    (tmp_path / ".callrecon.env").write_text(f'export OZONETEL_CALLBACK_TOKENS="{env["OZONETEL_CALLBACK_TOKENS"]}"\n')
    (tmp_path / ".callrecon.db.env").write_text("# DATABASE_URL is set: callrecon db ensure used it as given\n")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    # The second terminal is an operator's: psql and `callrecon status` as the reconciler's login.
    shell_env = {**os.environ, **env, "DATABASE_URL": reconciler_url, "PORT": base.rsplit(":", 1)[1]}
    done = subprocess.run(
        ["bash", "-e", "-c", readme_try_it_block()],
        cwd=tmp_path,
        env=shell_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout.splitlines()[0])
    assert reply["stored"] is True and reply["status"] == "stored"
    assert "2105221234567890" in done.stdout  # psql shows the call
    assert "pushes:" in done.stdout  # and `callrecon status` ran from PATH


def lander_pids(log_path: Path, count: int) -> list[int]:
    """The pids of the landers the gunicorn master started, from their "lander started" log lines."""
    deadline = time.monotonic() + 10
    while True:
        lines = [ln for ln in log_path.read_text().splitlines() if '"msg": "lander started"' in ln]
        if len(lines) >= count or time.monotonic() > deadline:
            return [json.loads(line[line.index("{") :])["pid"] for line in lines]
        pause(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_web_command_alone_lands_a_push_within_2_seconds_and_takes_its_landers_down(default_env, tmp_path, db):
    """with the defaults, gunicorn (as `make run` and the Procfile start it) runs the lander itself."""
    url = "/callbacks/ozonetel/" + OZONETEL_TOKEN
    with serving(default_env, tmp_path) as (base, log_path):
        pids = lander_pids(log_path, 2)
        assert len(pids) == 2  # LANDER_PROCESSES' default
        # The first push also waits out the lander's start-up (its imports), as after a deploy.
        status, body = http("POST", base + url, json.dumps({"monitorUCID": "first-of-day"}).encode())
        assert status == 200 and body["status"] == "stored"
        deadline = time.monotonic() + 20
        while not db.execute("SELECT 1 FROM ozonetel_call WHERE call_key = 'first-of-day'").fetchone():
            assert time.monotonic() < deadline, log_path.read_text()
            pause(0.05)
        status, body = http("POST", base + url, fixture_bytes("ozonetel", "call_details__single.json"))
        acknowledged = time.monotonic()
        assert status == 200 and body["status"] == "stored" and body["parsed"] is False
        while not db.execute("SELECT 1 FROM ozonetel_call WHERE call_key = '2105221234567890'").fetchone():
            assert time.monotonic() - acknowledged < 2, "the typed row did not appear within 2 s"
            pause(0.05)
        assert all(map(alive, pids))
    # gunicorn stopped (SIGTERM): its landers went with it.
    deadline = time.monotonic() + 15
    while any(map(alive, pids)):
        assert time.monotonic() < deadline, "the lander outlived the web server"
        pause(0.1)
    assert db.execute("SELECT count(*) FROM raw_inbox WHERE status <> 'landed'").fetchone()[0] == 0
