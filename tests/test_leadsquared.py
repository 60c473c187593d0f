"""LeadSquared status polling through the reconciler core, against a fake LeadSquared on loopback."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter

import psycopg
import pytest
from psycopg.rows import dict_row

from conftest import SECRETS
from fakes import FakeClock, FakeLeadSquared, lsq_error, seed_response, status_body
from receiver.config import ConfigError, Settings
from receiver.vendors import VENDORS
from receiver.vendors.leadsquared import status as landing
from reconciler import status as status_report
from reconciler.core.clock import SystemClock
from reconciler.core.run import run_source
from reconciler.sources.leadsquared.polling import CLAIM, LeadSquaredSource

API_KEY = "lsq-x-api-key-7d1e5c"
SECRETS.add(API_KEY)


@pytest.fixture
def lsq_env(env, httpserver):
    """Environment with LeadSquared pointed at the fake."""
    return {
        **env,
        "LSQ_ASYNC_BASE_URL": httpserver.url_for("").rstrip("/"),
        "LSQ_API_KEY": API_KEY,
        "LSQ_TIMEOUT": "2s",
    }


@pytest.fixture
def fake(httpserver):
    return FakeLeadSquared(httpserver, API_KEY)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def reconcile(lsq_env, reconciler_url, clock):
    """Run the LeadSquared source once; returns the RunResult."""

    def _run(env_overrides=None, stop=None, limit=None, concurrency=1, run_clock=None):
        settings = Settings.from_env({**lsq_env, **(env_overrides or {})}, VENDORS)
        source = LeadSquaredSource(settings, rng=random.Random(7))
        return run_source(
            source,
            reconciler_url,
            run_clock or clock,
            stop=stop or threading.Event(),
            limit=limit,
            concurrency=concurrency,
        )

    return _run


def track(db, kind, *ids, registered_at=None):
    with db.transaction():
        landing.register(db, ids, kind, "test")
        if registered_at:
            db.execute("UPDATE lsq_request SET registered_at = %s, next_poll_at = %s", (registered_at, registered_at))


def request_row(db, request_id):
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM lsq_request WHERE lower(request_id) = lower(%s)", (request_id,)).fetchone()


@pytest.mark.parametrize("kind", ["call-log", "lead-update", "opportunity-capture"])
def test_seed_responses_land_decoded_and_typed(db, fake, reconcile, clock, kind):
    seed = seed_response(kind)
    request_id = seed.get("RequestId") or seed.get("RequestID")
    track(db, kind, request_id, registered_at=clock.now())
    fake.script(request_id, (200, seed))
    result = reconcile()
    assert result.outcome == "ok" and result.counts == {"Success": 1}
    row = request_row(db, request_id)
    assert row["status"] == "Success" and row["final_at"] == clock.now()
    assert row["status_reason"] == "Request was successfully completed"
    assert row["task_current_step"] is None and row["task_last_step"] == "In-Process-Queue"
    assert row["attempts"] == 1 and row["last_error"] is None
    assert row["request_body_text"] is None and row["message_text"] is None
    assert fake.calls[request_id] == 1


def test_decoded_fields_are_queryable_jsonb(db, fake, reconcile, clock):
    for kind in ("call-log", "lead-update", "opportunity-capture"):
        seed = seed_response(kind)
        request_id = seed.get("RequestId") or seed.get("RequestID")
        track(db, kind, request_id, registered_at=clock.now())
        fake.script(request_id, (200, seed))
    reconcile()
    rows = dict(
        (kind, rest)
        for kind, *rest in db.execute("""
        SELECT kind, task_type, request_body->>'CallSessionId', message->>'ProspectActivityId',
               request_body->0->>'Value', message->'Message'->>'AffectedRows',
               request_body->'Opportunity'->>'OpportunityEventCode', jsonb_typeof(message->'Status'),
               message->>'CreatedOpportunityId'
        FROM lsq_request""")
    )
    assert rows["call-log"][:3] == [
        "Telephony-LogCall",
        "61df8827-63d1-4f31-bd3c-ae2d9947161d",
        "a9532087-0378-11eb-b8e7-0641ba0398c2",
    ]
    assert rows["lead-update"][0] == "Lead Update" and rows["lead-update"][3:5] == ["Bangalore", "1"]
    assert rows["opportunity-capture"][0] == "Opportunity Capture"
    assert rows["opportunity-capture"][5:] == ["363", "number", "0722f894-64e3-4162-bf84-480017bbc9f1"]


def test_in_queue_is_polled_again_later_then_success_is_final(db, fake, reconcile, clock):
    track(db, "call-log", "rq-1", registered_at=clock.now())
    fake.script("rq-1", (200, status_body("rq-1", "In-Queue")), (200, status_body("rq-1", "Success")))
    assert reconcile().counts == {"In-Queue": 1}
    row = request_row(db, "rq-1")
    assert row["status"] == "In-Queue" and row["final_at"] is None
    assert row["next_poll_at"] == clock.now() + dt.timedelta(seconds=30)

    assert reconcile().counts == {}  # not due yet: no call
    clock.advance(30)
    assert reconcile().counts == {"Success": 1}
    clock.advance(3600)
    assert reconcile().counts == {}
    assert fake.calls["rq-1"] == 2 and fake.repeat_final_polls == 0
    assert request_row(db, "rq-1")["attempts"] == 2


@pytest.mark.parametrize(
    "status,canonical",
    [
        ("FAILURE", "FAILURE"),
        ("ERROR", "ERROR"),
        ("failure", "FAILURE"),
        ("success", "Success"),
        ("SUCCESS", "Success"),
    ],
)
def test_failure_and_error_are_final_in_any_casing(db, fake, reconcile, clock, status, canonical):
    track(db, "lead-update", "rq-2", registered_at=clock.now())
    fake.script("rq-2", (200, status_body("rq-2", status, kind="lead-update", id_key="RequestID")))
    assert reconcile().counts == {canonical: 1}
    row = request_row(db, "rq-2")
    assert (row["status"], row["status_raw"]) == (canonical, status) and row["final_at"] is not None


def test_in_queue_intervals_grow_to_the_cap_then_expire_at_the_horizon(db, fake, reconcile, clock):
    start = clock.now()
    track(db, "call-log", "rq-3", registered_at=start)
    fake.default = lambda request_id, kind: (200, status_body(request_id, "in-queue"))
    env = {"LSQ_POLL_HORIZON": "40m", "LSQ_POLL_MAX_INTERVAL": "4m"}
    offsets = []
    for _ in range(30):
        result = reconcile(env)
        if result.counts:
            offsets.append((clock.now() - start).total_seconds())
        row = request_row(db, "rq-3")
        if row["final_at"]:
            break
        clock.t = row["next_poll_at"]
    assert offsets[:6] == [0, 30, 90, 210, 450, 690]  # +30, +60, +120, +240 (cap), +240
    assert offsets[-1] == 2400  # the last poll is at the horizon itself
    assert row["status"] == "expired" and "LSQ_POLL_HORIZON" in row["last_error"]
    assert row["status_raw"] == "in-queue"


def test_429_with_retry_after_pauses_everyone_and_the_item_is_not_lost(db, fake, reconcile, clock):
    t0 = clock.now()
    track(db, "call-log", "rq-4", registered_at=t0)
    fake.script(
        "rq-4",
        (429, "API calls exceeded the limit of 25 in 5 second(s)", {"Retry-After": "7"}),
        (200, status_body("rq-4", "Success")),
    )
    result = reconcile()
    assert result.counts == {"rate-limited": 1, "Success": 1}
    assert db.execute("SELECT paused_until FROM rate_budget WHERE name = 'leadsquared'").fetchone()[
        0
    ] == t0 + dt.timedelta(seconds=7)
    row = request_row(db, "rq-4")
    assert row["status"] == "Success" and row["attempts"] == 1  # the 429 did not cost an attempt
    assert row["last_polled_at"] >= t0 + dt.timedelta(seconds=7)


def test_429_without_retry_after_pauses_one_period(db, fake, reconcile, clock):
    t0 = clock.now()
    track(db, "call-log", "rq-5", registered_at=t0)
    fake.script("rq-5", (429, "slow down"), (200, status_body("rq-5", "Success")))
    assert reconcile().counts == {"rate-limited": 1, "Success": 1}
    assert db.execute("SELECT paused_until FROM rate_budget").fetchone()[0] == t0 + dt.timedelta(seconds=5)


def test_401_stops_the_source_without_burning_attempts(db, fake, reconcile, clock):
    track(db, "call-log", *[f"rq-6-{n}" for n in range(5)], registered_at=clock.now())
    result = reconcile({"LSQ_API_KEY": "wrong-key"})
    assert result.outcome == "failed" and "LSQ_API_KEY" in result.error and "x-api-key" in result.error
    assert sum(fake.calls.values()) == 1
    assert db.execute("SELECT max(attempts), count(*) FILTER (WHERE status IS NULL) FROM lsq_request").fetchone() == (
        0,
        5,
    )
    [(outcome, error)] = db.execute("SELECT outcome, error FROM reconcile_run")
    assert outcome == "failed" and "LSQ_API_KEY" in error and "wrong-key" not in error


def test_the_401_message_names_the_x_api_key_header_not_accesskey_or_secretkey(db, fake, reconcile, clock):
    track(db, "call-log", "rq-401", registered_at=clock.now())
    result = reconcile({"LSQ_API_KEY": "wrong-key"})  # the fake answers the seed pages' 401 text
    assert result.outcome == "failed"
    assert "x-api-key header (HTTP 401: The API call was made with invalid access credentials.)" in result.error
    assert "LSQ_API_KEY" in result.error
    assert "AccessKey" not in result.error and "SecretKey" not in result.error


def test_a_403_that_is_not_about_a_limit_stops_the_source(db, fake, reconcile, clock):
    track(db, "call-log", "rq-403", "rq-403b", registered_at=clock.now())
    fake.script("rq-403", (403, lsq_error("User does not have permission", "MXUnAuthorizedException")))
    result = reconcile()
    assert result.outcome == "failed" and "HTTP 403" in result.error and "LSQ_API_KEY" in result.error
    assert sum(fake.calls.values()) == 1 and request_row(db, "rq-403")["attempts"] == 0


def test_a_403_limit_message_is_a_rate_limit_that_lowers_the_shared_budget(db, fake, reconcile, clock, lsq_env):
    t0 = clock.now()
    track(db, "call-log", "rq-lim", registered_at=t0)
    fake.script(
        "rq-lim",
        (403, lsq_error("API calls exceeded the limit of 10 in 5 second(s)", "MXAPIRateLimitExceededException")),
        (200, status_body("rq-lim", "Success")),
    )
    result = reconcile()  # LSQ_RATE_LIMIT is 25/5s by default
    assert result.outcome == "ok" and result.counts == {"rate-limited": 1, "Success": 1}
    row = request_row(db, "rq-lim")
    assert row["attempts"] == 1 and row["failed_tries"] == 0 and row["last_polled_at"] == t0 + dt.timedelta(seconds=5)
    assert db.execute(
        "SELECT calls, learned_calls, effective_calls, effective_period_ms, paused_until FROM rate_budget"
    ).fetchone() == (25, 10, 10, 5000, t0 + dt.timedelta(seconds=5))
    assert db.execute("SELECT count(*) FROM rate_slot").fetchone() == (10,)
    report = status_report.collect(db, Settings.from_env(lsq_env, VENDORS), VENDORS, clock)
    assert report["leadsquared"]["rate_budget"]["learned"] == "10/5s"
    assert "rate budget 10/5s in force (configured 25/5s; the vendor stated 10/5s" in status_report.render(report)


def poll_until_final(db, reconcile, clock, request_id, env=None, runs=20):
    """Run the source, jumping the clock to the item's next poll, until it is final; returns its row and counts."""
    counts = Counter()
    for _ in range(runs):
        result = reconcile(env)
        assert result.outcome == "ok", result.error
        counts.update(result.counts)
        row = request_row(db, request_id)
        if row["final_at"]:
            return row, counts
        clock.t = row["next_poll_at"]
    raise AssertionError(f"{request_id} not final after {runs} runs")


