"""Least privilege in PostgreSQL: four group roles, and what each may do with each relation.

`callrecon db upgrade` keeps them. It creates the NOLOGIN group roles, hands the database and its
objects to the owner role, applies the migrations as that role, then grants every relation exactly
what access() says (REVOKE, then GRANT, in one transaction). Re-granting on every upgrade,
rather than relying on ALTER DEFAULT PRIVILEGES alone, means a table that a later migration adds
gets its grants from the same list, and a grant removed from the list is really taken away.
tests/test_roles.py fails while a relation is in no list. Partitions are skipped: a query
through a partitioned parent is checked against the parent's grants only. The one exception is each
parent's default partition, whose rows status and /metrics count directly: whoever may read the
parent may read it.

A release user without CREATEROLE cannot create the roles; the upgrade then still migrates, and
says which SQL a DBA runs once (`dba_script`), instead of failing or skipping silently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from receiver.database import migrations, views

KINDS = ("owner", "web", "reconciler", "analyst")
SERVICES = ("web", "reconciler", "analyst")  # the roles access() grants to; the owner owns everything
WORDS = {"S": "SELECT", "I": "INSERT", "U": "UPDATE", "D": "DELETE"}
LOCK_KEY = migrations.LOCK_KEY  # grants and migrations never interleave

# relation: (web, reconciler, analyst), each a string of S select, I insert, U update, D delete;
# a vendor's own tables are declared the same way in its registry entry (`grants`).
# web stores raw callbacks and lands them (also as the deferred lander); reconciler works the ledgers,
# lands what it fetches, replays and prunes; analyst reads typed data and the analyst views, never
# raw bodies or headers (raw_inbox_excerpt instead). Nobody but the owner gets DDL or TRUNCATE.
CORE_ACCESS: dict[str, tuple[str, str, str]] = {
    "raw_inbox": ("SIU", "SIUD", ""),
    "raw_inbox_text": ("", "S", ""),
    "raw_inbox_excerpt": ("", "S", "S"),
    "rate_budget": ("S", "SIU", "S"),
    "rate_slot": ("", "SIUD", "S"),
    "reconcile_run": ("S", "SIU", "S"),
    "reconcile_block": ("", "SIUD", "S"),
    "schema_migrations": ("S", "S", "S"),  # /readyz and `db status` compare it with sql/
    "call": ("", "S", "S"),
    # written only by its SECURITY DEFINER trigger (sql/0023); the console (reconciler login) and analysts read it
    "call_rollup": ("", "S", "S"),
    "completeness_daily": ("", "S", "S"),
    "reconcile_gave_up": ("S", "S", "S"),  # /metrics
    "reconcile_item": ("", "S", "S"),
    "source_health": ("S", "S", "S"),  # /metrics
    "callrecon_partitioned": ("S", "S", "S"),  # /metrics and status: the weekly and monthly partitions
    "callrecon_partitions": ("S", "S", "S"),
}


def access(vendors) -> dict[str, tuple[str, str, str]]:
    """Every relation's rights: the shared ones above and those each vendor declares for its own tables."""
    return {**CORE_ACCESS, **vendors.grants}


# SECURITY DEFINER functions (they act with the owner's rights) and the service roles that may run
# them; PUBLIC's default EXECUTE is taken away. Partitions are created ahead by whoever stores rows;
# only the reconciler (prune) drops weeks.
# Trigger functions with the owner's rights (the rollups') are run by PostgreSQL when their table is
# written, which needs no EXECUTE right: nobody gets one.
EXECUTE: dict[str, tuple[str, ...]] = {
    "callrecon_ensure_partitions(integer, timestamptz, timestamptz)": ("web", "reconciler"),
    "callrecon_drop_week(text[], boolean)": ("reconciler",),
    "callrecon_rollup_compact()": ("reconciler",),  # each reconcile pass compacts the rollup
}
DEFINER_TRIGGERS = """
SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prosecdef AND p.prorettype = 'trigger'::regtype ORDER BY 1
"""

