"""`callrecon track huawei`: queue Huawei calls for a detail fetch."""

from __future__ import annotations

import click

from receiver.config import ConfigError
from receiver.vendors.huawei import records as landing
from receiver.vendors.huawei.settings import NAME
from reconciler.cli.base import Command, argument, connect, ids_from, option, with_settings
from reconciler.core.clock import SystemClock


@click.command(NAME, cls=Command, short_help="Huawei callIds to fetch details for")
@option("--vdn", type=int, required=True, help="the calls' vdnId (1..9999)")
@argument("ids", nargs=-1, metavar="CALLID", help="callIds; none or '-' reads one per line from stdin")
@with_settings
def track(settings, vdn, ids):
    """Queue Huawei calls for a detail fetch (callIds as args, or one per line on stdin). Registering a call
    twice is harmless."""
    ids = ids_from(ids)
    if not 1 <= vdn <= 9999:
        raise ConfigError(f"--vdn {vdn} is outside Huawei's 1..9999")
    with connect(settings) as conn, conn.transaction():
        new = landing.register(conn, vdn, ids, settings, SystemClock().now())
    print(f"registered {new} new, {len(ids) - new} already known (vdn {vdn})")