def test_a_400_is_a_malformed_request_not_an_unknown_id_and_fails_after_lsq_max_tries(db, fake, reconcile, clock):
    track(db, "call-log", "rq-7", registered_at=clock.now())
    fake.script("rq-7", *[(400, lsq_error("RequestID is not in the expected format", "MXInvalidInputException"))] * 4)
    row, counts = poll_until_final(db, reconcile, clock, "rq-7", {"LSQ_MAX_TRIES": "4"})
    assert counts == {"retry": 3, "failed": 1} and fake.calls["rq-7"] == 4
    assert (row["status"], row["failed_tries"], row["attempts"]) == ("failed", 4, 4)
    assert row["last_error"].startswith(
        "malformed request (HTTP 400): MXInvalidInputException: RequestID is not in the expected format"
    )
    assert "LSQ_MAX_TRIES=4" in row["last_error"]


def test_status_calls_send_x_api_key_and_content_type_json(db, fake, reconcile, clock, httpserver):
    track(db, "call-log", "hdr-2", registered_at=clock.now())
    fake.script("hdr-2", (200, status_body("hdr-2", "Success")))
    assert reconcile().counts == {"Success": 1}
    [(request, _)] = httpserver.log
    assert request.headers["x-api-key"] == API_KEY and request.headers["Content-Type"] == "application/json"


