"""Reconciler work: the open items per source, filterable by state; retry one now, or give it up with a reason.

The actions are receiver.work's, the same functions `callrecon items retry|give-up` calls.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, request, url_for

from receiver import ledgers as items
from receiver.web.console import access, bp, caught_up, log, page, pool, reads, settings, vendors
from receiver.web.console import now as clock


@bp.get("/work")
def work():
    """One page of a source's items in a state (open, failing, gave-up), oldest first."""
    tables = vendors().ledgers
    source = request.args.get("source") or next(iter(tables))
    state = request.args.get("state") or "open"
    if source not in tables or state not in items.STATES:
        abort(400, f"source must be one of {', '.join(tables)} and state one of {', '.join(items.STATES)}")
    after = request.args.get("after")
    if after:
        try:
            dt.datetime.fromisoformat(after.partition("|")[0])
        except ValueError:
            abort(400, "the page link is damaged: go back to the first page")
    with reads().connection() as conn:
        rows = items.items(conn, tables[source], state, after=after)
    more = None
    if len(rows) == items.PAGE:
        more = {"source": source, "state": state, "after": f"{rows[-1]['about'].isoformat()}|{rows[-1]['key']}"}
    stuck = items.cannot_run(tables[source], settings())
    return page(
        "work.html",
        sources=list(tables),
        source=source,
        state=state,
        states=items.STATES,
        rows=rows,
        more=more,
        stuck=stuck,
    )


@bp.post("/work/<action>")
def act(action: str):
    """Retry an item now, or give it up with the operator's reason."""
    tables = vendors().ledgers
    form = request.form
    source, key = form.get("source", ""), form.get("key", "")
    if source not in tables or not key:
        abort(400, "say which item: a source and its key")
    by = access.operator()
    try:
        with pool().connection() as conn:
            if action == "retry":
                items.refuse_retry_if_stuck(tables[source], settings())
                done = items.retry_now(conn, tables[source], key, clock(), by)
            elif action == "give-up":
                done = items.give_up(conn, tables[source], key, form.get("reason", ""), clock(), by)
            else:
                abort(404)
    except items.WorkError as exc:
        flash(str(exc), "error")
    else:
        log.info("console work action", extra={"fields": {"operator": by, "action": action, "result": done}})
        flash(done)
        caught_up()
    return redirect(url_for("console.work", source=source, state=form.get("state") or "open"))
