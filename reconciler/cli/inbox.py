"""The receiving side: where vendors push (urls) and the raw inbox (replay, land, prune)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from receiver.config import ConfigError
from receiver.landing import lander
from receiver.landing.replay import replay as replay_raw
from reconciler.cli.base import Command, connect, option, vendors_in_use, with_settings
from reconciler.core.clock import SystemClock

EXISTING_IDS = "SELECT id FROM raw_inbox WHERE id = ANY(%s)"


def replay(vendors) -> Command:
    """`callrecon replay`, its --source offering the registry's pushing vendors."""

    @click.command("replay", cls=Command, short_help="re-parse quarantined raw callbacks")
    @option("--all", "all_", is_flag=True, help="re-parse every raw row, not only quarantined ones")
    @option("--source", type=click.Choice(sorted(vendors.pushes)), help="only this vendor's callbacks")
    @option("--id", "ids", type=int, multiple=True, metavar="ID", help="only this raw_inbox id (repeatable)")
    @option("--limit", type=int, help="stop after this many rows")
    @with_settings
    def command(settings, all_, source, ids, limit):
        """Re-parse quarantined (or all) raw callbacks after a parser fix. Prints a JSON summary."""
        pushes = vendors_in_use().pushes
        with connect(settings) as conn:
            report = replay_raw(
                conn, settings, pushes, include_all=all_, source=source, ids=list(ids) or None, limit=limit
            )
            found = {row[0] for row in conn.execute(EXISTING_IDS, (list(ids),))} if ids else set()
        summary = {"replayed": report.total, "by_status": dict(report.by_status)}
        if report.skipped_sources:
            summary["skipped_unknown_sources"] = dict(report.skipped_sources)
        print(json.dumps(summary))
        missing = sorted(set(ids) - found)
        if missing:
            print(
                f"callrecon: no raw callback with id {', '.join(map(str, missing))} (raw_inbox.id); "
                "check the id, or whether `callrecon prune` removed it",
                file=sys.stderr,
            )
            return 1
        return 0

    return command


@click.command("land", cls=Command, short_help="land raw callbacks stored with LANDING_MODE=deferred (the default)")
@option("--follow", is_flag=True, help="keep landing new rows until SIGTERM")
@option(
    "--interval",
    type=float,
    default=lander.INTERVAL_S,
    help="seconds to wait when nothing is pending (while a burst lasts it looks every 0.05 s, or this if shorter)",
)
@option(
    "--yield-above",
    type=float,
    default=lander.YIELD_ABOVE_PER_S,
    metavar="PER_S",
    help="with --follow: while more raw callbacks than this arrive per second, wait "
    "(the receiver gets the CPU); 0 lands as they come (default 50)",
)
@option(
    "--max-lag",
    type=float,
    default=lander.MAX_LAG_S,
    metavar="S",
    help="with --follow: land anyway once the oldest waiting callback is this old (default 60)",
)
@option(
    "--parent-pid",
    type=int,
    metavar="PID",
    help="with --follow: stop once process PID is gone (the web server's own lander uses it)",
)
@with_settings
def land(settings, follow, interval, yield_above, max_lag, parent_pid):
    """Land raw callbacks that a LANDING_MODE=deferred receiver stored and nothing has parsed yet. Prints a
    JSON summary per pass that landed something; --follow keeps going until SIGTERM. The web server starts
    one itself (LANDER=with-web); run more, or your own with LANDER=separate."""
    return lander.land(
        connect(settings),
        settings,
        vendors_in_use().pushes,
        follow=follow,
        interval=interval,
        yield_above=yield_above,
        max_lag=max_lag,
        parent_pid=parent_pid,
    )


# Raw bodies younger than this are still being landed, replayed and checked: refusing a shorter age
# unless --force keeps a typo ("1h" for "1d") from deleting the day's evidence.
PRUNE_FLOOR = dt.timedelta(days=1)


