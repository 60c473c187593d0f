"""The analyst views derived from the ledgers the vendors declare: reconcile_item and reconcile_gave_up.

A ledger's states are declared once (receiver.ledgers.Ledger); these views are written from those
declarations by `callrecon db upgrade`, after the migrations and before the grants, so a vendor
added to the registry shows in them without a migration that lists it. They are replaced whole on
every upgrade. A migration that alters a ledger column these views read drops them first
(`DROP VIEW IF EXISTS reconcile_item, reconcile_gave_up;`); the upgrade writes them again.
"""

from __future__ import annotations

from psycopg import sql

ITEM_COLUMNS = (
    ("source", "Reconciler source (callrecon reconcile --source, the ledger's name)."),
    ("key", "The item's key: its key columns joined by ':' (what callrecon items and /ops/work take)."),
    ("kind", "What the item is, as its ledger says (e.g. a window, a call detail, a request with its status)."),
    ("item", "The item as analysts name it, as its ledger says (e.g. a campaign and window, a call id)."),
    ("label", "The item for people, as the console's work page shows it."),
    ("state", "open (worked on), failing (open, its last call failed) or gave-up (no more calls)."),
    ("tries", "Calls counted against the item's tries (each source's *_MAX_TRIES)."),
    ("last_error", "The last failure and, for an item that gave up, why it gave up."),
    ("next_at", "When the reconciler takes the item next (UTC); meaningless once it gave up."),
    ("about_time", "When the item is about (UTC): window start, call first seen, day start, request registered."),
)
GAVE_UP_COLUMNS = (
    ("source", "Reconciler source (the ledger's name)."),
    ("kind", "What the item is, as its ledger says (e.g. a window, a call detail, a request with its status)."),
    ("item", "The item as analysts name it, as its ledger says (e.g. a campaign and window, a call id)."),
    ("about_time", "When the item is about (UTC): window start, call first seen, day start, request registered."),
    ("tries", "Calls made for it."),
    ("reason", "The last error and why it gave up."),
)
ITEM_COMMENT = (
    "Every reconciler item that is not done, from each source's ledger: open, failing or gave-up, with its "
    "tries, last error and next try. Written by callrecon db upgrade from the ledgers the vendors declare."
)
GAVE_UP_COMMENT = (
    "Reconciler items that gave up: past their tries or their vendor's horizon, or given up by an operator. "
    "They spend no more of a vendor's budget; the reason says what happened. Written by callrecon db upgrade "
    "from the ledgers the vendors declare."
)
NONE = (
    "SELECT NULL::text AS source, NULL::text AS key, NULL::text AS kind, NULL::text AS item, NULL::text AS label, "
    "NULL::text AS state, NULL::integer AS tries, NULL::text AS last_error, NULL::timestamptz AS next_at, "
    "NULL::timestamptz AS about_time WHERE false"
)


def union(ledgers, only) -> str:
    """Each ledger's rows for which `only(ledger)` holds, as one UNION ALL with reconcile_item's columns."""
    return "\nUNION ALL\n".join(ledger.view_rows(only(ledger)) for ledger in ledgers) or NONE


def _comment(conn, view: str, text: str, columns) -> None:
    conn.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(sql.Identifier(view), sql.Literal(text)))
    for column, about in columns:
        conn.execute(
            sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                sql.Identifier(view), sql.Identifier(column), sql.Literal(about)
            )
        )


def create(conn, ledgers) -> None:
    """Write both views from `ledgers` (receiver.ledgers.Ledger), replacing what was there, in one transaction."""
    ledgers = list(ledgers)
    items = union(ledgers, lambda ledger: f"({ledger.open}) OR ({ledger.gave_up})")
    gave_up = union(ledgers, lambda ledger: ledger.gave_up)
    with conn.transaction():
        conn.execute("DROP VIEW IF EXISTS reconcile_item, reconcile_gave_up")
        conn.execute(f"CREATE VIEW reconcile_item AS\n{items}")
        conn.execute(
            "CREATE VIEW reconcile_gave_up AS\n"
            f"SELECT source, kind, item, about_time, tries, last_error AS reason FROM (\n{gave_up}\n) g"
        )
        _comment(conn, "reconcile_item", ITEM_COMMENT, ITEM_COLUMNS)
        _comment(conn, "reconcile_gave_up", GAVE_UP_COMMENT, GAVE_UP_COLUMNS)
