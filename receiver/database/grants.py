"""Who may do what with each relation: the shared grant list, each vendor's, and the GRANTs that apply them.

`callrecon db upgrade` grants every relation exactly what access() says (REVOKE, then GRANT, in one
transaction) on every upgrade, rather than relying on ALTER DEFAULT PRIVILEGES alone: a table that
a later migration adds gets its grants from the same lists, and a grant removed from them is really
taken away. tests/test_roles.py fails while a relation is in no list. Partitions are skipped: a
query through a partitioned parent is checked against the parent's grants only. The one exception
is each parent's default partition, whose rows status and /metrics count directly: whoever may read
the parent may read it.
"""

from __future__ import annotations

from psycopg import sql

from receiver.database.roles import LOCK_KEY, Outcome, Roles, ident

SERVICES = ("web", "reconciler", "analyst")  # the roles access() grants to; the owner owns everything
WORDS = {"S": "SELECT", "I": "INSERT", "U": "UPDATE", "D": "DELETE"}

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
    # written only by its SECURITY DEFINER trigger (sql/0023); /metrics (completeness), the console (reconciler
    # login) and analysts read it
    "call_rollup": ("S", "S", "S"),
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
    "callrecon_latency_compact()": ("reconciler",),  # and the call logs' latency histogram
    "callrecon_lsq_failure_compact()": ("reconciler",),  # and the LeadSquared failures per day
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
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(target, ident(*services)))
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
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC, {}").format(target, ident(*services)))
            if kinds:
                runners = ident(*(roles.name(kind) for kind in kinds))
                conn.execute(sql.SQL("GRANT EXECUTE ON {} TO {}").format(target, runners))
