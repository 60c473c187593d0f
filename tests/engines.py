"""Debian's PgBouncer, started for a test or a bench on loopback, in front of the test PostgreSQL.

PgBouncer refuses to run as root, so as root (tests and CI here) it runs as the `postgres` user,
with its files in a folder that user owns. The settings are the ones docs/scaling.md documents.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing() -> str | None:
    """Why PgBouncer cannot run here, or None."""
    if not shutil.which("pgbouncer"):
        return "pgbouncer is not installed (Debian package pgbouncer; `make test` installs it)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "pgbouncer will not run as root and runuser is missing"
    return None


class PgBouncer:
    """One PgBouncer in transaction mode; logins: {user: password}, each authenticated by SCRAM."""

    def __init__(
        self, dbname: str, logins: dict[str, str], *, server: tuple[str, int] = ("127.0.0.1", 5432), max_server=10
    ):
        self.dbname, self.logins, self.server, self.max_server = dbname, logins, server, max_server
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="callrecon-pgbouncer-"))
        self.proc: subprocess.Popen | None = None

    def settings(self) -> str:
        """pgbouncer.ini: one database, transaction pooling, at most max_server server connections to it."""
        return f"""[databases]
{self.dbname} = host={self.server[0]} port={self.server[1]} dbname={self.dbname}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.dir / "userlist.txt"}
pool_mode = transaction
default_pool_size = {self.max_server}
max_db_connections = {self.max_server}
max_client_conn = 400
server_lifetime = 3600
logfile = {self.dir / "pgbouncer.log"}
log_connections = 0
log_disconnections = 0
"""

    def start(self) -> PgBouncer:
        """Write the files, start PgBouncer, and wait until it accepts connections."""
        userlist = "".join(f'"{user}" "{password}"\n' for user, password in self.logins.items())
        (self.dir / "userlist.txt").write_text(userlist)
        (self.dir / "pgbouncer.ini").write_text(self.settings())
        os.chmod(self.dir / "userlist.txt", 0o600)
        argv = ["pgbouncer", str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            for path in self.dir.iterdir():
                shutil.chown(path, "postgres")
            argv = ["runuser", "-u", "postgres", "--", *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not start: {self.log()[-2000:]}") from None
                time.sleep(0.05)

    def url(self, user: str) -> str:
        """The URL a process logs in with, through PgBouncer."""
        return f"postgresql://{user}:{self.logins[user]}@127.0.0.1:{self.port}/{self.dbname}"

    def log(self) -> str:
        """PgBouncer's own log."""
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop PgBouncer and remove its folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def server_connections(admin_url: str, dbname: str, users: list[str]) -> int:
    """How many server connections the given logins hold to dbname now (PgBouncer's, seen from PostgreSQL)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = ANY(%s)", (dbname, users)
        ).fetchone()[0]
