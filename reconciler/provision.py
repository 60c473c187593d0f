"""`callrecon db ensure`: make sure PostgreSQL answers and the database exists (for make run/test)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time

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


def _start_local_cluster() -> list[str]:
    """Start Debian's PostgreSQL clusters with pg_ctlcluster; returns the commands run."""
    ran = []
    for conf in sorted(glob.glob("/etc/postgresql/*/*/postgresql.conf")):
        version, cluster = conf.split("/")[3:5]
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"]
        subprocess.run(cmd, check=False, capture_output=True, timeout=60)
        ran.append(" ".join(cmd))
    return ran


def _server_answers(maintenance: str, host: str, log) -> None:
    """Connect to the server, starting a local Debian cluster once if nothing answers."""
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
    log(f"PostgreSQL not answering ({first_error}); starting the local cluster")
    for command in _start_local_cluster():
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
    maintenance = make_conninfo(database_url, dbname="postgres")
    _server_answers(maintenance, host, log)
    with _connect(maintenance) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return f"database {dbname} exists"
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except psycopg.errors.DuplicateDatabase:
            return f"database {dbname} exists (created concurrently)"
        return f"created database {dbname}"
