"""Ozonetel Campaign Dial Status requests, end to end on loopback: reconcile asks, the fake pushes to the
running receiver, the ledger turns received."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
from psycopg.rows import dict_row
from werkzeug.serving import make_server

from conftest import OZONETEL_TOKEN, SECRETS
from fakes import FakeClock, FakeOzonetel, ozonetel_seed_replies, pause
from receiver import create_app
from receiver.config import Settings
from receiver.landing.replay import replay
from receiver.vendors import VENDORS
from reconciler.core.clock import SystemClock
from reconciler.core.run import run_source
from reconciler.sources.ozonetel.dial_status import OzonetelSource

API_KEY = "KKozo-test-4f2a9c"
USER = "acme_ops"
SECRETS.add(API_KEY)
UTC = dt.timezone.utc
RECORDS = [
    {
        "monitorUCID": "77001",
        "CampaignName": "Renewals_Nov",
        "CallerID": "9876500101",
        "StartTime": "2026-11-23 10:10:00",
        "Status": "Answered",
        "DialStatus": "answered",
        "Apikey": API_KEY,
    },
    {
        "monitorUCID": "77002",
        "CampaignName": "Renewals_Nov",
        "CallerID": "9876500102",
        "StartTime": "2026-11-23 10:20:00",
        "Status": "NotAnswered",
        "DialStatus": "not_answered",
        "Apikey": API_KEY,
    },
    {"campaignName": "Renewals_Nov", "phoneNumber": "9876500103", "status": "Pending", "dialstatus": "All"},
]


@pytest.fixture
def api_server(vendor_server):
    return vendor_server


@pytest.fixture
def receiver_url(env):
    """The real receiver app served on a loopback port, as Ozonetel's callBackUrl target (same account key)."""
    app = create_app(Settings.from_env({**env, "OZONETEL_API_KEY": API_KEY}, VENDORS))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["callrecon_pool"].close()


@pytest.fixture
def fake(api_server):
    fake = FakeOzonetel(api_server, API_KEY, USER)
    fake.records["Renewals_Nov"] = RECORDS
    yield fake
    fake.join()


@pytest.fixture
def oz_env(cli_env, fake, receiver_url):
    """The reconciler's environment (its login); the receiver it pushes to runs as the web login."""
    return {
        **cli_env,
        "OZONETEL_API_URL": fake.url,
        "OZONETEL_API_KEY": API_KEY,
        "OZONETEL_USERNAME": USER,
        "OZONETEL_CAMPAIGNS": "Renewals_Nov",
        "PUBLIC_BASE_URL": receiver_url,
        "OZONETEL_WINDOW": "1h",
        "OZONETEL_SETTLE": "10m",
        "OZONETEL_PUSH_TIMEOUT": "15m",
        "OZONETEL_MAX_TRIES": "2",
    }


@pytest.fixture
def clock():
    return FakeClock(dt.datetime(2026, 11, 23, 6, 5, tzinfo=UTC))  # 11:35 in Kolkata


@pytest.fixture
def run(oz_env, reconciler_url, clock):
    def _run(overrides=None, run_clock=None, stop=None):
        source = OzonetelSource(Settings.from_env({**oz_env, **(overrides or {})}, VENDORS), rng=random.Random(1))
        return run_source(source, reconciler_url, run_clock or clock, stop=stop or threading.Event())

    return _run


def ledger(db):
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM ozonetel_request ORDER BY window_from").fetchall()


def wait_for(db, sql, expected, seconds=10.0):
    """Poll until the query returns `expected` (pushes arrive after the reply, on their own thread)."""
    deadline = time.monotonic() + seconds
    while True:
        value = db.execute(sql).fetchone()
        if value == expected or time.monotonic() > deadline:
            return value
        pause(0.05)


