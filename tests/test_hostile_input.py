"""Bad input is stored and quarantined with a reason, or refused before storage: never a crash."""

from __future__ import annotations

import psycopg
import pytest

from conftest import FIXTURE_APIKEY, OZONETEL_TOKEN, fixture_bytes
from receiver import create_app
from receiver.config import Settings
from receiver.vendors import VENDORS

URL = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"

QUARANTINED = [
    ("malformed json", b'{"monitorUCID": "1", ', "application/json", "malformed JSON"),
    ("empty body", b"", "application/json", "empty body"),
    ("whitespace body", b"  \n ", None, "empty body"),
    ("wrong type for an id", b'{"monitorUCID": {"nested": 1}}', "application/json", "expected text"),
    ("wrong type for a time", b'{"monitorUCID": "1", "StartTime": 12}', "application/json", "StartTime"),
    (
        "impossible time",
        b'{"monitorUCID": "1", "StartTime": "2024-13-45 99:00:00"}',
        "application/json",
        "not a 'YYYY-MM-DD HH:MM:SS' time",
    ),
    ("bad duration", b'{"monitorUCID": "1", "Duration": "soon"}', "application/json", "not a duration"),
    ("boolean id", b'{"monitorUCID": true}', "application/json", "expected text"),
    ("unknown shape", b'{"foo": 1, "bar": 2}', "application/json", "unknown shape"),
    ("no identity", b'{"Status": "Answered", "Disposition": "x"}', "application/json", "no call identity"),
    ("top-level number", b"42", "application/json", "got a number"),
    ("top-level string", b'"hello"', "application/json", "malformed JSON"),
    ("empty array", b"[]", "application/json", "no records"),
    ("array of scalars", b"[1, 2]", "application/json", "expected a JSON object"),
    ("invalid utf-8", b'{"monitorUCID": "\xff\xfe"}', "application/json", "not valid UTF-8"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "application/json", "nested too deeply"),
    ("NaN in extra field", b'{"monitorUCID": "1", "Score": NaN}', "application/json", "NaN"),
    ("NUL character", b'{"monitorUCID": "1", "Note": "a\\u0000b"}', "application/json", "NUL"),
    ("form without fields", b"&&", "application/x-www-form-urlencoded", "no fields"),
    ("form data not json", b"data=%7Bnope", "application/x-www-form-urlencoded", "malformed JSON"),
    ("sql injection as an id", None, None, None),
]


@pytest.mark.parametrize(
    "name,body,content_type,reason",
    [q for q in QUARANTINED if q[1] is not None],
    ids=[q[0] for q in QUARANTINED if q[1] is not None],
)
def test_bad_input_is_stored_quarantined_and_answered_202(client, db, name, body, content_type, reason):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = client.post(URL, data=body, headers=headers)
    assert resp.status_code == 202, resp.json
    assert resp.json["stored"] is True and resp.json["parsed"] is False
    assert "do not resend" in resp.json["message"]
    [(status, error, stored)] = db.execute("SELECT status, error, body FROM raw_inbox")
    assert status == "quarantined"
    assert reason in str(error), error
    assert bytes(stored) == body
    assert db.execute("SELECT count(*) FROM ozonetel_call").fetchone()[0] == 0


def test_sql_injection_strings_are_stored_verbatim_as_data(client, db):
    evil = "1'; DROP TABLE ozonetel_call; --"
    resp = client.post(URL, json={"monitorUCID": evil, "Comments": "Robert'); DELETE FROM raw_inbox;--"})
    assert resp.status_code == 200
    [(key, comments)] = db.execute("SELECT call_key, comments FROM ozonetel_call")
    assert key == evil and comments.startswith("Robert')")


def test_one_bad_record_in_an_array_does_not_stop_the_good_ones(client, db):
    body = b'[{"monitorUCID": "good-1"}, {"monitorUCID": "bad", "StartTime": "yesterday"}, {"UCID": "good-2"}]'
    resp = client.post(URL, data=body, content_type="application/json")
    assert resp.status_code == 202
    assert (resp.json["records"], resp.json["landed"]) == (3, 2)
    assert [r[0] for r in db.execute("SELECT call_key FROM ozonetel_call ORDER BY 1")] == ["good-1", "good-2"]
    [(status, error, landed)] = db.execute("SELECT status, error, landed_count FROM raw_inbox")
    assert (status, landed) == ("quarantined", 2)
    assert list(error["records"]) == ["1"] and "StartTime" in error["records"]["1"]


@pytest.mark.parametrize(
    "path",
    [
        "/callbacks/ozonetel/wrong-token",
        f"/callbacks/ozonetel/{OZONETEL_TOKEN}x",
        f"/callbacks/ozonetel/{OZONETEL_TOKEN[:-1]}",
    ],
)
def test_wrong_token_is_401_and_nothing_is_stored(client, db, path):
    resp = client.post(
        path, data=fixture_bytes("ozonetel", "call_details__single.json"), content_type="application/json"
    )
    assert resp.status_code == 401
    assert "callrecon urls" in resp.json["message"]
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 0


def test_missing_token_is_404_json(client, db):
    resp = client.post("/callbacks/ozonetel/", json={"monitorUCID": "1"})
    assert resp.status_code == 404 and resp.is_json and "POST /callbacks/<source>/<token>" in resp.json["message"]
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 0


