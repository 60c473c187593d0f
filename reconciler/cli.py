"""The `callrecon` command line: database, replay and operator helpers."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

import psycopg

from receiver import migrations
from receiver.replay import replay
from receiver.settings import ConfigError, Settings
from receiver.sources import LANDERS

from receiver import huawei as huawei_landing
from receiver import leadsquared as lsq_landing
from receiver.settings import LSQ_KINDS

from . import status as status_report
from .clock import SystemClock
from .provision import ProvisionError, ensure_database
from .ozonetel import OzonetelSource, windows
from .runner import reconcile
from .sources import SOURCES


BACKFILL_KNOWN = """
SELECT count(*) FROM ozonetel_request
WHERE campaign_name = %(campaign)s AND window_from >= %(start)s AND window_to <= %(end)s
"""


def _connect(settings):
    """An autocommit connection; each unit of work opens its own transaction block."""
    try:
        return psycopg.connect(settings.database_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot connect to DATABASE_URL ({str(exc).strip().splitlines()[0]}); "
                          "run `callrecon db ensure`, or check the URL and that PostgreSQL runs") from None


def cmd_db_ensure(args, settings):
    """Start the local server if needed and create the database if missing."""
    print(ensure_database(settings.database_url, log=lambda m: print(m, file=sys.stderr)))


def cmd_db_upgrade(args, settings):
    """Apply pending migrations."""
    with _connect(settings) as conn:
        ran = migrations.upgrade(conn, settings.sql_dir)
        migrations.apply_database_settings(conn, settings.database_settings())
    for m in ran:
        print(f"applied {m.name}")
    print(f"{len(ran)} migration(s) applied; schema is up to date")


def cmd_db_status(args, settings):
    """List applied and pending migrations; exit 1 when some are pending."""
    with _connect(settings) as conn:
        rows = migrations.status(conn, settings.sql_dir)
    for m, state in rows:
        print(f"{m.name:45} {state}")
    pending = sum(1 for _, state in rows if state == "pending")
    print(f"{len(rows) - pending} applied, {pending} pending")
    return 1 if pending else 0


def cmd_replay(args, settings):
    """Re-parse quarantined (or all) raw callbacks after a parser fix."""
    with _connect(settings) as conn:
        report = replay(conn, settings, include_all=args.all, source=args.source,
                        ids=args.id or None, limit=args.limit)
    summary = {"replayed": report.total, "by_status": dict(report.by_status)}
    if report.skipped_sources:
        summary["skipped_unknown_sources"] = dict(report.skipped_sources)
    print(json.dumps(summary))


def cmd_urls(args, settings):
    """Print the callback URL to paste into each vendor's console."""
    base = args.base.rstrip("/")
    shown = 0
    for source in sorted(LANDERS):
        tokens = settings.callback_tokens(source)
        if tokens:
            print(f"{source}: {base}/callbacks/{source}/{tokens[0]}")
            shown += 1
        else:
            print(f"{source}: not configured (set {source.upper()}_CALLBACK_TOKENS)", file=sys.stderr)
    return 0 if shown else 1


def cmd_track_leadsquared(args, settings):
    """Register LeadSquared RequestIds to poll until final (args, or one per line on stdin)."""
    ids = _ids_from(args.ids)
    with _connect(settings) as conn, conn.transaction():
        new = lsq_landing.register(conn, ids, args.kind, args.by)
    print(f"registered {new} new, {len(ids) - new} already tracked ({args.kind})")


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


def cmd_track_huawei(args, settings):
    """Queue Huawei calls for a detail fetch (callIds as args, or one per line on stdin)."""
    ids = _ids_from(args.ids)
    if not 1 <= args.vdn <= 9999:
        raise ConfigError(f"--vdn {args.vdn} is outside Huawei's 1..9999")
    with _connect(settings) as conn, conn.transaction():
        new = huawei_landing.register(conn, args.vdn, ids, settings, SystemClock().now())
    print(f"registered {new} new, {len(ids) - new} already known (vdn {args.vdn})")


def cmd_backfill_ozonetel(args, settings):
    """Ask Ozonetel to push a past date range again, window by window, within the rate limit."""
    source = OzonetelSource(settings)
    zone = settings.ozonetel_timezone
    start = dt.datetime.combine(args.since, dt.time(), zone).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(args.until, dt.time(), zone).astimezone(dt.timezone.utc)
    if end <= start:
        raise ConfigError("--until must be after --since (both are dates in OZONETEL_TIMEZONE; --until is exclusive)")
    planned = list(windows(start, end, source.window))
    limit = settings.ozonetel_api.rate_limit
    with _connect(settings) as conn:
        known = conn.execute(BACKFILL_KNOWN, {"campaign": args.campaign, "start": start, "end": end}).fetchone()[0]
    todo = len(planned) - known
    seconds = max(todo - 1, 0) // limit.calls * limit.period
    print(f"{args.campaign}: {len(planned)} windows of {source.window} from {args.since} to {args.until} "
          f"({zone.key}); {known} already in the ledger; {todo} requests to send, about "
          f"{seconds / 60:.1f} min at {limit}")
    if args.dry_run:
        return 0
    problems = source.problems()
    if problems:
        raise ConfigError("; ".join(problems))
    with _connect(settings) as conn, conn.transaction():
        source.add_windows(conn, args.campaign, start, end, SystemClock().now(), "backfill")
    return reconcile(settings, source="ozonetel", loop=False, interval=0, limit=None,
                     concurrency=settings.reconcile_concurrency)


def cmd_reconcile(args, settings):
    """Poll vendors for what pushes missed, within each vendor's shared rate budget."""
    return reconcile(settings, source=args.source, loop=args.loop, interval=args.interval,
                     limit=args.limit, concurrency=args.concurrency or settings.reconcile_concurrency,
                     since=args.since)


def cmd_status(args, settings):
    """Per source: pending, due now, final by status, failing, expired, oldest pending, last run."""
    with _connect(settings) as conn:
        report = status_report.collect(conn, settings)
    print(json.dumps(report, default=str, indent=2) if args.json else status_report.render(report))


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

    rp = commands.add_parser("replay", help="re-parse quarantined raw callbacks",
                             description=cmd_replay.__doc__ + " Prints a JSON summary.")
    rp.add_argument("--all", action="store_true", help="re-parse every raw row, not only quarantined ones")
    rp.add_argument("--source", choices=sorted(LANDERS), help="only this vendor's callbacks")
    rp.add_argument("--id", type=int, action="append", help="only this raw_inbox id (repeatable)")
    rp.add_argument("--limit", type=int, help="stop after this many rows")
    rp.set_defaults(func=cmd_replay)

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
