"""`callrecon db ensure`: make sure PostgreSQL answers and the database exists (for make run/test)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
START_WAIT_SECONDS = 30


class ProvisionError(Exception):
    """PostgreSQL cannot be reached or prepared; the message says what to do."""


def _connect(conninfo: str):
    """A short-timeout autocommit connection."""
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=3)


PORT_LINE = re.compile(r"^\s*port\s*=\s*(\d+)", re.MULTILINE)


def local_clusters() -> dict[tuple[str, str], int]:
    """Debian's PostgreSQL clusters on this machine: (version, name) -> the port it is configured for."""
    found = {}
    for conf in sorted(glob.glob("/etc/postgresql/*/*/postgresql.conf")):
        version, cluster = conf.split("/")[3:5]
        match = PORT_LINE.search(Path(conf).read_text(errors="replace"))
        found[(version, cluster)] = int(match.group(1)) if match else 5432
    return found


def _start_local_cluster(port: int) -> list[str]:
    """Start the Debian cluster(s) configured for `port` with pg_ctlcluster; returns the commands run."""
    ran = []
    for (version, cluster), cluster_port in local_clusters().items():
        if cluster_port != port:
            continue
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"]
        subprocess.run(cmd, check=False, capture_output=True, timeout=60)
        ran.append(" ".join(cmd))
    return ran


def _server_answers(maintenance: str, host: str, port: int, log) -> None:
    """Connect to the server, starting the local Debian cluster for that port once if nothing answers."""
    try:
        _connect(maintenance).close()
        return
    except psycopg.OperationalError as exc:
        first_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    can_start = host in LOCAL_HOSTS or host.startswith("/")
    if not (can_start and shutil.which("pg_ctlcluster") and glob.glob("/etc/postgresql/*/*/postgresql.conf")):
        raise ProvisionError(
            f"PostgreSQL does not answer at {host or 'the local socket'} ({first_error}). Start it "
            "(Debian: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) "
            "or point DATABASE_URL at a running server."
        )
    clusters = local_clusters()
    if port not in clusters.values():
        here = ", ".join(f"{v}/{c} on port {p}" for (v, c), p in clusters.items())
        raise ProvisionError(
            f"nothing answers at {host or 'localhost'}:{port} ({first_error}), and no local cluster is "
            f"configured for port {port} (here: {here}). Fix the port in DATABASE_URL, or start the server "
            "that should listen there."
        )
    log(f"PostgreSQL not answering at {host or 'localhost'}:{port} ({first_error}); starting its local cluster")
    for command in _start_local_cluster(port):
        log(f"ran: {command}")
    deadline = time.monotonic() + START_WAIT_SECONDS
    while True:
        try:
            _connect(maintenance).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ProvisionError(
                    f"started the local cluster but PostgreSQL still does not answer after {START_WAIT_SECONDS}s "
                    f"({exc}); check /var/log/postgresql/ and DATABASE_URL"
                ) from None
            time.sleep(0.5)


def ensure_database(database_url: str, log=print) -> str:
    """Make the server answer and the database exist; returns what was done."""
    params = conninfo_to_dict(database_url)
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or "postgres"
    host = str(params.get("host") or "")
    port = int(params.get("port") or os.environ.get("PGPORT") or 5432)
    maintenance = make_conninfo(database_url, dbname="postgres")
    _server_answers(maintenance, host, port, log)
    with _connect(maintenance) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return f"database {dbname} exists"
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except psycopg.errors.DuplicateDatabase:
            return f"database {dbname} exists (created concurrently)"
        return f"created database {dbname}"
