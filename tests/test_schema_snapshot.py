"""sql/schema.sql is the schema the migrations build: one database from each, compared object by object."""

from __future__ import annotations

import shutil

import psycopg
import pytest
from psycopg import sql

from conftest import SQL_DIR
from receiver.database import migrations, snapshot, views
from receiver.vendors import VENDORS

STALE = "sql/schema.sql is not what the migrations build: run `make schema` and commit it"
SNAPSHOT_TEXT = snapshot.SNAPSHOT.read_text(encoding="utf-8")


@pytest.fixture
def same_pg_dump():
    """The comparisons with the file's text need the pg_dump major version that wrote it."""
    here, wrote = snapshot.pg_dump_major(), snapshot.written_by(SNAPSHOT_TEXT)
    if here != wrote:
        pytest.skip(f"sql/schema.sql was written by pg_dump {wrote}; pg_dump {here} prints the same schema differently")


@pytest.fixture
def scratch(postgresql):
    """make_database(suffix): an empty database beside the test's own, dropped afterwards; its URL."""
    info, made = postgresql.info, []

    def make_database(suffix: str) -> str:
        name = f"{info.dbname}_{suffix}"
        with psycopg.connect(host=info.host, port=info.port, user=info.user, dbname="postgres", autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return f"postgresql://{info.user}@{info.host}:{info.port}/{name}"

    yield make_database
    with psycopg.connect(host=info.host, port=info.port, user=info.user, dbname="postgres", autocommit=True) as c:
        for name in made:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def built(url: str, sql_dir) -> list[str]:
    """The objects of a database that the migrations in `sql_dir` and the ledgers' views build at `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.upgrade(conn, sql_dir)
        views.create(conn, VENDORS.ledgers.values())
        return snapshot.objects(snapshot.snapshot(conn, url))


def test_the_snapshot_is_what_the_migrations_build(database_url, same_pg_dump):
    """The test's own database was built the way `callrecon db upgrade` builds one."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        from_migrations = snapshot.objects(snapshot.snapshot(conn, database_url))
    assert from_migrations == snapshot.objects(snapshot.SNAPSHOT.read_text(encoding="utf-8")), STALE


def test_a_database_built_from_the_snapshot_has_the_same_schema(database_url, scratch):
    url = scratch("snapshot")
    with psycopg.connect(url, autocommit=True) as conn:
        snapshot.load(conn, snapshot.SNAPSHOT.read_text(encoding="utf-8"))
        from_snapshot = snapshot.objects(snapshot.snapshot(conn, url))
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert from_snapshot == snapshot.objects(snapshot.snapshot(conn, database_url))
    assert any("CREATE TABLE public.raw_inbox" in o for o in from_snapshot)  # the comparison saw the tables


def test_a_migration_changed_without_the_snapshot_fails_the_comparison(scratch, tmp_path, same_pg_dump):
    changed = tmp_path / "sql"
    shutil.copytree(SQL_DIR, changed)
    last = sorted(changed.glob("[0-9][0-9][0-9][0-9]_*.sql"))[-1]
    last.write_text(last.read_text() + "\nALTER TABLE raw_inbox ADD COLUMN note text;\n")
    objects = built(scratch("changed"), changed)
    expected = snapshot.objects(snapshot.SNAPSHOT.read_text(encoding="utf-8"))
    assert objects != expected
    assert [o for o in objects if o not in expected] == [o for o in objects if "CREATE TABLE public.raw_inbox (" in o]
