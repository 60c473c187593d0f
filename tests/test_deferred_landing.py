"""LANDING_MODE=deferred: the request stores the raw row (group-committed); `callrecon land` lands it."""

from __future__ import annotations

import json
import os
import signal
import threading

import psycopg
import pytest
from psycopg.rows import dict_row

from conftest import OZONETEL_TOKEN, fixture_bytes
from receiver import create_app
from receiver.config import Settings
from receiver.database.pool import make_pool
from receiver.landing import inbox
from receiver.landing.groupcommit import GroupCommit
from receiver.vendors import VENDORS

URL = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"


@pytest.fixture
def deferred_env(env):
    return {**env, "LANDING_MODE": "deferred"}


@pytest.fixture
def deferred_client(deferred_env):
    app = create_app(Settings.from_env(deferred_env, VENDORS))
    yield app.test_client()
    app.extensions["callrecon_pool"].close()


def land(deferred_env, monkeypatch, capsys) -> dict:
    from reconciler import cli

    for name, value in deferred_env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["land"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def raw_row(db, raw_id):
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT status, record_count, landed_count, body FROM raw_inbox WHERE id = %s", (raw_id,)
        ).fetchone()


def test_deferred_reply_comes_after_the_raw_commit_and_land_types_it(
    deferred_client, deferred_env, db, monkeypatch, capsys
):
    resp = deferred_client.post(
        URL, data=fixture_bytes("ozonetel", "call_details__single.json"), content_type="application/json"
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "stored" and resp.json["stored"] is True and resp.json["records"] == 1
    raw = raw_row(db, resp.json["raw_id"])
    assert raw["status"] == "received"  # committed, not yet parsed
    assert b"Apikey" in bytes(raw["body"]) and b'"***"' in bytes(raw["body"])  # masked before storing
    assert db.execute("SELECT count(*) FROM ozonetel_call").fetchone()[0] == 0

    summary = land(deferred_env, monkeypatch, capsys)
    assert summary["landed_callbacks"] == 1 and summary["by_status"] == {"landed": 1}
    assert raw_row(db, resp.json["raw_id"])["status"] == "landed"
    assert (
        db.execute("SELECT extra->>'Apikey' FROM ozonetel_call WHERE call_key = '2105221234567890'").fetchone()[0]
        == "***"
    )
    # A second pass finds nothing left: each raw row is landed once.
    assert land(deferred_env, monkeypatch, capsys)["landed_callbacks"] == 0


def test_deferred_unparseable_body_is_stored_then_quarantined_by_land(
    deferred_client, deferred_env, db, monkeypatch, capsys
):
    resp = deferred_client.post(URL, data=b'{"monitorUCID": ', content_type="application/json")
    assert resp.status_code == 200 and resp.json["stored"] is True and resp.json["records"] == 0
    assert land(deferred_env, monkeypatch, capsys)["by_status"] == {"quarantined": 1}
    assert raw_row(db, resp.json["raw_id"])["status"] == "quarantined"


def test_deferred_bad_token_and_database_down_still_refuse(deferred_env, db):
    app = create_app(
        Settings.from_env(
            {**deferred_env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", "DB_POOL_TIMEOUT": "1"}, VENDORS
        )
    )
    try:
        client = app.test_client()
        assert client.post("/callbacks/ozonetel/wrong", json={"monitorUCID": "1"}).status_code == 401
        resp = client.post(URL, json={"monitorUCID": "1"})
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    finally:
        app.extensions["callrecon_pool"].close()
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 0


def test_deferred_huawei_push_gets_the_acknowledgement_huawei_expects(deferred_env, db):
    app = create_app(Settings.from_env({**deferred_env, "HUAWEI_CALLBACK_TOKENS": "hw-deferred-token-1"}, VENDORS))
    try:
        resp = app.test_client().post(
            "/callbacks/huawei/hw-deferred-token-1",
            data=fixture_bytes("huawei", "push__array.json"),
            content_type="application/json",
        )
    finally:
        app.extensions["callrecon_pool"].close()
    assert resp.status_code == 200 and resp.json["retCode"] == "0" and resp.json["retMsg"] == "success"
    assert db.execute("SELECT status FROM raw_inbox").fetchone()[0] == "received"


def raw_item(n: int, client_addr: str = "127.0.0.1") -> dict:
    body = json.dumps({"monitorUCID": f"gc-{n}"}).encode()
    return dict(
        source="ozonetel",
        client_addr=client_addr,
        content_type="application/json",
        headers={},
        body=body,
        received_bytes=len(body),
    )


def test_group_commit_shares_one_commit_among_waiting_requests(settings, db):
    """Requests queued while a commit is in flight go in the next one, each getting its own id."""
    database = make_pool(settings)
    batches: list[int] = []
    first_in_flight, all_queued = threading.Event(), threading.Event()

    def write(conn, items):
        batches.append(len(items))
        if len(batches) == 1:
            first_in_flight.set()
            assert all_queued.wait(10)
        return inbox.store_many(conn, items)

    committer = GroupCommit(database, write)
    results: dict[int, tuple] = {}

    def post(n):
        results[n] = committer.submit(raw_item(n))

    try:
        leader = threading.Thread(target=post, args=(0,))
        leader.start()
        assert first_in_flight.wait(10)
        others = [threading.Thread(target=post, args=(n,)) for n in range(1, 16)]
        for t in others:
            t.start()
        while len(committer._queue) < 15:
            threading.Event().wait(0.01)
        all_queued.set()
        for t in [leader, *others]:
            t.join(10)
    finally:
        database.close()
    assert batches == [1, 15]
    stored = dict(db.execute("SELECT id, body FROM raw_inbox").fetchall())
    assert len(stored) == 16 == len({raw_id for raw_id, _ in results.values()})
    for n, (raw_id, _) in results.items():  # every thread got the id of its own row
        assert json.loads(bytes(stored[raw_id]))["monitorUCID"] == f"gc-{n}"


def test_group_commit_one_bad_row_does_not_cost_the_others(settings, db):
    database = make_pool(settings)
    committer = GroupCommit(database, inbox.store_many)
    try:
        committer._leading = True  # as if a commit were in flight: both requests queue behind it
        outcomes = {}

        def post(n, addr):
            try:
                outcomes[n] = committer.submit(raw_item(n, addr))
            except psycopg.Error as exc:
                outcomes[n] = exc

        threads = [
            threading.Thread(target=post, args=(1, "127.0.0.1")),
            threading.Thread(target=post, args=(2, "not-an-address")),
        ]
        for t in threads:
            t.start()
        while len(committer._queue) < 2:
            threading.Event().wait(0.01)
        # Hand the lead to the first waiter, as a finishing leader would.
        with committer._lock:
            committer._queue[0].lead = True
            committer._queue[0].wake.set()
        for t in threads:
            t.join(10)
    finally:
        database.close()
    assert isinstance(outcomes[2], psycopg.DataError)
    assert isinstance(outcomes[1], tuple)
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 1


def test_group_commit_replaces_a_held_connection_that_died_while_idle(settings, db):
    """After a database restart the leader's held connection is dead; the batch goes through on a new one."""
    database = make_pool(settings)
    committer = GroupCommit(database, inbox.store_many)
    try:
        first_id, _ = committer.submit(raw_item(1))
        held, fresh = database.held()
        assert not fresh
        db.execute("SELECT pg_terminate_backend(%s)", (held.info.backend_pid,))
        second_id, _ = committer.submit(raw_item(2))
        assert database.held()[0] is not held
    finally:
        database.close()
    assert second_id > first_id
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 2


def test_lander_waits_during_a_burst_but_never_past_the_max_lag(db):
    from receiver.landing.bursts import BurstWatch

    now = [100.0]
    watch = BurstWatch(yield_above=50, max_lag_s=60, clock=lambda: now[0])
    assert watch.should_wait(db) is False  # nothing pending, no rate yet
    inbox.store_many(db, [raw_item(n) for n in range(100)])
    now[0] += 1
    assert watch.should_wait(db) is True and watch.rate == 100  # 100 rows in the last second
    inbox.store_many(db, [raw_item(n) for n in range(100, 110)])
    now[0] += 1
    assert watch.should_wait(db) is False and watch.rate == 10  # the burst is over: land
    inbox.store_many(db, [raw_item(n) for n in range(110, 210)])
    db.execute(
        "UPDATE raw_inbox SET received_at = now() - interval '61 seconds' WHERE id = (SELECT min(id) FROM raw_inbox)"
    )
    now[0] += 1
    assert watch.should_wait(db) is False  # still a burst, but the oldest row is 61 s old
    assert watch.rate == 100


def test_land_follow_yields_to_a_burst_then_lands_it(deferred_env, db, monkeypatch, capsys):
    """The real command: rows arriving fast wait; once arrivals stop, every row is landed."""
    from reconciler import cli

    for name, value in deferred_env.items():
        monkeypatch.setenv(name, value)
    stop_after = threading.Timer(4, lambda: os.kill(os.getpid(), signal.SIGTERM))
    feeding = threading.Event()

    def feed():
        with psycopg.connect(deferred_env["DATABASE_URL"], autocommit=True) as conn:
            for n in range(15):  # 150 rows/s for 1.5 s
                inbox.store_many(conn, [raw_item(1000 * n + k) for k in range(15)])
                threading.Event().wait(0.1)
        feeding.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    stop_after.start()
    try:
        assert cli.main(["land", "--follow", "--interval", "0.1", "--yield-above", "50"]) == 0
    finally:
        stop_after.cancel()
        feeder.join(10)
    assert feeding.is_set()
    assert db.execute("SELECT count(*) FROM raw_inbox WHERE status <> 'received'").fetchone()[0] == 225
    assert "landing waits until it ends" in capsys.readouterr().err


def test_metrics_show_the_landing_backlog_until_land_clears_it(deferred_client, deferred_env, db, monkeypatch, capsys):
    from test_operations import _sample

    for n in range(3):
        assert deferred_client.post(URL, json={"monitorUCID": f"backlog-{n}"}).status_code == 200
    db.execute(
        "UPDATE raw_inbox SET received_at = now() - interval '42 seconds' WHERE id = (SELECT min(id) FROM raw_inbox)"
    )
    text = deferred_client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "callrecon_raw_unlanded", 'source="ozonetel"') == 3
    assert 42 <= _sample(text, "callrecon_raw_unlanded_oldest_seconds", 'source="ozonetel"') < 60

    land(deferred_env, monkeypatch, capsys)
    text = deferred_client.get("/metrics").get_data(as_text=True)
    assert 'callrecon_raw_unlanded{source="ozonetel"} 0.0' in text
    assert "callrecon_raw_unlanded_oldest_seconds{" not in text


def test_landing_lag_is_in_metrics_and_status(deferred_client, deferred_env, reconciler_url, db, monkeypatch, capsys):
    """Landing lag as a first-class figure: receipt to typed rows, a histogram in /metrics, p50/p99 in status."""
    from test_operations import _sample

    from reconciler import cli

    for n in range(4):
        assert deferred_client.post(URL, json={"monitorUCID": f"lag-{n}"}).status_code == 200
    # As if the lander had been away: the rows arrived 3 s and 40 s before it lands them.
    db.execute("UPDATE raw_inbox SET received_at = now() - interval '3 seconds'")
    db.execute(
        "UPDATE raw_inbox SET received_at = now() - interval '40 seconds' WHERE id = (SELECT min(id) FROM raw_inbox)"
    )
    text = deferred_client.get("/metrics").get_data(as_text=True)
    assert 'callrecon_landing_lag_seconds_gcount{source="ozonetel"}' not in text  # nothing landed yet
    assert land(deferred_env, monkeypatch, capsys)["landed_callbacks"] == 4
    text = deferred_client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "callrecon_landing_lag_seconds_gcount", 'source="ozonetel"') == 4
    assert _sample(text, "callrecon_landing_lag_seconds_bucket", 'le="2",source="ozonetel"') == 0
    assert _sample(text, "callrecon_landing_lag_seconds_bucket", 'le="5",source="ozonetel"') == 3
    assert _sample(text, "callrecon_landing_lag_seconds_bucket", 'le="60",source="ozonetel"') == 4
    monkeypatch.setenv("DATABASE_URL", reconciler_url)  # an operator's command: the lander above ran as web
    assert cli.main(["status", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)["push_sources"]["ozonetel"]
    assert figures["landed_recently"] == 4 and figures["unlanded"] == 0
    assert 3 <= figures["landing_lag_p50_s"] < 5 and 30 < figures["landing_lag_p99_s"] < 45
    assert cli.main(["status"]) == 0
    assert "landing lag p50 3" in capsys.readouterr().out


def test_a_row_the_database_rejects_costs_only_itself_in_a_landing_batch(
    deferred_client, deferred_env, db, monkeypatch, capsys
):
    """The lander lands a batch behind one savepoint; a failure re-lands it row by row (replay.land_batch)."""
    bodies = [
        {"monitorUCID": "batch-1", "CampaignName": "Renewals"},
        {"monitorUCID": "batch-2", "CampaignName": "Re\u0000newals"},  # text Postgres cannot store
        {"monitorUCID": "batch-3", "CampaignName": "Renewals"},
    ]
    ids = [deferred_client.post(URL, json=body).json["raw_id"] for body in bodies]
    summary = land(deferred_env, monkeypatch, capsys)
    assert summary["landed_callbacks"] == 3 and summary["by_status"] == {"landed": 2, "quarantined": 1}
    assert [raw_row(db, raw_id)["status"] for raw_id in ids] == ["landed", "quarantined", "landed"]
    keys = db.execute("SELECT call_key FROM ozonetel_call WHERE call_key LIKE 'batch-%' ORDER BY 1").fetchall()
    assert keys == [("batch-1",), ("batch-3",)]


# Pushes that exercise every rule of landing: a call seen twice in one batch, an older event after
# a newer one, a record without times, a status notice, records credited by uniqueId and by window.
EQUIVALENCE_BODIES = [
    fixture_bytes("ozonetel", "call_details__single.json"),
    fixture_bytes("ozonetel", "call_details__array.json"),
    fixture_bytes("ozonetel", "dial_status__envelope.json"),
    fixture_bytes("ozonetel", "dial_status__lead.json"),
    json.dumps(
        {
            "monitorUCID": "eq-1",
            "CampaignName": "Renewals_Nov",
            "StartTime": "2024-11-20 12:05:00",
            "EndTime": "2024-11-20 12:07:00",
            "Status": "Answered",
            "uniqueId": "req-8b1c",
        }
    ).encode(),
    json.dumps(
        {
            "monitorUCID": "eq-1",
            "CampaignName": "Renewals_Nov",
            "StartTime": "2024-11-20 12:00:00",
            "EndTime": "2024-11-20 12:01:00",
            "Status": "NotAnswered",
            "Disposition": "Older",
        }
    ).encode(),
    json.dumps(
        [
            {"monitorUCID": "eq-2", "CampaignName": "Renewals_Nov", "StartTime": "2024-11-20 12:30:00"},
            {"monitorUCID": "eq-2", "Disposition": "Callback later"},
        ]
    ).encode(),
    json.dumps({"status": "error", "message": "Authentication failed", "uniqueId": "req-8b1c"}).encode(),
    fixture_bytes("ozonetel", "call_details__single.json"),  # a duplicate push
]
LANDED_STATE = {
    "ozonetel_call": "SELECT * FROM ozonetel_call ORDER BY call_key",
    "ozonetel_sighting": "SELECT * FROM ozonetel_sighting ORDER BY raw_id, record_index",
    "ozonetel_request": "SELECT id, state, records_received, received_at, last_received_at, last_error "
    "FROM ozonetel_request ORDER BY id",
    "ozonetel_request_credit": "SELECT * FROM ozonetel_request_credit ORDER BY request_id, raw_id",
    "raw_inbox": "SELECT id, status, record_count, landed_count, error, parse_count FROM raw_inbox ORDER BY id",
}


def landed_state(db) -> dict:
    with db.cursor(row_factory=dict_row) as cur:
        return {name: cur.execute(query).fetchall() for name, query in LANDED_STATE.items()}


def test_the_lander_batch_lands_exactly_what_inline_landing_lands(client, db, deferred_env, monkeypatch, capsys):
    """land_many (the lander's set-based path) against land_records one push at a time (inline)."""
    request_id = db.execute(
        "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state) "
        "VALUES ('Renewals_Nov', '2024-11-20 06:00Z', '2024-11-20 07:00Z', 'requested') RETURNING id"
    ).fetchone()[0]
    db.execute(
        "INSERT INTO ozonetel_request_try (request_id, try, sent_at, outcome, unique_id) "
        "VALUES (%s, 1, '2024-11-20 07:10Z', 'accepted', 'req-8b1c')",
        (request_id,),
    )
    for body in EQUIVALENCE_BODIES:
        assert client.post(URL, data=body, content_type="application/json").status_code in (200, 202)
    inline = landed_state(db)
    assert len(inline["ozonetel_call"]) >= 6 and inline["ozonetel_request_credit"]

    # The same raw rows, unparsed again, landed by the lander in one batch.
    db.execute("TRUNCATE ozonetel_call, ozonetel_sighting, ozonetel_request_credit")
    db.execute(
        "UPDATE ozonetel_request SET state = 'requested', records_received = 0, received_at = NULL, "
        "last_received_at = NULL, last_error = NULL"
    )
    db.execute(
        "UPDATE raw_inbox SET status = 'received', record_count = 0, landed_count = 0, error = NULL, parse_count = 0"
    )
    from receiver.landing import replay

    def one_by_one(*args):
        raise AssertionError("the batch failed and fell back to landing one by one")

    monkeypatch.setattr(replay, "land", one_by_one)  # the set-based path must do it all
    assert land(deferred_env, monkeypatch, capsys)["landed_callbacks"] == len(EQUIVALENCE_BODIES)
    batched = landed_state(db)
    for table in LANDED_STATE:
        assert batched[table] == inline[table], table


def test_a_batch_rolled_back_by_a_deadlock_is_landed_again_at_once_and_said_so(deferred_env, db, monkeypatch, capsys):
    """Two landers can deadlock on shared calls and PostgreSQL rolls one batch back: the lander says
    so (not "database unavailable"), keeps its connection and lands the batch again at once."""
    from receiver.landing import lander

    with psycopg.connect(deferred_env["DATABASE_URL"], autocommit=True) as conn:
        inbox.store_many(conn, [raw_item(n) for n in range(5)])
    real, calls = lander.replay, []

    def deadlocks_once(conn, *args, **kwargs):
        calls.append(conn)
        if len(calls) == 1:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(lander, "replay", deadlocks_once)
    from reconciler import cli

    for name, value in deferred_env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["land"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["landed_callbacks"] == 5
    assert "rolled back by PostgreSQL (DeadlockDetected" in err and "database unavailable" not in err
    assert len(calls) == 2 and calls[0] is calls[1]  # the same connection: no reconnect, no back-off
    assert db.execute("SELECT count(*) FROM raw_inbox WHERE status = 'landed'").fetchone()[0] == 5


def test_many_record_callbacks_land_within_the_lock_table(deferred_env, db, monkeypatch, capsys):
    """Landing locks every call until commit, and PostgreSQL's lock table (max_locks_per_transaction x
    max_connections: 6,400 here) is shared by all sessions. 1,000 rows of 20-record posts in one batch
    (20,000 locks) ran it out of shared memory and the lander landed nothing; batches now stop at
    RECORDS_PER_BATCH records whatever the rows."""
    callbacks = 1000
    rows = []
    for n in range(callbacks):
        records = [
            {"monitorUCID": f"lock-{n}-{r}", "CampaignName": "Renewals", "Status": "Answered"} for r in range(20)
        ]
        rows.append(
            dict(
                source="ozonetel",
                client_addr="127.0.0.1",
                content_type="application/json",
                headers={},
                body=json.dumps(records).encode(),
                received_bytes=0,
            )
        )
    with db.transaction():
        inbox.store_many(db, rows)
    assert land(deferred_env, monkeypatch, capsys)["landed_callbacks"] == callbacks
    counts = db.execute(
        "SELECT (SELECT count(*) FROM raw_inbox WHERE status = 'landed'), "
        "(SELECT count(*) FROM ozonetel_call WHERE monitor_ucid LIKE 'lock-%')"
    ).fetchone()
    assert counts == (callbacks, callbacks * 20)


def test_a_batch_is_cut_at_its_records_cap_and_the_rest_lands_next(deferred_env, db, monkeypatch):
    from receiver.landing import replay as replay_module

    seen = []
    real = replay_module.land_batch
    monkeypatch.setattr(
        replay_module, "land_batch", lambda conn, work, s, pushes: seen.append(work) or real(conn, work, s, pushes)
    )
    body = json.dumps([{"monitorUCID": f"cap-{r}", "CampaignName": "Renewals"} for r in range(3)])
    rows = [
        dict(
            source="ozonetel",
            client_addr=None,
            content_type="application/json",
            headers={},
            body=body.replace("cap-", f"cap-{n}-").encode(),
            received_bytes=0,
        )
        for n in range(6)
    ]
    with db.transaction():
        inbox.store_many(db, rows)
    settings = Settings.from_env(deferred_env, VENDORS)
    sizer = replay_module.BatchSizer(records_cap=7)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        report = replay_module.replay(conn, settings, VENDORS.pushes, pending_only=True, sizer=sizer)
    assert report.total == 6
    assert [len(work) for work in seen] == [2, 2, 2]  # 3 + 3 records fit 7, a third callback would not
    assert db.execute("SELECT count(*) FROM ozonetel_call WHERE monitor_ucid LIKE 'cap-%'").fetchone()[0] == 18
