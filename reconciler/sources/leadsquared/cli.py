"""`callrecon track leadsquared`: register LeadSquared RequestIds for the reconciler to poll."""

from __future__ import annotations

import os

import click

from receiver.vendors.leadsquared import status as landing
from receiver.vendors.leadsquared.settings import KINDS, NAME
from reconciler.cli.base import Command, argument, connect, ids_from, option, with_settings


@click.command(NAME, cls=Command, short_help="LeadSquared async RequestIds")
@option("--kind", required=True, type=click.Choice(KINDS), help="which async API the ids came from")
@option(
    "--by", default=lambda: f"cli:{os.environ.get('USER', 'unknown')}", help="who registers them (default %(default)s)"
)
@argument("ids", nargs=-1, metavar="ID", help="RequestIds; none or '-' reads one per line from stdin")
@with_settings
def track(settings, kind, by, ids):
    """Register LeadSquared RequestIds to poll until final (args, or one per line on stdin). Registering an
    id twice is harmless."""
    ids = ids_from(ids)
    with connect(settings) as conn, conn.transaction():
        new = landing.register(conn, ids, kind, by)
    print(f"registered {new} new, {len(ids) - new} already tracked ({kind})")
