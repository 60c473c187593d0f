"""Hostile input at scale: schemathesis against /openapi.json, hypothesis against every parser."""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conftest import OZONETEL_TOKEN, SECRETS
from receiver import create_app
from receiver.config import Settings
from receiver.landing import masking
from receiver.landing.mapping import RecordError
from receiver.landing.payloads import BodyError, decode
from receiver.vendors import VENDORS
from receiver.vendors.huawei import records as huawei
from receiver.vendors.leadsquared import status as leadsquared
from receiver.vendors.ozonetel import records as ozonetel

HW_TOKEN = "hw-fuzz-token-77"
SECRETS.add(HW_TOKEN)
ZONE = Settings.from_env({}, VENDORS).section("ozonetel").timezone

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "monitorUCID",
        "UCID",
        "CallID",
        "StartTime",
        "EndTime",
        "Duration",
        "CampaignName",
        "phone",
        "Status",
        "DialStatus",
        "Apikey",
        "vdnId",
        "callId",
        "callStatus",
        "callTimeStr",
        "ackBeginTime",
        "recordPath",
        "uniqueId",
        "status",
        "message",
    ]
)
vendorish = st.dictionaries(st.one_of(field_names, st.text(max_size=10)), json_values, max_size=8)


@pytest.fixture(scope="module")
def fuzz_app(postgresql_noproc):
    """One app for the schemathesis run, on its own database from the same template."""
    import psycopg
    from pytest_postgresql.janitor import DatabaseJanitor

    janitor = DatabaseJanitor(
        user=postgresql_noproc.user,
        host=postgresql_noproc.host,
        port=postgresql_noproc.port,
        dbname=f"{postgresql_noproc.dbname}_fuzz",
        template_dbname=postgresql_noproc.template_dbname,
    )
    with janitor:
        url = (
            f"postgresql://{postgresql_noproc.user}@{postgresql_noproc.host}:{postgresql_noproc.port}/"
            f"{postgresql_noproc.dbname}_fuzz"
        )
        app = create_app(
            Settings.from_env(
                {
                    "DATABASE_URL": url,
                    "OZONETEL_CALLBACK_TOKENS": OZONETEL_TOKEN,
                    "HUAWEI_CALLBACK_TOKENS": HW_TOKEN,
                    "HUAWEI_TIMEZONE": "Asia/Shanghai",
                    "MAX_BODY_BYTES": "65536",
                },
                VENDORS,
            )
        )
        yield app
        app.extensions["callrecon_pool"].close()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] > 0


@pytest.fixture(scope="module")
def openapi_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


def _sender(operation, token: str, statuses: list):
    """A hypothesis test that sends `operation`'s generated cases with `token` (bound here, not by the loop)."""

    @given(operation.as_strategy())
    @hsettings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def send(case):
        case.path_parameters = {**(case.path_parameters or {}), "token": token}
        response = case.call()
        statuses.append(response.status_code)
        assert response.status_code in (200, 202, 413), response.text

    return send


def test_callback_endpoints_never_answer_5xx(openapi_schema):
    """schemathesis cases for every described operation, sent with a valid token: never a 5xx."""
    operations = [result.ok() for result in openapi_schema.get_all_operations()]
    assert {op.path for op in operations} == {"/callbacks/ozonetel/{token}", "/callbacks/huawei/{token}"}
    statuses = []
    for operation in operations:
        _sender(operation, OZONETEL_TOKEN if "ozonetel" in operation.path else HW_TOKEN, statuses)()
    assert 200 in statuses and len(statuses) >= 100


