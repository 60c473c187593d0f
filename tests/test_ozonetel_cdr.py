"""Ozonetel's CDR pull, end to end on loopback: the reconciler fetches each settled day from a fake CDR
report that holds it to the documented contract, and every leg lands once, beside the pushes."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading

import psycopg
import pytest
from psycopg.rows import dict_row

from conftest import OZONETEL_TOKEN, SECRETS
from fakes import FakeClock
from fakes.ozonetel_cdr import IST, FakeOzonetelCdr, make_leg, sample_reply
from receiver.config import Settings
from receiver.vendors import VENDORS
from receiver.vendors.ozonetel.records import to_row
from reconciler.core.run import run_source
from reconciler.sources.ozonetel.cdr import OzonetelCdrSource

API_KEY = "KKcdr-test-9d1e07"
USER = "acme_ops"
SECRETS.add(API_KEY)
UTC = dt.timezone.utc
CAMPAIGN = "Renewals_Nov"
PUSH_URL = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"
START = dt.datetime(2026, 11, 23, 6, 5, tzinfo=UTC)  # 11:35 on 23 Nov in Kolkata: 22 Nov has settled
DAY = dt.date(2026, 11, 21)


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def fake(vendor_server, clock):
    return FakeOzonetelCdr(vendor_server, API_KEY, USER, clock)


@pytest.fixture
def cdr_env(cli_env, fake):
    return {
        **cli_env,
        "OZONETEL_CDR_URL": fake.url,
        "OZONETEL_CDR_AUTH": "apikey",
        "OZONETEL_API_KEY": API_KEY,
        "OZONETEL_USERNAME": USER,
        "OZONETEL_CAMPAIGNS": CAMPAIGN,
        "OZONETEL_CDR_PAGE_SIZE": "2",
        "OZONETEL_CDR_MAX_TRIES": "3",
    }


@pytest.fixture
def run(cdr_env, reconciler_url, clock):
    def _run(overrides=None, limit=None):
        settings = Settings.from_env({**cdr_env, **(overrides or {})}, VENDORS)
        source = OzonetelCdrSource(settings, rng=random.Random(1))
        return run_source(source, reconciler_url, clock, stop=threading.Event(), limit=limit)

    return _run


def rows(db, sql, params=None):
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def day_row(db, day=DAY, campaign=CAMPAIGN):
    [row] = rows(db, "SELECT * FROM ozonetel_cdr_day WHERE day = %s AND campaign_name = %s", (day, campaign))
    return row


def push(client, record):
    resp = client.post(PUSH_URL, data=json.dumps(record), content_type="application/json")
    assert resp.status_code == 200, resp.json
    return resp.json


def leg(n, at, phone, **fields):
    return make_leg(n, day=DAY, at=at, campaign=CAMPAIGN, phone=phone, **fields)


def test_a_cdr_leg_lands_as_an_ozonetel_row_with_exact_ids_seconds_and_utc_times():
    """The sample reply's legs, through the same field map as a push: no float anywhere, HH:MM:SS as seconds."""
    first, _, big = sample_reply()["details"]
    row = to_row(first, IST)
    assert row["is_cdr"] and row["ucid"] == row["call_id"] == "7017745512340101"
    assert row["start_time"] == dt.datetime(2025, 11, 18, 4, 45, 2, tzinfo=UTC)  # 10:15:02 IST
    assert row["end_time"] == dt.datetime(2025, 11, 18, 4, 47, 23, tzinfo=UTC)
    assert (row["duration_s"], row["time_to_answer_s"], row["hold_duration_s"]) == (134, 7, 0)
    assert row["phone_number"] == "9399800001"  # CallerID is the customer
    assert row["customer_status"] == "answered" and row["audio_file"].endswith(".mp3")
    assert row["value_sources"]["start_time"] == "cdr"
    assert to_row(big, IST)["call_id"] == "31778123456789013"  # above 2^53, digit for digit
    late = dict(first, StartTime="23:59:30", EndTime="00:01:10")
    assert to_row(late, IST)["end_time"] == dt.datetime(2025, 11, 18, 18, 31, 10, tzinfo=UTC)  # ends the next day


