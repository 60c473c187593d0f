"""Ozonetel CDR legs on the push's landing path: their shape, and which call each one is.

A CDR report (fetchCdrByPagination, docs/ozonetel.md "CDR pull") holds one record per leg, with
the call's day apart from its `HH:MM:SS` times, `UCID` (one per leg) and `CallID` (shared by the
legs of a call) as numbers that may exceed 2^53 (vendors.md §1.5). `as_push` gives
a leg the push's shape, so one field map and one upsert land both. Which call a leg is, in order:

1. the call its UCID names: a call keyed by it (a push whose monitorUCID it is), or the call an
   earlier fetch landed it on (ozonetel_call_alias);
2. the call its CallID names, if no CDR leg matched that call yet: the first leg of a call takes
   it, a transfer's later leg is a call of its own rather than folded into the first;
3. a call of the same campaign and customer number (last 10 digits) that rang within
   OZONETEL_CDR_MATCH_WINDOW of the leg, nearest first, that no CDR leg matched yet;
4. else a new call, keyed by its UCID.

The leg's UCID and CallID are then kept as aliases of the call it landed on, so a push that comes
later carrying either one as its monitorUCID lands on that call too (a push's key is read through
the aliases): a push and a CDR leg of one call are one row, whichever came first.
"""

from __future__ import annotations

import datetime as dt
import re

from receiver import json_text

# A time of day as the CDR writes it, beside CallDate.
_CLOCK = re.compile(r"^\d{1,2}:\d{2}:\d{2}$")
_DIGITS = re.compile(r"\D")

# The stored calls that candidate ids name, directly or through an alias, and whether a CDR leg
# matched each already. callrecon_ozonetel_homes also locks the keys until commit.
NAMED = """
WITH named AS (
    SELECT x.id, COALESCE(a.call_key, x.id) AS call_key
    FROM unnest(%(ids)s::text[]) AS x(id) LEFT JOIN ozonetel_call_alias a ON a.alias = x.id),
homes AS (SELECT * FROM callrecon_ozonetel_homes(ARRAY(SELECT DISTINCT call_key FROM named)))
SELECT n.id, n.call_key, o.cdr_at IS NOT NULL
FROM named n JOIN homes h ON h.call_key = n.call_key
JOIN ozonetel_call o ON o.call_key = h.call_key AND o.first_seen_at = h.first_seen_at
"""
# The call a leg with no id match is: same campaign and number, rang nearest within the window.
# The calls that pushes' keys name through an alias (a CDR leg's id that a push carries as monitorUCID).
ALIASES = "SELECT alias, call_key FROM ozonetel_call_alias WHERE alias = ANY(%(ids)s::text[])"
NEAREST = """
SELECT x.n, c.call_key
FROM jsonb_to_recordset(%(legs)s::jsonb) AS x(n int, campaign text, phone text, at timestamptz)
JOIN LATERAL (
    SELECT o.call_key FROM ozonetel_call o
    WHERE o.campaign_name = x.campaign AND o.cdr_at IS NULL
      AND o.start_time BETWEEN x.at - make_interval(secs => %(window)s) AND x.at + make_interval(secs => %(window)s)
      AND right(regexp_replace(COALESCE(o.phone_number, o.dialed_number, o.caller_id), '\\D', '', 'g'), 10) = x.phone
    ORDER BY abs(extract(epoch FROM o.start_time - x.at)), o.call_key
    LIMIT 1) c ON true
"""
REMEMBER = """
INSERT INTO ozonetel_call_alias (alias, call_key)
SELECT alias, call_key FROM jsonb_to_recordset(%(aliases)s::jsonb) AS x(alias text, call_key text)
ON CONFLICT (alias) DO NOTHING
"""


def is_leg(record) -> bool:
    """True for a CDR report's record: it carries its day apart, as CallDate."""
    return isinstance(record, dict) and "CallDate" in record


