"""LeadSquared async status responses -> lsq_request rows (vendors.md §3.3, seeds 000-002).

The response varies: `RequestId` or `RequestID`, Status in any casing, and `RequestBody` and
`Message` are JSON inside strings whose inner shape differs per API. Everything is decoded
here, so analysts query jsonb instead of strings.
"""

from __future__ import annotations

import json

from psycopg.types.json import Jsonb

from receiver.landing.fields import Text
from receiver.landing.mapping import FieldMap, RecordError, storable_json
from receiver.landing.masking import normalise_key

STATUSES = ("In-Queue", "Success", "FAILURE", "ERROR")
CANONICAL = {normalise_key(s): s for s in STATUSES}

TASK_FIELDS = FieldMap(
    "LeadSquaredTaskStatusSchema",
    {
        "task_type": (Text(), "TaskType"),
        "status_raw": (Text(), "Status"),
        "status_reason": (Text(), "StatusReason"),
        "task_current_step": (Text(), "TaskCurrentStep"),
        "task_last_step": (Text(), "TaskLastStep"),
    },
)

REGISTER = """
INSERT INTO lsq_request (request_id, kind, registered_by)
VALUES (%(request_id)s, %(kind)s, %(registered_by)s)
ON CONFLICT ((lower(request_id))) DO NOTHING
"""

RECORD_STATUS = """
UPDATE lsq_request SET
    status = %(status)s, status_raw = %(status_raw)s, status_reason = %(status_reason)s,
    task_type = %(task_type)s, task_current_step = %(task_current_step)s, task_last_step = %(task_last_step)s,
    request_body = %(request_body)s, request_body_text = %(request_body_text)s,
    message = %(message)s, message_text = %(message_text)s,
    attempts = attempts + 1, last_polled_at = %(now)s, next_poll_at = %(next_poll_at)s,
    final_at = %(final_at)s, last_error = %(last_error)s
WHERE id = %(id)s
"""


def _get(mapping: dict, name: str):
    """A key looked up ignoring case and underscores (RequestId / RequestID / requestid)."""
    wanted = normalise_key(name)
    for key, value in mapping.items():
        if normalise_key(str(key)) == wanted:
            return value
    return None


def decode_embedded(value) -> tuple[object, str | None]:
    """(jsonb value, raw text) for a field that may hold JSON inside a string."""
    if value is None:
        return None, None
    if isinstance(value, (dict, list)):
        return storable_json(value), None
    if not isinstance(value, str):
        return storable_json(value), None
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return None, value.replace("\x00", "")
    if isinstance(decoded, str):  # doubly encoded
        return decode_embedded(decoded)
    try:
        return storable_json(decoded), None
    except RecordError:
        return None, value.replace("\x00", "")


def parse_status(payload, request_id: str) -> dict:
    """Typed columns from one status response; RecordError when it is not a status for this id."""
    if not isinstance(payload, dict):
        raise RecordError({"_schema": [f"expected a JSON object, got {type(payload).__name__}"]})
    answered_id = _get(payload, "RequestId")
    if answered_id is not None and str(answered_id).lower() != request_id.lower():
        raise RecordError({"RequestId": [f"answer is for a different request ({str(answered_id)[:60]!r})"]})
    task = _get(payload, "TaskStatus")
    if not isinstance(task, dict):
        raise RecordError({"TaskStatus": ["missing or not an object"]})
    mapped, _, origin = TASK_FIELDS.split(task)
    row = TASK_FIELDS.load(mapped, origin)
    if not row["status_raw"]:
        raise RecordError({"Status": ["missing"]})
    row["status"] = CANONICAL.get(normalise_key(row["status_raw"]))
    if row["status"] is None:
        raise RecordError({"Status": [f"unknown status {row['status_raw'][:40]!r}"]})
    row["request_body"], row["request_body_text"] = decode_embedded(_get(task, "RequestBody"))
    row["message"], row["message_text"] = decode_embedded(_get(task, "Message"))
    return row


def register(conn, request_ids, kind: str, registered_by: str) -> int:
    """Track request ids (repeats are ignored); returns how many were new."""
    new = 0
    with conn.cursor() as cur:
        for request_id in request_ids:
            cur.execute(REGISTER, {"request_id": request_id, "kind": kind, "registered_by": registered_by})
            new += cur.rowcount
    return new


def record_status(conn, item_id: int, row: dict, *, now, next_poll_at, final_at, status=None, last_error=None):
    """Write a decoded status and its schedule in the caller's transaction."""
    params = dict(row, id=item_id, now=now, next_poll_at=next_poll_at, final_at=final_at, last_error=last_error)
    if status:
        params["status"] = status
    for column in ("request_body", "message"):
        params[column] = Jsonb(params[column]) if params[column] is not None else None
    conn.execute(RECORD_STATUS, params)
