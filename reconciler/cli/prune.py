"""`callrecon prune`: drop or delete old raw callbacks and old typed calls, after saying what goes.

The planning, the drops and the batched deletes are receiver/landing/retention.py's and
typed_retention.py's; this module parses the ages, says what it will remove, asks, and reports.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys

import click
import psycopg

from receiver.config import ConfigError
from receiver.config.values import parse_duration
from receiver.landing.retention import Week, prune_partitions
from receiver.landing.typed_retention import prune_typed
from reconciler.cli.base import Command, connect, option, with_settings
from reconciler.core.clock import SystemClock

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
    kinds = "landed, note" + (" and quarantined" if include_quarantined else "")
    return _prune_part(
        lambda dry: prune_partitions(conn, before, include_quarantined, dry_run=dry),
        f"raw callbacks ({kinds}) received before {before:%Y-%m-%d %H:%M:%S %Z}",
        functools.partial(Week.describe, unit="week", rows="raw callbacks"),
        "raw_inbox",
        dry_run,
        yes,
    )


def _prune_typed(conn, before, dry_run, yes) -> int:
    """The typed calls' part of prune (TYPED_RETENTION, --typed-older-than); non-zero when it stopped."""
    return _prune_part(
        lambda dry: prune_typed(conn, before, dry_run=dry),
        f"typed calls first seen before {before:%Y-%m-%d %H:%M:%S %Z}",
        functools.partial(Week.describe, unit="month", rows="calls"),
        "a typed call table",
        dry_run,
        yes,
    )


def _prune_part(prune, what: str, line, table: str, dry_run, yes) -> int:
    """Plan, say, confirm, drop and report one part of prune: `prune(dry_run)` returns its report."""
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