def test_error_text_is_read_from_exception_message(db, fake, reconcile, clock):
    track(db, "call-log", "rq-em", registered_at=clock.now())
    fake.script("rq-em", (500, lsq_error("Database is unreachable", "MXDataBaseException")))
    assert reconcile().counts == {"retry": 1}
    assert request_row(db, "rq-em")["last_error"] == "HTTP 500: MXDataBaseException: Database is unreachable"


def test_in_queue_polls_are_not_failed_tries(db, fake, reconcile, clock):
    track(db, "call-log", "rq-mix", registered_at=clock.now())
    in_queue = (200, status_body("rq-mix", "In-Queue"))
    fake.script("rq-mix", in_queue, (502, "bad gateway"), in_queue, in_queue, (504, "gateway timeout"))
    row, counts = poll_until_final(db, reconcile, clock, "rq-mix", {"LSQ_MAX_TRIES": "2"})
    assert counts == {"In-Queue": 3, "retry": 1, "failed": 1}
    assert (row["status"], row["attempts"], row["failed_tries"]) == ("failed", 5, 2)
    assert row["last_error"] == "HTTP 504: gateway timeout; gave up after 2 failed tries (LSQ_MAX_TRIES=2)"


def test_failing_calls_past_the_horizon_end_expired(db, fake, reconcile, clock):
    track(db, "call-log", "rq-late", registered_at=clock.now() - dt.timedelta(hours=13))
    fake.script("rq-late", (500, "upstream exploded"))
    assert reconcile().counts == {"expired": 1}
    row = request_row(db, "rq-late")
    assert row["status"] == "expired" and "past the vendor's horizon" in row["last_error"]


