"""Huawei CC-iSales call results -> huawei_call rows: pushes, detail fetches and bulk queries alike.

Push (§2.4), bulk `callresult` (§2.2) and `callresultdetail` (§2.3, seed 004) carry the same
record type with different subsets of fields, so one FieldMap parses all three; `value_sources`
records which of them set each column.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlparse

from psycopg import sql
from psycopg.types.json import Jsonb

from receiver.landing.fields import Text, VendorTime, WholeNumber, to_utc
from receiver.landing.land import Outcome, RawRef
from receiver.landing.mapping import FieldMap, RecordError, Statement, fill_columns, storable_json, write_rows
from receiver.vendors.huawei.settings import section

FIELD_MAP_SPEC = {
    "vdn_id": (WholeNumber(), "vdnId"),
    "call_id": (Text(), "callId"),
    "campaign_id": (Text(), "campaignId"),
    "session_id": (Text(), "sessionId"),
    "called": (Text(), "called"),
    "call_time": (VendorTime(), "callTimeStr"),
    "call_status": (WholeNumber(), "callStatus"),
    "fail_code": (Text(), "failCode"),
    "result_code": (Text(), "resultCode"),
    "custom_field": (Text(), "customField"),
    "record_path": (Text(), "recordPath"),
    "ack_begin_time": (VendorTime(), "ackBeginTime"),
    "call_begin_time": (VendorTime(), "callBeginTime"),
    "call_end_time": (VendorTime(), "callEndTime"),
}
FIELD_MAP = FieldMap("HuaweiCallResultSchema", FIELD_MAP_SPEC)
TIME_COLUMNS = ("call_time", "ack_begin_time", "call_begin_time", "call_end_time")
VALUE_COLUMNS = tuple(c for c in FIELD_MAP.columns if c not in ("vdn_id", "call_id")) + ("record_expires_at",)
ACK = {"retCode": "0", "retMsg": "success"}

# A record is stale when its event time is older than the stored one; with no event time to compare
# (or equal ones), a replay of an earlier push is stale by its raw id.
_STALE = (
    "(CASE WHEN EXCLUDED.event_time <> t.event_time THEN EXCLUDED.event_time < t.event_time "
    "ELSE EXCLUDED.last_raw_id IS NOT NULL AND t.last_raw_id IS NOT NULL "
    "AND EXCLUDED.last_raw_id < t.last_raw_id "
    "END)"
)
# first_seen_at is the partition key (migration 0025): the call's home, never updated; the statement
# finds it with callrecon_huawei_homes, which also locks the call until commit.
HOME = (
    "home AS (SELECT first_seen_at FROM callrecon_huawei_homes(ARRAY[%(vdn_id)s::integer], ARRAY[%(call_id)s::text]))"
)
_UPSERT = """
WITH {home}{sighting}
INSERT INTO huawei_call AS t (vdn_id, call_id, {columns}, event_time, value_sources, extra, source_timezone,
                              first_seen_at, last_seen_at, push_count, first_raw_id, last_raw_id, detail_next_at)
VALUES (%(vdn_id)s, %(call_id)s, {values}, %(event_time)s, %(value_sources)s, %(extra)s, %(source_timezone)s,
        COALESCE((SELECT first_seen_at FROM home), %(seen_at)s), %(seen_at)s, {push_count}, %(raw_id)s, %(raw_id)s,
        %(seen_at)s)
ON CONFLICT (vdn_id, call_id, first_seen_at) DO UPDATE SET
    {fill},
    value_sources = CASE WHEN {stale} THEN EXCLUDED.value_sources || t.value_sources
                         ELSE t.value_sources || EXCLUDED.value_sources END,
    extra = CASE WHEN {stale} THEN EXCLUDED.extra || t.extra ELSE t.extra || EXCLUDED.extra END,
    event_time = GREATEST(t.event_time, EXCLUDED.event_time),
    source_timezone = EXCLUDED.source_timezone,
    last_seen_at = GREATEST(t.last_seen_at, EXCLUDED.last_seen_at),
    push_count = t.push_count + {push_count},
    first_raw_id = COALESCE(LEAST(t.first_raw_id, EXCLUDED.first_raw_id), t.first_raw_id, EXCLUDED.first_raw_id),
    last_raw_id = COALESCE(GREATEST(t.last_raw_id, EXCLUDED.last_raw_id), t.last_raw_id, EXCLUDED.last_raw_id)
"""


def _upsert(sighting: bool):
    """The upsert statement; pushes also record a sighting, which makes push_count exact."""
    return Statement.of(
        sql.SQL(_UPSERT).format(
            home=sql.SQL(HOME),
            sighting=sql.SQL(
                """, sighting AS (
            INSERT INTO huawei_sighting (raw_id, record_index, vdn_id, call_id, received_at)
            VALUES (%(raw_id)s, %(record_index)s, %(vdn_id)s, %(call_id)s, %(seen_at)s)
            ON CONFLICT DO NOTHING RETURNING 1)"""
                if sighting
                else ""
            ),
            push_count=sql.SQL("(SELECT count(*)::int FROM sighting)" if sighting else "0"),
            columns=sql.SQL(", ").join(map(sql.Identifier, VALUE_COLUMNS)),
            values=sql.SQL(", ").join(sql.Placeholder(c) for c in VALUE_COLUMNS),
            fill=fill_columns(VALUE_COLUMNS, _STALE),
            stale=sql.SQL(_STALE),
        )
    )


UPSERT_PUSHED = _upsert(sighting=True)
UPSERT_FETCHED = _upsert(sighting=False)

MARK_DETAIL_DONE = """
UPDATE huawei_call SET detail_status = 'done', detail_attempts = detail_attempts + 1,
    detail_fetched_at = %(now)s, detail_error = NULL
