"""`callrecon db upgrade`, the release step: everything a database needs to serve this version.

In order: the legacy tables' bounds checked ahead of the partitioning migrations (without blocking
writes), the roles, the migrations as the owner role, the views the vendors' ledgers derive, the
grants (the shared list and each vendor's), the analyst limits, and the partitions ahead. Idempotent,
and serialised with any other upgrade by an advisory lock.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from receiver.database import grants, migrations, roles, views
from receiver.landing import partitions


def upgrade(conn, settings, vendors) -> roles.Outcome:
    """Bring the database at `conn` (the release login) up to this version for `vendors`; what was done."""
    names = roles.roles_from(settings)
    prepared = partitions.prepare_upgrade(conn, vendors.monthly_tables)
    try:
        out = apply(conn, settings.sql_dir, names, roles.limits_from(settings), settings.database_settings(), vendors)
    except BaseException:
        if prepared:
            partitions.unprepare(conn, vendors.monthly_tables)
        raise
    out.partitions = partitions.ensure(conn, settings.partitions_ahead)
    return out


def apply(
    conn, sql_dir: Path, names: roles.Roles, limits: roles.AnalystLimits, database_settings: dict, vendors
) -> roles.Outcome:
    """`callrecon db upgrade`: roles, ownership, migrations as the owner, the views the vendors' ledgers derive,
    database settings, grants (the shared ones and the vendors'), limits."""
    rights = grants.access(vendors)
    out = roles.Outcome()
    if not roles.create_roles(conn, names, out):
        out.ran = migrations.upgrade(conn, sql_dir)
        views.create(conn, vendors.ledgers.values())
        migrations.apply_database_settings(conn, database_settings)
        out.dba.append("-- then run `callrecon db upgrade` again: it grants each role its tables")
        return out
    roles.adopt(conn, names, out)
    roles.allow_database_settings(conn, names, database_settings, out)
    with roles.as_owner(conn, names):
        out.ran = migrations.upgrade(conn, sql_dir)
        views.create(conn, vendors.ledgers.values())
        grants.grant(conn, names, out, rights)
    # The session user: superuser or the database owner's member may ALTER DATABASE ... SET.
    try:
        migrations.apply_database_settings(conn, database_settings)
    except psycopg.errors.InsufficientPrivilege as exc:
        # The views fall back to their defaults meanwhile; the DBA's GRANT SET lines let the next upgrade write them.
        out.why.append(f"the callrecon.* database settings were not written ({str(exc).strip().splitlines()[0]})")
        out.dba.append("-- or run `callrecon db upgrade` once as a superuser")
    roles.limit_analysts(conn, names, limits, out)
    return out


def report(out: roles.Outcome, settings) -> tuple[list[str], list[str]]:
    """(lines for stdout, lines for stderr) saying what an upgrade did and what a DBA must still do."""
    names = roles.roles_from(settings)
    said = [f"applied {m.name}" for m in out.ran]
    said.append(f"{len(out.ran)} migration(s) applied; schema is up to date")
    if out.partitions:
        said.append(
            f"created {out.partitions} partition(s), {settings.partitions_ahead} weeks ahead (PARTITIONS_AHEAD)"
        )
    if out.created:
        said.append(f"created roles {', '.join(out.created)}")
    if out.adopted:
        said.append(
            f"{out.adopted} existing table(s), view(s) and function(s) now belong to {names.owner}; no data moved"
        )
    if out.granted:
        said.append(
            f"granted {out.granted} tables and views to {', '.join(names.names()[1:])} "
            "(receiver/database/grants.py and each vendor's grants)"
        )
    warned = []
    if out.unclassified:
        warned.append(
            f"callrecon db upgrade: {', '.join(out.unclassified)} are in no role's list; only {names.owner} can "
            "use them until they are listed in receiver/database/grants.py or their vendor's grants"
        )
    if out.dba or out.why:
        warned.append(roles.dba_script(out))
    return said, warned
