"""Least privilege in PostgreSQL: four group roles (owner, web, reconciler, analyst), and the analysts' limits.

`callrecon db upgrade` keeps them (receiver/database/upgrade.py): it creates the NOLOGIN group
roles, hands the database and its objects to the owner role, applies the migrations as that role,
and then grants each relation what receiver/database/grants.py says.

A release user without CREATEROLE cannot create the roles; the upgrade then still migrates, and
says which SQL a DBA runs once (`dba_script`), instead of failing or skipping silently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from receiver.database import migrations

KINDS = ("owner", "web", "reconciler", "analyst")
LOCK_KEY = migrations.LOCK_KEY  # grants and migrations never interleave

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


def ident(*names: str):
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


def dba_script(out: Outcome) -> str:
    """What a DBA runs for the roles to work, with why, for the operator to pass on."""
    return "\n".join(
        [
            "callrecon db upgrade: the least-privilege roles are not complete (" + "; ".join(out.why) + ").",
            "Ask a DBA (a superuser, or a user with CREATEROLE) to run, on this database:",
            *(f"    {line}" for line in out.dba),
        ]
    )