@click.command("prune", cls=Command, short_help="drop or delete old raw callbacks that are landed, and old typed calls")
@option("--raw-older-than", metavar="AGE", help="raw callbacks older than this, e.g. 90d, 36h (a unit is required)")
@option(
    "--typed-older-than",
    metavar="AGE",
    help="typed call rows first seen longer ago than this, e.g. 730d (default TYPED_RETENTION; unset keeps them)",
)
@option("--include-quarantined", is_flag=True, help="also delete quarantined raw rows")
@option("--dry-run", is_flag=True, help="only count what would be deleted")
@option("--yes", is_flag=True, help="delete without asking (needed when not on a terminal)")
@option("--force", is_flag=True, help="allow an age under 1d, or a typed age under the raw one")
@with_settings
def prune(settings, raw_older_than, typed_older_than, include_quarantined, dry_run, yes, force):
    """Remove raw callbacks older than an age whose records are landed (quarantined ones only if asked), and
    typed call rows older than their own, longer age. Says what it will remove first. Whole weeks (raw) and
    months (typed) past the age are dropped at once (quarantined or unlanded callbacks kept); the week or
    month that straddles the age is deleted in batches of 1,000 short transactions that skip locked rows,
    so callbacks keep flowing."""
    raw_age = _age("--raw-older-than", raw_older_than, force)
    typed_age = _age("--typed-older-than", typed_older_than, force)
    if typed_age is None and settings.typed_retention is not None:
        typed_age = dt.timedelta(seconds=settings.typed_retention)
    if raw_age is None and typed_age is None:
        raise click.UsageError(
            "say what to prune: --raw-older-than AGE and/or --typed-older-than AGE (or TYPED_RETENTION)",
            ctx=click.get_current_context(),
        )
    if raw_age is not None and typed_age is not None and typed_age < raw_age and not force:
        raise ConfigError(
            f"the typed age ({typed_age.days}d) is under the raw age ({raw_age.days}d): typed calls are kept longer "
            "than the callbacks they come from (a replay would bring them back); pass --force if you mean it"
        )
    now = SystemClock().now()
    # As the reconciler's login (DATABASE_URL): dropping partitions is DDL, which the owner's
    # callrecon_drop_week (migration 0022) does on its behalf, for raw weeks and typed months alike.
    with connect(settings) as conn:
        if raw_age is not None:
            status = _prune_raw(conn, now - raw_age, include_quarantined, dry_run, yes)
            if status:
                return status
        if typed_age is not None:
            return _prune_typed(conn, now - typed_age, dry_run, yes)
    return 0


def _age(flag: str, text: str | None, force: bool) -> dt.timedelta | None:
    """An age given on the command line, checked: a unit, and at least PRUNE_FLOOR unless --force."""
    from receiver.config.values import parse_duration

    if text is None:
        return None
    try:
        age = dt.timedelta(seconds=parse_duration(text))
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not an age with a unit like 90d or 36h (s, m, h, d)") from None
    if age < PRUNE_FLOOR and not force:
        raise ConfigError(
            f"{flag} {text} is under 1d: rows that young may still be landing or awaiting replay; "
            "pass --force if you mean it"
        )
    return age


def _confirm(yes: bool) -> bool:
    """--yes, or a person who says yes on a terminal."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("not on a terminal: pass --yes to delete, or --dry-run to only count")
    if not click.confirm("delete them?", default=False):
        print("nothing deleted")
        return False
    return True


def _lock_error(table: str) -> ConfigError:
    return ConfigError(
        f"a long query held {table}, so nothing was dropped (callbacks were not made to wait); "
        "run callrecon prune again, or when analysts' queries are done"
    )


def _prune_raw(conn, before, include_quarantined, dry_run, yes) -> int:
    """The raw callbacks' part of prune; non-zero when it stopped."""
    from receiver.landing.retention import prune_partitions

    kinds = "landed, note" + (" and quarantined" if include_quarantined else "")
    return _prune_part(
        lambda dry: prune_partitions(conn, before, include_quarantined, dry_run=dry),
        f"raw callbacks ({kinds}) received before {before:%Y-%m-%d %H:%M:%S %Z}",
        _week_line,
        "raw_inbox",
        dry_run,
        yes,
    )


