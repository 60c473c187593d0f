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

from receiver.database.embedded import EmbeddedError, EmbeddedServer, bin_dir

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
START_WAIT_SECONDS = 30


class ProvisionError(Exception):
    """PostgreSQL cannot be reached or prepared; the message says what to do."""


class NoServer(ProvisionError):
    """Nothing answers at the address and no local cluster is configured for it (none was started)."""

    def __init__(self, message: str, first_error: str):
        super().__init__(message)
        self.first_error = first_error


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
        raise NoServer(
            f"PostgreSQL does not answer at {host or 'the local socket'} ({first_error}). Start it "
            "(Debian: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) "
            "or point DATABASE_URL at a running server.",
            first_error,
        )
    clusters = local_clusters()
    if port not in clusters.values():
        here = ", ".join(f"{v}/{c} on port {p}" for (v, c), p in clusters.items())
        raise NoServer(
            f"nothing answers at {host or 'localhost'}:{port} ({first_error}), and no local cluster is "
            f"configured for port {port} (here: {here}). Fix the port in DATABASE_URL, or start the server "
            "that should listen there.",
            first_error,
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


def ensure_server(settings, log=print) -> tuple[str, str]:
    """Settle on the server every later step uses and make its database exist: (its URL, what was done).

    DATABASE_URL, when given, is used as it is. Unset, the default address comes first (starting its local
    cluster as above); the embedded server is used when its data is here already (the data stays where it was
    first put) or when nothing answers at the default address and no local cluster is configured for it.
    """
    if settings.database_url_given:
        return settings.database_url, ensure_database(settings.database_url, log)
    server = EmbeddedServer(settings.embedded_pg_dir, settings.embedded_pg_port)
    why = None
    if not server.initialised():
        try:
            return settings.database_url, ensure_database(settings.database_url, log)
        except NoServer as exc:
            params = conninfo_to_dict(settings.database_url)
            why = f"no PostgreSQL answers at {params.get('host')}:{params.get('port')} ({exc.first_error})"
    try:
        port, done = server.start()
        version = server.version()
    except EmbeddedError as exc:
        raise ProvisionError(f"{why + '; ' if why else ''}{exc}") from None
    server = EmbeddedServer(server.data_dir, port)  # a server already running keeps the port it took
    log(
        f"{why + ': ' if why else ''}using the embedded PostgreSQL {version} in {server.data_dir} on 127.0.0.1:{port} "
        f"({done}; it keeps running, data and all, until `make db-stop`); to use a real server instead, set "
        "DATABASE_URL"
    )
    url = server.url(conninfo_to_dict(settings.database_url).get("dbname") or "callrecon")
    return url, ensure_database(url, log)


def env_file_lines(settings, url: str) -> list[str]:
    """What `make` sources after `callrecon db ensure`: the DATABASE_URL it settled on (an exported one wins), and
    the embedded server's programs on PATH (its psql and pg_dump match its version)."""
    if settings.database_url_given:
        return ["# DATABASE_URL is set: callrecon db ensure used it as given"]
    lines = [f'export DATABASE_URL="${{DATABASE_URL:-{url}}}"']
    if url != settings.database_url:
        lines.append(f'export PATH="{bin_dir()}:$PATH"  # the embedded server\'s psql and pg_dump')
    return lines