def test_a_window_is_requested_pushed_and_received(db, fake, run):
    result = run()
    assert result.counts == {"requested": 1}
    [row] = ledger(db)
    # the last complete window before now - settle: 04:30-05:30 UTC = 10:00-11:00 in Kolkata
    assert (row["window_from"], row["window_to"]) == (
        dt.datetime(2026, 11, 23, 4, 30, tzinfo=UTC),
        dt.datetime(2026, 11, 23, 5, 30, tzinfo=UTC),
    )
    [sent] = fake.requests
    assert (sent["fromDate"], sent["toDate"]) == ("2026-11-23 10:00:00", "2026-11-23 11:00:00")
    # sortby 2: by updated date
    assert (sent["status"], sent["dialstatus"], sent["dispositions"], sent["sortby"]) == ("All", "All", "ALL", "2")
    assert sent["callBackUrl"].endswith(f"/callbacks/ozonetel/{OZONETEL_TOKEN}")
    assert row["params"]["apiKey"] == "***" and OZONETEL_TOKEN not in str(row["params"])
    assert wait_for(db, "SELECT state, records_received FROM ozonetel_request", ("received", 3)) == ("received", 3)
    assert db.execute("SELECT count(*) FROM ozonetel_call WHERE request_unique_id = 'uid-1'").fetchone() == (3,)
    assert run().counts == {}  # nothing new is due


def test_a_dropped_push_is_asked_again_after_the_timeout(db, fake, run, clock):
    fake.drop_next = 1
    assert run().counts == {"requested": 1}
    assert ledger(db)[0]["state"] == "requested"
    clock.advance(14 * 60)
    assert run().counts == {}  # not timed out yet
    clock.advance(60)
    assert run().counts == {"requested": 1}
    assert wait_for(db, "SELECT state, tries FROM ozonetel_request", ("received", 2)) == ("received", 2)
    assert list(fake.window_counts.values()) == [2]


def test_a_window_is_given_up_after_max_tries_with_the_reason(db, fake, run, clock):
    fake.drop_next = 5
    run()
    clock.advance(15 * 60)
    run()
    clock.advance(15 * 60)
    assert run().counts == {}
    [row] = [r for r in ledger(db) if r["tries"]]
    assert row["state"] == "failed" and "gave up after 2 tries" in row["last_error"]


@pytest.mark.parametrize(
    "message,advice",
    [
        ("apiKey is invalid", "OZONETEL_API_KEY"),
        ("Authentication failed", "OZONETEL_USERNAME belong to the same account"),
        ("userName is invalid", "OZONETEL_USERNAME"),
        (
            "callBackUrl cannot be empty (OR) it should contain ‘http://test.com/’ or 'https://test.com/",
            "PUBLIC_BASE_URL",
        ),
    ],
)
def test_each_documented_error_stops_the_source_with_one_clear_message(db, fake, run, clock, message, advice):
    fake.replies = [ozonetel_seed_replies()[message]] * 5
    clock.t = dt.datetime(2026, 11, 23, 9, 5, tzinfo=UTC)  # three windows due
    result = run()
    assert result.outcome == "failed" and advice in result.error
    assert len(fake.replies) == 4  # one request, no retry storm
    assert {(r["state"], r["tries"]) for r in ledger(db)} == {("pending", 0)}
    assert API_KEY not in result.error


def test_the_limit_reply_backs_off_and_the_window_is_sent_later(db, fake, run, clock):
    fake.replies = [
        ozonetel_seed_replies().get(
            "Request limit exhausted", '{"status": "error", "message": "Request limit exhausted"}'
        )
    ]
    t0 = clock.now()
    result = run()
    assert result.counts == {"rate-limited": 1, "requested": 1}
    assert db.execute("SELECT paused_until FROM rate_budget WHERE name = 'ozonetel'").fetchone() == (
        t0 + dt.timedelta(seconds=60),
    )
    assert clock.now() >= t0 + dt.timedelta(seconds=60)


