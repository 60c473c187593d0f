"""The reconciler's work: register it (track, backfill), run it (reconcile), report it (status)."""

from __future__ import annotations

import json
import os
import sys

import click

from receiver.config.settings import LSQ_KINDS, ConfigError
from receiver.vendors.huawei import records as huawei_landing
from receiver.vendors.leadsquared import status as lsq_landing
from reconciler import status as status_report
from reconciler.cli.base import Command, Group, IsoDate, argument, connect, option, with_settings
from reconciler.core.clock import SystemClock
from reconciler.runner import reconcile as run_sources
from reconciler.sources import SOURCES
from reconciler.sources.leadsquared import polling as lsq_source
from reconciler.sources.ozonetel import backfill as backfills
from reconciler.sources.ozonetel import dial_status as ozonetel_source


@click.group("track", cls=Group, metavar="SOURCE", short_help="register vendor requests for the reconciler to follow")
def track():
    """Register vendor request ids to follow until final."""


@track.command(lsq_source.SOURCE, short_help="LeadSquared async RequestIds")
@option("--kind", required=True, type=click.Choice(LSQ_KINDS), help="which async API the ids came from")
@option(
    "--by", default=lambda: f"cli:{os.environ.get('USER', 'unknown')}", help="who registers them (default %(default)s)"
)
@argument("ids", nargs=-1, metavar="ID", help="RequestIds; none or '-' reads one per line from stdin")
@with_settings
def track_leadsquared(settings, kind, by, ids):
    """Register LeadSquared RequestIds to poll until final (args, or one per line on stdin). Registering an
    id twice is harmless."""
    ids = _ids_from(ids)
    with connect(settings) as conn, conn.transaction():
        new = lsq_landing.register(conn, ids, kind, by)
    print(f"registered {new} new, {len(ids) - new} already tracked ({kind})")


@track.command(huawei_landing.SOURCE, short_help="Huawei callIds to fetch details for")
@option("--vdn", type=int, required=True, help="the calls' vdnId (1..9999)")
@argument("ids", nargs=-1, metavar="CALLID", help="callIds; none or '-' reads one per line from stdin")
@with_settings
def track_huawei(settings, vdn, ids):
    """Queue Huawei calls for a detail fetch (callIds as args, or one per line on stdin). Registering a call
    twice is harmless."""
    ids = _ids_from(ids)
    if not 1 <= vdn <= 9999:
        raise ConfigError(f"--vdn {vdn} is outside Huawei's 1..9999")
    with connect(settings) as conn, conn.transaction():
        new = huawei_landing.register(conn, vdn, ids, settings, SystemClock().now())
    print(f"registered {new} new, {len(ids) - new} already known (vdn {vdn})")


def _ids_from(args_ids) -> list[str]:
    """Ids from the arguments, or one per line on stdin when none (or '-') are given."""
    ids = list(args_ids)
    if not ids or ids == ["-"]:
        ids = sys.stdin.read().splitlines()
    ids = [i.strip() for i in ids if i.strip()]
    bad = [i for i in ids if len(i) > 200]
    if bad:
        raise ConfigError(f"{len(bad)} id(s) longer than 200 characters; is the input one id per line?")
    if not ids:
        raise ConfigError("no ids given: pass them as arguments or one per line on stdin")
    return ids


@click.group("backfill", cls=Group, metavar="SOURCE", short_help="ask a vendor to push a past date range again")
def backfill():
    """Ask a vendor to push a past date range again."""


@backfill.command(ozonetel_source.SOURCE, short_help="Ozonetel Campaign Dial Status, window by window")
@option("--campaign", required=True, help="Ozonetel campaign name")
@option("--since", required=True, type=IsoDate(), metavar="YYYY-MM-DD", help="first day (in OZONETEL_TIMEZONE)")
@option("--until", required=True, type=IsoDate(), metavar="YYYY-MM-DD", help="day after the last one (exclusive)")
@option("--dry-run", is_flag=True, help="only print how many requests and how long")
@with_settings
def backfill_ozonetel(settings, campaign, since, until, dry_run):
    """Ask Ozonetel to push a past date range again, window by window, within the rate limit. Windows
    already in the ledger are left alone; the rest are sent under OZONETEL_RATE_LIMIT."""
    settings = backfills.with_campaign(settings, campaign)
    with connect(settings) as conn:
        added = backfills.add_ozonetel_windows(conn, settings, campaign, since, until, dry_run)
    if not added:
        return 0
    return run_sources(
        settings,
        source=ozonetel_source.SOURCE,
        loop=False,
        interval=0,
        limit=None,
        concurrency=settings.reconcile_concurrency,
    )


@click.command("reconcile", cls=Command, short_help="poll vendors for what pushes missed")
@option("--source", default="all", type=click.Choice([*SOURCES, "all"]), help="default %(default)s")
@option("--once", is_flag=True, not_with=("--loop",), help="one pass over due work, then exit (default)")
@option("--loop", is_flag=True, not_with=("--once",), help="run again every --interval seconds until SIGTERM")
@option("--interval", type=float, default=60.0, help="seconds between passes with --loop")
@option("--limit", type=int, help="stop a pass after this many items")
@option("--concurrency", type=int, help="items in flight per process (RECONCILE_CONCURRENCY)")
@option(
    "--since",
    type=IsoDate(),
    metavar="YYYY-MM-DD",
    help="Huawei discovery: query days from this date again, even those already covered",
)
@with_settings
def reconcile(settings, source, once, loop, interval, limit, concurrency, since):
    """Poll vendors for what pushes missed, within each vendor's shared rate budget. Prints one JSON summary
    per source run; exit 0 ok, 1 a run failed, 2 misconfigured."""
    given = click.get_current_context().get_parameter_source("interval")
    if given is click.core.ParameterSource.COMMANDLINE and not loop:
        raise click.UsageError("--interval applies only with --loop (one pass runs once); add --loop or drop it")
    return run_sources(
        settings,
        source=source,
        loop=loop,
        interval=interval,
        limit=limit,
        concurrency=concurrency or settings.reconcile_concurrency,
        since=since,
    )


@click.command("status", cls=Command, short_help="what the reconciler has pending, done and failed")
@option("--json", "as_json", is_flag=True, help="machine-readable output")
@with_settings
def status(settings, as_json):
    """Per source: pending, due now, final by status, failing, expired, oldest pending, last run."""
    with connect(settings) as conn:
        report = status_report.collect(conn, settings)
    print(json.dumps(report, default=str, indent=2) if as_json else status_report.render(report))
