"""What the reconciler benchmarks share: a fresh database, a free port, reconciler processes with peak RSS."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# The benches' own roles, so a bench never rotates the passwords of make run's logins.
BENCH_ENV = {"DB_ROLE_PREFIX": "callrecon_bench", "RELEASE_DATABASE_URL": ""}


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(admin_url: str, name: str = "callrecon_bench") -> str:
    """Drop and create the bench database and migrate it; returns its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    subprocess.run(
        [BIN / "callrecon", "db", "upgrade"],
        env={**os.environ, **BENCH_ENV, "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )
    return url


def service_urls(url: str) -> dict[str, str]:
    """The bench database's login URLs per process (release, web, reconciler), as `make run` gets them."""
    path = Path(f"/tmp/callrecon-bench-roles-{os.getpid()}.env")
    subprocess.run(
        [BIN / "callrecon", "db", "local-roles", "--output", str(path)],
        env={**os.environ, **BENCH_ENV, "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )
    lines = dict(line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())
    path.unlink()
    return {name.split("_")[0].lower(): value.strip("'") for name, value in lines.items()}


def start_fake(script: str, *args) -> subprocess.Popen:
    """Start a fake vendor from bench/ and wait until it says ready."""
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / script), *map(str, args)], stdout=subprocess.PIPE, text=True
    )
    if fake.stdout.readline().strip() != "ready":
        fake.kill()
        raise RuntimeError(f"{script} did not start")
    return fake


def run_reconcilers(env: dict, argv: list[str], processes: int, limit_seconds: float) -> tuple[list, list, float]:
    """Run `processes` copies of `callrecon ARGV` at once; (JSON summaries, peak RSS KiB each, wall s)."""
    started = time.monotonic()
    logs = [open(f"/tmp/callrecon-bench-reconciler-{n}.log", "wb") for n in range(processes)]
    procs = [subprocess.Popen([BIN / "callrecon", *argv], env=env, stdout=subprocess.PIPE, stderr=log) for log in logs]
    summaries, rss_kib = [], []
    deadline = started + limit_seconds
    for proc in procs:
        usage = None
        while usage is None:  # wait4, not poll(): it also returns this child's own peak RSS
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                usage, proc.returncode = ru, os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                proc.kill()
            else:
                time.sleep(0.2)
        out = proc.stdout.read().decode().strip()
        summaries.append([json.loads(line) for line in out.splitlines()] if out else [{"outcome": "no output"}])
        rss_kib.append(usage.ru_maxrss)
    for log in logs:
        log.close()
    return summaries, rss_kib, time.monotonic() - started


def serve(env: dict, port: int, log_path: str, app: str | None = None) -> subprocess.Popen:
    """gunicorn as the Procfile's web command runs it (or the same config serving another `app`).

    Returns once the server answers HTTP on 127.0.0.1:`port`; `env` is the whole environment.
    """
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    argv = line.split(":", 1)[1].split()
    argv = [str(BIN / argv[0])] + [a.strip("'") for a in argv[1:]]
    if app:
        argv = argv[:-1] + ["--pythonpath", str(ROOT / "bench"), app]
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gunicorn did not start: see " + log_path)


def stop(proc: subprocess.Popen) -> None:
    """Stop a process group politely, then firmly."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def ensure_wrk() -> None:
    """wrk, the load generator of bench/ingest and bench/scale, from Debian's packages when it is missing."""
    if subprocess.run(["which", "wrk"], capture_output=True).returncode == 0:
        return
    print("installing wrk from Debian's packages ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)


class CopyLines:
    """Rows for a COPY in its text format, written a thousand at a time.

    At tens of millions of rows, psycopg's `write_row` (its per-value adaptation) costs more CPU than
    making the rows: the loaders format each line themselves (`\\N` for NULL, ISO times, plain ASCII
    text for a bytea without backslashes) and hand them over in chunks.
    """

    def __init__(self, copy, lines: int = 1000):
        self.copy, self.lines, self.pending = copy, lines, []

    def add(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) >= self.lines:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.copy.write("".join(self.pending))
            self.pending = []
