"""The receiving side: where vendors push (urls) and the raw inbox (replay, land, prune)."""

from __future__ import annotations

import json
import sys

import click

from receiver.landing import lander
from receiver.landing.replay import replay as replay_raw
from reconciler.cli.base import Command, connect, option, vendors_in_use, with_settings

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
