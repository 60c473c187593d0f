"""The reconciler's work: register it (track, backfill), run it (reconcile), report it (status).

`track` and `backfill` hold the subcommands each vendor's reconciler module declares (COMMANDS);
`reconcile --source` offers the polled vendors of the registry the command line is built for.
"""

from __future__ import annotations

import json

import click

from reconciler import sources
from reconciler import status as status_report
from reconciler.cli.base import Command, Group, IsoDate, connect, option, vendors_in_use, with_settings
from reconciler.runner import reconcile as run_sources

GROUPS = {
    "track": (
        "register vendor requests for the reconciler to follow",
        "Register vendor request ids to follow until final.",
    ),
    "backfill": ("ask a vendor to push a past date range again", "Ask a vendor to push a past date range again."),
}


def vendor_group(vendors, name: str) -> Group:
    """`callrecon track <vendor>` or `callrecon backfill <vendor>`: the subcommands the polled vendors declare."""
    short_help, help_text = GROUPS[name]
    group = Group(name, metavar="SOURCE", short_help=short_help, help=help_text)
    for command in sources.commands(vendors, name):
        group.add_command(command)
    return group


def since_users(vendors) -> str:
    """The sources `--since` re-opens days for, as they name themselves."""
    return ", ".join(cls.since_help for classes in sources.load(vendors).values() for cls in classes if cls.since_help)


def reconcile(vendors) -> Command:
    """`callrecon reconcile`, its --source offering the registry's polled vendors."""

    @click.command("reconcile", cls=Command, short_help="poll vendors for what pushes missed")
    @option("--source", default="all", type=click.Choice([*vendors.polled, "all"]), help="default %(default)s")
    @option("--once", is_flag=True, not_with=("--loop",), help="one pass over due work, then exit (default)")
    @option("--loop", is_flag=True, not_with=("--once",), help="run again every --interval seconds until SIGTERM")
    @option("--interval", type=float, default=60.0, help="seconds between passes with --loop")
    @option("--limit", type=int, help="stop a pass after this many items")
    @option("--concurrency", type=int, help="items in flight per process (RECONCILE_CONCURRENCY)")
    @option(
        "--since",
        type=IsoDate(),
        metavar="YYYY-MM-DD",
        help=f"{since_users(vendors)}: query days from this date again, even those already covered",
    )
    @with_settings
    def command(settings, source, once, loop, interval, limit, concurrency, since):
        """Poll vendors for what pushes missed, within each vendor's shared rate budget. Prints one JSON summary
        per source run; exit 0 ok, 1 a run failed, 2 misconfigured."""
        given = click.get_current_context().get_parameter_source("interval")
        if given is click.core.ParameterSource.COMMANDLINE and not loop:
            raise click.UsageError("--interval applies only with --loop (one pass runs once); add --loop or drop it")
        return run_sources(
            settings,
            vendors_in_use(),
            source=source,
            loop=loop,
            interval=interval,
            limit=limit,
            concurrency=concurrency or settings.reconcile_concurrency,
            since=since,
        )

    return command


@click.command("status", cls=Command, short_help="what the reconciler has pending, done and failed")
@option("--json", "as_json", is_flag=True, help="machine-readable output")
@with_settings
def status(settings, as_json):
    """Per source: pending, due now, final by status, failing, expired, oldest pending, last run."""
    with connect(settings) as conn:
        report = status_report.collect(conn, settings, vendors_in_use())
    print(json.dumps(report, default=str, indent=2) if as_json else status_report.render(report))