RELATIONS = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""
# Objects in public that the owner role does not own yet but the current user may hand over.
FOREIGN_RELATIONS = """
SELECT c.oid::regclass::text, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relowner <> %(owner)s::regrole
  AND pg_has_role(c.relowner, 'USAGE')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
ORDER BY 1
"""
FOREIGN_FUNCTIONS = """
SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proowner <> %(owner)s::regrole AND pg_has_role(p.proowner, 'USAGE')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1
"""
DATABASE_OWNER = "SELECT datdba::regrole::text, current_database() FROM pg_database WHERE datname = current_database()"
ME = "SELECT current_user, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user"
EXISTING = "SELECT rolname FROM pg_roles WHERE rolname = ANY(%(names)s)"
ANALYST_LOGINS = """
SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
WHERE m.roleid = %(analyst)s::regrole AND r.rolcanlogin ORDER BY 1
"""
ROLE_SETTINGS = """
SELECT (SELECT setconfig FROM pg_db_role_setting WHERE setrole = %(login)s::regrole AND setdatabase = 0)
"""
KEYWORD = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


@dataclass(frozen=True)
class Roles:
    """The group role names for one install: <prefix>_owner, _web, _reconciler, _analyst."""

    prefix: str = "callrecon"

    def name(self, kind: str) -> str:
        """The role name of one kind (owner, web, reconciler, analyst)."""
        return f"{self.prefix}_{kind}"

    @property
    def owner(self) -> str:
        return self.name("owner")

    @property
    def analyst(self) -> str:
        return self.name("analyst")

    def names(self) -> list[str]:
        """All four names, owner first."""
        return [self.name(kind) for kind in KINDS]


@dataclass(frozen=True)
class AnalystLimits:
    """What every analyst login session starts with (ALTER ROLE ... SET), so ad-hoc queries stay small."""

    statement_timeout: float = 60.0
    work_mem: str = "16MB"

    def settings(self) -> dict[str, str]:
        """{parameter: value} as ALTER ROLE ... SET takes them."""
        return {"statement_timeout": f"{round(self.statement_timeout * 1000)}ms", "work_mem": self.work_mem}


@dataclass
class Outcome:
    """What one upgrade did, and what a DBA must still do (SQL), if anything."""

    ran: list = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    adopted: int = 0
    granted: int = 0
    unclassified: list[str] = field(default_factory=list)
    dba: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    partitions: int = 0  # partitions created ahead


def roles_from(settings) -> Roles:
    """The role names settings configure (DB_ROLE_PREFIX)."""
    return Roles(settings.roles.prefix)


def limits_from(settings) -> AnalystLimits:
    """The analyst limits settings configure (ANALYST_STATEMENT_TIMEOUT, ANALYST_WORK_MEM)."""
    return AnalystLimits(settings.roles.analyst_statement_timeout, settings.roles.analyst_work_mem)


def release_url(settings) -> str:
    """Where migrations connect: RELEASE_DATABASE_URL when set, else DATABASE_URL."""
    return settings.roles.release_database_url or settings.database_url


def _ident(*names: str):
    return sql.SQL(", ").join(map(sql.Identifier, names))


def existing(conn, roles: Roles) -> set[str]:
    """Which of the four roles exist on this server."""
    return {r[0] for r in conn.execute(EXISTING, {"names": roles.names()})}


def create_roles(conn, roles: Roles, out: Outcome) -> bool:
    """Create the missing group roles; False (with the DBA's SQL in out) when this user may not."""
    user, superuser, createrole = conn.execute(ME).fetchone()
    missing = [name for name in roles.names() if name not in existing(conn, roles)]
    if missing and not (superuser or createrole):
        out.why.append(f"the user {user} may not create roles (no CREATEROLE), and {', '.join(missing)} do not exist")
        out.dba += [f"CREATE ROLE {name} NOLOGIN;" for name in missing]
        out.dba.append(f"GRANT {roles.owner} TO {user};")
        return False
    for name in missing:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
            out.created.append(name)
        except psycopg.errors.DuplicateObject:  # another upgrade created it a moment ago
            pass
    owner_member = conn.execute("SELECT pg_has_role(%s, 'MEMBER')", (roles.owner,)).fetchone()[0]
    if not owner_member:
        if superuser or createrole:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(roles.owner), sql.Identifier(user)))
        else:
            out.why.append(f"the user {user} is not a member of {roles.owner}, so it cannot run migrations as it")
            out.dba.append(f"GRANT {roles.owner} TO {user};")
            return False
    return True


