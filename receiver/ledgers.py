"""A reconciler ledger, declared once, and everything that reads it: work items, their states and actions.

Each polled source keeps its work in one ledger table (Ozonetel windows, Huawei call details and
discovery days, LeadSquared RequestIds). Its vendor's registry entry declares it once as a `Ledger`:
the table and its key, the columns for tries, last error and next try, and what "open", "claimable"
and "gave up" mean there, as SQL conditions. From that one declaration come the source's claim
statement, its `callrecon status` counts, `callrecon items` and the /ops work pages (list, retry
now, give up), the /metrics gauges, and the analyst views reconcile_item and reconcile_gave_up
(written by `callrecon db upgrade`, receiver/database/views.py). The states are never written again.

It lives on the receiver side, beside the registry, because two front ends act on it: `callrecon
items` (reconciler/cli) and the /ops console (receiver/web), and the receiver never imports the
reconciler. Neither front end holds an action of its own, so the console does exactly what the
command does.

Retry now makes an open item due at once; on an item that gave up it reopens it for one more try
(its try count is kept, so one more failure gives up again, with a fresh reason). Give up marks an
open item the way the failure policy does after its last try, with the operator's reason, so it
shows in reconcile_gave_up and spends no more of the vendor's budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql
from psycopg.rows import dict_row

STATES = ("open", "failing", "gave-up")
PAGE = 100


class WorkError(ValueError):
    """An action the operator asked for cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Ledger:
    """One source's ledger: which table, how an item is named, and the SQL that each state means."""

    source: str  # reconcile_run.source / `--source` name
    budget: str  # the rate_budget it spends (sources of one vendor share one)
    table: str
    keys: tuple[str, ...]  # primary-key columns; an item's key is their values joined by ':'
    kind: str  # SQL: what kind of item it is (reconcile_item.kind)
    item: str  # SQL: the item as analysts name it (reconcile_item.item)
    label: str  # SQL: what the item is about, for people on the work pages
    about: str  # SQL: the time the item concerns (window start, call first seen, ...)
    open: str  # SQL condition: the reconciler still works on it
    gave_up: str  # SQL condition: it gave up (the rows of view reconcile_gave_up)
    give_up: str  # SQL assignments that give an open item up (the operator's reason is added to its error)
    reopen: str  # SQL assignments that reopen an item that gave up (who reopened it is added to its error)
    tries: str = "tries"  # column: calls counted against the item
    error: str = "last_error"  # column: the last failure
    next_at: str = "next_at"  # column: when the item is due
    claimable: str = ""  # SQL condition: open items the reconciler may claim once due (default: open)
    final: str = ""  # SQL: a finished item's status, for `callrecon status` (default: 'done')
    expired: str = "false"  # SQL condition: it ended because the vendor can no longer answer for it
    retry_set: str = ""  # SQL assignments besides next_at that make an open item claimable now
    problems: Callable = lambda settings: []  # settings -> what keeps the source from running (variables named)

    @property
    def give_up_set(self) -> str:
        """SQL assignments that give an open item up with the operator's reason (%(reason)s)."""
        return f"{self.give_up}, {self.error} = COALESCE({self.error} || '; ', '') || %(reason)s"

    @property
    def reopen_set(self) -> str:
        """SQL assignments that reopen an item that gave up, noting who did (%(note)s)."""
        return f"{self.reopen}, {self.error} = COALESCE({self.error} || '; ', '') || %(note)s"

    @property
    def due(self) -> str:
        """SQL condition: claimable and due at %(now)s."""
        return f"({self.claimable or self.open}) AND {self.next_at} <= %(now)s"

    def condition(self, state: str) -> sql.Composable:
        """SQL for one listing state: open, failing (open with an error) or gave-up."""
        if state == "open":
            return sql.SQL(self.open)
        if state == "failing":
            return sql.SQL("({}) AND {} IS NOT NULL").format(sql.SQL(self.open), sql.Identifier(self.error))
        if state == "gave-up":
            return sql.SQL(self.gave_up)
        raise WorkError(f"unknown state {state!r}: use one of {', '.join(STATES)}")

    def state_sql(self) -> str:
        """SQL: an item's state, 'gave-up', 'failing', 'open' or 'done'."""
        return (
            f"CASE WHEN {self.gave_up} THEN 'gave-up' WHEN ({self.open}) AND {self.error} IS NOT NULL THEN 'failing' "
            f"WHEN {self.open} THEN 'open' ELSE 'done' END"
        )

    def key_sql(self) -> str:
        """SQL: an item's key, its key columns joined by ':'."""
        return " || ':' || ".join(f"{column}::text" for column in self.keys)

    def claim_query(self, columns: str, where: str = "", order: str = "") -> str:
        """The source's claim: the most overdue due item no other process holds, locked until the transaction
        ends. `columns` are what the source reads of it; `where` narrows it (stopped campaigns); `order`
        replaces the default, next try then key."""
        narrow = f" AND {where}" if where else ""
        return (
            f"SELECT {columns} FROM {self.table}\nWHERE {self.due}{narrow}\n"
            f"ORDER BY {order or ', '.join((self.next_at, *self.keys))}\nLIMIT 1\nFOR UPDATE SKIP LOCKED"
        )

    def status_query(self) -> str:
        """The counts `callrecon status` shows for the source, at %(now)s."""
        final = self.final or "'done'"
        return f"""
SELECT count(*) FILTER (WHERE {self.open}) AS pending,
       count(*) FILTER (WHERE {self.due}) AS due_now,
       count(*) FILTER (WHERE ({self.open}) AND {self.error} IS NOT NULL) AS failing,
       count(*) FILTER (WHERE {self.expired}) AS expired,
       extract(epoch FROM %(now)s - min({self.about}) FILTER (WHERE {self.open})) AS oldest_pending_s,
       COALESCE((SELECT jsonb_object_agg(s, n) FROM (SELECT {final} AS s, count(*) AS n FROM {self.table}
                 WHERE NOT ({self.open}) GROUP BY 1) f), '{{}}') AS final_by_status
FROM {self.table}
"""

    def view_rows(self, only: str) -> str:
        """One branch of an analyst view: this ledger's items for which `only` holds, as reconcile_item's columns."""
        return (
            f"SELECT {_literal(self.source)}::text AS source, {self.key_sql()} AS key, ({self.kind})::text AS kind, "
            f"({self.item})::text AS item, ({self.label})::text AS label, ({self.state_sql()})::text AS state, "
            f"{self.tries}::integer AS tries, {self.error}::text AS last_error, {self.next_at} AS next_at, "
            f"({self.about})::timestamptz AS about_time\nFROM {self.table} WHERE {only}"
        )

    def _select(self) -> sql.Composable:
        """The columns every listing shows."""
        return sql.SQL(
            "{key} AS key, {label} AS label, {about} AS about, {tries} AS tries, {error} AS error, "
            "{next_at} AS next_at, {state} AS state"
        ).format(
            key=sql.SQL(self.key_sql()),
            label=sql.SQL(self.label),
            about=sql.SQL(self.about),
            tries=sql.Identifier(self.tries),
            error=sql.Identifier(self.error),
            next_at=sql.Identifier(self.next_at),
            state=sql.SQL(self.state_sql()),
        )

    def _where_key(self, key: str) -> tuple[sql.Composable, dict]:
        """WHERE clause and parameters for one item, from its 'a:b' key."""
        parts = key.split(":", len(self.keys) - 1)
        if len(parts) != len(self.keys) or not all(parts):
            raise WorkError(f"{key!r} is not a {self.source} item key ({':'.join(self.keys)})")
        clause = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(col), sql.Placeholder(f"k{n}")) for n, col in enumerate(self.keys)
        )
        return clause, {f"k{n}": part for n, part in enumerate(parts)}


