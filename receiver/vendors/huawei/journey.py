"""Huawei's steps on the console's journey page: its vdnId:callId ids, and what happened to one of its calls."""

from __future__ import annotations

import re

from psycopg.rows import dict_row

from receiver.registry import Journey

ID = re.compile(r"^(\d{1,4}):(.+)$")
PHONE = "SELECT called FROM huawei_call WHERE vdn_id = %(vdn)s AND call_id = %(call)s"
# Every push that carried the call, and where its detail fetch stands.
EVENTS = """
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


def find(conn, q: str) -> str | None:
    """The called number of the call whose `vdnId:callId` is `q`, if there is one."""
    match = ID.match(q)
    if not match:
        return None
    row = conn.execute(PHONE, {"vdn": int(match[1]), "call": match[2]}).fetchone()
    return row[0] if row else None


def events(conn, call: dict) -> list[dict]:
    """Pushes and the detail fetch of one Huawei call (a row of the `call` view)."""
    vdn, _, call_id = call["vendor_call_id"].partition(":")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(EVENTS, {"vdn": int(vdn), "call": call_id}).fetchall()


JOURNEY = Journey(id_hint="Huawei vdnId:callId", find=find, events=events)
