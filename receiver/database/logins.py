"""Login roles in callrecon's group roles: one per analyst, the local set-up's three, and who holds what.

The group roles (receiver/database/roles.py) cannot log in; people and processes log in as members. Only
what a login needs is here: the connection string printed never carries a password, because it
goes to a terminal and from there into chat and tickets.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlencode

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from receiver.database.grants import SERVICES
from receiver.database.roles import KINDS, AnalystLimits, Outcome, Roles, limit_analysts

# The processes of the local set-up (`make run`) and the group role each one's login is in.
LOCAL_LOGINS = {"release": "owner", "web": "web", "reconciler": "reconciler"}

MEMBERS = """
SELECT g.rolname, r.rolname, r.rolcanlogin FROM pg_auth_members m
JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
WHERE g.rolname = ANY(%(names)s) ORDER BY 1, 2
"""


def url_for(database_url: str, user: str, password: str = "") -> str:
    """database_url with another user, and no password unless one is given (an analyst's is the DBA's to give)."""
    params = conninfo_to_dict(database_url)
    params.pop("password", None)
    params["user"] = user
    host, port, dbname = params.get("host", "localhost"), params.get("port", "5432"), params.get("dbname", "")
    rest = {k: v for k, v in params.items() if k not in {"host", "port", "dbname", "user"}}
    who = f"{user}:{quote(password, safe='')}" if password else user
    url = f"postgresql://{who}@{host}:{port}/{dbname}"
    return url + ("?" + urlencode(rest) if rest else "")


def ensure_login(conn, name: str, group: str) -> bool:
    """Create the login role `name` in `group`, or add an existing one to it; True when created."""
    created = not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if created:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(sql.Identifier(name), sql.Identifier(group)))
    else:
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
    return created


def grant_analyst(conn, roles: Roles, limits: AnalystLimits, name: str) -> tuple[bool, list[str]]:
    """One analyst's login in the analyst role, with the analyst limits; (created, what a DBA must still run)."""
    created = ensure_login(conn, name, roles.analyst)
    out = Outcome()
    limit_analysts(conn, roles, limits, out, logins=[name])
    return created, out.dba


def local_logins(conn, roles: Roles) -> dict[str, tuple[str, str]]:
    """`make run`'s logins, <prefix>_<process>_local, each with a fresh password: {process: (login, password)}.

    A new password on every run, kept only in the mode-600 file make run sources, works whether the
    local server trusts loopback or asks for scram passwords.
    """
    logins = {}
    for process, kind in LOCAL_LOGINS.items():
        login, password = f"{roles.prefix}_{process}_local", secrets.token_urlsafe(18)
        ensure_login(conn, login, roles.name(kind))
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(login), sql.Literal(password)))
        logins[process] = (login, password)
    return logins


def holders(conn, roles: Roles, rights: dict) -> list[str]:
    """Lines for `callrecon db roles`: each group role, its members, and what it may do, relation by relation."""
    names = roles.names()
    members: dict[str, list[str]] = {name: [] for name in names}
    for group, member, can_login in conn.execute(MEMBERS, {"names": names}).fetchall():
        members[group].append(member + ("" if can_login else " (group)"))
    existing = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (names,))}
    lines = []
    for kind in KINDS:
        name = roles.name(kind)
        if name not in existing:
            lines.append(f"{name}: missing (run `callrecon db upgrade`)")
            continue
        lines.append(f"{name}: members {', '.join(members[name]) or '(none)'}")
        if kind == "owner":
            lines.append("  owns the database, its tables and views; runs migrations")
            continue
        column = SERVICES.index(kind)
        rows = conn.execute(
            """SELECT c.relname,
                      concat_ws(' ', CASE WHEN has_table_privilege(%(role)s, c.oid, 'SELECT') THEN 'select' END,
                                CASE WHEN has_table_privilege(%(role)s, c.oid, 'INSERT') THEN 'insert' END,
                                CASE WHEN has_table_privilege(%(role)s, c.oid, 'UPDATE') THEN 'update' END,
                                CASE WHEN has_table_privilege(%(role)s, c.oid, 'DELETE') THEN 'delete' END)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relname = ANY(%(relations)s) ORDER BY 1""",
            {"role": name, "relations": [rel for rel, access in rights.items() if access[column]]},
        ).fetchall()
        granted = [f"{relation} ({privileges})" for relation, privileges in rows if privileges]
        lines.append("  " + (", ".join(granted) or "nothing granted yet (run `callrecon db upgrade`)"))
    return lines
