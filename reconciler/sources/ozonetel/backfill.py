"""`callrecon backfill ozonetel`: plan the ledger windows of a past range, say what it costs, add them."""

from __future__ import annotations

import dataclasses
import datetime as dt

from receiver.config import ConfigError
from receiver.vendors.ozonetel.settings import NAME, section
from reconciler.core.clock import SystemClock
from reconciler.sources.ozonetel.dial_status import OzonetelSource, windows

BACKFILL_KNOWN = """
SELECT count(*) FROM ozonetel_request
WHERE campaign_name = %(campaign)s AND window_from >= %(start)s AND window_to <= %(end)s
"""


def with_campaign(settings, campaign: str):
    """The settings with `campaign` among OZONETEL_CAMPAIGNS: --campaign names it, so it need not be configured."""
    config = section(settings)
    campaigns = tuple(dict.fromkeys([*config.campaigns, campaign]))
    sections = {**settings.vendors, NAME: dataclasses.replace(config, campaigns=campaigns)}
    return dataclasses.replace(settings, vendors=sections)


def add_ozonetel_windows(conn, settings, campaign: str, since: dt.date, until: dt.date, dry_run: bool) -> bool:
    """Print the plan; unless dry_run, add its windows to the ledger (True) for the reconciler to send."""
    source = OzonetelSource(settings)
    zone = section(settings).timezone
    start = dt.datetime.combine(since, dt.time(), zone).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(until, dt.time(), zone).astimezone(dt.timezone.utc)
    if end <= start:
        raise ConfigError("--until must be after --since (both are dates in OZONETEL_TIMEZONE; --until is exclusive)")
    planned = list(windows(start, end, source.window))
    limit = section(settings).rate_limit
    known = conn.execute(BACKFILL_KNOWN, {"campaign": campaign, "start": start, "end": end}).fetchone()[0]
    todo = len(planned) - known
    seconds = max(todo - 1, 0) // limit.calls * limit.period
    print(
        f"{campaign}: {len(planned)} windows of {source.window} from {since} to {until} "
        f"({zone.key}); {known} already in the ledger; {todo} requests to send, about "
        f"{seconds / 60:.1f} min at {limit}"
    )
    if dry_run:
        return False
    problems = source.problems()
    if problems:
        raise ConfigError("; ".join(problems))
    with conn.transaction():
        source.add_windows(conn, campaign, start, end, SystemClock().now(), "backfill")
    return True