def test_every_settled_day_is_fetched_page_by_page_within_two_calls_a_minute(run, fake, db, client, clock):
    shared = 7017745599990001
    legs = [
        leg(1, dt.time(10, 0, 5), "9876500101"),
        leg(2, dt.time(10, 5, 0), "9876500102"),  # pushed, matched by UCID
        leg(3, dt.time(10, 9, 0), "9876500103", call_id=shared),  # a transfer: two legs, one CallID
        leg(4, dt.time(10, 11, 0), "9876500103", call_id=shared),
        leg(5, dt.time(10, 20, 0), "9876500105", UCID=31778123456789013, CallID=31778123456789013),
    ]
    fake.add(legs)
    push(
        client,
        {
            "monitorUCID": str(legs[1]["UCID"]),
            "CampaignName": CAMPAIGN,
            "CallerID": "9876500102",
            "StartTime": "2026-11-21 10:05:00",
            "Status": "Answered",
            "DialStatus": "answered",
        },
    )
    push(
        client,
        {
            "monitorUCID": "55500001",
            "CampaignName": CAMPAIGN,
            "CallerID": "9876500199",
            "StartTime": "2026-11-21 12:00:00",
            "Status": "Answered",
        },
    )  # the CDR never shows it

    result = run()
    assert result.outcome == "ok", result.error
    # 15 closed days in the lookback (8..22 Nov); 21 Nov has 5 legs in 3 pages of 2: 14 + 3 calls
    assert len(fake.page_calls()) == 17 and result.counts["page"] == 2
    assert fake.over_limit == 0 and fake.busiest_minute() <= 2
    assert clock.now() - START >= dt.timedelta(minutes=8)  # 17 calls at 2 a minute
    day = day_row(db)
    assert (day["state"], day["passes"], day["legs"], day["total_count"]) == ("pending", 1, 5, 5)
    calls = rows(db, "SELECT * FROM ozonetel_call ORDER BY start_time")
    assert len(calls) == 6  # five legs (the transfer's second leg is its own call) and the push-only call
    by_ucid = {c["ucid"]: c for c in calls}
    assert by_ucid["31778123456789013"]["call_key"] == "31778123456789013"
    pushed = by_ucid[str(legs[1]["UCID"])]
    assert pushed["call_key"] == str(legs[1]["UCID"]) and pushed["pushed"] and pushed["cdr_at"] is not None
    assert pushed["key_source"] == "monitorUCID"
    only = [c for c in calls if not c["pushed"]]
    assert len(only) == 4 and all(c["cdr_at"] for c in only)
    assert [c["call_key"] for c in calls if c["call_id"] == str(shared)] == [str(legs[2]["UCID"]), str(legs[3]["UCID"])]
    counts = rows(db, "SELECT * FROM ozonetel_cdr_count WHERE legs > 0")
    assert [(c["day"], c["campaign_name"], c["legs"]) for c in counts] == [(DAY, CAMPAIGN, 5)]
    completeness = rows(
        db, "SELECT * FROM completeness_daily WHERE vendor = 'ozonetel' AND day = %s AND campaign = %s", (DAY, CAMPAIGN)
    )
    [c] = completeness
    assert (c["calls"], c["cdr_legs"], c["calls_cdr_only"], c["pushes_without_cdr"]) == (6, 5, 4, 1)

    # A day later: the second pass of each day. Nothing new is created, nothing lands twice.
    clock.advance(24 * 3600)
    assert run().outcome == "ok"
    assert day_row(db)["state"] == "done" and day_row(db)["passes"] == 2
    assert len(rows(db, "SELECT 1 FROM ozonetel_call")) == 6
    assert fake.over_limit == 0 and fake.busiest_minute() <= 2
    assert fake.served[(CAMPAIGN, DAY, 3)] == 2


