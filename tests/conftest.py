"""Fixtures: a fresh PostgreSQL database per test (migrated from sql/), the app, its client."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql import factories

from receiver import create_app, migrations
from receiver.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = ROOT.parent / "shared" / "seeds"

OZONETEL_TOKEN = "tok-new-3f9d2c7a1b"
OZONETEL_OLD_TOKEN = "tok-old-8e1f0a6b5c"
# The Apikey value inside the Ozonetel fixtures: it must never reach the database or the logs.
FIXTURE_APIKEY = "KK0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
CONFIGURED_API_KEY = "cfg-ozonetel-key-55aa77"


def load_schema(**kwargs) -> None:
    """pytest-postgresql loader: build the template database with our own migration runner."""
    kwargs.pop("autocommit", None)
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        migrations.upgrade(conn, SQL_DIR)


# One database name per checkout, so two checkouts (e.g. git worktrees) can run the suite at once.
TEST_DBNAME = "callrecon_test_" + hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
postgresql_noproc = factories.postgresql_noproc(dbname=TEST_DBNAME, load=[load_schema])
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def database_url(postgresql) -> str:
    """URL of this test's own database."""
    info = postgresql.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture
def env(database_url) -> dict:
    """The environment the app reads, as an operator would set it."""
    return {
        "DATABASE_URL": database_url,
        "OZONETEL_CALLBACK_TOKENS": f"{OZONETEL_TOKEN}, {OZONETEL_OLD_TOKEN}",
        "OZONETEL_API_KEY": CONFIGURED_API_KEY,
        "OZONETEL_TIMEZONE": "Asia/Kolkata",
        "DB_POOL_SIZE": "4",
        "DB_POOL_TIMEOUT": "2",
    }


@pytest.fixture
def settings(env) -> Settings:
    """Settings parsed from the test environment."""
    return Settings.from_env(env)


@pytest.fixture
def app(settings):
    """The receiver app on this test's database; its pool is closed afterwards."""
    app = create_app(settings)
    yield app
    app.extensions["callrecon_pool"].close()


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


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
