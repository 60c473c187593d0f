"""Ozonetel CloudAgent records -> ozonetel_call rows (push and re-requested push land here).

The Campaign Dial Status push body is not published (vendors.md §1.1), so fields are mapped by
name, tolerant of casing and underscores, from what is known (§1.1 request fields, §1.2 call
details). Mapping a new vendor field to a column is one line in FIELDS; every unmapped field is
kept in `extra`.
"""

from __future__ import annotations

import hashlib
import hmac

from psycopg import sql
from psycopg.types.json import Jsonb

from receiver import json_text
from receiver.landing.fields import Seconds, Text, VendorTime, to_utc
from receiver.landing.land import Outcome, RawRef
from receiver.landing.mapping import FieldMap, RecordError, Statement, fill_columns, storable_json, write_rows
from receiver.landing.masking import normalise_key
from receiver.vendors.ozonetel import cdr
from receiver.vendors.ozonetel import ledger as ozonetel_ledger
from receiver.vendors.ozonetel.settings import section

# column: (marshmallow field, vendor names it may arrive under; compared case/underscore-blind)
FIELDS = {
    "monitor_ucid": (Text(), "monitorUCID"),
    "ucid": (Text(), "UCID"),
    "call_id": (Text(), "CallID"),
    "data_unique_id": (Text(), "DataUniqueId"),
    "request_unique_id": (Text(), "uniqueId"),
    "campaign_name": (Text(), "CampaignName", "campaign"),
    "phone_number": (Text(), "phoneNumber", "phone", "phoneNo", "customerNumber", "mobile"),
    "caller_id": (Text(), "CallerID"),
    "dialed_number": (Text(), "DialedNumber"),
    "did": (Text(), "Did"),
    "call_type": (Text(), "Type", "callType"),
    "status": (Text(), "Status"),
    "dial_status": (Text(), "DialStatus"),
    "agent_status": (Text(), "AgentStatus", "AgentDialStatus"),
    "customer_status": (Text(), "CustomerStatus", "CustomerDialStatus"),
    "disposition": (Text(), "Disposition", "dispositions"),
    "hangup_by": (Text(), "HangupBy"),
    "agent_id": (Text(), "AgentID"),
    "agent_name": (Text(), "AgentName"),
    "agent_phone_number": (Text(), "AgentPhoneNumber"),
    "skill": (Text(), "Skill"),
    "location": (Text(), "Location"),
    "user_name": (Text(), "UserName"),
    "start_time": (VendorTime(), "StartTime"),
    "end_time": (VendorTime(), "EndTime"),
    "time_to_answer_s": (Seconds(), "TimeToAnswer"),
    "duration_s": (Seconds(), "Duration"),
    "call_duration_s": (Seconds(), "CallDuration"),
    "hold_duration_s": (Seconds(), "HoldDuration"),
    "wrap_up_duration_s": (Seconds(), "WrapUpDuration"),
    "audio_file": (Text(), "AudioFile", "CallAudio"),
    "transfer_type": (Text(), "TransferType"),
    "transferred_to": (Text(), "TransferredTo"),
    "comments": (Text(), "Comments"),
    "uui": (Text(), "UUI"),
}
TIME_COLUMNS = ("start_time", "end_time")
FIELD_MAP = FieldMap("OzonetelRecordSchema", FIELDS)
# A body with only these fields is Ozonetel telling us about a request (e.g. `{"status":"error",
# "message":"Authentication failed","uniqueId":""}`), not a call: kept as a note, not quarantined.
NOTICE_KEYS = frozenset({"status", "message", "uniqueid", "campaign", "campaignname", "username"})
# Identity rules in order; the first with a value names the call (docs/analysts.md, "Call identity").
KEY_RULES = (
    ("monitorUCID", lambda r: r["monitor_ucid"]),
    ("UCID", lambda r: r["ucid"]),
    ("CallID", lambda r: r["call_id"] and f"callid:{r['call_id']}"),
    ("DataUniqueId", lambda r: r["data_unique_id"] and f"data:{r['campaign_name'] or ''}:{r['data_unique_id']}"),
)

COLUMNS = FIELD_MAP.columns
# Values of the record with the latest event time win (EndTime, else StartTime): a late re-push of
# an earlier dial carries an older event time and only fills gaps. Where the times are equal, or one
# record has none (a disposition update), the later callback wins, and a replay only fills gaps.
_STALE = (
    "CASE WHEN EXCLUDED.event_at <> t.event_at THEN EXCLUDED.event_at < t.event_at "
    "ELSE EXCLUDED.last_raw_id < t.last_raw_id END"
)
_FILL = fill_columns(COLUMNS, _STALE)