def _literal(text: str) -> str:
    """A source name as an SQL string literal (declared names: letters, digits and dashes)."""
    return "'" + text.replace("'", "''") + "'"


def status(conn, ledger: Ledger, now: dt.datetime) -> dict:
    """Counts for `callrecon status` (pending, due_now, failing, expired, oldest_pending_s, final_by_status)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(ledger.status_query(), {"now": now}).fetchone()


def counts_query(work: Ledger, cap: int | None = None) -> sql.Composable:
    """The SQL of `counts`: each figure its own read of the partial index for that state, never of the
    finished bulk; with `cap`, each count stops at `cap`."""
    limit = sql.SQL("") if cap is None else sql.SQL(" LIMIT {}").format(sql.Literal(cap))

    def count(cond: sql.Composable) -> sql.Composable:
        return sql.SQL("(SELECT count(*) FROM (SELECT 1 FROM {t} WHERE {cond}{limit}) s)").format(
            t=sql.Identifier(work.table), cond=cond, limit=limit
        )

    return sql.SQL(
        "SELECT {open} AS open, {failing} AS failing, {gave_up} AS gave_up, "
        "(SELECT {about} FROM {t} WHERE {open_cond} ORDER BY {about} LIMIT 1) AS oldest"
    ).format(
        open=count(work.condition("open")),
        failing=count(work.condition("failing")),
        gave_up=count(work.condition("gave-up")),
        about=sql.SQL(work.about),
        t=sql.Identifier(work.table),
        open_cond=work.condition("open"),
    )


def counts(conn, work: Ledger, now: dt.datetime, *, cap: int | None = None) -> dict:
    """Open, failing and gave-up items, and the oldest open one's time.

    With `cap`, a count stops at `cap` (the console shows "10000+"): counting a million open items
    exactly reads them all, which a page that answers in 300 ms cannot afford, and an operator acts
    the same on 10,000 as on a million. /metrics counts exactly (cap None).
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(counts_query(work, cap)).fetchone()
    row["oldest_s"] = None if row["oldest"] is None else (now - row["oldest"]).total_seconds()
    row["cap"] = cap
    return row


