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

from receiver.web.console import bp, page, pool, vendors

MAX_CALLS = 20
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


@bp.get("/journey")
def journey():
    """Search by phone number or call id; each matching call's timeline and who set each value."""
    q = (request.args.get("q") or "").strip()
    calls = []
    if q:
        with pool().connection() as conn:
            phone, call_id = find(conn, q)
            with conn.cursor(row_factory=dict_row) as cur:
                found = cur.execute(CALLS, {"phone": phone, "id": call_id, "limit": MAX_CALLS}).fetchall()
            calls = [{"call": c, "events": timeline(conn, c)} for c in found]
    hints = [j.id_hint for j in vendors().journeys.values() if j.id_hint]
    return page("journey.html", q=q, calls=calls, limit=MAX_CALLS, id_hints=hints)