def _value_sources() -> sql.Composable:
    """value_sources after a record: a CDR leg marks the columns whose value it set; a push that sets a
    column (and is not older than what is stored) takes the CDR's mark off it."""
    set_by = sql.SQL(", ").join(
        sql.SQL("CASE WHEN EXCLUDED.{c} IS NOT NULL AND NOT {stale} THEN {name} END").format(
            c=sql.Identifier(c), stale=sql.SQL(_STALE), name=sql.Literal(c)
        )
        for c in COLUMNS
    )
    marks = sql.SQL(", ").join(
        sql.SQL("{name}, CASE WHEN EXCLUDED.{c} IS NOT NULL AND (t.{c} IS NULL OR NOT {stale}) THEN 'cdr' END").format(
            c=sql.Identifier(c), stale=sql.SQL(_STALE), name=sql.Literal(c)
        )
        for c in COLUMNS
    )
    return sql.SQL(
        "CASE WHEN NOT EXCLUDED.pushed THEN t.value_sources || jsonb_strip_nulls(jsonb_build_object({marks})) "
        "WHEN t.value_sources = '{{}}' THEN t.value_sources "
        "ELSE t.value_sources - ARRAY[{set_by}]::text[] END"
    ).format(marks=marks, set_by=set_by)


# What an incoming record does to the stored call, in both upserts; {fresh} is 1 when this record's
# sighting is new (0 for a replay or a duplicate push), so seen_count counts each sighting once.
# first_seen_at is the partition key (migration 0025): the call's home, never updated; the
# statements find it with callrecon_ozonetel_homes, which also locks the key until commit.
_MERGE = sql.SQL("""ON CONFLICT (call_key, first_seen_at) DO UPDATE SET
    {fill},
    extra = CASE WHEN {stale} THEN EXCLUDED.extra || t.extra ELSE t.extra || EXCLUDED.extra END,
    event_at = CASE WHEN {stale} THEN COALESCE(t.event_at, EXCLUDED.event_at)
                    ELSE COALESCE(EXCLUDED.event_at, t.event_at) END,
    key_source = CASE WHEN EXCLUDED.pushed THEN EXCLUDED.key_source ELSE t.key_source END,
    source_timezone = EXCLUDED.source_timezone,
    first_raw_id = LEAST(t.first_raw_id, EXCLUDED.first_raw_id),
    last_seen_at = CASE WHEN {fresh} > 0 THEN GREATEST(t.last_seen_at, EXCLUDED.last_seen_at)
                        ELSE t.last_seen_at END,
    last_raw_id = GREATEST(t.last_raw_id, EXCLUDED.last_raw_id),
    seen_count = t.seen_count + {fresh},
    value_sources = {value_sources},
    pushed = t.pushed OR EXCLUDED.pushed,
    cdr_at = COALESCE(t.cdr_at, EXCLUDED.cdr_at)
""")


def _merge(fresh: str) -> sql.Composable:
    return _MERGE.format(fill=_FILL, stale=sql.SQL(_STALE), fresh=sql.SQL(fresh), value_sources=_value_sources())


UPSERT_CALL = Statement.of(
    sql.SQL("""
WITH home AS (SELECT first_seen_at FROM callrecon_ozonetel_homes(ARRAY[%(call_key)s::text])),
sighting AS (
    INSERT INTO ozonetel_sighting (raw_id, record_index, call_key, received_at)
    VALUES (%(raw_id)s, %(record_index)s, %(call_key)s, %(received_at)s)
    ON CONFLICT DO NOTHING
    RETURNING 1
), fresh AS (SELECT count(*)::int AS n FROM sighting)
INSERT INTO ozonetel_call AS t (call_key, key_source, {columns}, extra, source_timezone, event_at,
                                first_seen_at, last_seen_at, seen_count, first_raw_id, last_raw_id,
                                pushed, cdr_at, value_sources)
VALUES (%(call_key)s, %(key_source)s, {values}, %(extra)s, %(source_timezone)s, %(event_at)s,
        COALESCE((SELECT first_seen_at FROM home), %(received_at)s), %(received_at)s, 1, %(raw_id)s, %(raw_id)s,
        %(pushed)s, %(cdr_at)s, %(value_sources)s)
{merge}""").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        values=sql.SQL(", ").join(sql.Placeholder(c) for c in COLUMNS),
        merge=_merge("(SELECT n FROM fresh)"),
    )
)


def is_notice(record: dict) -> bool:
    """True for Ozonetel's request-status messages, which carry no call."""
    if not record or len(record) > 2 * len(NOTICE_KEYS):  # a call record has far more fields than a notice
        return False
    message = False
    for name in record:  # a call record's first field is seldom a notice field: it answers at once
        key = normalise_key(str(name))
        if key not in NOTICE_KEYS:
            return False
        message = message or key == "message"
    return message


