"""Migrations: idempotent, recorded, and producing the schema the code expects (with comments)."""

from __future__ import annotations

import shutil

import psycopg

from conftest import SQL_DIR
from receiver.database import migrations
from receiver.landing import inbox
from receiver.vendors.ozonetel import records as ozonetel


def columns(db, table):
    """Column names of a table or view."""
    return {
        r[0] for r in db.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))
    }


def test_upgrade_twice_applies_nothing_the_second_time(db):
    assert migrations.upgrade(db, SQL_DIR) == []
    versions = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in migrations.discover(SQL_DIR)]


def test_a_new_migration_is_pending_then_applied_once(db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "9999_extra.sql").write_text("CREATE TABLE extra_thing (id int);\n")
    assert [m.name for m in migrations.pending(db, sql_dir)] == ["9999_extra.sql"]
    assert [m.name for m in migrations.upgrade(db, sql_dir)] == ["9999_extra.sql"]
    assert migrations.pending(db, sql_dir) == []
    states = dict((m.name, s) for m, s in migrations.status(db, sql_dir))
    assert states["9999_extra.sql"].startswith("applied")


def test_a_failing_migration_leaves_nothing_half_applied(db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "9998_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")
    try:
        migrations.upgrade(db, sql_dir)
    except psycopg.errors.UndefinedFunction:
        pass
    else:
        raise AssertionError("the broken migration should have failed")
    assert db.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
    assert [m.name for m in migrations.pending(db, sql_dir)] == ["9998_broken.sql"]


def test_an_edited_migration_shows_as_modified(db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    first = sorted(sql_dir.glob("0001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    states = dict((m.name, s) for m, s in migrations.status(db, sql_dir))
    assert "modified" in states[first.name]


def test_schema_has_every_column_the_code_writes(db):
    assert set(ozonetel.COLUMNS) | {"call_key", "key_source", "extra", "seen_count"} <= columns(db, "ozonetel_call")
    written = {
        "source",
        "client_addr",
        "content_type",
        "headers",
        "body",
        "body_sha256",
        "body_bytes",
        "status",
        "record_count",
        "landed_count",
        "error",
        "parsed_at",
        "parse_count",
    }
    assert written <= columns(db, "raw_inbox")
    assert "%(after_id)s" in inbox.SELECT_FOR_REPLAY


def test_every_table_view_and_column_is_documented(db):
    missing = db.execute("""
        SELECT c.relname || COALESCE('.' || a.attname, '')
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'v', 'm')
          AND (obj_description(c.oid, 'pg_class') IS NULL
               OR (a.attname IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL))
        ORDER BY 1""").fetchall()
    assert missing == []


def test_all_timestamps_are_timestamptz(db):
    naive = db.execute("""
        SELECT table_name || '.' || column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'""").fetchall()
    assert naive == []


def test_a_comment_only_edit_of_an_applied_migration_is_not_flagged(db):
    """0002's citation moved into the repository: installs that applied the old file see no change."""
    from receiver.database import migrations

    [old] = migrations.COMMENT_ONLY_EDITS["0002"]
    db.execute("UPDATE schema_migrations SET checksum = %s WHERE version = '0002'", (old,))
    states = {m.version: state for m, state in migrations.status(db, SQL_DIR)}
    assert "modified" not in states["0002"]
    db.execute("UPDATE schema_migrations SET checksum = 'something-else' WHERE version = '0002'")
    states = {m.version: state for m, state in migrations.status(db, SQL_DIR)}
    assert states["0002"].endswith("(file modified since)")
