"""One call's journey: every push, re-request, Huawei detail and LeadSquared status about it, in time order.

The call is found by phone number (the `call` view's phone_number, on each vendor table's phone
index) or by call id (Ozonetel call_key, or Huawei vdnId:callId, each a primary-key lookup).
"""

from __future__ import annotations

import datetime as dt
import re

from flask import request
from psycopg.rows import dict_row

from receiver.web.console import bp, page, pool

MAX_CALLS = 20
OZONETEL_PHONE = "SELECT COALESCE(phone_number, dialed_number, caller_id) FROM ozonetel_call WHERE call_key = %(id)s"
HUAWEI_PHONE = "SELECT called FROM huawei_call WHERE vdn_id = %(vdn)s AND call_id = %(call)s"
CALLS = """
SELECT * FROM call WHERE phone_number = %(phone)s AND (%(id)s::text IS NULL OR vendor_call_id = %(id)s)
ORDER BY ring_time DESC NULLS LAST LIMIT %(limit)s
"""
OZONETEL_EVENTS = """
SELECT r.received_at AS at, 'push' AS what,
       'raw callback ' || r.id || ' (' || r.status || ')' AS detail, r.id AS raw_id
FROM ozonetel_sighting s JOIN raw_inbox r ON r.id = s.raw_id WHERE s.call_key = %(key)s
UNION ALL
SELECT t.sent_at, 're-request', 'Campaign Dial Status request ' || q.campaign_name || ' ' ||
       to_char(q.window_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || '..' ||
       to_char(q.window_to AT TIME ZONE 'UTC', 'HH24:MI') || ' UTC, try ' || t.try || ': ' || t.outcome ||
       COALESCE(' (' || t.error || ')', ''), NULL
FROM ozonetel_call o JOIN ozonetel_request_try t ON t.unique_id = o.request_unique_id
JOIN ozonetel_request q ON q.id = t.request_id
WHERE o.call_key = %(key)s AND o.request_unique_id IS NOT NULL
"""
HUAWEI_EVENTS = """
SELECT r.received_at AS at, 'push' AS what,
       'raw callback ' || r.id || ' (' || r.status || ')' AS detail, r.id AS raw_id
FROM huawei_sighting s JOIN raw_inbox r ON r.id = s.raw_id WHERE s.vdn_id = %(vdn)s AND s.call_id = %(call)s
UNION ALL
SELECT COALESCE(detail_fetched_at, detail_next_at), 'Huawei detail',
       detail_status || ' after ' || detail_attempts || ' call(s)' || COALESCE(': ' || detail_error, '') ||
       CASE WHEN detail_status = 'pending' THEN ', next try ' ||
            to_char(detail_next_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' ELSE '' END, NULL
FROM huawei_call WHERE vdn_id = %(vdn)s AND call_id = %(call)s
"""
# README "Linking LeadSquared call logs to calls": DestinationNumber is the phone and StartTime (UTC)
# within 2 minutes of the ring time; registered within two days of the call (one range of
# lsq_request_call_log_phone_idx, migration 0024).
LEADSQUARED_EVENTS = """
SELECT registered_at AS at, 'LeadSquared ' || kind AS what,
       'RequestId ' || request_id || ' registered by ' || COALESCE(registered_by, '-') || '; status ' ||
       COALESCE(status, 'not polled yet') || COALESCE(' (' || status_reason || ')', '') ||
       COALESCE(', final ' || to_char(final_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', '') ||
       COALESCE('; ' || last_error, '') AS detail, NULL::bigint AS raw_id
FROM lsq_request
WHERE kind = 'call-log' AND registered_at BETWEEN %(ring)s - interval '5 minutes' AND %(ring)s + interval '2 days'
  AND request_body->>'DestinationNumber' = %(phone)s
  AND (request_body->>'StartTime')::timestamp AT TIME ZONE 'UTC'
      BETWEEN %(ring)s - interval '2 minutes' AND %(ring)s + interval '2 minutes'
LIMIT 20
"""
HUAWEI_ID = re.compile(r"^(\d{1,4}):(.+)$")


def find(conn, q: str) -> tuple[str | None, str | None]:
    """(phone number, call id or None) for what the operator typed."""
    m = HUAWEI_ID.match(q)
    if m:
        row = conn.execute(HUAWEI_PHONE, {"vdn": int(m[1]), "call": m[2]}).fetchone()
        if row:
            return row[0], q
    row = conn.execute(OZONETEL_PHONE, {"id": q}).fetchone()
    if row:
        return row[0], q
    return q, None


def timeline(conn, call: dict) -> list[dict]:
    """Everything that happened to one call, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        if call["vendor"] == "ozonetel":
            events = cur.execute(OZONETEL_EVENTS, {"key": call["vendor_call_id"]}).fetchall()
        else:
            vdn, _, call_id = call["vendor_call_id"].partition(":")
            events = cur.execute(HUAWEI_EVENTS, {"vdn": int(vdn), "call": call_id}).fetchall()
        if call["ring_time"] is not None and call["phone_number"]:
            events += cur.execute(
                LEADSQUARED_EVENTS, {"ring": call["ring_time"], "phone": call["phone_number"]}
            ).fetchall()
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
    return page("journey.html", q=q, calls=calls, limit=MAX_CALLS)
