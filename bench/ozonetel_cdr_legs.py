"""The legs of the CDR bench's days, and the pushes that reached callrecon before the pull: one source for both.

Each leg is one call, shaped like the sample reply's first record (tests/fixtures/ozonetel/cdr__sample.json,
47 fields), with its own UCID and CallID (CallID = UCID + 1, so a match by either id is told apart).
Of every five calls, three were pushed and two never were (40 % missing): one push carries the
leg's UCID as its monitorUCID, one its CallID, and one an id the CDR does not know, written with
+91 and 20 s off the CDR's start time, so only the campaign, number and time can match it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ozonetel" / "cdr__sample.json"
CAMPAIGNS = ("Bench_Renewals", "Bench_Collections", "Bench_Upsell", "Bench_Winback")
FIRST_UCID = 7017745500000000
OPEN_SECONDS = 12 * 3600  # calls spread over 08:00-20:00


def template() -> dict:
    """The sample reply's first leg."""
    return json.loads(SAMPLE.read_text(encoding="utf-8"))["details"][0]


def start_of(n: int, per_day: int) -> dt.time:
    """Call n's start, spread evenly over the working day."""
    seconds = 8 * 3600 + (n * OPEN_SECONDS) // per_day
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)


def leg(base: dict, day_index: int, day: dt.date, n: int, per_day: int) -> dict:
    """Leg n of day `day_index` (0 = the oldest day)."""
    g = day_index * per_day + n
    start = start_of(n, per_day)
    end = (dt.datetime.combine(day, start) + dt.timedelta(seconds=74)).time()
    out = copy.copy(base)
    out.update(
        UCID=FIRST_UCID + 2 * g,
        CallID=FIRST_UCID + 2 * g + 1,
        CallDate=day.isoformat(),
        StartTime=start.strftime("%H:%M:%S"),
        EndTime=end.strftime("%H:%M:%S"),
        CampaignName=CAMPAIGNS[g % len(CAMPAIGNS)],
        CallerID=f"98{g:08d}",
        E164=f"+9198{g:08d}",
        Duration="00:01:14",
        UUI=f"bench-{g}",
    )
    return out


def push(day_index: int, day: dt.date, n: int, per_day: int) -> dict | None:
    """The push that reached callrecon for call n, or None for the 40 % that never came."""
    kind = n % 5
    if kind >= 3:
        return None
    g = day_index * per_day + n
    start = dt.datetime.combine(day, start_of(n, per_day))
    ids = {0: str(FIRST_UCID + 2 * g), 1: str(FIRST_UCID + 2 * g + 1), 2: f"7{g:09d}"}
    if kind == 2:
        start += dt.timedelta(seconds=20)
    return {
        "monitorUCID": ids[kind],
        "CampaignName": CAMPAIGNS[g % len(CAMPAIGNS)],
        "CallerID": f"+9198{g:08d}" if kind == 2 else f"98{g:08d}",
        "StartTime": start.strftime("%Y-%m-%d %H:%M:%S"),
        "EndTime": (start + dt.timedelta(seconds=74)).strftime("%Y-%m-%d %H:%M:%S"),
        "Status": "Answered",
        "DialStatus": "answered",
        "Duration": "00:01:14",
    }
