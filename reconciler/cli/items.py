"""`callrecon items`: list the reconciler's work items, retry one now, or give one up with a reason.

The actions are receiver.ledgers', the same the /ops console's buttons call; they live on the
receiver side because the console (in the receiver) may not import the reconciler.
"""

from __future__ import annotations

import os
import sys

import click

from receiver import ledgers
from receiver.config import ConfigError
from reconciler.cli.base import Group, argument, connect, option, vendors_in_use, with_settings
from reconciler.core.clock import SystemClock

WHO = lambda: f"cli:{os.environ.get('USER', 'unknown')}"  # noqa: E731 (click calls it for the default)


def ledger(source: str):
    """The ledger of one reconciler source, from the registry in use."""
    return vendors_in_use().ledgers[source]


def _act(settings, action) -> None:
    """Run one action in its own transaction; a refused action exits 2 with its reason."""
    try:
        with connect(settings) as conn, conn.transaction():
            print(action(conn))
    except ledgers.WorkError as exc:
        raise ConfigError(str(exc)) from None


def items(vendors) -> Group:
    """The `items` group, its SOURCE argument offering the registry's ledgers."""
    source_type = click.Choice(list(vendors.ledgers))

    @click.group("items", cls=Group, short_help="list, retry or give up the reconciler's work items")
    def group():
        """The reconciler's work items per source: list them, retry one now, give one up with a reason."""

    @group.command("list", short_help="items of one source in one state, oldest first")
    @argument("source", type=source_type, help="reconciler source")
    @option("--state", type=click.Choice(ledgers.STATES), default="open", help="default %(default)s")
    @option("--limit", type=int, default=ledgers.PAGE, help="at most this many (default %(default)s)")
    @with_settings
    def list_items(settings, source, state, limit):
        """Print one line per item: key, state, tries, the time it is about, and its last error."""
        stuck = ledgers.cannot_run(ledger(source), settings)
        if stuck:
            print(
                f"callrecon: the {source} source cannot run ({stuck}): these items wait until that is fixed",
                file=sys.stderr,
            )
        with connect(settings) as conn:
            rows = ledgers.items(conn, ledger(source), state, limit=limit)
        for r in rows:
            about = f"{r['about']:%Y-%m-%d %H:%M}"
            print(f"{r['key']}\t{r['state']}\ttries {r['tries']}\t{about}\t{r['label']}\t{r['error'] or '-'}")
        if not rows:
            print(f"no {state} {source} items")

    @group.command("retry", short_help="make an item due now (or reopen one that gave up)")
    @argument("source", type=source_type, help="reconciler source")
    @argument("key", help="the item's key, as `callrecon items list` shows it")
    @option("--by", default=WHO, help="who asks (kept in the item's last error when reopening)")
    @with_settings
    def retry(settings, source, key, by):
        """Make an open item due at once; an item that gave up is reopened for one more try."""
        try:
            ledgers.refuse_retry_if_stuck(ledger(source), settings)
        except ledgers.WorkError as exc:
            raise ConfigError(str(exc)) from None
        _act(settings, lambda conn: ledgers.retry_now(conn, ledger(source), key, SystemClock().now(), by))

    @group.command("give-up", short_help="stop working on an open item, with a reason")
    @argument("source", type=source_type, help="reconciler source")
    @argument("key", help="the item's key, as `callrecon items list` shows it")
    @option("--reason", required=True, help="why (kept with the item, shown in reconcile_gave_up)")
    @option("--by", default=WHO, help="who gives up (kept with the reason)")
    @with_settings
    def give_up(settings, source, key, reason, by):
        """Mark an open item as given up, as the failure policy does after its last try."""
        _act(settings, lambda conn: ledgers.give_up(conn, ledger(source), key, reason, SystemClock().now(), by))

    return group
