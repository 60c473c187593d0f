"""The Ozonetel callback endpoint: every payload variant lands, repeats are counted once per push."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import quote

import pytest
from psycopg.rows import dict_row

from conftest import CONFIGURED_API_KEY, OZONETEL_OLD_TOKEN, OZONETEL_TOKEN, fixture_bytes, fixture_json
from receiver.vendors import VENDORS

URL = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"
UTC = dt.timezone.utc


def call_row(db, key):
    """The ozonetel_call row for a call key, as a dict."""
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM ozonetel_call WHERE call_key = %s", (key,)).fetchone()


def raw_rows(db):
    """All raw_inbox rows, oldest first, as dicts."""
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM raw_inbox ORDER BY id").fetchall()


def test_call_details_json_lands_as_typed_row(client, db):
    resp = client.post(
        URL, data=fixture_bytes("ozonetel", "call_details__single.json"), content_type="application/json"
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "landed" and resp.json["landed"] == 1

    row = call_row(db, "2105221234567890")
    assert row["key_source"] == "monitorUCID"
    assert row["campaign_name"] == "Renewals_Nov"
    assert row["caller_id"] == "9876543210"
    # 10:15 IST is 04:45 UTC
    assert row["start_time"] == dt.datetime(2024, 11, 20, 4, 45, tzinfo=UTC)
    assert row["end_time"] == dt.datetime(2024, 11, 20, 4, 47, 5, tzinfo=UTC)
    assert (row["time_to_answer_s"], row["call_duration_s"], row["duration_s"]) == (7, 125, 118)
    assert row["status"] == "Answered" and row["dial_status"] == "answered"
    assert row["disposition"] == "Interested" and row["hangup_by"] == "UserHangup"
    assert row["audio_file"].endswith("2105221234567890.mp3")
    assert row["transferred_to"] is None  # "" means none
    assert row["extra"]["FallBackRule"] == "AgentDial"
    assert row["extra"]["Apikey"] == "***"
    assert row["source_timezone"] == "Asia/Kolkata"
    assert row["seen_count"] == 1

    [raw] = raw_rows(db)
    assert raw["status"] == "landed" and raw["landed_count"] == 1 and raw["record_count"] == 1
    assert raw["source"] == "ozonetel" and raw["content_type"] == "application/json"
    assert row["first_raw_id"] == raw["id"] == resp.json["raw_id"]


def _form(payload: str) -> bytes:
    return f"data={quote(payload)}".encode()


def _multipart(payload: str) -> tuple[bytes, str]:
    boundary = "XbOuNdArY"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n{payload}\r\n--{boundary}--\r\n'
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


def variants():
    """(name, body, content type, expected call keys) for every accepted body shape."""
    single = fixture_bytes("ozonetel", "call_details__single.json").decode()
    array = fixture_bytes("ozonetel", "call_details__array.json").decode()
    multipart_body, multipart_type = _multipart(single)
    return [
        ("json object", single.encode(), "application/json", ["2105221234567890"]),
        ("json array", array.encode(), "application/json; charset=utf-8", ["2105221234567891", "2105221234567892"]),
        ("form data field", _form(single), "application/x-www-form-urlencoded", ["2105221234567890"]),
        (
            "form data field holding an array",
            _form(array),
            "application/x-www-form-urlencoded",
            ["2105221234567891", "2105221234567892"],
        ),
        ("multipart data field", multipart_body, multipart_type, ["2105221234567890"]),
        ("json as text/plain", single.encode(), "text/plain", ["2105221234567890"]),
        ("json with no content type", single.encode(), None, ["2105221234567890"]),
        (
            "csv doubled quotes",
            fixture_bytes("ozonetel", "call_details__doubled_quotes.txt"),
            "text/plain",
            ["2105221234567893"],
        ),
        ("json inside a json string", json.dumps(single).encode(), "application/json", ["2105221234567890"]),
        (
            "form fields without data",
            b"monitorUCID=2105221234567899&CampaignName=Renewals_Nov&Status=Answered",
            "application/x-www-form-urlencoded",
            ["2105221234567899"],
        ),
    ]


@pytest.mark.parametrize("name,body,content_type,keys", variants(), ids=[v[0] for v in variants()])
def test_every_accepted_body_shape_lands(client, db, name, body, content_type, keys):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = client.post(URL, data=body, headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["landed"] == len(keys)
    landed = [r[0] for r in db.execute("SELECT call_key FROM ozonetel_call ORDER BY call_key")]
    assert landed == sorted(keys)
    assert [r["status"] for r in raw_rows(db)] == ["landed"]


def test_dial_status_lead_without_call_id_gets_a_derived_key(client, db):
    resp = client.post(URL, json=fixture_json("ozonetel", "dial_status__lead.json"))
    assert resp.status_code == 200
    [(key, source, phone, status, dial_status, unique_id)] = db.execute(
        "SELECT call_key, key_source, phone_number, status, dial_status, request_unique_id FROM ozonetel_call"
    )
    assert source == "derived" and re.fullmatch(r"derived:[0-9a-f]{32}", key)
    assert (phone, status, dial_status, unique_id) == ("9876500003", "Fail", "NoAnswer", "req-7f3a")

    # The same lead pushed again with a new outcome updates the same row.
    again = dict(fixture_json("ozonetel", "dial_status__lead.json"), status="Success", dialstatus="answered")
    client.post(URL, json=again)
    [(key2, status2, seen)] = db.execute("SELECT call_key, status, seen_count FROM ozonetel_call")
    assert (key2, status2, seen) == (key, "Success", 2)


def test_envelope_records_inherit_the_request_unique_id(client, db):
    resp = client.post(URL, json=fixture_json("ozonetel", "dial_status__envelope.json"))
    assert resp.status_code == 200 and resp.json["landed"] == 2
    rows = db.execute(
        "SELECT key_source, call_key, request_unique_id, campaign_name, status FROM ozonetel_call ORDER BY call_key"
    ).fetchall()
    assert rows == [
        ("UCID", "5105221234567804", "req-8b1c", "Renewals_Nov", "Success"),
        ("DataUniqueId", "data:Renewals_Nov:77", "req-8b1c", "Renewals_Nov", "Pending"),
    ]


def seed_error_replies():
    """The documented Ozonetel replies from seed 003, exactly as printed there."""
    text = fixture_bytes("ozonetel", "ozonetel-campaign-dial-status.txt").decode("utf-8")
    return [line for line in text.splitlines() if line.startswith(('{"status"', '"{""status'))]


def test_seed_has_replies_to_test():
    assert len(seed_error_replies()) == 16


@pytest.mark.parametrize("reply", seed_error_replies())
def test_ozonetel_status_replies_from_the_seed_are_kept_as_notes(client, db, reply):
    resp = client.post(URL, data=reply.encode(), content_type="application/json")
    assert resp.status_code == 200 and resp.json["status"] == "note"
    [raw] = raw_rows(db)
    assert raw["status"] == "note"
    assert (
        raw["error"]["notes"][0]
        in {"apiKey is invalid", "Authentication failed", "userName is invalid", "campaignName is invalid"}
        or "callBackUrl" in raw["error"]["notes"][0]
    )
    assert db.execute("SELECT count(*) FROM ozonetel_call").fetchone()[0] == 0


def test_same_record_pushed_ten_times_is_one_row_seen_ten_times(client, db):
    body = fixture_bytes("ozonetel", "call_details__single.json")
    for _ in range(10):
        assert client.post(URL, data=body, content_type="application/json").status_code == 200
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 10
    [(count, seen, first, last)] = db.execute(
        "SELECT count(*), max(seen_count), min(first_raw_id), max(last_raw_id) FROM ozonetel_call"
    )
    assert (count, seen) == (1, 10)
    assert last - first == 9


def test_a_later_push_updates_values_but_blank_fields_do_not_erase(client, db):
    first = fixture_json("ozonetel", "call_details__single.json")
    client.post(URL, json=first)
    later = {"monitorUCID": first["monitorUCID"], "Disposition": "Converted", "AudioFile": ""}
    client.post(URL, json=later)
    row = call_row(db, first["monitorUCID"])
    assert row["disposition"] == "Converted"
    assert row["audio_file"] == first["AudioFile"]
    assert row["seen_count"] == 2 and row["last_seen_at"] >= row["first_seen_at"]


def test_both_tokens_work_during_rotation(client, db):
    body = fixture_json("ozonetel", "dial_status__lead.json")
    assert client.post(f"/callbacks/ozonetel/{OZONETEL_OLD_TOKEN}", json=body).status_code == 200
    assert client.post(URL, json=body).status_code == 200
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 2


def test_a_late_push_with_an_older_event_time_never_overwrites_a_newer_state(client, db):
    """Event-time order: the re-dial's answered outcome arrives first, the first dial's late re-push after."""
    lead = {"DataUniqueId": "L-9", "CampaignName": "Renewals_Nov", "phoneNumber": "9876500209"}
    newer = dict(
        lead,
        StartTime="2026-11-23 11:20:00",
        EndTime="2026-11-23 11:22:00",
        DialStatus="answered",
        Disposition="Converted",
    )
    older = dict(
        lead,
        StartTime="2026-11-23 10:10:00",
        EndTime="2026-11-23 10:10:30",
        DialStatus="not_answered",
        Disposition="No answer",
        AgentID="A-7",
    )
    assert client.post(URL, json=newer).status_code == 200
    assert client.post(URL, json=older).status_code == 200
    row = call_row(db, "data:Renewals_Nov:L-9")
    assert (row["dial_status"], row["disposition"]) == ("answered", "Converted")
    assert row["agent_id"] == "A-7"  # an older record still fills what the newer one lacked
    assert row["event_at"] == dt.datetime(2026, 11, 23, 5, 52, tzinfo=dt.timezone.utc)  # 11:22 IST
    canonical = db.execute(
        "SELECT outcome, end_time FROM call WHERE vendor_call_id = %s", ("data:Renewals_Nov:L-9",)
    ).fetchone()
    assert canonical == ("answered", dt.datetime(2026, 11, 23, 5, 52, tzinfo=dt.timezone.utc))
    assert row["seen_count"] == 2


def _metric(client, result):
    text = client.get("/metrics").get_data(as_text=True)
    pattern = r'callrecon_apikey_checks_total\{result="' + re.escape(result) + r'",source="ozonetel"\} ([0-9.]+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("mode", ["inline", "deferred"])
def test_a_record_with_a_wrong_apikey_is_quarantined_and_never_lands(env, db, mode):
    """Push authenticity: compared before masking; a wrong key is kept for review, never landed."""
    from receiver import create_app
    from receiver.config.settings import Settings
    from receiver.landing.replay import replay

    settings = Settings.from_env({**env, "LANDING_MODE": mode}, VENDORS)
    app = create_app(settings)
    client = app.test_client()
    try:
        forged, before = _metric(client, "mismatch"), _metric(client, "absent")
        body = [
            dict(
                fixture_json("ozonetel", "call_details__single.json"), monitorUCID="forged-1", Apikey=CONFIGURED_API_KEY
            ),
            {"monitorUCID": "keyless-1", "CampaignName": "Renewals_Nov"},
        ]
        resp = client.post(URL, data={"data": json.dumps(body)})
        assert resp.status_code in (200, 202)
        if mode == "deferred":
            replay(db, settings, VENDORS.pushes, pending_only=True)
        assert db.execute("SELECT call_key FROM ozonetel_call").fetchall() == [("keyless-1",)]
        status, error, check = db.execute("SELECT status, error, apikey_check FROM raw_inbox").fetchone()
        assert status == "quarantined" and "apikey_mismatch" in json.dumps(error)
        assert check == {"mismatch": [0], "absent": [1], "checked": 2}
        assert _metric(client, "mismatch") == forged + 1 and _metric(client, "absent") == before + 1
        replay(db, settings, VENDORS.pushes, include_all=True)  # a replay honours the verdict made at receipt
        assert db.execute("SELECT count(*) FROM ozonetel_call WHERE call_key = 'forged-1'").fetchone() == (0,)
    finally:
        app.extensions["callrecon_pool"].close()


def test_the_matching_apikey_lands_and_the_check_can_be_turned_off(env, db):
    from receiver import create_app
    from receiver.config.settings import Settings

    body = dict(fixture_json("ozonetel", "call_details__single.json"), Apikey=CONFIGURED_API_KEY)
    app = create_app(Settings.from_env({**env, "OZONETEL_VERIFY_APIKEY": "false"}, VENDORS))
    try:
        assert app.test_client().post(URL, json=body).status_code == 200
    finally:
        app.extensions["callrecon_pool"].close()
    assert db.execute("SELECT status, apikey_check FROM raw_inbox").fetchone() == ("landed", None)
    assert db.execute("SELECT count(*) FROM ozonetel_call").fetchone() == (1,)


def test_the_fixture_key_matches_the_configured_one(client, db):
    assert (
        client.post(
            URL, data=fixture_bytes("ozonetel", "call_details__array.json"), content_type="application/json"
        ).status_code
        == 200
    )
    assert db.execute("SELECT apikey_check FROM raw_inbox").fetchone() == (
        {"mismatch": [], "absent": [], "checked": 2},
    )