WHERE vdn_id = %(vdn_id)s AND call_id = %(call_id)s
"""
REGISTER = f"""
WITH {HOME}
INSERT INTO huawei_call (vdn_id, call_id, source_timezone, first_seen_at, last_seen_at, detail_next_at)
SELECT %(vdn_id)s, %(call_id)s, %(source_timezone)s, %(now)s, %(now)s, %(now)s
WHERE NOT EXISTS (SELECT 1 FROM home)
ON CONFLICT DO NOTHING
"""


def record_expiry(record_path: str | None) -> dt.datetime | None:
    """The `Expires` (epoch seconds) of a signed OBS recording URL, as UTC."""
    if not record_path:
        return None
    values = parse_qs(urlparse(record_path).query).get("Expires")
    if not values or not values[0].isdigit():
        return None
    try:
        return dt.datetime.fromtimestamp(int(values[0]), dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def zone_of(settings):
    """HUAWEI_TIMEZONE: every naive Huawei time is read in it; there is no silent default."""
    return section(settings).zone()


def to_row(record, zone, label: str) -> dict:
    """Validate one Huawei call record into huawei_call values; `label` names the source."""
    if not isinstance(record, dict):
        raise RecordError({"_schema": [f"expected a JSON object, got {type(record).__name__}"]})
    mapped, extra, origin = FIELD_MAP.split(record)
    row = FIELD_MAP.load(mapped, origin)
    if row["vdn_id"] is None or not row["call_id"]:
        raise RecordError({"_identity": ["no call identity: needs vdnId and callId"]})
    if not 1 <= row["vdn_id"] <= 9999:
        raise RecordError({origin.get("vdn_id", "vdnId"): ["must be 1..9999"]})
    # Huawei's recordPath examples break the URL over whitespace; a URL never holds spaces.
    if row["record_path"]:
        row["record_path"] = "".join(row["record_path"].split())
    for column in TIME_COLUMNS:
        row[column] = to_utc(row[column], zone)
    row["record_expires_at"] = record_expiry(row["record_path"])
    row["event_time"] = row["call_end_time"] or row["call_time"]
    row["value_sources"] = Jsonb({c: label for c in VALUE_COLUMNS if row.get(c) is not None})
    row["extra"] = Jsonb(storable_json(extra))
    row["source_timezone"] = zone.key
    return row


def land_records(conn, raw: RawRef, records: list, settings) -> Outcome:
    """Land a pushed array (§2.4): every valid element upserts its call; the rest are reported."""
    outcome = Outcome(record_count=len(records))
    params = []
    for index, record in enumerate(records):
        try:
            row = to_row(record, zone_of(settings), "push")
        except RecordError as exc:
            outcome.errors[str(index)] = exc.detail
            continue
        params.append(dict(row, raw_id=raw.id, record_index=index, seen_at=raw.received_at))
    write_rows(conn, UPSERT_PUSHED, params)
    outcome.landed = len(params)
    return outcome


def land_fetched(conn, records: list, settings, label: str, now: dt.datetime) -> tuple[int, dict]:
    """Land records the reconciler fetched (label 'bulk' or 'detail'); returns (landed, errors)."""
    params, errors = [], {}
    for index, record in enumerate(records):
        try:
            row = to_row(record, zone_of(settings), label)
        except RecordError as exc:
            errors[str(index)] = exc.detail
            continue
        params.append(dict(row, raw_id=None, seen_at=now))
    write_rows(conn, UPSERT_FETCHED, params)
    return len(params), errors


def land_detail(conn, vdn_id: int, call_id: str, data: dict, settings, now: dt.datetime) -> None:
    """Complete one call with its callresultdetail `data` and mark its detail done."""
    data = dict(data)
    data.setdefault("vdnId", vdn_id)
    data.setdefault("callId", call_id)
    landed, errors = land_fetched(conn, [data], settings, "detail", now)
    if errors:
        raise RecordError(errors["0"])
    conn.execute(MARK_DETAIL_DONE, {"vdn_id": vdn_id, "call_id": call_id, "now": now})


def register(conn, vdn_id: int, call_ids, settings, now: dt.datetime) -> int:
    """Queue calls for a detail fetch (repeats are ignored); returns how many were new."""
    new = 0
    with conn.cursor() as cur:
        for call_id in call_ids:
            cur.execute(
                REGISTER, {"vdn_id": vdn_id, "call_id": call_id, "now": now, "source_timezone": zone_of(settings).key}
            )
            new += cur.rowcount
    return new


def reply(status_code: int, body: dict) -> tuple[int, dict]:
    """Huawei re-pushes on anything but HTTP 200 + retCode "0" (§2.4); a stored body must not be re-pushed."""
    stored = body.get("status") in ("landed", "note", "stored")
    message = "success" if stored else f"stored; quarantined: {body.get('error')}"
    return 200, {**ACK, "retMsg": message, "raw_id": body.get("raw_id")}
