"""`callrecon db`: create the database, apply migrations, keep the roles, report them, document the schema."""

from __future__ import annotations

import os
import shlex
import sys

import click
import psycopg
from psycopg.conninfo import conninfo_to_dict

from receiver.config import ConfigError
from receiver.database import docs as schema_docs
from receiver.database import grants, migrations, roles
from receiver.database import logins as role_logins
from receiver.database import upgrade as database_upgrade
from receiver.database.provision import ensure_server, env_file_lines
from reconciler.cli.base import Group, argument, connect, option, vendors_in_use, with_settings


@click.group(
    cls=Group, metavar="ACTION", short_help="database: ensure, upgrade, roles, grant-analyst, local-roles, status, docs"
)
def db():
    """Manage the database and its migrations."""


@db.command(short_help="start local (or embedded) PostgreSQL if needed and create the database")
@option("--output", default=".callrecon.db.env", help="file for the DATABASE_URL settled on (default %(default)s)")
@with_settings
def ensure(settings, output):
    """Start the local server if needed and create the database if missing. With DATABASE_URL unset and no
    server at the default address, start the embedded PostgreSQL (EMBEDDED_PG_DIR, EMBEDDED_PG_PORT). Write the
    URL settled on to a file that make sources for the later steps."""
    url, done = ensure_server(settings, log=lambda m: print(m, file=sys.stderr))
    _write_private(output, env_file_lines(settings, url))
    print(done)


@db.command(short_help="apply pending migrations from sql/, then grant each role its tables")
@with_settings
def upgrade(settings):
    """Apply pending migrations as the owner role; create the roles and re-grant their tables
    (docs/operations.md: Roles); then create the partitions (weekly raw, monthly typed) PARTITIONS_AHEAD weeks
    ahead."""
    with connect(settings, release=True) as conn:
        out = database_upgrade.upgrade(conn, settings, vendors_in_use())
    said, warned = database_upgrade.report(out, settings)
    print("\n".join(said))
    for line in warned:
        print(line, file=sys.stderr)


@db.command(name="roles", short_help="list the roles, their members, and what each may do")
@with_settings
def roles_(settings):
    """List callrecon's group roles, who is in each, and the tables and views each may use."""
    with connect(settings) as conn:
        for line in role_logins.holders(conn, roles.roles_from(settings), grants.access(vendors_in_use())):
            print(line)


@db.command(name="grant-analyst", short_help="create or update one analyst's login role")
@argument("name", help="the analyst's login role name (lower case, e.g. asha)")
@with_settings
def grant_analyst(settings, name):
    """Create a login role NAME in the analyst role (or add an existing one), with the analyst limits, and print
    its connection string without a password."""
    names = roles.roles_from(settings)
    try:
        with connect(settings, release=True) as conn:
            created, dba = role_logins.grant_analyst(conn, names, roles.limits_from(settings), name)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigError(
            f"{str(exc).strip().splitlines()[0]}: run this with a user that has CREATEROLE (RELEASE_DATABASE_URL), or "
            f"ask a DBA to run CREATE ROLE {name} LOGIN IN ROLE {names.analyst}; then this command again"
        ) from None
    print(f"{'created' if created else 'updated'} {name} in {names.analyst}")
    print(role_logins.url_for(settings.database_url, name))
    print(
        f"give it a password: psql -c '\\password {name}' (or your DBA's way); it can read only the analyst tables",
        file=sys.stderr,
    )
    if dba:
        print("a DBA still needs to run:\n" + "\n".join(f"    {line}" for line in dba), file=sys.stderr)
        return 1


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@db.command(name="local-roles", short_help="make run: local login roles, and the DATABASE_URL of each process")
@option("--output", default=".callrecon.roles.env", help="file for the export lines (mode 600; default %(default)s)")
@with_settings
def local_roles(settings, output):
    """For the local set-up (make run): create <prefix>_release_local, _web_local and _reconciler_local in the
    owner, web and reconciler roles, and write RELEASE_, WEB_ and RECONCILER_DATABASE_URL to a file that make run
    sources. Where that is not possible (a remote server, or no right to create roles) every URL is DATABASE_URL,
    and it says so."""
    names = roles.roles_from(settings)
    host = conninfo_to_dict(settings.database_url).get("host", "localhost")
    urls, logins = {}, {}
    why = None if host in LOCAL_HOSTS or host.startswith("/") else f"{host} is not this machine"
    if why is None:
        try:
            with connect(settings, release=True) as conn:
                logins = role_logins.local_logins(conn, names)
            for process, (login, password) in logins.items():
                urls[process] = role_logins.url_for(settings.database_url, login, password)
                psycopg.connect(urls[process], connect_timeout=5).close()  # the login gets in (pg_hba may refuse)
        except (psycopg.Error, ConfigError) as exc:
            why, urls, logins = str(exc).strip().splitlines()[0], {}, {}
    if why:
        print(f"callrecon db local-roles: every process uses DATABASE_URL ({why})", file=sys.stderr)
    fallback = roles.release_url(settings)
    lines = [
        f"export RELEASE_DATABASE_URL={shlex.quote(urls.get('release', fallback))}",
        f"export WEB_DATABASE_URL={shlex.quote(urls.get('web', settings.database_url))}",
        f"export RECONCILER_DATABASE_URL={shlex.quote(urls.get('reconciler', settings.database_url))}",
    ]
    _write_private(output, lines)
    for process, (login, _) in logins.items():
        print(f"{process}: {role_logins.url_for(settings.database_url, login)}")
    print(f"wrote {output}")


def _write_private(output: str, lines: list[str]) -> None:
    """Write lines to a file only its owner may read (mode 600): logins and URLs for make to source."""
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(output, 0o600)  # an older copy keeps its mode otherwise


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
        text = schema_docs.render(conn, grants.access(vendors_in_use()))
    if output == "-":
        sys.stdout.write(text)
        return 0
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {output}")
