"""Ozonetel's steps on the console's journey page: its call ids, and what happened to one of its calls."""

from __future__ import annotations

from psycopg.rows import dict_row

from receiver.registry import Journey

# A call key (monitorUCID, UCID, callid:..., ...) is the table's own key.
PHONE = "SELECT COALESCE(phone_number, dialed_number, caller_id) FROM ozonetel_call WHERE call_key = %(id)s"
# Every record that carried the call, by how it arrived (a CDR page the reconciler fetched; a push that
# answered a dial-status request, credited to it; else a push), and every Campaign Dial Status try
# that asked for the window it was in.
EVENTS = """
SELECT r.received_at AS at,
       CASE WHEN r.headers ? 'X-Callrecon-Fetched' THEN 'CDR leg'
            WHEN EXISTS (SELECT 1 FROM ozonetel_request_credit c WHERE c.raw_id = r.id) THEN 're-requested push'
            ELSE 'push' END AS what,
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


def find(conn, q: str) -> str | None:
    """The phone number of the call whose key is `q`, if there is one."""
    row = conn.execute(PHONE, {"id": q}).fetchone()
    return row[0] if row else None


def events(conn, call: dict) -> list[dict]:
    """Pushes and re-request tries of one Ozonetel call (a row of the `call` view)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(EVENTS, {"key": call["vendor_call_id"]}).fetchall()


JOURNEY = Journey(id_hint="Ozonetel call key", find=find, events=events)