def test_a_push_and_a_cdr_leg_of_one_call_are_one_call_whichever_comes_first(run, fake, db, client):
    by_callid = leg(11, dt.time(9, 0, 0), "9876500111", CallID=90011)
    by_time = leg(12, dt.time(9, 30, 0), "9876500112")
    later = leg(13, dt.time(9, 45, 0), "9876500113")
    newer = leg(14, dt.time(9, 50, 0), "9876500114", Disposition="")
    fake.add([by_callid, by_time, later, newer])
    # a push whose monitorUCID is the CDR's CallID
    push(
        client,
        {
            "monitorUCID": "90011",
            "CampaignName": CAMPAIGN,
            "CallerID": "9876500111",
            "StartTime": "2026-11-21 09:00:00",
        },
    )
    # a push whose id the CDR does not carry (a monitorUCID of another leg): same campaign and number, 40 s off
    push(
        client,
        {
            "monitorUCID": "66600012",
            "CampaignName": CAMPAIGN,
            "CallerID": "+91 98765 00112",
            "StartTime": "2026-11-21 09:30:40",
        },
    )
    # the agent's disposition, pushed after the call ended: newer than what the CDR says of it
    push(
        client,
        {
            "monitorUCID": str(newer["UCID"]),
            "CampaignName": CAMPAIGN,
            "CallerID": "9876500114",
            "StartTime": "2026-11-21 09:50:00",
            "EndTime": "2026-11-21 09:58:00",
            "Disposition": "Callback",
        },
    )
    assert run().outcome == "ok"
    calls = {c["call_key"]: c for c in rows(db, "SELECT * FROM ozonetel_call")}
    assert len(calls) == 4
    assert calls["90011"]["cdr_at"] and calls["90011"]["ucid"] == str(by_callid["UCID"])
    assert calls["66600012"]["cdr_at"] and calls["66600012"]["ucid"] == str(by_time["UCID"])
    assert calls[str(newer["UCID"])]["disposition"] == "Callback"  # an older CDR does not overwrite it
    assert calls[str(newer["UCID"])]["end_time"] == dt.datetime(2026, 11, 21, 4, 28, tzinfo=UTC)
    # a push that comes after the CDR, under the leg's UCID, lands on the CDR's call
    push(
        client,
        {
            "monitorUCID": str(later["UCID"]),
            "CampaignName": CAMPAIGN,
            "CallerID": "9876500113",
            "StartTime": "2026-11-21 09:45:00",
            "EndTime": "2026-11-21 09:49:00",  # the CDR says 09:47:14: this push is newer
            "Disposition": "Sale",
        },
    )
    push(client, {"monitorUCID": str(by_callid["UCID"]), "CampaignName": CAMPAIGN, "Disposition": "Sale"})
    calls = {c["call_key"]: c for c in rows(db, "SELECT * FROM ozonetel_call")}
    assert len(calls) == 4 and calls[str(later["UCID"])]["pushed"] and calls["90011"]["disposition"] == "Sale"
    view = rows(db, "SELECT * FROM call WHERE vendor = 'ozonetel' AND vendor_call_id = %s", (str(later["UCID"]),))
    assert view[0]["source"] == "push"
    assert view[0]["value_sources"]["disposition"] == "push" and view[0]["value_sources"]["recording_url"] == "cdr"
    recovered = rows(db, "SELECT * FROM call WHERE vendor = 'ozonetel' AND source = 'cdr'")
    assert recovered == []  # every CDR call here was also pushed


def test_a_day_past_the_lookback_expires_without_a_call(run, fake, db, clock, cdr_env, reconciler_url):
    fake.add([leg(21, dt.time(8, 0), "9876500121")])
    with psycopg.connect(reconciler_url, autocommit=True) as conn:
        OzonetelCdrSource(Settings.from_env(cdr_env, VENDORS)).prepare(conn, clock.now())
    clock.advance(10 * 86400)  # nobody ran it for ten days: 3 Dec in Kolkata keeps 18 Nov onwards
    assert run().outcome == "ok"
    expired = rows(db, "SELECT * FROM ozonetel_cdr_day WHERE state = 'expired' ORDER BY day")
    assert [e["day"] for e in expired] == [dt.date(2026, 11, d) for d in range(8, 18)]
    assert all("older than Ozonetel keeps it (15 days" in e["last_error"] and e["passes"] == 0 for e in expired)
    asked = {json.loads(body)["fromDate"][:10] for _, _, _, _, body in fake.page_calls()}
    assert len(asked) == 15 and min(asked) == "2026-11-18"  # 18 Nov .. 2 Dec, none of the expired days
    assert day_row(db)["passes"] == 1 and rows(db, "SELECT ucid FROM ozonetel_call") == [{"ucid": "7017745500000021"}]