def test_callrecon_status_lists_failed_items(db, fake, reconcile, clock, lsq_env):
    track(db, "call-log", "rq-f", registered_at=clock.now())
    fake.script("rq-f", (500, "upstream exploded"))
    reconcile({"LSQ_MAX_TRIES": "1"})
    report = status_report.collect(db, Settings.from_env(lsq_env, VENDORS), VENDORS, clock)
    assert report["leadsquared"]["final_by_status"] == {"failed": 1}
    assert "final: failed 1" in status_report.render(report)


def test_lsq_max_tries_is_read_from_the_environment(lsq_env):
    assert Settings.from_env(lsq_env, VENDORS).section("leadsquared").max_tries == 10
    assert Settings.from_env({**lsq_env, "LSQ_MAX_TRIES": "4"}, VENDORS).section("leadsquared").max_tries == 4
    with pytest.raises(ConfigError, match="LSQ_MAX_TRIES"):
        Settings.from_env({**lsq_env, "LSQ_MAX_TRIES": "0"}, VENDORS)


@pytest.mark.parametrize(
    "response,error",
    [
        ((500, "upstream exploded"), "HTTP 500: upstream exploded"),
        ((502, "<html>bad gateway</html>"), "HTTP 502"),
        ((200, "<html>not json</html>"), "body is not JSON"),
        ((200, {"unexpected": True}), "unexpected status response"),
        ((200, {"RequestId": "someone-else", "TaskStatus": {"Status": "Success"}}), "different request"),
        ((200, {"RequestId": "rq-8", "TaskStatus": {"Status": "Pondering"}}), "unknown status"),
    ],
)
def test_bad_answers_are_retried_with_backoff_and_recorded(db, fake, reconcile, clock, response, error):
    track(db, "call-log", "rq-8", registered_at=clock.now())
    fake.script("rq-8", response, (200, status_body("rq-8", "Success")))
    assert reconcile().counts == {"retry": 1}
    row = request_row(db, "rq-8")
    assert error in row["last_error"] and row["attempts"] == 1 and row["final_at"] is None
    wait = (row["next_poll_at"] - clock.now()).total_seconds()
    assert 15 <= wait <= 30  # first retry: 30 s with jitter (half to full)
    clock.t = row["next_poll_at"]
    assert reconcile().counts == {"Success": 1}
    assert request_row(db, "rq-8")["last_error"] is None