@given(
    st.binary(max_size=300),
    st.sampled_from(
        [None, "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
    ),
)
@hsettings(max_examples=300, deadline=None)
def test_decode_raises_only_body_error(body, content_type):
    try:
        records = decode(body, content_type)
    except BodyError:
        return
    assert isinstance(records, list)


@given(json_values)
@hsettings(max_examples=300, deadline=None)
def test_decode_of_any_json_raises_only_body_error(value):
    """Any JSON document decodes to a list of records or is refused with a BodyError, never another exception."""
    try:
        records = decode(json.dumps(value).encode(), "application/json")
    except BodyError as exc:
        assert str(exc)  # the refusal says why (it reaches the sender and the quarantine)
        assert not isinstance(value, (list, dict)), "an array or an object must be accepted"
        return
    assert isinstance(records, list)
    if isinstance(value, list):  # an array is the records as sent (compared as JSON: NaN != NaN)
        assert json.dumps(records) == json.dumps(value)
    elif isinstance(value, dict):  # an object is one record, or the records of an envelope
        assert records and all(isinstance(record, dict) for record in records)
    else:  # only a string can hold JSON; null, booleans and numbers are refused
        assert isinstance(value, str)


@given(st.one_of(vendorish, json_values))
@hsettings(max_examples=400, deadline=None)
def test_ozonetel_parser_raises_only_record_error(record):
    try:
        row = ozonetel.to_row(record, ZONE)
    except RecordError:
        return
    assert row["call_key"] and row["key_source"] in {"monitorUCID", "UCID", "CallID", "DataUniqueId", "derived"}
    assert "Apikey" not in json.dumps(row["extra"]) or row["extra"].get("Apikey") == "***"


@given(st.one_of(vendorish, json_values), st.sampled_from(["push", "bulk", "detail"]))
@hsettings(max_examples=400, deadline=None)
def test_huawei_parser_raises_only_record_error(record, label):
    try:
        row = huawei.to_row(record, ZONE, label)
    except RecordError:
        return
    assert 1 <= row["vdn_id"] <= 9999 and row["call_id"]


@given(
    st.one_of(
        st.dictionaries(
            st.sampled_from(["RequestId", "RequestID", "TaskStatus", "x"]),
            st.one_of(json_values, vendorish),
            max_size=3,
        ),
        json_values,
    )
)
@hsettings(max_examples=400, deadline=None)
def test_leadsquared_parser_raises_only_record_error(payload):
    try:
        row = leadsquared.parse_status(payload, "rq-1")
    except RecordError:
        return
    assert row["status"] in leadsquared.STATUSES


# The api-key pattern as first written, applied with (?i) to the body as sent. mask_body matches a
# lower-case pattern against the lower-cased body instead (faster); both must mask the same bytes.
CASE_BLIND_KEY_VALUE = re.compile(
    rb'(?i)(api_?key(?:%22|%5C|%3A|%20|[\s"\\:=+])+)'
    rb'((?:(?!%22|%2C|%7D|%26)[^"\\&,}\s\'])+)'
)
key_spellings = st.sampled_from(["Apikey", "APIKEY", "api_key", "ApiKey", "aPi_KeY", "xapikey", "apikeys"])
separators = st.sampled_from(['": "', '":"', '"=', "=", "%22%3A%22", "%22%3a%22", '\\":\\"', '"": ""', " : ", "+"])
value_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=24)


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.text(max_size=8), key_spellings, separators, value_text), max_size=4), st.text(max_size=20)
)
def test_masking_the_lower_cased_body_masks_what_the_case_blind_pattern_masks(pieces, tail):
    body = "".join(before + key + sep + value for before, key, sep, value in pieces) + tail
    raw = body.encode("utf-8")
    expected = CASE_BLIND_KEY_VALUE.sub(rb"\g<1>***", raw)
    assert masking.mask_body(raw, ()) == expected


field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "null", " 12 ", "00:01:38", "98", "2026-11-23 10:15:02", "2026-02-30 10:00:00", "x" * 9000]),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def schema_load(field_map, mapped: dict, origin: dict) -> dict:
    """What FieldMap.load returned when it ran marshmallow's Schema.load (before it called the fields itself)."""
    from marshmallow import ValidationError

    try:
        loaded = field_map.schema.load(mapped)
    except ValidationError as exc:
        raise RecordError({origin.get(k, k): v for k, v in exc.messages.items()}) from None
    return {column: loaded.get(column) for column in field_map.columns}


@pytest.mark.parametrize("field_map", [ozonetel.FIELD_MAP, huawei.FIELD_MAP, leadsquared.TASK_FIELDS], ids=str)
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_field_map_load_gives_what_the_marshmallow_schema_gives(field_map, data):
    """Values and error messages, for any mix of vendor values in any of the map's columns."""
    columns = data.draw(st.lists(st.sampled_from(field_map.columns), unique=True, max_size=8))
    mapped = {column: data.draw(field_values) for column in columns}
    origin = {column: f"Vendor{column}" for column in columns}
    try:
        expected = schema_load(field_map, mapped, origin)
    except RecordError as exc:
        with pytest.raises(RecordError) as raised:
            field_map.load(mapped, origin)
        assert raised.value.detail == exc.detail
    else:
        assert field_map.load(mapped, origin) == expected


@pytest.mark.parametrize("text", ["²", "١٢", "-³", "1²"])
def test_a_whole_number_in_other_scripts_digits_is_a_validation_error_not_a_crash(text):
    with pytest.raises(RecordError):
        huawei.to_row({"vdnId": text, "callId": "c-1"}, ZONE, "push")