def allow_database_settings(conn, roles: Roles, parameters, out: Outcome) -> None:
    """Let the owner role write the callrecon.* database settings: custom parameters are superuser-only otherwise.

    GRANT SET ON PARAMETER exists from PostgreSQL 15; before that the release user must be a superuser.
    """
    if conn.info.server_version < 150000:
        return
    superuser = conn.execute(ME).fetchone()[1]
    for name in parameters:
        if conn.execute("SELECT has_parameter_privilege(%s, %s, 'SET')", (roles.owner, name)).fetchone()[0]:
            continue
        statement = sql.SQL("GRANT SET ON PARAMETER {} TO {}").format(
            sql.SQL(".").join(map(sql.Identifier, name.split("."))), sql.Identifier(roles.owner)
        )
        if superuser:
            conn.execute(statement)
        else:
            out.why.append(f"only a superuser may let {roles.owner} set {name}")
            out.dba.append(f"GRANT SET ON PARAMETER {name} TO {roles.owner};")


def adopt(conn, roles: Roles, out: Outcome) -> None:
    """Hand the database and every object in public to the owner role (an install from before the roles existed).

    Only ownership changes: no row is moved or rewritten.
    """
    owner, to = {"owner": roles.owner}, sql.Identifier(roles.owner)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))  # two upgrades at once: one adopts
        for name, kind in conn.execute(FOREIGN_RELATIONS, owner).fetchall():
            conn.execute(sql.SQL(f"ALTER {KEYWORD[kind]} {{}} OWNER TO {{}}").format(sql.SQL(name), to))
            out.adopted += 1
        for signature in [r[0] for r in conn.execute(FOREIGN_FUNCTIONS, owner)]:
            conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), to))
            out.adopted += 1
        db_owner, dbname = conn.execute(DATABASE_OWNER).fetchone()
        # The owner role writes the callrecon.* database settings (ALTER DATABASE ... SET), so it owns the database.
        if db_owner != roles.owner:
            if conn.execute("SELECT pg_has_role(%s, 'USAGE')", (db_owner,)).fetchone()[0]:
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), to))
            else:
                out.why.append(f"the database {dbname} belongs to {db_owner}, which this user cannot act for")
                out.dba.append(f"ALTER DATABASE {dbname} OWNER TO {roles.owner};")
        if not conn.execute("SELECT has_schema_privilege(%s, 'public', 'CREATE')", (roles.owner,)).fetchone()[0]:
            conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(to))