def call_key(row: dict) -> tuple[str, str]:
    """(key_source, call_key) for a validated row, or RecordError if nothing identifies it."""
    for rule, pick in KEY_RULES:
        key = pick(row)
        if key:
            return rule, key
    phone = row["phone_number"] or row["dialed_number"] or row["caller_id"]
    if not (row["campaign_name"] and phone):
        raise RecordError(
            {
                "_identity": [
                    "no call identity: needs monitorUCID, UCID, CallID, DataUniqueId, "
                    "or both a campaign name and a phone number"
                ]
            }
        )
    start = row["start_time"].isoformat() if row["start_time"] else ""
    digest = hashlib.sha256(f"{row['campaign_name']}|{phone}|{start}".encode()).hexdigest()[:32]
    return "derived", f"derived:{digest}"


def to_row(record, zone) -> dict:
    """Validate one pushed record, or one CDR leg (cdr.py), into ozonetel_call column values (times in UTC)."""
    if not isinstance(record, dict):
        raise RecordError({"_schema": [f"expected a JSON object, got {type(record).__name__}"]})
    leg = cdr.is_leg(record)
    if leg:
        record = cdr.as_push(record)
    mapped, extra, origin = FIELD_MAP.split(record)
    if not mapped:
        keys = sorted(str(k) for k in record)[:20]
        raise RecordError({"_schema": [f"unknown shape: no known Ozonetel field among {keys}"]})
    row = FIELD_MAP.load(mapped, origin)
    row["key_source"], row["call_key"] = call_key(row)
    for column in TIME_COLUMNS:
        row[column] = to_utc(row[column], zone)
    row["event_at"] = row["end_time"] or row["start_time"]
    row["extra"] = storable_json(extra)
    row["source_timezone"] = zone.key
    row["is_cdr"] = leg
    row["value_sources"] = {c: "cdr" for c in COLUMNS if row[c] is not None} if leg else None
    return row


APIKEY_MISMATCH = (
    "apikey_mismatch: this record's Apikey is not OZONETEL_API_KEY, so it may not come from "
    "your Ozonetel account; kept here, never landed (docs/security.md: Ozonetel push authenticity)"
)


def check_apikeys(records, settings) -> dict | None:
    """Compare each record's `Apikey` with OZONETEL_API_KEY in constant time, before anything masks it.

    Every public receiver of Ozonetel's pushes authenticates them by this field (vendors.md §1.2),
    so a wrong key means a record that is not from our account. Only the verdicts are kept, by
    record index; the key itself never leaves this function. None when the check is off.
    """
    config = section(settings)
    if not (config.verify_apikey and config.api_key) or not isinstance(records, list):
        return None
    expected = config.api_key.encode()
    mismatch, absent, checked = [], [], 0
    for index, record in enumerate(records):
        if not isinstance(record, dict) or is_notice(record):
            continue
        checked += 1
        given = record.get("Apikey")  # Ozonetel's spelling (seed samples); any other is searched for
        if given is None:
            given = next((v for k, v in record.items() if normalise_key(str(k)) == "apikey"), None)
        if given is None or given == "":
            absent.append(index)
        elif not hmac.compare_digest(str(given).encode(), expected):
            mismatch.append(index)
    return {"mismatch": mismatch, "absent": absent, "checked": checked}


def prepare(raw: RawRef, records: list, settings) -> tuple[Outcome, list[dict], list[dict]]:
    """Validate one callback's records: (its outcome so far, upsert rows, status notices). No database."""
    outcome = Outcome(record_count=len(records))
    params, notices = [], []
    zone = section(settings).timezone
    mismatched = set((raw.apikey_check or {}).get("mismatch", ()))
    for index, record in enumerate(records):
        if index in mismatched:
            outcome.errors[str(index)] = {"Apikey": [APIKEY_MISMATCH]}
            continue
        if isinstance(record, dict) and is_notice(record):
            notices.append(record)
            outcome.notes.append(ozonetel_ledger.notice_fields(record)[2])
            continue
        try:
            row = to_row(record, zone)
        except RecordError as exc:
            outcome.errors[str(index)] = exc.detail
            continue
        row.update(raw_id=raw.id, record_index=index, received_at=raw.received_at)
        row.update(pushed=not row["is_cdr"], cdr_at=raw.received_at if row["is_cdr"] else None)
        params.append(row)
    outcome.landed = len(params)
    return outcome, params, notices


