"""LeadSquared's step on the console's journey page: the CRM call logs of any vendor's call."""

from __future__ import annotations

from psycopg.rows import dict_row

from receiver.registry import Journey

# docs/analysts.md "Linking LeadSquared call logs to calls": DestinationNumber is the phone and
# StartTime (UTC) within 2 minutes of the ring time; registered within two days of the call (one range
# of lsq_request_call_log_phone_idx, migration 0024).
EVENTS = """
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


def linked(conn, call: dict) -> list[dict]:
    """The call logs registered for a call of any vendor (a row of the `call` view), by number and ring time."""
    if call["ring_time"] is None or not call["phone_number"]:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(EVENTS, {"ring": call["ring_time"], "phone": call["phone_number"]}).fetchall()


JOURNEY = Journey(linked=linked)
