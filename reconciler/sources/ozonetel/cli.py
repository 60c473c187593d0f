"""`callrecon backfill ozonetel`: ask Ozonetel to push a past date range again, window by window."""

from __future__ import annotations

import click

from receiver.vendors.ozonetel.settings import NAME
from reconciler.cli.base import Command, IsoDate, connect, option, vendors_in_use, with_settings
from reconciler.runner import reconcile
from reconciler.sources.ozonetel import backfill as backfills


@click.command(NAME, cls=Command, short_help="Ozonetel Campaign Dial Status, window by window")
@option("--campaign", required=True, help="Ozonetel campaign name")
@option("--since", required=True, type=IsoDate(), metavar="YYYY-MM-DD", help="first day (in OZONETEL_TIMEZONE)")
@option("--until", required=True, type=IsoDate(), metavar="YYYY-MM-DD", help="day after the last one (exclusive)")
@option("--dry-run", is_flag=True, help="only print how many requests and how long")
@with_settings
def backfill(settings, campaign, since, until, dry_run):
    """Ask Ozonetel to push a past date range again, window by window, within the rate limit. Windows
    already in the ledger are left alone; the rest are sent under OZONETEL_RATE_LIMIT."""
    settings = backfills.with_campaign(settings, campaign)
    with connect(settings) as conn:
        added = backfills.add_ozonetel_windows(conn, settings, campaign, since, until, dry_run)
    if not added:
        return 0
    return reconcile(
        settings,
        vendors_in_use(),
        source=NAME,
        loop=False,
        interval=0,
        limit=None,
        concurrency=settings.reconcile_concurrency,
    )