def _prune_typed(conn, before, dry_run, yes) -> int:
    """The typed calls' part of prune (TYPED_RETENTION, --typed-older-than); non-zero when it stopped."""
    from receiver.landing.typed_retention import prune_typed

    return _prune_part(
        lambda dry: prune_typed(conn, before, dry_run=dry),
        f"typed calls first seen before {before:%Y-%m-%d %H:%M:%S %Z}",
        _month_line,
        "a typed call table",
        dry_run,
        yes,
    )


def _prune_part(prune, what: str, line, table: str, dry_run, yes) -> int:
    """Plan, say, confirm, drop and report one part of prune: `prune(dry_run)` returns its report."""
    import psycopg

    report = prune(True)
    verb = "would" if dry_run else "will"
    print(f"{verb} delete {report.deleted} {what}" + (" in batches" if report.weeks else ""))
    for period in report.weeks:
        print(f"{verb} drop {line(period)}")
    if dry_run or not (report.deleted or report.weeks):
        return 0
    if not _confirm(yes):
        return 1
    try:
        done = prune(False)
    except psycopg.errors.LockNotAvailable:
        raise _lock_error(table) from None
    for period in done.weeks:
        print(f"dropped {line(period)}")
    if done.weeks:
        print(f"freed {done.bytes_freed} bytes ({done.bytes_freed / 2**20:.1f} MiB) in {done.seconds:.3f} s")
    print(f"deleted {done.deleted} {what}")
    return 0


def _month_line(month) -> str:
    """One dropped month of typed calls for people: its range, partitions, rows and size."""
    since = "the start" if month.from_at is None else f"{month.from_at:%Y-%m-%d}"
    return (
        f"month {since}..{month.to_at:%Y-%m-%d}: {', '.join(month.partitions)} "
        f"(~{month.raw_rows_estimate} calls, {month.bytes} bytes)"
    )


def _week_line(week) -> str:
    """One dropped week for people: its range, partitions, rows, size and what it keeps."""
    since = "the start" if week.from_at is None else f"{week.from_at:%Y-%m-%d}"
    kept = f"; keeps {week.kept} quarantined or unlanded raw callbacks (moved to the default partition)"
    return (
        f"week {since}..{week.to_at:%Y-%m-%d}: {', '.join(week.partitions)} "
        f"(~{week.raw_rows_estimate} raw callbacks, {week.bytes} bytes){kept if week.kept else ''}"
    )


@click.command("urls", cls=Command, short_help="print the callback URLs to give each vendor")
@option("--base", help="callrecon's public base URL (default PUBLIC_BASE_URL, else this machine on PORT)")
@with_settings
def urls(settings, base):
    """Print the callback URL to paste into each vendor's console."""
    base = (base or settings.public_base_url or "").rstrip("/")
    if not base:
        base = f"http://127.0.0.1:{settings.web.port}"
        print(
            f"callrecon: PUBLIC_BASE_URL is not set, so these URLs reach only this machine ({base}); "
            "set PUBLIC_BASE_URL=https://your.public.host (or pass --base) before pasting them into a "
            "vendor's console",
            file=sys.stderr,
        )
    shown = 0
    pushes = vendors_in_use().pushes
    for source in sorted(pushes):
        tokens = pushes[source].tokens(settings)
        if tokens:
            print(f"{source}: {base}/callbacks/{source}/{tokens[0]}")
            shown += 1
        else:
            print(f"{source}: not configured (set {source.upper()}_CALLBACK_TOKENS)", file=sys.stderr)
    return 0 if shown else 1


@click.command("config", cls=Command, short_help="print the effective configuration, secrets masked")
@with_settings
def config(settings):
    """Print every setting as VARIABLE=value, as this process reads it from the environment: tokens, keys
    and the database password masked. A bad value stops here with a message that names the variable."""
    for name, shown in settings.describe():
        print(f"{name}={shown}")
    return 0