def land_records(conn, raw: RawRef, records: list, settings) -> Outcome:
    """Upsert every valid record of one callback; report the rest for the quarantine.

    A callback of several records lands as the lander lands a batch (land_many): one set-based
    upsert instead of one statement per record, each of which ran the month look-up and the
    rollup and call-log-link triggers again (an inline 20-record post was 0.05 of bench/ingest's b).
    """
    if len(records) > 1:
        return land_many(conn, [(raw, records)], settings)[0]
    outcome, params, notices = prepare(raw, records, settings)
    cdr.resolve(conn, params, section(settings).cdr_match_window)
    for row in params:
        row["extra"] = Jsonb(row["extra"])
        row["value_sources"] = Jsonb(row["value_sources"] or {})
    write_rows(conn, UPSERT_CALL, params)
    cdr.remember(conn, [row for row in params if row["is_cdr"]])
    pushes = [row for row in params if not row["is_cdr"]]  # only pushes answer dial-status requests
    ozonetel_ledger.match(conn, raw.id, pushes, notices, raw.received_at)
    return outcome


# The same upsert for many records at once, read from one JSON array (jsonb_populate_record types
# each element as an ozonetel_call row). A call may not be updated twice by one statement, so
# land_many sends the records in rounds in which each call_key appears once, in arrival order.
UPSERT_CALLS = sql.SQL("""
WITH input AS (
    SELECT r.*, (e->>'raw_id')::bigint AS raw_id, (e->>'record_index')::int AS record_index,
           (e->>'received_at')::timestamptz AS received_at
    FROM jsonb_array_elements(%(rows)s::jsonb) AS e, jsonb_populate_record(NULL::ozonetel_call, e) AS r
), home AS (
    SELECT * FROM callrecon_ozonetel_homes(%(keys)s::text[])
), sighting AS (
    INSERT INTO ozonetel_sighting (raw_id, record_index, call_key, received_at)
    SELECT raw_id, record_index, call_key, received_at FROM input
    ON CONFLICT DO NOTHING
    RETURNING call_key
), fresh AS (SELECT call_key, count(*)::int AS n FROM sighting GROUP BY call_key)
INSERT INTO ozonetel_call AS t (call_key, key_source, {columns}, extra, source_timezone, event_at,
                                first_seen_at, last_seen_at, seen_count, first_raw_id, last_raw_id,
                                pushed, cdr_at, value_sources)
SELECT i.call_key, key_source, {columns}, extra, source_timezone, event_at,
       COALESCE(h.first_seen_at, received_at), received_at, 1, raw_id, raw_id,
       COALESCE(pushed, true), cdr_at, COALESCE(value_sources, '{{}}')
FROM input i LEFT JOIN home h ON h.call_key = i.call_key
{merge}""").format(
    columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
    merge=_merge("COALESCE((SELECT n FROM fresh f WHERE f.call_key = EXCLUDED.call_key), 0)"),
)


UPSERT_CHUNK = 2000  # records per UPSERT_CALLS statement (its JSON document is about 1 KB a record)


def rounds(rows: list[dict]) -> list[list[dict]]:
    """Rows split so that no call_key appears twice in one round; a key's rows stay in order."""
    out: list[list[dict]] = []
    seen: dict[str, int] = {}
    for row in rows:
        n = seen.get(row["call_key"], 0)
        seen[row["call_key"]] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(row)
    return out


def land_many(conn, items: list, settings) -> list[Outcome]:
    """land_records for many callbacks (RawRef, records), in a few set-based statements (the lander's path).

    Landing callback by callback cost about ten statements each; the lander spent its time on
    them, and typed rows lagged further behind every burst. The rows and outcomes are the same.
    """
    prepared = [prepare(raw, records, settings) for raw, records in items]
    rows = [row for _, params, _ in prepared for row in params]
    cdr.resolve(conn, rows, section(settings).cdr_match_window)
    for batch in rounds(rows):
        # A lander batch of 20-record posts holds 20,000 records: one statement each UPSERT_CHUNK.
        for start in range(0, len(batch), UPSERT_CHUNK):
            chunk = batch[start : start + UPSERT_CHUNK]
            keys = [row["call_key"] for row in chunk]
            # Only the values a record has: jsonb_populate_record reads an absent key as NULL, and
            # most of the 35 columns are empty in any one push (less JSON to write and to parse).
            values = [{k: v for k, v in row.items() if v is not None} for row in chunk]
            conn.execute(UPSERT_CALLS, {"rows": json_text.dumps(values), "keys": keys})
    cdr.remember(conn, [row for row in rows if row["is_cdr"]])
    # Only pushes answer dial-status requests: a CDR leg never credits a window.
    ozonetel_ledger.match_many(
        conn,
        [
            (raw, [row for row in params if not row["is_cdr"]], notices)
            for (raw, _), (_, params, notices) in zip(items, prepared, strict=True)
        ],
    )
    return [outcome for outcome, _, _ in prepared]