@pytest.mark.parametrize(
    ("reply", "outcome", "tries"),
    [
        ((200, "<html>gateway</html>"), "retry", 1),
        ((502, "<html>bad gateway</html>"), "retry", 1),
        ((200, '{"message":"Missing fromDate and toDate","status":"fail"}'), "retry", 1),
        (
            (
                200,
                '{"message":"Invalid fromDate format. Please pass the date in the format yyyy-MM-dd HH:mm:ss",'
                '"status":"fail"}',
            ),
            "retry",
            1,
        ),
        ((200, '{"message":"fromDate and toDate should not be future dates","status":"fail"}'), "retry", 1),
        ((200, '{"status":"false","message":"Invalid Json Pass Valid Json"}'), "stopped", 0),
        ((429, '{"status":"false","message":"Too many requests"}'), "rate-limited", 0),
        ((200, '{"status":"false","message":"Token Expired","data":null}'), "rate-limited", 0),
        ((401, '{"status":"false","message":"Missing userName or apiKey"}'), "stopped", 0),
        ((200, '{"status":"false","message":"userName or apiKey is Invalid"}'), "stopped", 0),
    ],
)
def test_each_documented_failure_is_a_counted_try_a_pause_or_a_stop(run, fake, db, reply, outcome, tries):
    fake.add([leg(31, dt.time(8, 0), "9876500131")])
    fake.replies.append(reply)
    result = run(limit=1)
    oldest = rows(db, "SELECT * FROM ozonetel_cdr_day WHERE day = '2026-11-08'")[0]
    if outcome == "stopped":
        assert result.outcome == "failed"
        assert "no day was charged a try" in result.error or "body of a GET" in result.error
        assert oldest["tries"] == 0 and oldest["passes"] == 0
    elif outcome == "rate-limited":
        assert result.counts["rate-limited"] == 1 and oldest["tries"] == 0
    else:
        assert result.counts[outcome] == 1 and oldest["tries"] == tries and oldest["last_error"]
        assert oldest["state"] == "pending"
    # the day is never lost: a clean run afterwards fetches every day
    assert run().outcome == "ok"
    assert {r["state"] for r in rows(db, "SELECT state FROM ozonetel_cdr_day")} == {"pending"}
    assert all(r["passes"] == 1 for r in rows(db, "SELECT passes FROM ozonetel_cdr_day"))


def test_an_invalid_campaign_stops_that_campaign_only(run, fake, db):
    fake.add([leg(41, dt.time(8, 0), "9876500141")])
    result = run({"OZONETEL_CAMPAIGNS": f"{CAMPAIGN}, Ghost_Campaign"})
    assert result.outcome == "ok" and result.counts["campaign-misconfigured"] == 1
    states = rows(
        db,
        "SELECT campaign_name, count(*) FILTER (WHERE passes = 1) AS fetched, count(*) AS days "
        "FROM ozonetel_cdr_day GROUP BY 1 ORDER BY 1",
    )
    assert [(s["campaign_name"], s["fetched"], s["days"]) for s in states] == [
        ("Ghost_Campaign", 0, 15),
        (CAMPAIGN, 15, 15),
    ]
    ghost_calls = [c for c in fake.page_calls() if json.loads(c[4]).get("campaignName") == "Ghost_Campaign"]
    assert len(ghost_calls) == 1  # stopped after the first refusal


def test_a_leg_that_cannot_land_is_counted_and_the_day_goes_on(run, fake, db):
    bad = leg(51, dt.time(8, 0), "")
    for name in ("UCID", "CallID", "CallerID", "E164", "CampaignName"):
        bad.pop(name)
    fake.days[(CAMPAIGN, DAY)] = [leg(52, dt.time(8, 5), "9876500152", CallID=None), bad]
    fake.campaigns.add(CAMPAIGN)
    assert run().outcome == "ok"
    assert day_row(db)["passes"] == 1 and day_row(db)["legs"] == 2
    [raw] = rows(db, "SELECT * FROM raw_inbox WHERE landed_count > 0 OR status = 'partial' ORDER BY id")[-1:]
    assert raw["landed_count"] == 1 and raw["record_count"] == 2
    assert rows(db, "SELECT call_key FROM ozonetel_call") == [{"call_key": "7017745500000052"}]


