"""One call's journey: every push, re-request, detail fetch and CRM log about it, in time order.

The call is found by phone number (the `call` view's phone_number, on each vendor table's phone
index) or by a vendor's call id: each vendor's journey steps (its registry entry's `journey`) say
how its ids look and what happened to its calls; a vendor may also add events to any vendor's call
(a CRM's call logs).
"""

from __future__ import annotations

import datetime as dt

from flask import request
from psycopg.rows import dict_row

from receiver.web.console import bp, page, reads, vendors

MAX_CALLS = 20
# The call row's fields the page shows, and for one derived from others, the fields it comes from:
# a derived value was set by whatever set those.
FIELDS = (
    "campaign",
    "phone_number",
    "ring_time",
    "connect_time",
    "end_time",
    "duration_s",
    "outcome",
    "vendor_status",
    "disposition",
    "recording_url",
)
DERIVED_FROM = {"duration_s": ("end_time", "connect_time", "ring_time"), "vendor_status": ("outcome",)}
CALLS = """
SELECT * FROM call WHERE phone_number = %(phone)s AND (%(id)s::text IS NULL OR vendor_call_id = %(id)s)
ORDER BY ring_time DESC NULLS LAST LIMIT %(limit)s
"""


def find(conn, q: str) -> tuple[str | None, str | None]:
    """(phone number, call id or None) for what the operator typed: a vendor's call id, else a phone number."""
    for journey in vendors().journeys.values():
        phone = journey.find(conn, q) if journey.find else None
        if phone:
            return phone, q
    return q, None


def timeline(conn, call: dict) -> list[dict]:
    """Everything that happened to one call, oldest first."""
    events = []
    for name, journey in vendors().journeys.items():
        if name == call["vendor"] and journey.events:
            events += journey.events(conn, call)
        if journey.linked:
            events += journey.linked(conn, call)
    for moment, what in (("ring_time", "rang"), ("connect_time", "connected"), ("end_time", "ended")):
        if call[moment] is not None:
            events.append({"at": call[moment], "what": f"call {what}", "detail": "", "raw_id": None})
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    return sorted(events, key=lambda e: e["at"] or far)


def set_by(call: dict) -> dict[str, str]:
    """Who set each shown field that has a value: the call view's value_sources, else (for a derived
    field) whoever set the fields it is derived from."""
    sources = call["value_sources"] or {}
    found = {}
    for field in FIELDS:
        if call[field] is None:
            continue
        named = sources.get(field) or next((sources[f] for f in DERIVED_FROM.get(field, ()) if sources.get(f)), None)
        found[field] = named or "-"
    return found


def described(call: dict, events: list[dict]) -> dict:
    """A call with its timeline, who set each field, and how its records arrived (each way once, first first)."""
    arrived = list(dict.fromkeys(e["what"] for e in events if e.get("raw_id"))) or [call["source"]]
    return {"call": call, "events": events, "set_by": set_by(call), "arrived": arrived}


@bp.get("/journey")
def journey():
    """Search by phone number or call id; each matching call's timeline and who set each value."""
    q = (request.args.get("q") or "").strip()
    calls = []
    if q:
        with reads().connection() as conn:
            phone, call_id = find(conn, q)
            with conn.cursor(row_factory=dict_row) as cur:
                found = cur.execute(CALLS, {"phone": phone, "id": call_id, "limit": MAX_CALLS}).fetchall()
            calls = [described(c, timeline(conn, c)) for c in found]
    hints = [j.id_hint for j in vendors().journeys.values() if j.id_hint]
    return page("journey.html", q=q, calls=calls, limit=MAX_CALLS, id_hints=hints, fields=FIELDS)
