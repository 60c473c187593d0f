"""Fixtures: a fresh PostgreSQL database per test (migrated from sql/), the app, its client."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from pytest_httpserver import HTTPServer
from pytest_postgresql import factories

from receiver import create_app
from receiver.config import Settings
from receiver.config.settings import DEFAULT_DATABASE_URL
from receiver.database import logins as role_logins
from receiver.database import roles, upgrade
from receiver.logs import JsonFormatter
from receiver.vendors import VENDORS

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

OZONETEL_TOKEN = "tok-new-3f9d2c7a1b"
OZONETEL_OLD_TOKEN = "tok-old-8e1f0a6b5c"
# The Apikey value inside the Ozonetel fixtures: it must never reach the database or the logs.
FIXTURE_APIKEY = "KK0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
CONFIGURED_API_KEY = "cfg-ozonetel-key-55aa77"
# Every secret value any test configures or sends; after each test the database (every table and
# view) and the log lines written during the test are scanned for each of them.
SECRETS = {OZONETEL_TOKEN, OZONETEL_OLD_TOKEN, FIXTURE_APIKEY, CONFIGURED_API_KEY}


# The server the suite runs on: the host, port and user of DATABASE_URL, which `make test` takes from the file
# `callrecon db ensure` writes (the default local server, or the embedded one it started); the default otherwise.
# The suite connects without a password, as both of those servers let a loopback superuser do.
SERVER = conninfo_to_dict(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
PG_HOST = SERVER.get("host") or "127.0.0.1"
PG_PORT = int(SERVER.get("port") or 5432)
PG_USER = SERVER.get("user") or "postgres"

# One database name per checkout, so two checkouts (e.g. git worktrees) can run the suite at once.
TEST_DBNAME = "callrecon_test_" + hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
# Roles are global to the server, so each checkout's run has its own (DB_ROLE_PREFIX), dropped at the end.
ROLES = roles.Roles(TEST_DBNAME)
# The services log in as members of the group roles, never as the superuser; one login per kind.
LOGINS = {kind: f"{ROLES.prefix}_t_{kind}" for kind in roles.KINDS}
ANALYST_LIMITS = roles.AnalystLimits(statement_timeout=1.0, work_mem="8MB")


def load_schema(**kwargs) -> None:
    """pytest-postgresql loader: the template database as `callrecon db upgrade` builds it, roles and grants too."""
    kwargs.pop("autocommit", None)
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        upgrade.apply(
            conn,
            SQL_DIR,
            ROLES,
            ANALYST_LIMITS,
            Settings.from_env({}, VENDORS).database_settings(),
            VENDORS,
        )
        for kind, login in LOGINS.items():
            role_logins.ensure_login(conn, login, ROLES.name(kind))
        roles.limit_analysts(conn, ROLES, ANALYST_LIMITS, roles.Outcome())


def pytest_sessionfinish(session):
    """Drop this run's roles once every test database is gone (left in place if another database still uses them)."""
    from psycopg import sql

    try:
        with psycopg.connect(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres", autocommit=True) as conn:
            for name in [*LOGINS.values(), *ROLES.names()]:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))  # the parameter grants
                    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    except psycopg.Error:
        pass  # a database from a killed run still refers to them; the next run reuses them


postgresql_noproc = factories.postgresql_noproc(
    host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=TEST_DBNAME, load=[load_schema]
)
postgresql = factories.postgresql("postgresql_noproc")


