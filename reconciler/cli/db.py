"""`callrecon db`: create the database, apply migrations, report them, document the schema."""

from __future__ import annotations

import sys

import click

from receiver import migrations
from receiver.landing import partitions
from reconciler import schema_docs
from reconciler.cli.base import Group, connect, option, with_settings
from reconciler.provision import ensure_database


@click.group(cls=Group, metavar="ACTION", short_help="database: ensure, upgrade, status")
def db():
    """Manage the database and its migrations."""


@db.command(short_help="start local PostgreSQL if needed and create the database")
@with_settings
def ensure(settings):
    """Start the local server if needed and create the database if missing."""
    print(ensure_database(settings.database_url, log=lambda m: print(m, file=sys.stderr)))


@db.command(short_help="apply pending migrations from sql/")
@with_settings
def upgrade(settings):
    """Apply pending migrations, then create the weekly partitions PARTITIONS_AHEAD weeks ahead."""
    with connect(settings) as conn:
        prepared = partitions.prepare_upgrade(conn)
        try:
            ran = migrations.upgrade(conn, settings.sql_dir)
        except BaseException:
            if prepared:
                partitions.unprepare(conn)
            raise
        migrations.apply_database_settings(conn, settings.database_settings())
        created = partitions.ensure(conn, settings.partitions_ahead)
    for m in ran:
        print(f"applied {m.name}")
    print(f"{len(ran)} migration(s) applied; schema is up to date")
    if created:
        print(f"created {created} weekly partition(s), {settings.partitions_ahead} weeks ahead (PARTITIONS_AHEAD)")


@db.command(short_help="list applied and pending migrations")
@with_settings
def status(settings):
    """List applied and pending migrations; exit 1 when some are pending."""
    with connect(settings) as conn:
        rows = migrations.status(conn, settings.sql_dir)
    for m, state in rows:
        print(f"{m.name:45} {state}")
    pending = sum(1 for _, state in rows if state == "pending")
    print(f"{len(rows) - pending} applied, {pending} pending")
    return 1 if pending else 0


@db.command(short_help="write docs/schema.md from the schema's comments")
@option("--output", default="docs/schema.md", help="file to write, or - (default %(default)s)")
@with_settings
def docs(settings, output):
    """Write the schema reference (tables, views, columns, comments) as Markdown."""
    with connect(settings) as conn:
        text = schema_docs.render(conn)
    if output == "-":
        sys.stdout.write(text)
        return 0
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {output}")