# Vendor calls the runs of one budget's sources counted in the last hour (each item a run handles is
# one call), against the budget in force (rate_budget.effective_*: the stricter of the configured and
# the learned limit). reconcile_run_source_started_idx bounds the runs read.
BUDGET_USE = """
SELECT b.effective_calls, b.effective_period_ms, b.paused_until,
       (SELECT COALESCE(sum(v.value::bigint), 0)::bigint FROM reconcile_run r, jsonb_each_text(r.counts) v
        WHERE r.source = ANY(%(sources)s) AND r.started_at > %(now)s - interval '1 hour') AS used
FROM rate_budget b WHERE b.name = %(budget)s
"""


def budget_use(conn, budget: str, tables: list[Ledger], now: dt.datetime) -> dict | None:
    """Calls spent in the last hour by the sources sharing `budget`, against its hourly limit (None: never run)."""
    sources = [t.source for t in tables if t.budget == budget]
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(BUDGET_USE, {"budget": budget, "sources": sources, "now": now}).fetchone()
    if row is None:
        return None
    per_hour = row["effective_calls"] * 3_600_000 / row["effective_period_ms"]
    return {**row, "per_hour": per_hour, "share": row["used"] / per_hour if per_hour else 0.0}


def items(conn, work: Ledger, state: str, *, after: str | None = None, limit: int = PAGE) -> list[dict]:
    """One page of items in a state, oldest first.

    Keyset on the time they are about, then the key columns in their own types (an `after` of
    "about|key" from the last row of the page before): ordered so, the first page of a million open
    items is a walk of the state's index, not a sort of all of them.
    """
    order = sql.SQL(", ").join([sql.SQL(work.about), *(sql.Identifier(c) for c in work.keys)])
    cond, params = work.condition(state), {}
    if after:
        about, _, key = after.partition("|")
        _, params = work._where_key(key)
        bound = [sql.SQL("%(about)s::timestamptz"), *(sql.Placeholder(f"k{n}") for n in range(len(work.keys)))]
        cond = sql.SQL("({}) AND ({}) > ({})").format(cond, order, sql.SQL(", ").join(bound))
        params["about"] = about
    query = sql.SQL("SELECT {cols} FROM {t} WHERE {cond} ORDER BY {order} LIMIT {n}").format(
        cols=work._select(), t=sql.Identifier(work.table), cond=cond, order=order, n=sql.Literal(limit)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _one(conn, work: Ledger, key: str) -> dict:
    """The item, locked for the action; WorkError when there is none."""
    where, params = work._where_key(key)
    query = sql.SQL("SELECT {cols} FROM {t} WHERE {where} FOR UPDATE").format(
        cols=work._select(), t=sql.Identifier(work.table), where=where
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()
    if row is None:
        raise WorkError(f"no {work.source} item {key!r}: list them with `callrecon items list {work.source}`")
    return row


def cannot_run(work: Ledger, settings) -> str:
    """Why the ledger's source cannot run with these settings ('' when it can), naming the variables."""
    return "; ".join(work.problems(settings))


def refuse_retry_if_stuck(work: Ledger, settings) -> None:
    """A retry of an item whose source cannot run would make it due for nothing: refuse it, saying why."""
    why = cannot_run(work, settings)
    if why:
        raise WorkError(
            f"retry refused: the {work.source} source cannot run ({why}); fix that and restart the reconciler, "
            "and its due items are worked at once"
        )


def retry_now(conn, work: Ledger, key: str, now: dt.datetime, by: str) -> str:
    """Make an open item due now, or reopen one that gave up; what was done, in words."""
    row = _one(conn, work, key)
    where, params = work._where_key(key)
    params |= {"now": now, "note": f"reopened by {by} at {now:%Y-%m-%d %H:%M} UTC"}
    if row["state"] in ("open", "failing"):
        conn.execute(
            sql.SQL("UPDATE {t} SET {assign}{next_at} = %(now)s WHERE {where}").format(
                t=sql.Identifier(work.table),
                assign=sql.SQL(work.retry_set + ", " if work.retry_set else ""),
                next_at=sql.Identifier(work.next_at),
                where=where,
            ),
            params,
        )
        return f"{work.source} {key}: due now (was due {row['next_at']:%Y-%m-%d %H:%M} UTC)"
    if row["state"] == "gave-up":
        conn.execute(
            sql.SQL("UPDATE {t} SET {assign}, {next_at} = %(now)s WHERE {where}").format(
                t=sql.Identifier(work.table),
                assign=sql.SQL(work.reopen_set),
                next_at=sql.Identifier(work.next_at),
                where=where,
            ),
            params,
        )
        return f"{work.source} {key}: reopened for one more try, due now"
    raise WorkError(f"{work.source} {key} is done: there is nothing to retry")


def give_up(conn, work: Ledger, key: str, reason: str, now: dt.datetime, by: str) -> str:
    """Give an open item up with the operator's reason; what was done, in words."""
    reason = " ".join(reason.split())[:300]
    if not reason:
        raise WorkError("say why you give up on the item (a reason is required; it is kept with the item)")
    row = _one(conn, work, key)
    if row["state"] not in ("open", "failing"):
        raise WorkError(f"{work.source} {key} is {row['state']}, not open: only open items can be given up")
    where, params = work._where_key(key)
    params |= {"reason": f"given up by {by} at {now:%Y-%m-%d %H:%M} UTC: {reason}", "now": now}
    conn.execute(
        sql.SQL("UPDATE {t} SET {assign} WHERE {where}").format(
            t=sql.Identifier(work.table), assign=sql.SQL(work.give_up_set), where=where
        ),
        params,
    )
    return f"{work.source} {key}: gave up ({reason})"
