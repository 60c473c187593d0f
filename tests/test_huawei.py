"""Huawei CC-iSales: push endpoint, detail fetch, discovery, signing, against a fake iSales on loopback."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import zoneinfo

import psycopg
import pytest
from psycopg.rows import dict_row

from conftest import SECRETS, fixture_bytes
from fakes import FakeClock, FakeISales, huawei_seed_response
from receiver import create_app
from receiver.config import ConfigError, Settings
from receiver.vendors import VENDORS
from receiver.vendors.huawei import records as landing
from reconciler import cli
from reconciler.core.clock import SystemClock
from reconciler.core.run import run_source
from reconciler.sources.huawei.detail import CLAIM_CALL, HuaweiDetailSource
from reconciler.sources.huawei.discovery import HuaweiDiscoverySource

AK, SK = "hw-ak-5e6f7a8b", "hw-sk-0c1d2e3f4a5b"
TOKEN = "hw-token-9a8b7c6d"
SECRETS.update({AK, SK, TOKEN})
URL = f"/callbacks/huawei/{TOKEN}"
UTC = dt.timezone.utc
SEED = huawei_seed_response()
SEED_CALL = (8, "1644464743-1388")


@pytest.fixture
def isales_server(vendor_server):
    return vendor_server


@pytest.fixture
def isales(isales_server):
    return FakeISales(isales_server, AK, SK)


@pytest.fixture
def hw_env(env, isales):
    return {
        **env,
        "HUAWEI_CALLBACK_TOKENS": TOKEN,
        "HUAWEI_BASE_URL": isales.base_url,
        "HUAWEI_AK": AK,
        "HUAWEI_SK": SK,
        "HUAWEI_TIMEZONE": "Asia/Shanghai",
        "HUAWEI_CAMPAIGNS": "8:1001",
        "HUAWEI_DISCOVERY_DAYS": "2",
        "HUAWEI_PAGE_SIZE": "2",
        "HUAWEI_TIMEOUT": "5s",
    }


@pytest.fixture
def hw_client(hw_env):
    app = create_app(Settings.from_env(hw_env, VENDORS))
    yield app.test_client()
    app.extensions["callrecon_pool"].close()


@pytest.fixture
def clock():
    return FakeClock(dt.datetime(2022, 2, 11, 4, 0, tzinfo=UTC))  # 12:00 in Shanghai


@pytest.fixture
def run(hw_env, reconciler_url, clock):
    """Run one Huawei work source once."""

    def _run(source_class, overrides=None, stop=None, concurrency=1, since=None):
        settings = Settings.from_env({**hw_env, **(overrides or {})}, VENDORS)
        source = source_class(settings, rng=random.Random(3))
        return run_source(
            source, reconciler_url, clock, stop=stop or threading.Event(), concurrency=concurrency, since=since
        )

    return _run


def call_row(db, vdn, call_id):
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM huawei_call WHERE vdn_id = %s AND call_id = %s", (vdn, call_id)).fetchone()


def test_push_of_the_documented_array_is_acknowledged_and_landed(hw_client, db):
    resp = hw_client.post(URL, data=fixture_bytes("huawei", "push__array.json"), content_type="application/json")
    assert resp.status_code == 200
    assert resp.json["retCode"] == "0" and resp.json["retMsg"] == "success"
    row = call_row(db, *SEED_CALL)
    assert (row["campaign_id"], row["called"], row["call_status"], row["fail_code"]) == ("1001", "88881955", 6, "00000")
    assert row["call_time"] == dt.datetime(2022, 2, 10, 3, 45, 43, tzinfo=UTC)  # Shanghai is UTC+8
    assert row["detail_status"] == "pending" and row["push_count"] == 1
    assert row["value_sources"]["called"] == "push" and row["custom_field"] == "lead=42"
    assert db.execute("SELECT count(*) FROM huawei_call").fetchone() == (2,)


def test_string_call_status_and_vdn_are_accepted(hw_client, db):
    resp = hw_client.post(
        URL, data=fixture_bytes("huawei", "push__string_status.json"), content_type="application/json"
    )
    assert resp.status_code == 200 and resp.json["retCode"] == "0"
    assert call_row(db, 8, "1644550000-0007")["call_status"] == 6


def test_a_repeated_push_updates_instead_of_duplicating(hw_client, db):
    for _ in range(3):
        hw_client.post(URL, data=fixture_bytes("huawei", "push__array.json"), content_type="application/json")
    assert db.execute("SELECT count(*), max(push_count) FROM huawei_call").fetchone() == (2, 3)
    assert db.execute("SELECT count(*) FROM raw_inbox WHERE source = 'huawei'").fetchone() == (3,)


def test_a_bad_push_is_stored_and_acknowledged_so_huawei_does_not_repush(hw_client, db):
    resp = hw_client.post(URL, data=b'[{"vdnId": 8}]', content_type="application/json")
    assert resp.status_code == 200 and resp.json["retCode"] == "0"
    assert resp.json["retMsg"].startswith("stored; quarantined")
    [(status, error)] = db.execute("SELECT status, error FROM raw_inbox")
    assert status == "quarantined" and "needs vdnId and callId" in json.dumps(error)


def test_a_wrong_token_is_refused_with_a_non_200(hw_client, db):
    resp = hw_client.post(
        "/callbacks/huawei/nope", data=fixture_bytes("huawei", "push__array.json"), content_type="application/json"
    )
    assert resp.status_code == 401
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone() == (0,)


def test_detail_fetch_completes_the_pushed_row_from_the_seed(hw_client, db, isales, run, clock):
    hw_client.post(URL, data=fixture_bytes("huawei", "push__array.json"), content_type="application/json")
    clock.t = dt.datetime.now(UTC)  # a pushed call is due at once
    isales.details[SEED_CALL] = SEED["data"]
    result = run(HuaweiDetailSource)
    assert result.counts == {"detail-done": 1, "retry": 1}  # the second call is not complete at Huawei yet
    row = call_row(db, *SEED_CALL)
    assert row["detail_status"] == "done" and row["detail_attempts"] == 1
    assert row["ack_begin_time"] == dt.datetime(2022, 2, 10, 3, 45, 43, tzinfo=UTC)
    assert row["call_begin_time"] == dt.datetime(2022, 2, 10, 3, 45, 47, tzinfo=UTC)
    assert row["call_end_time"] == dt.datetime(2022, 2, 10, 3, 45, 51, tzinfo=UTC)
    assert row["call_status"] == 6 and row["result_code"] == "OB99999" and row["fail_code"] == "00000"
    assert row["record_path"].startswith("https://south-aicc-develop.obs.cn-south-1.myhuaweicloud.com:443/")
    assert " " not in row["record_path"]
    assert row["record_expires_at"] == dt.datetime.fromtimestamp(1644484560, UTC)
    assert row["value_sources"]["ack_begin_time"] == "detail" and row["value_sources"]["custom_field"] == "push"
    assert row["value_sources"]["call_status"] == "detail" and row["push_count"] == 1
    assert isales.bad_signatures == 0


def test_tracked_calls_get_their_detail_and_empty_times_mean_none(db, isales, run, clock, hw_env):
    settings = Settings.from_env(hw_env, VENDORS)
    with db.transaction():
        assert landing.register(db, 8, ["c-1", "c-1", "c-2"], settings, clock.now()) == 2
    isales.details[(8, "c-1")] = dict(
        SEED["data"], callId="c-1", callBeginTime="", callEndTime="", callStatus=5, failCode="00603", recordPath=""
    )
    isales.details[(8, "c-2")] = dict(SEED["data"], callId="c-2")
    assert run(HuaweiDetailSource).counts == {"detail-done": 2}
    row = call_row(db, 8, "c-1")
    assert (row["call_begin_time"], row["call_end_time"], row["record_path"], row["record_expires_at"]) == (
        None,
        None,
        None,
        None,
    )
    assert row["call_status"] == 5
    assert db.execute("SELECT fail_meaning FROM huawei_call_explained WHERE call_id = 'c-1'").fetchone() == (
        "No answer",
    )


def test_record_not_found_is_retried_then_marked_not_found(db, isales, run, clock, hw_env):
    with db.transaction():
        landing.register(db, 8, ["gone-1"], Settings.from_env(hw_env, VENDORS), clock.now())
    for attempt in range(1, 4):
        result = run(HuaweiDetailSource, {"HUAWEI_NOT_FOUND_TRIES": "3"})
        row = call_row(db, 8, "gone-1")
        assert row["detail_attempts"] == attempt and "0200007" in row["detail_error"]
        clock.t = row["detail_next_at"]
    assert result.counts == {"detail-not-found": 1} and row["detail_status"] == "not-found"


@pytest.mark.parametrize("code", ["0200001"] + [f"020000{n:02d}" for n in range(1, 12)])
def test_parameter_errors_are_permanent_with_the_vendors_description(db, isales, run, clock, hw_env, code):
    with db.transaction():
        landing.register(db, 8, ["bad-1"], Settings.from_env(hw_env, VENDORS), clock.now())
    isales.scripts[(8, "bad-1")].append((200, {"returnCode": code, "resultDesc": f"Parameter problem {code}"}))
    assert run(HuaweiDetailSource).counts == {"detail-failed": 1}
    row = call_row(db, 8, "bad-1")
    assert row["detail_status"] == "failed" and row["detail_error"] == f"{code} Parameter problem {code}"


@pytest.mark.parametrize(
    "answer,error",
    [
        ((500, "boom"), "HTTP 500"),
        ((200, "<html>"), "not JSON"),
        ((200, {"returnCode": "9999999"}), "unexpected answer 9999999"),
    ],
)
def test_transient_errors_are_retried_with_backoff(db, isales, run, clock, hw_env, answer, error):
    with db.transaction():
        landing.register(db, 8, ["t-1"], Settings.from_env(hw_env, VENDORS), clock.now())
    isales.scripts[(8, "t-1")].append(answer)
    isales.details[(8, "t-1")] = dict(SEED["data"], callId="t-1")
    assert run(HuaweiDetailSource).counts == {"retry": 1}
    row = call_row(db, 8, "t-1")
    assert error in row["detail_error"] and row["detail_status"] == "pending"
    assert 30 <= (row["detail_next_at"] - clock.now()).total_seconds() <= 60
    clock.t = row["detail_next_at"]
    assert run(HuaweiDetailSource).counts == {"detail-done": 1}


def test_a_bad_signature_stops_the_source_with_one_message(db, isales, run, clock, hw_env):
    with db.transaction():
        landing.register(db, 8, ["s-1", "s-2", "s-3"], Settings.from_env(hw_env, VENDORS), clock.now())
    result = run(HuaweiDetailSource, {"HUAWEI_SK": "not-the-secret"})
    assert result.outcome == "failed" and "HUAWEI_AK, HUAWEI_SK" in result.error
    assert "not-the-secret" not in result.error and isales.bad_signatures == 1
    assert db.execute("SELECT max(detail_attempts) FROM huawei_call").fetchone() == (0,)


def test_discovery_pages_through_each_day_lands_calls_and_queues_detail(db, isales, run, clock):
    for n in range(5):
        isales.days[(8, 1001, "2022-02-10")].append(
            {
                "campaignId": 1001,
                "sessionId": f"s{n}",
                "called": f"8888{n:04d}",
                "callTimeStr": "2022-02-10 10:00:00",
                "callStatus": 6,
                "failCode": "00000",
                "resultCode": "OB99999",
                "vdnId": 8,
                "callId": f"disc-{n}",
            }
        )
    isales.days[(8, 1001, "2022-02-11")].append(
        {"vdnId": 8, "callId": "today-1", "callStatus": 5, "failCode": "00537", "callTimeStr": "2022-02-11 11:00:00"}
    )
    result = run(HuaweiDiscoverySource)
    assert result.counts == {"page": 4}  # yesterday: 3 pages of 2; today: 1 page
    assert db.execute("SELECT count(*) FROM huawei_call WHERE detail_status = 'pending'").fetchone() == (6,)
    assert call_row(db, 8, "disc-3")["value_sources"]["result_code"] == "bulk"
    windows = dict(db.execute("SELECT day::text, state FROM huawei_discovery_window").fetchall())
    assert windows == {"2022-02-10": "covered", "2022-02-11": "pending"}  # today is not over yet
    assert [b["pageNum"] for _, _, b in isales.bulk_calls] == [1, 2, 3, 1]

    isales.bulk_calls.clear()
    assert run(HuaweiDiscoverySource).counts == {}  # covered days are not asked again
    clock.advance(15 * 60)
    assert run(HuaweiDiscoverySource).counts == {"page": 1}  # today again, later
    # --since re-opens the covered day (3 pages) and asks for today again (1 page)
    assert run(HuaweiDiscoverySource, since=dt.date(2022, 2, 10)).counts == {"page": 4}


def test_two_reconcilers_never_exceed_the_concurrency_limit(db, isales, hw_env, reconciler_url):
    isales.latency = 0.05
    settings = Settings.from_env({**hw_env, "HUAWEI_CONCURRENCY": "3", "HUAWEI_BATCH_GAP": "0.05s"}, VENDORS)
    with db.transaction():
        landing.register(db, 8, [f"cc-{n}" for n in range(60)], settings, SystemClock().now())
    for n in range(60):
        isales.details[(8, f"cc-{n}")] = dict(SEED["data"], callId=f"cc-{n}")
    results = []

    def one_process():
        results.append(
            run_source(
                HuaweiDetailSource(settings), reconciler_url, SystemClock(), stop=threading.Event(), concurrency=4
            )
        )

    threads = [threading.Thread(target=one_process) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.counts["detail-done"] for r in results) == 60
    assert set(isales.detail_calls.values()) == {1}  # no call fetched twice
    assert 1 < isales.peak <= 3


def test_calls_claimed_by_a_killed_reconciler_are_picked_up_again(db, isales, run, clock, hw_env, reconciler_url):
    with db.transaction():
        landing.register(db, 8, ["k-1", "k-2"], Settings.from_env(hw_env, VENDORS), clock.now())
    for call_id in ("k-1", "k-2"):
        isales.details[(8, call_id)] = dict(SEED["data"], callId=call_id)
    doomed = psycopg.connect(reconciler_url)
    claimed = doomed.execute(
        CLAIM_CALL, {"now": clock.now(), "blocked": [], "horizon": dt.timedelta(days=30)}
    ).fetchone()
    assert claimed[1] == "k-1"
    assert run(HuaweiDetailSource).counts == {"detail-done": 1}
    doomed.close()
    assert run(HuaweiDetailSource).counts == {"detail-done": 1}
    assert sorted(isales.detail_calls) == [(8, "k-1"), (8, "k-2")]


def test_keys_never_reach_logs_or_rows(db, isales, run, clock, hw_env, capfd):
    with db.transaction():
        landing.register(db, 8, ["sec-1"], Settings.from_env(hw_env, VENDORS), clock.now())
    isales.scripts[(8, "sec-1")].append((500, f"debug {AK} {SK}"))
    run(HuaweiDetailSource)
    row = call_row(db, 8, "sec-1")
    assert AK not in row["detail_error"] and SK not in row["detail_error"]
    logs = capfd.readouterr()
    assert SK not in logs.out + logs.err


def test_the_signer_can_be_switched_off_by_configuration(db, isales, run, clock, hw_env):
    with db.transaction():
        landing.register(db, 8, ["n-1"], Settings.from_env(hw_env, VENDORS), clock.now())
    result = run(HuaweiDetailSource, {"HUAWEI_SIGNER": "none"})
    assert result.outcome == "failed" and isales.bad_signatures == 1  # this fake insists on auth-v2
    result = run(HuaweiDetailSource, {"HUAWEI_SIGNER": "no.such.module:sign"})
    assert result.outcome == "failed" and "HUAWEI_SIGNER" in result.error


@pytest.mark.parametrize("setting", ["HUAWEI_CALLBACK_TOKENS", "HUAWEI_BASE_URL", "HUAWEI_AK", "HUAWEI_SK"])
def test_huawei_without_a_time_zone_refuses_to_start_web_and_reconciler(hw_env, setting, monkeypatch, capsys):
    env = {k: v for k, v in hw_env.items() if not k.startswith("HUAWEI_")}
    env[setting] = hw_env[setting]
    for name in list(hw_env):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=r"^HUAWEI_TIMEZONE is not set: .*tenant's time zone.*Asia/Shanghai"):
        create_app()  # what gunicorn's 'receiver:create_app()' runs
    assert cli.main(["status"]) == 2  # every reconciler command reads the same settings first
    err = capsys.readouterr().err
    assert err.startswith("callrecon: HUAWEI_TIMEZONE is not set") and err.count("\n") == 1


def test_seed_times_read_in_the_tenant_zone_put_the_link_expiry_after_the_call_end(db, hw_env, clock):
    settings = Settings.from_env(hw_env, VENDORS)  # Asia/Shanghai: the seed page is dated GMT+08:00
    with db.transaction():
        landing.land_detail(db, *SEED_CALL, SEED["data"], settings, clock.now())
    row = call_row(db, *SEED_CALL)
    assert row["source_timezone"] == "Asia/Shanghai"
    assert row["call_end_time"] == dt.datetime(2022, 2, 10, 3, 45, 51, tzinfo=UTC)
    assert row["record_expires_at"] - row["call_end_time"] == dt.timedelta(hours=5, minutes=30, seconds=9)
    misread = landing.to_row(SEED["data"], zoneinfo.ZoneInfo("UTC"), "detail")  # the old silent default
    assert misread["record_expires_at"] < misread["call_end_time"]


ZONED_COLUMNS = (
    [("huawei_call", c, "HUAWEI_TIMEZONE") for c in landing.TIME_COLUMNS]
    + [("huawei_call_explained", c, "HUAWEI_TIMEZONE") for c in landing.TIME_COLUMNS]
    + [("ozonetel_call", c, "OZONETEL_TIMEZONE") for c in ("start_time", "end_time")]
    + [("call", c, "HUAWEI_TIMEZONE") for c in ("ring_time", "connect_time", "end_time")]
    + [("call", c, "OZONETEL_TIMEZONE") for c in ("ring_time", "connect_time", "end_time")]
)


@pytest.mark.parametrize("table,column,setting", ZONED_COLUMNS)
def test_every_naive_vendor_time_column_names_the_zone_it_was_read_in(db, table, column, setting):
    comment = db.execute(
        "SELECT col_description(%s::regclass, attnum) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        (table, table, column),
    ).fetchone()[0]
    assert setting in comment


def register(db, hw_env, clock, vdn, *call_ids):
    with db.transaction():
        landing.register(db, vdn, list(call_ids), Settings.from_env(hw_env, VENDORS), clock.now())


def test_result_desc_is_read_first_and_return_desc_is_kept(db, isales, run, clock, hw_env):
    register(db, hw_env, clock, 8, "d-1")
    isales.scripts[(8, "d-1")].append(
        (
            200,
            {
                "returnCode": "0200001",
                "resultCode": "0200001",
                "resultDesc": "callId contains invalid characters",
                "returnDesc": "Parameter error.",
            },
        )
    )
    assert run(HuaweiDetailSource).counts == {"detail-failed": 1}
    assert (
        call_row(db, 8, "d-1")["detail_error"]
        == "0200001 callId contains invalid characters (returnDesc: Parameter error.)"
    )


@pytest.mark.parametrize("status", [400, 403, 404, 405, 429, 502])
def test_an_undocumented_http_status_is_retried_never_a_source_stop(db, isales, run, clock, hw_env, status):
    register(db, hw_env, clock, 8, "u-1", "u-2")
    isales.scripts[(8, "u-1")].append((status, "<html>nope</html>"))
    for call_id in ("u-1", "u-2"):
        isales.details[(8, call_id)] = dict(SEED["data"], callId=call_id)
    result = run(HuaweiDetailSource)
    assert result.outcome == "ok" and result.counts == {"retry": 1, "detail-done": 1}
    row = call_row(db, 8, "u-1")
    assert row["detail_status"] == "pending" and row["detail_attempts"] == 1
    assert row["detail_error"].startswith(f"HTTP {status}: <html>nope</html>")
    assert "HUAWEI_BASE_URL" in row["detail_error"]
    clock.t = row["detail_next_at"]
    assert run(HuaweiDetailSource).counts == {"detail-done": 1}


def test_failed_calls_give_up_after_huawei_max_tries_with_the_last_reason(db, isales, run, clock, hw_env):
    register(db, hw_env, clock, 8, "m-1")
    isales.scripts[(8, "m-1")].extend([(503, "busy")] * 3)
    for _ in range(3):
        result = run(HuaweiDetailSource, {"HUAWEI_MAX_TRIES": "3"})
        clock.t = call_row(db, 8, "m-1")["detail_next_at"]
    row = call_row(db, 8, "m-1")
    assert result.counts == {"detail-failed": 1} and row["detail_status"] == "failed" and row["detail_attempts"] == 3
    assert row["detail_error"].startswith("HTTP 503: busy") and "(HUAWEI_MAX_TRIES=3)" in row["detail_error"]


def test_a_call_past_its_recording_link_expiry_fails_at_its_next_failure(db, isales, run, clock, hw_env):
    register(db, hw_env, clock, 8, "h-1", "h-2")
    db.execute("UPDATE huawei_call SET record_expires_at = %s WHERE call_id = 'h-1'", (clock.now(),))
    db.execute(
        "UPDATE huawei_call SET first_seen_at = %s WHERE call_id = 'h-2'", (clock.now() - dt.timedelta(days=31),)
    )  # HUAWEI_DETAIL_HORIZON defaults to 30 days
    for call_id in ("h-1", "h-2"):
        isales.scripts[(8, call_id)].append((500, "boom"))
    assert run(HuaweiDetailSource).counts == {"detail-failed": 2}
    assert "past the vendor's horizon" in call_row(db, 8, "h-1")["detail_error"]
    assert call_row(db, 8, "h-2")["detail_status"] == "failed"


def test_discovery_windows_give_up_after_huawei_max_tries(db, isales, run, clock):
    isales.bulk_scripts[(8, 1001)].extend([(500, "down")] * 4)
    assert run(HuaweiDiscoverySource, {"HUAWEI_MAX_TRIES": "2"}).counts == {"retry": 2}
    clock.advance(2 * 3600)
    assert run(HuaweiDiscoverySource, {"HUAWEI_MAX_TRIES": "2"}).counts == {"window-failed": 2}
    rows = db.execute("SELECT state, failures, last_error FROM huawei_discovery_window").fetchall()
    assert {r[:2] for r in rows} == {("failed", 2)} and all("HUAWEI_MAX_TRIES=2" in r[2] for r in rows)


def stopped(db, hw_env, clock):
    from reconciler import status

    report = status.collect(db, Settings.from_env(hw_env, VENDORS), VENDORS, clock)
    return [(s["source"], s["scope"], s["key"]) for s in report["stopped"]]


def test_a_parameter_error_on_the_vdn_stops_only_that_vdn_until_the_recheck(db, isales, run, clock, hw_env):
    register(db, hw_env, clock, 8, "v-1", "v-2")
    register(db, hw_env, clock, 9, "w-1")
    isales.scripts[(8, "v-1")].append(
        (200, {"returnCode": "0200001", "resultDesc": "vdnId is invalid", "returnDesc": "Parameter error."})
    )
    for key in ((8, "v-1"), (8, "v-2"), (9, "w-1")):
        isales.details[key] = dict(SEED["data"], vdnId=key[0], callId=key[1])
    result = run(HuaweiDetailSource)
    assert result.outcome == "ok" and result.counts == {"vdn-stopped": 1, "detail-done": 1}
    assert isales.detail_calls[(8, "v-2")] == 0 and call_row(db, 8, "v-1")["detail_attempts"] == 0
    assert stopped(db, hw_env, clock) == [("huawei", "vdn", "8")]
    other = Settings.from_env({**hw_env, "HUAWEI_BASE_URL": "https://elsewhere:28443"}, VENDORS)
    assert HuaweiDetailSource(Settings.from_env(hw_env, VENDORS)).blocked_vdns(db, clock.now()) == [8]
    clock.advance(3601)  # HUAWEI_RETRY_MAX_INTERVAL: one more try of the VDN, which now answers
    assert run(HuaweiDetailSource).counts == {"detail-done": 2}
    assert stopped(db, hw_env, clock) == [] and HuaweiDetailSource(other).blocked_vdns(db, clock.now()) == []


def test_a_repeated_404_on_a_vdn_path_stops_that_vdn_and_lifts_when_settings_change(db, isales, run, clock, hw_env):
    register(db, hw_env, clock, 8, "x-1", "x-2")
    register(db, hw_env, clock, 9, "y-1")
    for call_id in ("x-1", "x-2"):
        isales.scripts[(8, call_id)].append((404, "no such path"))
    isales.details[(9, "y-1")] = dict(SEED["data"], vdnId=9, callId="y-1")
    result = run(HuaweiDetailSource)
    assert result.outcome == "ok" and result.counts == {"retry": 1, "vdn-stopped": 1, "detail-done": 1}
    assert stopped(db, hw_env, clock) == [("huawei", "vdn", "8")]
    assert HuaweiDetailSource(Settings.from_env(hw_env, VENDORS)).blocked_vdns(db, clock.now()) == [8]
    other = HuaweiDetailSource(Settings.from_env({**hw_env, "HUAWEI_BASE_URL": "https://elsewhere:28443"}, VENDORS))
    assert other.blocked_vdns(db, clock.now()) == [] and stopped(db, hw_env, clock) == []


def test_a_vdn_error_in_discovery_stops_that_vdns_windows_only(db, isales, run, clock, hw_env):
    isales.bulk_scripts[(8, 1001)].append((200, {"returnCode": "02000007", "resultDesc": "vdnId value is wrong"}))
    result = run(HuaweiDiscoverySource, {"HUAWEI_CAMPAIGNS": "8:1001,9:2002"})
    assert result.outcome == "ok" and result.counts == {"vdn-stopped": 1, "page": 2}
    states = dict(db.execute("SELECT vdn_id || ':' || day, state FROM huawei_discovery_window").fetchall())
    assert states["9:2022-02-10"] == "covered" and states["8:2022-02-10"] == "pending"
    assert stopped(db, hw_env, clock) == [("huawei", "vdn", "8")]


def test_an_older_record_delivered_late_never_overwrites_newer_state(hw_client, db, hw_env, clock):
    newer = {
        "campaignId": "1001",
        "vdnId": 8,
        "callId": "o-1",
        "called": "88880001",
        "callTimeStr": "2022-02-10 12:00:00",
        "callStatus": 6,
        "failCode": "00000",
    }
    older = dict(newer, callTimeStr="2022-02-10 11:00:00", callStatus=5, failCode="00603", customField="first try")
    for record in (newer, older):  # Huawei re-pushes: the older attempt arrives last
        assert hw_client.post(URL, json=[record]).status_code == 200
    with db.transaction():
        landing.land_fetched(db, [older], Settings.from_env(hw_env, VENDORS), "bulk", clock.now())
    row = call_row(db, 8, "o-1")
    assert (row["call_status"], row["fail_code"], row["push_count"]) == (6, "00000", 2)
    assert row["call_time"] == row["event_time"] == dt.datetime(2022, 2, 10, 4, 0, tzinfo=UTC)
    assert row["custom_field"] == "first try"  # an older record still fills what is empty
    assert row["value_sources"]["call_status"] == "push"
    assert db.execute(
        "SELECT outcome, vendor_status, ring_time FROM call WHERE vendor_call_id = '8:o-1'"
    ).fetchone() == ("answered", "6/00000", dt.datetime(2022, 2, 10, 4, 0, tzinfo=UTC))
