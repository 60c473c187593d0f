"""A primary and its streaming hot standby, each a PostgreSQL cluster of its own on a free loopback port.

The server the suite runs on (127.0.0.1:5432) takes no replication connection on every machine
(its pg_hba.conf may have no `replication` line), and the suite never reconfigures or restarts it.
So the standby tests start a small primary of their own with initdb, build callrecon's schema in
it as the suite's template is built (conftest.load_schema), and make the standby from it exactly
as docs/scaling.md says: `pg_basebackup -R`, then `pg_ctl start`. PostgreSQL refuses to run as
root, so the clusters run as the `postgres` OS user, in a directory it owns, removed afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("CALLRECON_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"
START_TIMEOUT_S = 60


class CannotStart(Exception):
    """A cluster of our own cannot be started here (no binaries, no postgres user): the tests skip with this."""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a PostgreSQL binary as the postgres OS user (root cannot run the server); stops the test on failure."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", OS_USER, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def check_can_start() -> None:
    """Raise CannotStart naming what is missing for a second cluster."""
    for tool in ("initdb", "pg_ctl", "pg_basebackup"):
        if not (PG_BIN / tool).exists():
            raise CannotStart(f"{PG_BIN / tool} is missing (set CALLRECON_PG_BIN to PostgreSQL's bin directory)")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise CannotStart("running as root without runuser: PostgreSQL cannot be started as root")
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            raise CannotStart(f"no {OS_USER!r} OS user to run PostgreSQL as (root cannot)") from None


class Cluster:
    """One data directory, served on a loopback port."""

    def __init__(self, root: Path, name: str):
        self.data, self.log, self.port = root / name, root / f"{name}.log", free_port()
        self.root = root

    def url(self, dbname: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def configure(self, **settings) -> None:
        """Append settings to its postgresql.conf (the last value of a setting wins)."""
        lines = [f"{name} = '{value}'" for name, value in settings.items()]
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# callrecon standby tests\n" + "\n".join(lines) + "\n")

    def start(self) -> None:
        self.configure(port=self.port, listen_addresses="127.0.0.1", unix_socket_directories=str(self.root))
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start"])
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # pg_ctl -w returns once the server accepts connections; a standby may still be catching up
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Pair:
    """A primary (initdb) and its hot standby (pg_basebackup -R), started; stop() removes both."""

    def __init__(self):
        check_can_start()
        self.root = Path(tempfile.mkdtemp(prefix="callrecon-standby-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, user=OS_USER, group=OS_USER)
        self.primary = Cluster(self.root, "primary")
        self.standby = Cluster(self.root, "standby")
        self.timings: dict[str, float] = {}

    def start_primary(self, **settings) -> None:
        """initdb (trust on loopback, replication allowed: initdb's own pg_hba.conf), small and unsynced unless
        `settings` say otherwise (bench/scaleout syncs)."""
        started = time.monotonic()
        _as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(self.primary.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
            + ["--no-sync", "--locale=C.UTF-8"]
        )
        # The defaults stream already (wal_level=replica, max_wal_senders=10); fsync off: a test's cluster.
        self.primary.configure(**{"shared_buffers": "16MB", "fsync": "off", "max_connections": 60, **settings})
        self.primary.start()
        self.timings["primary_s"] = time.monotonic() - started

    def start_standby(self, **settings) -> None:
        """pg_basebackup -R (standby.signal and primary_conninfo), then start it as a hot standby with `settings`."""
        started = time.monotonic()
        _as_postgres(
            [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres"]
            + ["-D", str(self.standby.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]
        )
        self.timings["basebackup_s"] = time.monotonic() - started
        self.timings["copied_mib"] = sum(f.stat().st_size for f in self.standby.data.rglob("*") if f.is_file()) / 2**20
        self.standby.configure(hot_standby="on", **settings)
        self.standby.start()
        self.timings["standby_s"] = time.monotonic() - started

    def stop(self) -> None:
        """Stop both servers (the standby first) and remove their directory, whatever state they are in."""
        for cluster in (self.standby, self.primary):
            try:
                cluster.stop()
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for_replay(primary_url: str, standby_url: str, timeout_s: float = 30.0) -> None:
    """Until the standby has replayed everything the primary has written now; fails after timeout_s."""
    with psycopg.connect(primary_url, autocommit=True) as primary:
        position = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(standby_url, autocommit=True) as standby:
        while True:
            replayed = standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(position),)).fetchone()
            if replayed[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby did not replay {position} within {timeout_s:g} s")
            time.sleep(0.02)