def test_backfill_dry_run_counts_requests_and_time(oz_env, db, monkeypatch, capsys):
    from reconciler import cli

    for name, value in oz_env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(
        [
            "backfill",
            "ozonetel",
            "--campaign",
            "Renewals_Nov",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-03",
            "--dry-run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    # 48 one-hour windows; at 10 per 60 s the last is sent after (48 - 1) // 10 = 4 periods
    assert "48 windows" in out and "48 requests to send, about 4.0 min at 10/60s" in out
    assert db.execute("SELECT count(*) FROM ozonetel_request").fetchone() == (0,)


def test_backfill_creates_the_windows_and_sends_them(oz_env, db, fake, monkeypatch, capsys):
    from reconciler import cli

    for name, value in {**oz_env, "OZONETEL_WINDOW": "6h", "OZONETEL_CAMPAIGNS": "Renewals_Nov"}.items():
        monkeypatch.setenv(name, value)
    code = cli.main(
        ["backfill", "ozonetel", "--campaign", "Renewals_Nov", "--since", "2026-11-01", "--until", "2026-11-02"]
    )
    assert code == 0
    origins = dict(db.execute("SELECT origin, count(*) FROM ozonetel_request GROUP BY origin").fetchall())
    assert origins["backfill"] == 4
    assert db.execute(
        "SELECT count(*) FROM ozonetel_request WHERE origin = 'backfill' AND state = 'requested' "
        "OR origin = 'backfill' AND state = 'received'"
    ).fetchone() == (4,)
    assert ("Renewals_Nov", "2026-11-01 00:00:00", "2026-11-01 06:00:00") in fake.window_counts


def test_two_reconcilers_never_request_a_window_twice_nor_exceed_the_limit(oz_env, db, fake, reconciler_url):
    fake.limit = (4, 1.0)
    fake.push_delay = 0.0
    settings = Settings.from_env({**oz_env, "OZONETEL_RATE_LIMIT": "4/1s", "OZONETEL_WINDOW": "1h"}, VENDORS)
    source = OzonetelSource(settings)
    now = SystemClock().now()
    with db.transaction():
        source.add_windows(
            db, "Renewals_Nov", now - dt.timedelta(hours=14), now - dt.timedelta(hours=2), now, "backfill"
        )
    results = []

    def one_process():
        results.append(
            run_source(OzonetelSource(settings), reconciler_url, SystemClock(), stop=threading.Event(), concurrency=2)
        )

    threads = [threading.Thread(target=one_process) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.over_limit == 0
    assert len(fake.window_counts) >= 12 and set(fake.window_counts.values()) == {1}
    assert sum(r.counts["requested"] for r in results) == len(fake.window_counts)


def call_row(db, call_key):
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM call WHERE vendor = 'ozonetel' AND vendor_call_id = %s", (call_key,)
        ).fetchone()


@pytest.mark.parametrize("sortby,outcome", [("2", "answered"), ("1", "no-answer")])
def test_a_lead_redialled_in_a_later_window_lands_its_later_outcome_by_updated_date(
    db, fake, run, clock, sortby, outcome
):
    """Created and first dialled in W1 (10-11 IST), re-dialled in W2 (11-12 IST). By updated date (the
    default) W2's request brings the later outcome; by created date the lead belongs to W1, which was
    asked before the re-dial and is never asked again, so the answered dial is never requested."""
    lead = {
        "DataUniqueId": "L-1",
        "CampaignName": "Renewals_Nov",
        "phoneNumber": "9876500201",
        "_created": "2026-11-23 10:05:00",
    }
    fake.records["Renewals_Nov"] = [
        dict(
            lead,
            _updated="2026-11-23 10:10:00",
            StartTime="2026-11-23 10:10:00",
            DialStatus="not_answered",
            Apikey=API_KEY,
        )
    ]
    assert run({"OZONETEL_SORTBY": sortby}).counts == {"requested": 1}  # W1
    fake.join()
    assert call_row(db, "data:Renewals_Nov:L-1")["outcome"] == "no-answer"
    fake.records["Renewals_Nov"] = [
        dict(
            lead, _updated="2026-11-23 11:20:00", StartTime="2026-11-23 11:20:00", DialStatus="answered", Apikey=API_KEY
        )
    ]
    clock.advance(3600)
    assert run({"OZONETEL_SORTBY": sortby}).counts == {"requested": 1}  # W2
    fake.join()
    assert [p for p in fake.pushes if p != 200] == []
    assert call_row(db, "data:Renewals_Nov:L-1")["outcome"] == outcome


def test_a_late_push_for_an_earlier_try_still_counts_and_a_replay_counts_nothing(db, fake, run, clock, oz_env):
    fake.hold = True
    assert run().counts == {"requested": 1}  # try 1: uid-1, its push is late
    clock.advance(15 * 60)
    assert run().counts == {"requested": 1}  # timed out, try 2: uid-2, its push is late too
    [row] = [r for r in ledger(db) if r["tries"]]
    assert row["unique_id"] == "uid-2"
    first, second = fake.held
    fake.held = [first]
    fake.release()  # the push for try 1 arrives after try 2 was sent
    assert wait_for(db, "SELECT state, records_received FROM ozonetel_request WHERE tries > 0", ("received", 3)) == (
        "received",
        3,
    )
    assert db.execute("SELECT try, outcome, unique_id FROM ozonetel_request_try ORDER BY try").fetchall() == [
        (1, "accepted", "uid-1"),
        (2, "accepted", "uid-2"),
    ]
    report = replay(
        db, Settings.from_env(oz_env, VENDORS), VENDORS.pushes, include_all=True
    )  # every raw callback again
    assert report.by_status == {"landed": 1}
    assert db.execute("SELECT records_received FROM ozonetel_request WHERE tries > 0").fetchone() == (3,)


def test_an_invalid_campaign_stops_only_itself_and_a_failing_one_gives_up(db, fake, run, clock, oz_env):
    """Acceptance: Good is healthy, Typo is unknown to Ozonetel, Flaky always answers 503."""
    from reconciler import status

    fake.records["Good"] = RECORDS[:1]
    fake.broken = {"Flaky"}
    fake.limit = (10_000, 60.0)  # the fake's limiter runs on real time; the budget under test on FakeClock
    settings = {"OZONETEL_CAMPAIGNS": "Good,Typo,Flaky", "OZONETEL_MAX_TRIES": "3", "OZONETEL_RECHECK": "1d"}
    clock.t = dt.datetime(2026, 11, 23, 8, 5, tzinfo=UTC)  # 13:35 IST: one window per campaign is due
    for _ in range(12):  # runs, each after every wait of the ledger has elapsed
        run(settings)
        fake.join()  # the pushes land (on real time) before the clock moves on
        clock.advance(2 * 3600)
    rows = db.execute("SELECT campaign_name, state, tries FROM ozonetel_request").fetchall()
    good = [(state, tries) for campaign, state, tries in rows if campaign == "Good"]
    flaky = [(state, tries) for campaign, state, tries in rows if campaign == "Flaky"]
    assert len(good) == 1 + 11 * 2  # the first run's window, then the two hours each later run adds
    assert set(good) == {("received", 1)}  # every window requested once, and its push arrived
    assert fake.calls["Typo"] == 1  # misconfigured after one call, never asked again within OZONETEL_RECHECK
    assert flaky and {state for state, _ in flaky} <= {"failed", "timed-out", "pending"}
    assert all(tries <= 3 for _, tries in flaky)
    assert ("failed", 3) in flaky
    assert fake.calls["Flaky"] == sum(tries for _, tries in flaky)
    report = status.collect(db, Settings.from_env({**oz_env, **settings}, VENDORS), VENDORS, clock)
    [stop] = report["stopped"]
    assert (stop["source"], stop["scope"], stop["key"]) == ("ozonetel", "campaign", "Typo")
    assert "campaignName is invalid" in stop["reason"] and "OZONETEL_CAMPAIGNS" in stop["fix"]
    assert report["ozonetel"]["final_by_status"]["failed"] >= 1
    assert report["ozonetel"]["final_by_status"]["received"] >= 1
    text = status.render(report)
    assert "STOPPED ozonetel campaign 'Typo'" in text and "failed" in text


def test_a_stopped_campaign_resumes_once_the_setting_changes(db, fake, run, clock):
    fake.limit = (10_000, 60.0)
    settings = {"OZONETEL_CAMPAIGNS": "Renewals_Nov,Typo"}
    assert run(settings).counts == {"requested": 1, "campaign-misconfigured": 1}
    clock.advance(60)
    assert run(settings).counts == {}  # stopped: not asked again
    fake.records["Typo"] = RECORDS[:1]  # the campaign now exists on Ozonetel's side
    clock.advance(3600)  # OZONETEL_RECHECK passed: one call tries again and succeeds
    assert run(settings).counts["requested"] >= 2
    assert db.execute("SELECT count(*) FROM reconcile_block").fetchone() == (0,)


def test_backfill_needs_no_ozonetel_campaigns_when_campaign_is_given(oz_env, db, fake, monkeypatch, capsys):
    """`backfill ozonetel --campaign X` failed with "OZONETEL_CAMPAIGNS is not set"."""
    from reconciler import cli

    for name, value in {**oz_env, "OZONETEL_WINDOW": "12h"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OZONETEL_CAMPAIGNS")
    code = cli.main(
        ["backfill", "ozonetel", "--campaign", "Renewals_Nov", "--since", "2026-11-01", "--until", "2026-11-02"]
    )
    assert code == 0, capsys.readouterr().err
    assert db.execute("SELECT count(*) FROM ozonetel_request WHERE origin = 'backfill'").fetchone() == (2,)
