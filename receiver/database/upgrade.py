"""`callrecon db upgrade`, the release step: everything a database needs to serve this version.

In order: the legacy tables' bounds checked ahead of the partitioning migrations (without blocking
writes), the roles, the migrations as the owner role, the views the vendors' ledgers derive, the
grants (the shared list and each vendor's), the analyst limits, and the partitions ahead. Idempotent,
and serialised with any other upgrade by an advisory lock.
"""

from __future__ import annotations

from receiver.database import roles
from receiver.landing import partitions


def upgrade(conn, settings, vendors) -> roles.Outcome:
    """Bring the database at `conn` (the release login) up to this version for `vendors`; what was done."""
    names = roles.roles_from(settings)
    prepared = partitions.prepare_upgrade(conn, vendors.monthly_tables)
    try:
        out = roles.upgrade(
            conn, settings.sql_dir, names, roles.limits_from(settings), settings.database_settings(), vendors
        )
    except BaseException:
        if prepared:
            partitions.unprepare(conn, vendors.monthly_tables)
        raise
    out.partitions = partitions.ensure(conn, settings.partitions_ahead)
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
            "(receiver/database/roles.py and each vendor's grants)"
        )
    warned = []
    if out.unclassified:
        warned.append(
            f"callrecon db upgrade: {', '.join(out.unclassified)} are in no role's list; only {names.owner} can "
            "use them until they are listed in receiver/database/roles.py or their vendor's grants"
        )
    if out.dba or out.why:
        warned.append(roles.dba_script(out))
    return said, warned