class LogCopy(logging.Handler):
    """Keeps every callrecon log line, formatted as in production, for the secret scan."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope="session")
def log_copy():
    handler = LogCopy()
    logging.getLogger("callrecon").addHandler(handler)
    yield handler
    logging.getLogger("callrecon").removeHandler(handler)


# Where a secret is meant to be: the one Ozonetel CDR token every reconciler process shares.
SECRET_STORES = frozenset({"ozonetel_cdr_token"})


def scan_for_secrets(url: str, lines: list[str]) -> list[str]:
    """Where any registered secret appears outside SECRET_STORES: 'table: secret' or 'log: secret'."""
    found = []
    with psycopg.connect(url, autocommit=True) as conn:
        relations = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')"
            )
        ]
        for name in sorted(set(relations) - SECRET_STORES):
            text = conn.execute(f'SELECT string_agg(t::text, chr(10)) FROM "{name}" t').fetchone()[0] or ""
            found += [f"{name}: {secret[:6]}..." for secret in SECRETS if secret in text]
    log_text = "\n".join(lines)
    found += [f"log: {secret[:6]}..." for secret in SECRETS if secret in log_text]
    return found


@pytest.fixture
def database_url(postgresql, log_copy) -> str:
    """Superuser URL of this test's own database (for setup and assertions); afterwards, no secret may be in it
    or in the logs."""
    info = postgresql.info
    url = f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
    # A copy of the template belongs to whoever copied it; `db upgrade` gives the database to the owner role.
    postgresql.execute(f'ALTER DATABASE "{info.dbname}" OWNER TO "{ROLES.owner}"')
    postgresql.commit()
    start = len(log_copy.lines)
    yield url
    leaks = scan_for_secrets(url, log_copy.lines[start:])
    assert not leaks, f"secret values leaked: {leaks}"


@pytest.fixture
def role_url(postgresql):
    """role_url(kind): this test database's URL for the login in the owner, web, reconciler or analyst role."""
    info = postgresql.info
    return lambda kind: f"postgresql://{LOGINS[kind]}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture
def reconciler_url(role_url, database_url) -> str:
    """What the reconciler and the command line connect as."""
    return role_url("reconciler")


@pytest.fixture
def env(database_url, role_url) -> dict:
    """The environment the app reads, as an operator would set it: the web process's login, migrations as the
    owner's (commands and reconcile runs take reconciler_url)."""
    return {
        "DATABASE_URL": role_url("web"),
        "RELEASE_DATABASE_URL": role_url("owner"),
        "OPS_DATABASE_URL": role_url("reconciler"),  # the console's login, used once OPS_TOKENS is set
        "DB_ROLE_PREFIX": ROLES.prefix,
        "ANALYST_STATEMENT_TIMEOUT": "1s",
        "ANALYST_WORK_MEM": ANALYST_LIMITS.work_mem,
        "OZONETEL_CALLBACK_TOKENS": f"{OZONETEL_TOKEN}, {OZONETEL_OLD_TOKEN}",
        "OZONETEL_API_KEY": FIXTURE_APIKEY,  # the account's key, as carried in the fixtures' pushes
        "OZONETEL_TIMEZONE": "Asia/Kolkata",
        # Required as soon as any HUAWEI_* connection or token is set (Huawei times carry no zone).
        "HUAWEI_TIMEZONE": "Asia/Shanghai",
        # Most tests read what landed from the reply itself: inline. The default, deferred, has its own
        # tests (test_deferred_landing.py, and the served ones with the web server's own lander).
        "LANDING_MODE": "inline",
        "DB_POOL_SIZE": "4",
        "DB_POOL_TIMEOUT": "2",
    }


@pytest.fixture
def cli_env(env, reconciler_url) -> dict:
    """The environment of an operator's `callrecon` command or a reconciler process: the reconciler's login."""
    return {**env, "DATABASE_URL": reconciler_url}


@pytest.fixture
def settings(env) -> Settings:
    """Settings parsed from the test environment."""
    return Settings.from_env(env, VENDORS)


@pytest.fixture
def app(settings):
    """The receiver app on this test's database, logged in as the web role; its pool is closed afterwards."""
    app = create_app(settings)
    yield app
    app.extensions["callrecon_pool"].close()


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def vendor_server():
    """A threaded loopback HTTP server for a fake vendor, so concurrent requests really overlap."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def db(database_url):
    """An autocommit connection for assertions: sees exactly what the app committed."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def fixture_bytes(vendor: str, name: str) -> bytes:
    """A captured vendor payload from tests/fixtures/<vendor>/."""
    return (FIXTURES / vendor / name).read_bytes()


def fixture_json(vendor: str, name: str):
    """A captured vendor payload, decoded."""
    return json.loads(fixture_bytes(vendor, name))