def test_the_token_is_shared_renewed_before_it_runs_out_and_never_minted_past_ten_an_hour(
    run, fake, db, clock, cdr_env, reconciler_url
):
    fake.auth = "token"
    fake.add([leg(61, dt.time(8, 0), "9876500161")])
    overrides = {"OZONETEL_CDR_AUTH": "token"}
    assert run(overrides, limit=2).outcome == "stopped"
    assert len(fake.tokens) == 1
    assert run(overrides, limit=2).outcome == "stopped"  # a second process takes the stored token over
    assert len(fake.tokens) == 1
    for token, _ in fake.tokens:
        SECRETS.add(token)
    clock.advance(52 * 60)  # under 10 minutes left: the next call renews it first
    assert run(overrides, limit=1).outcome == "stopped"
    assert len(fake.tokens) == 2
    # Ozonetel says the token expired: one new token, not one per try
    for _ in range(6):
        fake.replies.append((401, '{"status":"false","message":"Token Expired","data":null}'))
    run(overrides, limit=6)
    for token, _ in fake.tokens:
        SECRETS.add(token)
    assert fake.mint_refusals == 0
    minted = [t for _, t in fake.tokens]
    assert all(sum(1 for u in minted if dt.timedelta(0) <= u - t < dt.timedelta(hours=1)) <= 10 for t in minted)
    stored = rows(db, "SELECT token, minted_by FROM ozonetel_cdr_token")
    assert stored[0]["token"] == fake.tokens[-1][0]
    result = run(overrides)
    assert result.outcome == "ok", result.error
    assert {r["passes"] for r in rows(db, "SELECT passes FROM ozonetel_cdr_day")} == {1}


