"""What each `callrecon` command does; cli.py only parses the arguments."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
import time

import psycopg

from receiver.vendors import huawei as huawei_landing
from receiver.vendors import leadsquared as lsq_landing
from receiver import migrations
from receiver.landing.replay import BATCH as REPLAY_BATCH
from receiver.landing.replay import replay
from receiver.settings import ConfigError
from receiver.vendors.registry import LANDERS

from reconciler import schema_docs
from reconciler.bursts import BurstWatch
from reconciler import status as status_report
from reconciler.core.clock import SystemClock
from reconciler.sources.ozonetel import OzonetelSource, windows
from reconciler.provision import ensure_database
from reconciler.runner import reconcile

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


def cmd_db_docs(args, settings):
    """Write the schema reference (tables, views, columns, comments) as Markdown."""
    with _connect(settings) as conn:
        text = schema_docs.render(conn)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {args.output}")


def cmd_replay(args, settings):
    """Re-parse quarantined (or all) raw callbacks after a parser fix."""
    with _connect(settings) as conn:
        report = replay(conn, settings, include_all=args.all, source=args.source,
                        ids=args.id or None, limit=args.limit)
    summary = {"replayed": report.total, "by_status": dict(report.by_status)}
    if report.skipped_sources:
        summary["skipped_unknown_sources"] = dict(report.skipped_sources)
    print(json.dumps(summary))


def cmd_land(args, settings):
    """Land raw callbacks that a LANDING_MODE=deferred receiver stored and nothing has parsed yet."""
    from reconciler.runner import install_stop_signals

    log = logging.getLogger("callrecon.land")
    stop = threading.Event()
    install_stop_signals(stop)
    conn = _connect(settings)
    watch = BurstWatch(args.yield_above, args.max_lag) if args.follow and args.yield_above > 0 else None
    waiting = False
    while True:
        try:
            if watch is not None and watch.should_wait(conn):
                if not waiting:
                    log.info("callbacks arriving in a burst; landing waits until it ends",
                             extra={"fields": {"per_second": round(watch.rate), "max_lag_s": args.max_lag}})
                waiting = True
                if stop.wait(args.interval):
                    conn.close()
                    return 0
                continue
            waiting = False
            started = time.monotonic()
            # Following, a pass is one batch, so the burst watch is asked again between batches.
            report = replay(conn, settings, pending_only=True, limit=REPLAY_BATCH if args.follow else None)
        except psycopg.OperationalError as exc:
            # The database went away: keep the process, retry when it is back.
            log.warning("database unavailable; retrying", extra={"fields": {"error": type(exc).__name__}})
            conn.close()
            if stop.wait(args.interval * 10):
                return 0
            try:
                conn = psycopg.connect(settings.database_url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError:
                pass
            continue
        if report.total or not args.follow:
            print(json.dumps({"landed_callbacks": report.total, "by_status": dict(report.by_status),
                              "seconds": round(time.monotonic() - started, 3)}), flush=True)
        if not args.follow or stop.wait(0 if report.total else args.interval):
            conn.close()
            return 0


def cmd_prune(args, settings):
    """Delete raw callbacks older than an age whose records are landed (quarantined ones only if asked)."""
    from receiver.env_values import parse_duration
    from receiver.landing.retention import prune

    try:
        age = dt.timedelta(seconds=parse_duration(args.raw_older_than))
    except ValueError:
        raise ConfigError(f"--raw-older-than {args.raw_older_than!r} is not an age like 90d or 36h") from None
    before = SystemClock().now() - age
    with _connect(settings) as conn:
        count = prune(conn, before, args.include_quarantined, args.dry_run)
    kinds = "landed, note" + (" and quarantined" if args.include_quarantined else "")
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {count} raw callbacks ({kinds}) received before {before:%Y-%m-%d %H:%M:%S %Z}")


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