def as_push(record: dict) -> dict:
    """The leg with its times on its day, as 'YYYY-MM-DD HH:MM:SS', and its customer number as phoneNumber.

    A leg that ends after midnight ends on the next day. Anything not in that shape is left as it
    is, for the field map to refuse with the vendor's field name.
    """
    leg = dict(record)
    day = record.get("CallDate")
    try:
        date = dt.date.fromisoformat(str(day))
    except ValueError:
        return leg
    start, end = str(record.get("StartTime") or ""), str(record.get("EndTime") or "")
    if _CLOCK.match(start):
        leg["StartTime"] = f"{date} {start.zfill(8)}"
    if _CLOCK.match(end):
        ends_on = date + dt.timedelta(days=1) if _CLOCK.match(start) and end.zfill(8) < start.zfill(8) else date
        leg["EndTime"] = f"{ends_on} {end.zfill(8)}"
    if not leg.get("phoneNumber") and record.get("CallerID"):
        leg["phoneNumber"] = record["CallerID"]  # the customer's number (vendors.md §1.5)
    return leg


def phone10(number) -> str:
    """The last 10 digits of a number: CDR and pushes write it 09..., 91..., +91... (§5)."""
    return _DIGITS.sub("", str(number or ""))[-10:]


def resolve(conn, rows: list[dict], window_s: float) -> None:
    """Give each row the call_key of the call it is (see the module's text)."""
    legs = [row for row in rows if row["is_cdr"]]
    pushes = [row for row in rows if not row["is_cdr"]]
    if pushes:  # one probe of the alias table per batch: the lander's pushes pay nothing more
        aliases = dict(conn.execute(ALIASES, {"ids": sorted({row["call_key"] for row in pushes})}).fetchall())
        for row in pushes:
            row["call_key"] = aliases.get(row["call_key"], row["call_key"])
    if legs:
        land_legs(conn, legs, window_s)


def land_legs(conn, legs: list[dict], window_s: float) -> None:
    """The call_key of each leg, by its UCID, its CallID, then its campaign, number and time."""
    ids = sorted({i for leg in legs for i in leg_ids(leg)})
    named, matched = {}, set()
    for id_, call_key, has_leg in conn.execute(NAMED, {"ids": ids}).fetchall() if ids else ():
        named[id_] = call_key
        if has_leg:
            matched.add(call_key)
    unmatched = []
    for leg in sorted(legs, key=lambda leg: leg["start_time"] or _NEVER):
        by_call = named.get(leg["call_id"]) if leg["call_id"] else None
        if leg["ucid"] and leg["ucid"] in named:
            leg["call_key"] = named[leg["ucid"]]
        elif by_call is not None and by_call not in matched:
            leg["call_key"] = by_call
        else:
            leg["call_key"] = leg["ucid"] or leg["call_key"]
            if leg["campaign_name"] and leg["start_time"] and phone10(leg["phone_number"]):
                unmatched.append(leg)
            continue
        matched.add(leg["call_key"])
    if unmatched:
        document = [
            {
                "n": n,
                "campaign": leg["campaign_name"],
                "phone": phone10(leg["phone_number"]),
                "at": leg["start_time"].isoformat(),
            }
            for n, leg in enumerate(unmatched)
        ]
        for n, call_key in conn.execute(NEAREST, {"legs": json_text.dumps(document), "window": window_s}):
            if call_key not in matched:
                unmatched[n]["call_key"] = call_key
                matched.add(call_key)


_NEVER = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def leg_ids(leg: dict) -> list[str]:
    """The ids a leg may be known by elsewhere: its UCID, then its CallID."""
    return [i for i in (leg.get("ucid"), leg.get("call_id")) if i]


def remember(conn, legs: list[dict]) -> None:
    """Keep each leg's UCID and CallID as aliases of the call it landed on (the first call named keeps it)."""
    aliases = [{"alias": i, "call_key": leg["call_key"]} for leg in legs for i in leg_ids(leg) if i != leg["call_key"]]
    if aliases:
        conn.execute(REMEMBER, {"aliases": json_text.dumps(aliases)})
