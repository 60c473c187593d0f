"""The `callrecon` command line: database, replay and operator helpers."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from receiver import migrations
from receiver.settings import LSQ_KINDS, ConfigError, Settings
from receiver.vendors.registry import LANDERS

from reconciler.commands import (
    cmd_backfill_ozonetel,
    cmd_db_docs,
    cmd_db_ensure,
    cmd_db_status,
    cmd_db_upgrade,
    cmd_land,
    cmd_prune,
    cmd_reconcile,
    cmd_replay,
    cmd_status,
    cmd_track_huawei,
    cmd_track_leadsquared,
    cmd_urls,
)
from reconciler.provision import ProvisionError
from reconciler.sources import SOURCES


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(prog="callrecon", description=(
        "callrecon: land vendor call outcomes in Postgres and reconcile what pushes missed. "
        "Configuration comes from the environment (see README)."))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db = commands.add_parser("db", help="database: ensure, upgrade, status",
                             description="Manage the database and its migrations.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("ensure", help="start local PostgreSQL if needed and create the database",
                           description=cmd_db_ensure.__doc__).set_defaults(func=cmd_db_ensure)
    db_commands.add_parser("upgrade", help="apply pending migrations from sql/",
                           description=cmd_db_upgrade.__doc__).set_defaults(func=cmd_db_upgrade)
    db_commands.add_parser("status", help="list applied and pending migrations",
                           description=cmd_db_status.__doc__).set_defaults(func=cmd_db_status)
    docs = db_commands.add_parser("docs", help="write docs/schema.md from the schema's comments",
                                  description=cmd_db_docs.__doc__)
    docs.add_argument("--output", default="docs/schema.md", help="file to write, or - (default %(default)s)")
    docs.set_defaults(func=cmd_db_docs)

    rp = commands.add_parser("replay", help="re-parse quarantined raw callbacks",
                             description=cmd_replay.__doc__ + " Prints a JSON summary.")
    rp.add_argument("--all", action="store_true", help="re-parse every raw row, not only quarantined ones")
    rp.add_argument("--source", choices=sorted(LANDERS), help="only this vendor's callbacks")
    rp.add_argument("--id", type=int, action="append", help="only this raw_inbox id (repeatable)")
    rp.add_argument("--limit", type=int, help="stop after this many rows")
    rp.set_defaults(func=cmd_replay)

    land = commands.add_parser("land", help="land raw callbacks stored with LANDING_MODE=deferred",
                               description=cmd_land.__doc__ + " Prints a JSON summary per pass that landed "
                               "something; --follow keeps going until SIGTERM (the Procfile's lander).")
    land.add_argument("--follow", action="store_true", help="keep landing new rows until SIGTERM")
    land.add_argument("--interval", type=float, default=0.2, help="seconds to wait when nothing is pending")
    land.add_argument("--yield-above", type=float, default=50, metavar="PER_S",
                      help="with --follow: while more raw callbacks than this arrive per second, wait "
                           "(the receiver gets the CPU); 0 lands as they come (default 50)")
    land.add_argument("--max-lag", type=float, default=60, metavar="S",
                      help="with --follow: land anyway once the oldest waiting callback is this old (default 60)")
    land.set_defaults(func=cmd_land)

    track = commands.add_parser("track", help="register vendor requests for the reconciler to follow",
                                description="Register vendor request ids to follow until final.")
    track_sources = track.add_subparsers(dest="track_source", metavar="SOURCE", required=True)
    lsq = track_sources.add_parser("leadsquared", help="LeadSquared async RequestIds",
                                   description=cmd_track_leadsquared.__doc__ + " Registering an id twice is harmless.")
    lsq.add_argument("--kind", required=True, choices=LSQ_KINDS, help="which async API the ids came from")
    lsq.add_argument("--by", default=f"cli:{os.environ.get('USER', 'unknown')}",
                     help="who registers them (default %(default)s)")
    lsq.add_argument("ids", nargs="*", metavar="ID", help="RequestIds; none or '-' reads one per line from stdin")
    lsq.set_defaults(func=cmd_track_leadsquared)
    hw = track_sources.add_parser("huawei", help="Huawei callIds to fetch details for",
                                  description=cmd_track_huawei.__doc__ + " Registering a call twice is harmless.")
    hw.add_argument("--vdn", type=int, required=True, help="the calls' vdnId (1..9999)")
    hw.add_argument("ids", nargs="*", metavar="CALLID", help="callIds; none or '-' reads one per line from stdin")
    hw.set_defaults(func=cmd_track_huawei)

    rec = commands.add_parser("reconcile", help="poll vendors for what pushes missed",
                              description=cmd_reconcile.__doc__ + " Prints one JSON summary per source run; "
                              "exit 0 ok, 1 a run failed, 2 misconfigured.")
    rec.add_argument("--source", default="all", choices=[*SOURCES, "all"], help="default %(default)s")
    mode = rec.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one pass over due work, then exit (default)")
    mode.add_argument("--loop", action="store_true", help="run again every --interval seconds until SIGTERM")
    rec.add_argument("--interval", type=float, default=60.0, help="seconds between passes with --loop")
    rec.add_argument("--limit", type=int, help="stop a pass after this many items")
    rec.add_argument("--concurrency", type=int, help="items in flight per process (RECONCILE_CONCURRENCY)")
    rec.add_argument("--since", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                     help="Huawei discovery: query days from this date again, even those already covered")
    rec.set_defaults(func=cmd_reconcile)

    backfill = commands.add_parser("backfill", help="ask a vendor to push a past date range again",
                                   description="Ask a vendor to push a past date range again.")
    backfill_sources = backfill.add_subparsers(dest="backfill_source", metavar="SOURCE", required=True)
    bo = backfill_sources.add_parser("ozonetel", help="Ozonetel Campaign Dial Status, window by window",
                                     description=cmd_backfill_ozonetel.__doc__ + " Windows already in the "
                                     "ledger are left alone; the rest are sent under OZONETEL_RATE_LIMIT.")
    bo.add_argument("--campaign", required=True, help="Ozonetel campaign name")
    bo.add_argument("--since", required=True, type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                    help="first day (in OZONETEL_TIMEZONE)")
    bo.add_argument("--until", required=True, type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                    help="day after the last one (exclusive)")
    bo.add_argument("--dry-run", action="store_true", help="only print how many requests and how long")
    bo.set_defaults(func=cmd_backfill_ozonetel)

    st = commands.add_parser("status", help="what the reconciler has pending, done and failed",
                             description=cmd_status.__doc__)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)

    pr = commands.add_parser("prune", help="delete old raw callbacks that are landed",
                             description=cmd_prune.__doc__ + " Works in batches of 1,000 short transactions "
                             "that skip locked rows, so callbacks keep flowing.")
    pr.add_argument("--raw-older-than", required=True, metavar="AGE", help="e.g. 90d, 36h")
    pr.add_argument("--include-quarantined", action="store_true", help="also delete quarantined raw rows")
    pr.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    pr.set_defaults(func=cmd_prune)

    urls = commands.add_parser("urls", help="print the callback URLs to give each vendor",
                               description=cmd_urls.__doc__)
    urls.add_argument("--base", default="http://127.0.0.1:8000",
                      help="callrecon's public base URL (default %(default)s)")
    urls.set_defaults(func=cmd_urls)
    return parser


def main(argv=None) -> int:
    """Entry point of the `callrecon` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        from receiver import logs
        logs.configure(settings)
        return args.func(args, settings) or 0
    except (ConfigError, ProvisionError, migrations.MigrationError) as exc:
        print(f"callrecon: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