def test_no_configured_tokens_means_nobody_gets_in(env, db):
    app = create_app(Settings.from_env({**env, "OZONETEL_CALLBACK_TOKENS": ""}, VENDORS))
    try:
        resp = app.test_client().post("/callbacks/ozonetel/", json={})
        assert resp.status_code == 404
        resp = app.test_client().post("/callbacks/ozonetel/anything", json={"monitorUCID": "1"})
        assert resp.status_code == 401
    finally:
        app.extensions["callrecon_pool"].close()
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 0


def test_unknown_source_is_404_json(client):
    resp = client.post(f"/callbacks/acme/{OZONETEL_TOKEN}", json={})
    assert resp.status_code == 404 and "ozonetel" in resp.json["message"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_json(client, method):
    resp = client.open(URL, method=method)
    assert resp.status_code == 405 and resp.is_json and "POST" in resp.json["message"]


def test_body_over_the_limit_is_413_and_not_stored(env, db):
    app = create_app(Settings.from_env({**env, "MAX_BODY_BYTES": "2048"}, VENDORS))
    try:
        client = app.test_client()
        resp = client.post(URL, data=b'{"monitorUCID": "' + b"9" * 2048 + b'"}', content_type="application/json")
        assert resp.status_code == 413 and "MAX_BODY_BYTES=2048" in resp.json["message"]
        ok = client.post(URL, data=b'{"monitorUCID": "' + b"9" * 1000 + b'"}', content_type="application/json")
        assert ok.status_code == 200
    finally:
        app.extensions["callrecon_pool"].close()
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 1


def test_database_down_is_503_with_retry_after_and_no_2xx(env):
    app = create_app(
        Settings.from_env(
            {**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", "DB_POOL_TIMEOUT": "1"}, VENDORS
        )
    )
    try:
        resp = app.test_client().post(URL, json={"monitorUCID": "1"})
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "5"
        assert "send it again" in resp.json["message"]
    finally:
        app.extensions["callrecon_pool"].close()


def test_a_parser_bug_quarantines_instead_of_failing_the_callback(client, db, monkeypatch):
    from receiver.vendors.ozonetel import records as ozonetel

    def broken(record, zone):
        raise KeyError("bug")

    monkeypatch.setattr(ozonetel, "to_row", broken)
    resp = client.post(URL, json={"monitorUCID": "1"})
    assert resp.status_code == 202
    [(status, error)] = db.execute("SELECT status, error FROM raw_inbox")
    assert status == "quarantined" and "parser error: KeyError" in error["message"]


def test_apikey_never_reaches_the_database_or_logs(client, db, capfd):
    single = fixture_bytes("ozonetel", "call_details__single.json").decode()
    from urllib.parse import quote

    bodies = [
        (single.encode(), "application/json"),
        (fixture_bytes("ozonetel", "call_details__array.json"), "application/json"),
        (fixture_bytes("ozonetel", "call_details__doubled_quotes.txt"), "text/plain"),
        (f"data={quote(single)}".encode(), "application/x-www-form-urlencoded"),
        (f"Apikey={FIXTURE_APIKEY}&monitorUCID=5".encode(), "application/x-www-form-urlencoded"),
        # undecodable bodies still get their api key masked before storage
        (single[:-5].encode(), "application/json"),
        (f'{{"apiKey": "{FIXTURE_APIKEY}", broken'.encode(), "application/json"),
        (f"data={quote(single[:-5])}".encode(), "application/x-www-form-urlencoded"),
    ]
    for body, content_type in bodies:
        assert client.post(URL, data=body, content_type=content_type).status_code in (200, 202)
    dump = "\n".join(
        str(row)
        for table in ("raw_inbox", "ozonetel_call", "ozonetel_sighting")
        for row in db.execute(f"SELECT t::text FROM {table} t")
    )
    dump += "\n".join(str(r) for r in db.execute("SELECT convert_from(body, 'UTF8') FROM raw_inbox"))
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == len(bodies)
    assert FIXTURE_APIKEY not in dump
    assert FIXTURE_APIKEY[:12] not in dump
    logs = capfd.readouterr()
    assert '"msg": "callback"' in logs.err
    assert FIXTURE_APIKEY not in logs.out + logs.err
    assert OZONETEL_TOKEN not in logs.out + logs.err


def test_callback_log_line_is_json_without_token_or_body(client, capfd):
    import json as _json

    client.post(URL, json={"monitorUCID": "log-test", "Comments": "private words"})
    lines = [_json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    [entry] = [line for line in lines if line["msg"] == "callback"]
    assert entry["source"] == "ozonetel" and entry["outcome"] == "landed" and entry["records"] == 1
    assert isinstance(entry["ms"], float)
    assert "private words" not in str(lines) and OZONETEL_TOKEN not in str(lines)


def test_headers_are_stored_without_credentials(client, db):
    client.post(
        URL,
        json={"monitorUCID": "1"},
        headers={"Authorization": "Bearer abc123secret", "X-Api-Key": "hdrsecret99", "X-Trace": "t1"},
    )
    [(headers,)] = db.execute("SELECT headers FROM raw_inbox")
    assert headers["Authorization"] == "***" and headers["X-Api-Key"] == "***" and headers["X-Trace"] == "t1"


def test_a_committed_raw_row_is_visible_to_another_connection_when_2xx_arrives(client, database_url):
    resp = client.post(URL, json={"monitorUCID": "visible"})
    assert resp.status_code == 200
    with psycopg.connect(database_url) as other:
        assert other.execute("SELECT status FROM raw_inbox WHERE id = %s", (resp.json["raw_id"],)).fetchone() == (
            "landed",
        )