@contextlib.contextmanager
def as_owner(conn, roles: Roles):
    """SET ROLE to the owner role for the block, so what migrations create belongs to it, not the login."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(roles.owner)))
    try:
        yield
    finally:
        conn.execute("RESET ROLE")


def grant(conn, roles: Roles, out: Outcome, rights: dict) -> None:
    """Grant each relation exactly what `rights` (access()) says, in one transaction (run on every upgrade)."""
    services = [roles.name(kind) for kind in SERVICES]
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        for name in services:
            if not conn.execute("SELECT has_schema_privilege(%s, 'public', 'USAGE')", (name,)).fetchone()[0]:
                conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(name)))
        for (relation,) in conn.execute(RELATIONS).fetchall():
            target = sql.SQL("TABLE {}").format(sql.Identifier(relation))  # views and partitioned tables too
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(target, _ident(*services)))
            if relation not in rights:
                out.unclassified.append(relation)
                continue
            default = conn.execute("SELECT to_regclass(%s)::text", (f"{relation}_default",)).fetchone()[0]
            for name, letters in zip(services, rights[relation], strict=True):
                if letters:
                    words = sql.SQL(", ").join(sql.SQL(WORDS[letter]) for letter in letters)
                    conn.execute(sql.SQL("GRANT {} ON {} TO {}").format(words, target, sql.Identifier(name)))
                if default and "S" in letters:
                    # status and /metrics count a default partition's rows directly (receiver/landing/partitions.py)
                    conn.execute(
                        sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(sql.Identifier(default), sql.Identifier(name))
                    )
            out.granted += 1
        triggers = [r[0] for r in conn.execute(DEFINER_TRIGGERS)]
        for signature, kinds in [*EXECUTE.items(), *((t, ()) for t in triggers)]:
            target = sql.SQL("FUNCTION {}").format(sql.SQL(signature))  # a signature from the catalog or the list
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC, {}").format(target, _ident(*services)))
            if kinds:
                runners = _ident(*(roles.name(kind) for kind in kinds))
                conn.execute(sql.SQL("GRANT EXECUTE ON {} TO {}").format(target, runners))


def limit_analysts(conn, roles: Roles, limits: AnalystLimits, out: Outcome, logins=None) -> list[str]:
    """ALTER ROLE ... SET the limits on each analyst login: a group role's settings do not reach its members."""
    if logins is None:
        logins = [r[0] for r in conn.execute(ANALYST_LOGINS, {"analyst": roles.analyst})]
    done = []
    for login in logins:
        already = set(conn.execute(ROLE_SETTINGS, {"login": login}).fetchone()[0] or ())
        for parameter, value in limits.settings().items():
            if f"{parameter}={value}" in already:
                continue  # nothing to ask of a release user without CREATEROLE
            statement = sql.SQL("ALTER ROLE {} SET {} = {}").format(
                sql.Identifier(login), sql.Identifier(parameter), sql.Literal(value)
            )
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                    conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                out.why.append(f"this user may not set {parameter} on the analyst login {login}")
                out.dba.append(statement.as_string(conn) + ";")
                continue
        done.append(login)
    return done


def upgrade(conn, sql_dir: Path, roles: Roles, limits: AnalystLimits, database_settings: dict, vendors) -> Outcome:
    """`callrecon db upgrade`: roles, ownership, migrations as the owner, the views the vendors' ledgers derive,
    database settings, grants (the shared ones and the vendors'), limits."""
    rights = access(vendors)
    out = Outcome()
    if not create_roles(conn, roles, out):
        out.ran = migrations.upgrade(conn, sql_dir)
        views.create(conn, vendors.ledgers.values())
        migrations.apply_database_settings(conn, database_settings)
        out.dba.append("-- then run `callrecon db upgrade` again: it grants each role its tables")
        return out
    adopt(conn, roles, out)
    allow_database_settings(conn, roles, database_settings, out)
    with as_owner(conn, roles):
        out.ran = migrations.upgrade(conn, sql_dir)
        views.create(conn, vendors.ledgers.values())
        grant(conn, roles, out, rights)
    # The session user: superuser or the database owner's member may ALTER DATABASE ... SET.
    try:
        migrations.apply_database_settings(conn, database_settings)
    except psycopg.errors.InsufficientPrivilege as exc:
        # The views fall back to their defaults meanwhile; the DBA's GRANT SET lines let the next upgrade write them.
        out.why.append(f"the callrecon.* database settings were not written ({str(exc).strip().splitlines()[0]})")
        out.dba.append("-- or run `callrecon db upgrade` once as a superuser")
    limit_analysts(conn, roles, limits, out)
    return out


def dba_script(out: Outcome) -> str:
    """What a DBA runs for the roles to work, with why, for the operator to pass on."""
    return "\n".join(
        [
            "callrecon db upgrade: the least-privilege roles are not complete (" + "; ".join(out.why) + ").",
            "Ask a DBA (a superuser, or a user with CREATEROLE) to run, on this database:",
            *(f"    {line}" for line in out.dba),
        ]
    )