def test_a_stalled_answer_times_out_and_is_retried(db, fake, reconcile, clock):
    stall = threading.Event()
    track(db, "call-log", "rq-9", registered_at=clock.now())
    fake.on_call = lambda request_id: stall.wait(1.0)
    result = reconcile({"LSQ_TIMEOUT": "0.2s"})
    stall.set()
    assert result.counts == {"retry": 1}
    assert "no answer within 0.2s" in request_row(db, "rq-9")["last_error"]


def test_secrets_in_vendor_error_bodies_are_masked(db, fake, reconcile, clock):
    track(db, "call-log", "rq-10", registered_at=clock.now())
    fake.script("rq-10", (500, f"debug: key={API_KEY}"))
    reconcile()
    assert API_KEY not in request_row(db, "rq-10")["last_error"]
    assert "***" in request_row(db, "rq-10")["last_error"]


def test_registering_twice_in_any_case_is_harmless(db):
    with db.transaction():
        assert landing.register(db, ["AbC-1", "abc-1", "ABC-1", "d-2"], "call-log", "test") == 2
        assert landing.register(db, ["abc-1"], "lead-update", "test") == 0
    assert db.execute("SELECT request_id, kind FROM lsq_request ORDER BY 1").fetchall() == [
        ("AbC-1", "call-log"),
        ("d-2", "call-log"),
    ]


def test_a_plain_insert_from_another_system_is_tracked(db, fake, reconcile, clock):
    db.execute(
        "INSERT INTO lsq_request (request_id, kind, registered_by, registered_at, next_poll_at) "
        "VALUES ('ext-1', 'opportunity-capture', 'crm-sync', %s, %s) "
        "ON CONFLICT ((lower(request_id))) DO NOTHING",
        (clock.now(), clock.now()),
    )
    fake.script("ext-1", (200, status_body("ext-1", "Success", kind="opportunity-capture")))
    assert reconcile().counts == {"Success": 1}


def test_two_reconcilers_on_one_backlog_never_poll_the_same_item(db, fake, lsq_env, reconciler_url):
    ids = [f"bk-{n}" for n in range(120)]
    track(db, "call-log", *ids)
    fake.default = lambda request_id, kind: (200, status_body(request_id, "Success"))
    settings = Settings.from_env({**lsq_env, "LSQ_RATE_LIMIT": "10000/1s"}, VENDORS)
    results = []

    def one_process():
        source = LeadSquaredSource(settings)
        results.append(run_source(source, reconciler_url, SystemClock(), stop=threading.Event(), concurrency=3))

    threads = [threading.Thread(target=one_process) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fake.calls) == sorted(ids)
    assert set(fake.calls.values()) == {1}
    assert sum(r.counts["Success"] for r in results) == len(ids)
    assert db.execute("SELECT count(*) FROM lsq_request WHERE status = 'Success'").fetchone()[0] == len(ids)