def test_the_token_table_is_the_reconcilers_alone(db, role_url):
    for role in ("web", "analyst"):
        with (
            psycopg.connect(role_url(role), autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT token FROM ozonetel_cdr_token")


def test_status_the_console_and_metrics_show_the_cdr_days_budget_and_completeness(
    run, fake, db, client, clock, cdr_env, reconciler_url
):
    from console_seed import console_app, sign_in

    from receiver.web import completeness_metrics
    from reconciler import status

    yesterday = dt.date(2026, 11, 22)
    fake.add(
        [
            make_leg(70 + n, day=yesterday, at=dt.time(9, n), campaign=CAMPAIGN, phone=f"98765007{n:02d}")
            for n in range(3)
        ]
    )
    push(client, {"monitorUCID": "7017745500000070", "CampaignName": CAMPAIGN, "StartTime": "2026-11-22 09:00:00"})
    last_push = push(
        client,
        {
            "monitorUCID": "55500071",
            "CampaignName": CAMPAIGN,
            "CallerID": "9876500799",
            "StartTime": "2026-11-22 11:00:00",
        },
    )
    assert run().outcome == "ok"
    settings = Settings.from_env(cdr_env, VENDORS)
    # the fetched pages are kept as raw rows, but the silence alarm still reads the pushes only
    [(pushed_at,)] = db.execute("SELECT received_at FROM raw_inbox WHERE id = %s", (last_push["raw_id"],))
    fetched = db.execute("SELECT count(*), max(received_at) FROM raw_inbox WHERE headers ? 'X-Callrecon-Fetched'")
    pages, last_page_at = fetched.fetchone()
    assert pages == 16 and last_page_at > pushed_at
    assert db.execute("SELECT last_callback_at FROM source_health WHERE source = 'ozonetel'").fetchone() == (pushed_at,)

    with psycopg.connect(reconciler_url, autocommit=True) as conn:
        report = status.collect(conn, settings, VENDORS, clock)
    cdr = report["ozonetel-cdr"]
    assert (cdr["pending"], cdr["expired"], cdr["rate_budget"]["in_force"]) == (15, 0, "2/60s")
    assert cdr["last_run"]["counts"] == {"page": 1, "day-fetched": 15}
    sums = report["completeness"]["by_vendor"]["ozonetel"]
    assert (sums["calls"], sums["cdr_legs"], sums["calls_cdr_only"], sums["pushes_without_cdr"]) == (4, 3, 2, 1)
    text = status.render(report)
    assert "ozonetel-cdr: pending 15" in text and "rate budget 2/60s" in text
    assert "CDR legs 3, recovered by CDR 2, pushes without CDR 1" in text

    app = console_app(cdr_env, clock.now())
    try:
        ops = app.test_client()
        assert sign_in(ops).status_code == 302
        page = ops.get("/ops/completeness?days=2").get_data(as_text=True)
        assert "CDR legs" in page and "recovered by CDR" in page and "pushes without CDR" in page
        cells = re.findall(r'<td class="n[^"]*">(?:<a [^>]*>)?([-\d]+)', page.split("2026-11-22", 1)[1])
        assert cells[-3:] == ["3", "2", "1"]
        assert "CDR of Renewals_Nov, 2026-11-22, pass 2" in ops.get("/ops/work?source=ozonetel-cdr").get_data(
            as_text=True
        )
        overview = ops.get("/ops/").get_data(as_text=True)
        assert re.search(r"ozonetel-cdr.*?\d+ of 120 \(ozonetel-cdr", overview, re.S), "the CDR budget, 2 a minute"
        assert "callrecon_completeness_yesterday" in ops.get("/metrics").get_data(as_text=True)
        # the journey says how each call's records arrived, each way once
        arrived = re.compile(r'class="arrived">(.*?)</td>')
        both = ops.get("/ops/journey?q=7017745500000070").get_data(as_text=True)
        assert arrived.search(both)[1] == "push, CDR leg" and "cdr" in both.split('class="sources"')[1]
        recovered = ops.get("/ops/journey?q=9876500702").get_data(as_text=True)
        assert arrived.search(recovered)[1] == "CDR leg"
    finally:
        app.extensions["callrecon_pool"].close()
    with psycopg.connect(reconciler_url, autocommit=True) as conn:
        families = completeness_metrics.families(conn, settings.business_timezone, clock.now())
    samples = {(s.labels["measure"]): s.value for s in families[0].samples if s.labels["campaign"] == CAMPAIGN}
    assert samples["cdr_legs"] == 3 and samples["calls_cdr_only"] == 2 and samples["pushes_without_cdr"] == 1


def test_reconcile_source_ozonetel_runs_the_cdr_pull_beside_the_dial_status_requests(cdr_env):
    from reconciler.runner import selected_sources

    both = Settings.from_env({**cdr_env, "PUBLIC_BASE_URL": "https://callrecon.example.com"}, VENDORS)
    run_list, unconfigured, broken = selected_sources("ozonetel", both, VENDORS)
    assert [s.name for s in run_list] == ["ozonetel", "ozonetel-cdr"] and not unconfigured and not broken

    # the whole account's CDR and no dial-status requests: the requests are not wanted, not broken
    cdr_only = {k: v for k, v in cdr_env.items() if k != "OZONETEL_CAMPAIGNS"}
    run_list, unconfigured, broken = selected_sources("all", Settings.from_env(cdr_only, VENDORS), VENDORS)
    assert "ozonetel-cdr" in [s.name for s in run_list] and "ozonetel" not in [s.name for s in run_list]
    assert not [b for b in broken if b.startswith("ozonetel")]

    # dial-status requests asked for but PUBLIC_BASE_URL missing: said, naming the source
    _, _, broken = selected_sources("ozonetel", Settings.from_env(cdr_env, VENDORS), VENDORS)
    assert broken == ["ozonetel: PUBLIC_BASE_URL is not set"]

    # no key: neither source can run
    no_key = {**cdr_env, "OZONETEL_API_KEY": "", "PUBLIC_BASE_URL": "https://callrecon.example.com"}
    _, _, broken = selected_sources("ozonetel", Settings.from_env(no_key, VENDORS), VENDORS)
    assert broken == ["ozonetel: OZONETEL_API_KEY is not set"]  # both sources lack it: said once


def test_two_processes_wanting_a_token_at_once_make_one(fake, clock, reconciler_url):
    """Both read no usable token; the advisory lock lets one make it, and the other takes it over."""
    import requests

    from reconciler.sources.ozonetel.cdr_token import TokenStore

    fake.auth = "token"
    stores = [TokenStore(reconciler_url, requests.Session(), fake.url, USER, API_KEY, 5.0) for _ in range(4)]
    got, start = [], threading.Barrier(len(stores))

    def want(store):
        start.wait()
        got.append(store.token(clock.now(), [API_KEY]))

    threads = [threading.Thread(target=want, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    SECRETS.update(token for token, _ in fake.tokens)
    assert len(fake.tokens) == 1 and got == [fake.tokens[0][0]] * 4