def test_items_claimed_by_a_killed_reconciler_are_picked_up_again(db, fake, reconcile, clock, reconciler_url):
    track(db, "call-log", "held-1", "free-1", registered_at=clock.now())
    fake.default = lambda request_id, kind: (200, status_body(request_id, "Success"))
    doomed = psycopg.connect(reconciler_url)
    held = doomed.execute(CLAIM, {"now": clock.now()}).fetchone()  # claimed, transaction open
    assert held[1] == "held-1"
    assert reconcile().counts == {"Success": 1}
    assert sorted(fake.calls) == ["free-1"]
    doomed.close()  # the process dies: its session and locks go with it
    assert reconcile().counts == {"Success": 1}
    assert sorted(fake.calls) == ["free-1", "held-1"]


def test_stop_request_finishes_the_item_in_hand_and_exits(db, fake, reconcile, clock):
    track(db, "call-log", *[f"st-{n}" for n in range(5)], registered_at=clock.now())
    fake.default = lambda request_id, kind: (200, status_body(request_id, "Success"))
    stop = threading.Event()
    fake.on_call = lambda request_id: stop.set()  # SIGTERM arrives during the first call
    result = reconcile(stop=stop)
    assert result.outcome == "stopped" and result.counts == {"Success": 1}
    assert db.execute("SELECT count(*) FROM lsq_request WHERE status = 'Success'").fetchone()[0] == 1


def test_limit_stops_after_n_items(db, fake, reconcile, clock):
    track(db, "call-log", *[f"lim-{n}" for n in range(5)], registered_at=clock.now())
    fake.default = lambda request_id, kind: (200, status_body(request_id, "Success"))
    result = reconcile(limit=2)
    assert result.outcome == "stopped" and result.counts == {"Success": 2}


def test_the_api_key_goes_in_the_x_api_key_header_only(db, fake, reconcile, clock, httpserver):
    track(db, "call-log", "hdr-1", registered_at=clock.now())
    fake.script("hdr-1", (200, status_body("hdr-1", "Success")))
    reconcile()
    [(request, _)] = httpserver.log
    assert request.headers["x-api-key"] == API_KEY
    assert API_KEY not in request.url and request.args["RequestID"] == "hdr-1"


def test_a_backlog_behind_a_stricter_vendor_limit_finishes_without_stopping(db, httpserver, reconcile, clock):
    """LeadSquared allows 10 calls per 5 s and answers 403 past it; we are told 25/5s."""
    fake = FakeLeadSquared(httpserver, API_KEY, limit=(10, 5.0), clock=clock)
    answered = Counter()

    def in_queue_then_success(request_id, kind):
        answered[request_id] += 1
        return 200, status_body(request_id, "In-Queue" if answered[request_id] == 1 else "Success")

    fake.default = in_queue_then_success
    ids = [f"bl-{n}" for n in range(40)]
    track(db, "call-log", *ids, registered_at=clock.now())
    runs = []
    for _ in range(10):
        runs.append(reconcile({"LSQ_RATE_LIMIT": "25/5s"}, concurrency=4))
        # Every waiting item's next poll has come: how many runs it takes then depends on the
        # limit alone, not on how the threads happened to spread the polls in time.
        pending_next = db.execute("SELECT max(next_poll_at) FROM lsq_request WHERE final_at IS NULL").fetchone()[0]
        if pending_next is None:
            break
        clock.t = max(clock.t, pending_next)
    assert [r.outcome for r in runs] == ["ok"] * len(runs) and all(r.error is None for r in runs)
    assert len(runs) >= 2  # the learned limit outlived the second run's ensure() with 25/5s
    assert db.execute("SELECT status, count(*), max(failed_tries) FROM lsq_request GROUP BY status").fetchall() == [
        ("Success", 40, 0)
    ]
    assert 1 <= fake.over_limit <= 20
    assert sum(r.counts["rate-limited"] for r in runs) == fake.over_limit
    assert db.execute("SELECT learned_calls, learned_period_ms, effective_calls FROM rate_budget").fetchone() == (
        10,
        5000,
        10,
    )
