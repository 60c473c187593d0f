"""The operator console at /ops: access, what each page shows, its actions, and that no page shows a secret."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from html import unescape as html_unescape

import psycopg
import pytest
from console_seed import (
    OPS_OLD_TOKEN,
    OPS_TOKEN,
    PAGE_SECRETS,
    QUARANTINED_PHONE,
    console_app,
    console_env,
    csrf_from,
    database_now,
    scrub,
    seed,
    sign_in,
)

from conftest import FIXTURE_APIKEY
from receiver import create_app
from receiver import ledgers as items
from receiver.config import Settings
from receiver.vendors import VENDORS
from receiver.web.console import overview


@pytest.fixture
def now(database_url) -> dt.datetime:
    """The console's pinned clock (console_seed.database_now)."""
    return database_now(database_url)


@pytest.fixture
def app(env, now):
    app = console_app(env, now)
    yield app
    app.extensions["callrecon_pool"].close()


@pytest.fixture
def run_cli(reconciler_url, monkeypatch, capsys):
    """Run a callrecon command with an environment; (exit code, stdout, stderr)."""
    from reconciler import cli

    def _run(environ: dict, *argv):
        for name in [n for n in os.environ if n.endswith("_CALLBACK_TOKENS")]:
            monkeypatch.delenv(name)
        for name, value in {**environ, "DATABASE_URL": reconciler_url}.items():
            monkeypatch.setenv(name, value)
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


@pytest.fixture
def seeded(app, database_url, now):
    ids = seed(app.test_client(), database_url, now)
    yield ids
    scrub(database_url, ids)


@pytest.fixture
def ops(app):
    """A signed-in test client."""
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


def html(response) -> str:
    return response.get_data(as_text=True)


# Access


def test_without_a_session_every_page_redirects_to_sign_in(app):
    client = app.test_client()
    for path in ("/ops", "/ops/", "/ops/events", "/ops/journey?q=1", "/ops/work"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/ops/sign-in?next=")


def test_a_bad_token_gets_401_and_is_logged_without_the_token(app, log_copy):
    client = app.test_client()
    start = len(log_copy.lines)
    response = sign_in(client, token="guessed-token-123456")
    assert response.status_code == 401
    assert "not one of OPS_TOKENS" in html(response)
    lines = "\n".join(log_copy.lines[start:])
    assert "sign-in failed" in lines and '"client": "127.0.0.1"' in lines and "guessed-token" not in lines
    assert client.get("/ops/").status_code == 302


def test_failed_sign_ins_are_rate_limited(app):
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, token="guessed-token-123456").status_code == 401
    refused = sign_in(client, token=OPS_TOKEN)  # even the right token waits out the window
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "300"


def test_a_post_without_its_csrf_token_gets_400(ops, seeded):
    response = ops.post("/ops/quarantine/replay", data={"raw_id": seeded["quarantined"]})
    assert response.status_code == 400
    wrong = ops.post("/ops/quarantine/replay", data={"raw_id": seeded["quarantined"], "csrf_token": "forged"})
    assert wrong.status_code == 400
    client = ops.application.test_client()  # sign-in itself needs the form's token too
    assert client.post("/ops/sign-in", data={"token": OPS_TOKEN}).status_code == 400


def test_without_ops_tokens_the_console_is_a_404_and_the_log_says_how_to_enable_it(env, caplog):
    with caplog.at_level(logging.INFO, logger="callrecon.console"):
        app = create_app(Settings.from_env(env, VENDORS))
    try:
        client = app.test_client()
        for path in ("/ops", "/ops/", "/ops/sign-in", "/ops/events"):
            assert client.get(path).status_code == 404, path
        assert client.post("/ops/sign-in", data={"token": "x"}).status_code == 404
        assert "set OPS_TOKENS" in caplog.text
    finally:
        app.extensions["callrecon_pool"].close()


def test_the_session_cookie_is_signed_httponly_strict_and_secure_behind_https(env, now):
    app = create_app(Settings.from_env({**_console_env(env), "PUBLIC_BASE_URL": "https://calls.example.com"}, VENDORS))
    try:
        cookie = sign_in(app.test_client()).headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie and "Path=/ops" in cookie
        assert OPS_TOKEN not in cookie
    finally:
        app.extensions["callrecon_pool"].close()
    plain = console_app(env, now)
    try:
        assert "Secure" not in sign_in(plain.test_client()).headers["Set-Cookie"]
    finally:
        plain.extensions["callrecon_pool"].close()


def _console_env(env):
    from console_seed import console_env

    return console_env(env)


def test_pages_cannot_be_framed_cached_or_run_scripts(ops):
    response = ops.get("/ops/")
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "<script" not in html(response)


def test_a_token_rotated_out_ends_its_sessions(env, now):
    old = console_app(env, now)
    client = old.test_client()
    assert sign_in(client, token=OPS_OLD_TOKEN).status_code == 302
    assert client.get("/ops/").status_code == 200
    old.extensions["callrecon_pool"].close()
    rotated = create_app(Settings.from_env({**_console_env(env), "OPS_TOKENS": OPS_TOKEN}, VENDORS))
    try:
        rotated.config["CALLRECON_CLOCK"] = lambda: now
        cookie = client.get_cookie("callrecon_ops", path="/ops")
        again = rotated.test_client()
        again.set_cookie("callrecon_ops", cookie.value, path="/ops")
        assert again.get("/ops/").status_code == 302
    finally:
        rotated.extensions["callrecon_pool"].close()


def test_short_ops_tokens_are_refused_at_start_up():
    with pytest.raises(Exception, match="OPS_TOKENS"):
        Settings.from_env({"OPS_TOKENS": "short"}, VENDORS)


# Pages


def test_overview_shows_the_silent_source_the_backlog_and_the_reconciler(ops, seeded):
    page = html(ops.get("/ops/"))
    huawei = page.split('id="push-huawei"')[1].split("</tr>")[0]
    ozonetel = page.split('id="push-ozonetel"')[1].split("</tr>")[0]
    assert "SILENT" in huawei and "never" in huawei
    assert "SILENT" not in ozonetel and "<svg" in ozonetel
    assert ">2</span>" in ozonetel.split('class="backlog n"')[1] and "oldest 4.0 min" in ozonetel
    reconciler = page.split('id="work-ozonetel"')[1].split("</tr>")[0]
    assert ">1</a>" in reconciler  # one failing window, one that gave up
    fixes = page.split('id="problems"')[1].split("</table>")[0]
    assert "1 open item waits, but the source cannot run" in fixes and "OZONETEL_USERNAME is not set" in fixes


def test_silence_follows_the_source_health_view(app, db):
    """The page evaluates the view's working-hours rule itself (the view is too slow for a page)."""
    settings = app.config["CALLRECON_SETTINGS"]
    db.execute("SET callrecon.working_hours = '00:00-24:00'")
    db.execute("SET callrecon.working_days = '1,2,3,4,5,6,7'")
    view = dict(db.execute("SELECT source, silent FROM source_health").fetchall())
    now = db.execute("SELECT now()").fetchone()[0]
    assert view == {source: overview.silent(None, now, settings) for source in view}
    monday_night = dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.timezone.utc)
    weekday = Settings.from_env({"WORKING_HOURS": "09:00-19:00", "WORKING_DAYS": "Mon-Fri"}, VENDORS)
    assert not overview.in_working_hours(monday_night, weekday)
    assert overview.in_working_hours(monday_night.replace(hour=18, minute=59), weekday)
    assert not overview.in_working_hours(dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.timezone.utc), weekday)  # Sat


def test_events_are_searchable_by_status_and_body_and_paginate(ops, seeded):
    quarantined = html(ops.get("/ops/events?status=quarantined"))
    assert f'/ops/events/{seeded["quarantined"]}"' in quarantined and "KeyError" in quarantined
    by_phone = html(ops.get(f"/ops/events?q={QUARANTINED_PHONE}"))
    assert f'/ops/events/{seeded["quarantined"]}"' in by_phone and f'/ops/events/{seeded["foreign"]}"' not in by_phone
    assert "No callback matches" in html(ops.get("/ops/events?q=no-such-thing"))
    assert ops.get("/ops/events?since=2026-01-01T00:00&until=2026-03-01T00:00").status_code == 400  # > 31 days


def test_event_detail_shows_the_masked_body_headers_parse_result_and_typed_rows(ops, seeded, db):
    page = html(ops.get(f"/ops/events/{seeded['quarantined']}"))
    assert "quarantined" in page and "parser error: KeyError" in page and "Replay this callback" in page
    assert "&#34;Apikey&#34;: &#34;***&#34;" in page and FIXTURE_APIKEY not in page
    landed_id = int(html(ops.get("/ops/events?status=landed")).split("/ops/events/")[1].split('"')[0])
    landed = html(ops.get(f"/ops/events/{landed_id}"))
    assert "ozonetel_call 2105221234567890" in landed and "Renewals_Nov" in landed
    # the typed row as a table of its filled columns, in the table's column order; every column behind a toggle
    filled = re.findall(
        r'<td class="name"><code>(\w+)</code></td>', landed.split('class="typed compact"')[1].split("</table>")[0]
    )
    every = re.findall(
        r'<td class="name"><code>(\w+)</code></td>', landed.split('class="typed-all compact"')[1].split("</table>")[0]
    )
    order = [
        c
        for (c,) in db.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'ozonetel_call'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum"
        )
    ]
    assert every == order and filled == [c for c in order if c in filled]
    assert {"call_key", "campaign_name", "start_time"} <= set(filled) and "transferred_to" not in filled


def test_replaying_a_quarantined_callback_lands_it_and_says_so(ops, seeded, db, caplog):
    raw_id = seeded["quarantined"]
    quarantine = html(ops.get("/ops/quarantine"))
    assert "parser error: KeyError; see logs" in quarantine and ">1</td>" in quarantine
    with caplog.at_level(logging.INFO, logger="callrecon.console"):
        response = ops.post("/ops/quarantine/replay", data={"raw_id": raw_id, "csrf_token": csrf_from(quarantine)})
    assert response.status_code == 302
    shown = html(ops.get(response.headers["Location"]))
    assert f"Replayed raw callback {raw_id}: landed." in shown
    assert db.execute("SELECT status FROM raw_inbox WHERE id = %s", (raw_id,)).fetchone()[0] == "landed"
    assert db.execute("SELECT count(*) FROM ozonetel_call WHERE call_key = '2105229999000001'").fetchone()[0] == 1
    logged = [r.fields for r in caplog.records if r.getMessage() == "console replay"]
    assert logged and logged[0]["operator"].startswith("ops:") and logged[0]["by_status"] == {"landed": 1}


def test_replay_all_of_a_reason(ops, seeded, db):
    page = html(ops.get("/ops/quarantine"))
    response = ops.post(
        "/ops/quarantine/replay",
        data={"source": "ozonetel", "reason": "parser error: KeyError; see logs", "csrf_token": csrf_from(page)},
    )
    assert "callbacks quarantined as" in html(ops.get(response.headers["Location"]))
    assert db.execute("SELECT count(*) FROM raw_inbox WHERE status = 'quarantined'").fetchone()[0] == 0


def test_journey_by_phone_number_and_by_call_id(ops, seeded):
    page = html(ops.get("/ops/journey?q=9876543210"))
    assert "ozonetel call 2105221234567890" in page
    assert "push" in page and "raw callback" in page and "call rang" in page
    assert "<td>outcome</td><td>answered</td><td>push</td>" in page
    assert "ozonetel call 2105221234567890" in html(ops.get("/ops/journey?q=2105221234567890"))
    assert "No call with phone number or id" in html(ops.get("/ops/journey?q=0000"))


# What the Ozonetel dial-status source needs to run (the seeded console lacks it: its items cannot run).
OZONETEL_READY = {
    "OZONETEL_USERNAME": "acme_ops",
    "OZONETEL_CAMPAIGNS": "Renewals_Nov",
    "PUBLIC_BASE_URL": "https://calls.example.com",
}


@pytest.fixture
def ready_ops(env, now):
    """A signed-in client of a console whose Ozonetel source can run."""
    app = console_app({**env, **OZONETEL_READY}, now)
    client = app.test_client()
    assert sign_in(client).status_code == 302
    yield client
    app.extensions["callrecon_pool"].close()


def test_a_source_that_cannot_run_says_why_and_refuses_retry(ops, seeded, db, now):
    failing = html(ops.get("/ops/work?source=ozonetel&state=failing"))
    banner = failing.split('id="cannot-run"')[1].split("</p>")[0]
    assert "cannot run" in banner and "OZONETEL_USERNAME is not set" in banner and "Retry is refused" in banner
    assert "disabled" in failing.split("Retry now")[0].rsplit("<button", 1)[1]
    assert "not while the source cannot run" in failing
    key = str(seeded["window_failing"])
    before = db.execute("SELECT next_at FROM ozonetel_request WHERE id = %s", (key,)).fetchone()
    csrf = csrf_from(failing)
    refused = ops.post(
        "/ops/work/retry", data={"source": "ozonetel", "key": key, "csrf_token": csrf, "state": "failing"}
    )
    shown = html(ops.get(refused.headers["Location"]))
    assert "retry refused" in shown and "OZONETEL_USERNAME is not set" in shown
    assert db.execute("SELECT next_at FROM ozonetel_request WHERE id = %s", (key,)).fetchone() == before


def test_work_retry_now_and_give_up_go_through_receiver_work(ready_ops, seeded, db, now):
    ops = ready_ops
    failing = html(ops.get("/ops/work?source=ozonetel&state=failing"))
    assert 'id="cannot-run"' not in failing
    key = str(seeded["window_failing"])
    assert f"<code>{key}</code>" in failing and "no push within 15m" in failing
    csrf = csrf_from(failing)
    done = ops.post("/ops/work/retry", data={"source": "ozonetel", "key": key, "csrf_token": csrf, "state": "failing"})
    assert "due now" in html(ops.get(done.headers["Location"]))
    assert db.execute("SELECT next_at FROM ozonetel_request WHERE id = %s", (key,)).fetchone()[0] == now
    ops.post(
        "/ops/work/give-up", data={"source": "ozonetel", "key": key, "csrf_token": csrf, "reason": "campaign closed"}
    )
    state, error = db.execute("SELECT state, last_error FROM ozonetel_request WHERE id = %s", (key,)).fetchone()
    assert state == "failed" and error.endswith("campaign closed") and "given up by ops:" in error
    gave_up = html(ops.get("/ops/work?source=ozonetel&state=gave-up"))
    assert f"<code>{key}</code>" in gave_up and "Reopen" in gave_up
    refused = ops.post("/ops/work/give-up", data={"source": "ozonetel", "key": key, "csrf_token": csrf, "reason": "x"})
    assert "only open items can be given up" in html(ops.get(refused.headers["Location"]))


def test_reopening_an_item_that_gave_up(app, seeded, db, now):
    table = VENDORS.ledgers["ozonetel"]
    key = str(seeded["window_failed"])
    with psycopg.connect(app.config["CALLRECON_SETTINGS"].database_url) as conn:
        assert "reopened" in items.retry_now(conn, table, key, now, "test")
    state, tries, error = db.execute(
        "SELECT state, tries, last_error FROM ozonetel_request WHERE id = %s", (key,)
    ).fetchone()
    assert (state, tries) == ("timed-out", 3) and "reopened by test" in error
    with pytest.raises(items.WorkError, match="not a ozonetel item key|no ozonetel item"):
        with psycopg.connect(app.config["CALLRECON_SETTINGS"].database_url) as conn:
            items.retry_now(conn, table, "999999", now, "test")


def test_completeness_matches_the_completeness_daily_view(ops, seeded, db, app):
    from receiver import completeness as completeness_rows
    from receiver.web.console import completeness

    page = html(ops.get("/ops/completeness?days=3"))
    assert "<svg" in page and "Renewals_Nov" in page
    with app.test_request_context():
        since, until = completeness.day_bounds(dt.date(2024, 11, 19), 3)
        with psycopg.connect(app.config["CALLRECON_SETTINGS"].ops_database_url) as conn:  # the console's login
            mine = completeness_rows.rows(conn, since, until, app.config["CALLRECON_SETTINGS"].business_timezone)
    view = db.execute(
        "SELECT * FROM completeness_daily WHERE day BETWEEN '2024-11-19' AND '2024-11-21' "
        "ORDER BY day DESC, vendor, campaign"
    ).fetchall()
    assert [tuple(r.values()) for r in mine] == [tuple(r) for r in view] and view
    calls = html(ops.get("/ops/calls?vendor=ozonetel&campaign=Renewals_Nov&day=2024-11-20"))
    assert "2105221234567890" in calls


def test_no_page_shows_a_secret(ops, seeded):
    raw_ids = [seeded["quarantined"], seeded["foreign"], *seeded["unlanded"]]
    paths = [
        "/ops/",
        "/ops/events",
        "/ops/events?status=note",
        "/ops/quarantine",
        "/ops/journey?q=9876543210",
        "/ops/journey?q=" + QUARANTINED_PHONE,
        "/ops/completeness?days=14",
        *(f"/ops/work?source={s}&state={st}" for s in VENDORS.ledgers for st in items.STATES),
        *(f"/ops/events/{i}" for i in raw_ids),
    ]
    for path in paths:
        response = ops.get(path)
        assert response.status_code == 200, path
        text = html(response)
        assert not [s[:6] for s in PAGE_SECRETS if s in text], path
    assert "Apikey=***" in html(ops.get(f"/ops/events/{seeded['foreign']}"))


def test_the_cli_acts_on_items_with_the_same_code(env, seeded, db, monkeypatch, capsys):
    from reconciler import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key = str(seeded["window_failing"])
    assert cli.main(["items", "list", "ozonetel", "--state", "failing"]) == 0
    assert f"{key}\tfailing\ttries 1" in capsys.readouterr().out
    assert cli.main(["items", "give-up", "ozonetel", key, "--reason", "campaign closed", "--by", "cli:test"]) == 0
    assert "gave up (campaign closed)" in capsys.readouterr().out
    error = db.execute("SELECT last_error FROM ozonetel_request WHERE id = %s", (key,)).fetchone()[0]
    assert "given up by cli:test" in error
    assert cli.main(["items", "give-up", "ozonetel", key, "--reason", "again"]) == 2
    assert "only open items can be given up" in capsys.readouterr().err
    # the source cannot run here (no OZONETEL_USERNAME...): listing says so, a retry is refused with the reason
    assert cli.main(["items", "list", "ozonetel", "--state", "gave-up"]) == 0
    assert "the ozonetel source cannot run (OZONETEL_USERNAME is not set" in capsys.readouterr().err
    assert cli.main(["items", "retry", "ozonetel", key]) == 2
    assert "retry refused: the ozonetel source cannot run (OZONETEL_USERNAME is not set" in capsys.readouterr().err
    for name, value in OZONETEL_READY.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["items", "retry", "ozonetel", key]) == 0
    assert "reopened for one more try" in capsys.readouterr().out


def test_events_page_by_keyset_without_gaps_or_repeats(ops, seeded, db, now):
    db.execute(
        "INSERT INTO raw_inbox (received_at, source, body, body_sha256, body_bytes, status) "
        "SELECT %s - make_interval(secs => n), 'ozonetel', '{}'::bytea, 'x', 2, 'landed' FROM generate_series(1, 70) n",
        (now,),
    )
    seen, path = [], "/ops/events?source=ozonetel"
    while path:
        page = html(ops.get(path))
        seen += [int(i) for i in re.findall(r'<td><a href="/ops/events/(\d+)">', page)]
        older = re.search(r'<a href="([^"]+)">Older', page)
        path = older[1].replace("&amp;", "&") if older else None
    expected = db.execute(
        "SELECT id FROM raw_inbox WHERE source = 'ozonetel' AND received_at >= %s - interval '1 day' "
        "ORDER BY received_at DESC, id DESC",
        (now,),
    ).fetchall()
    assert seen == [r[0] for r in expected] and len(seen) > 50
    assert ops.get("/ops/events?before=garbage|x").status_code == 400
    assert ops.get("/ops/work?source=ozonetel&after=garbage").status_code == 400


def test_a_body_search_reads_a_bounded_page_and_older_pages_find_every_match_once(ops, db, now, monkeypatch):
    """At a million callbacks a day a day's bodies take seconds to scan: each page reads at most SCAN_ROWS
    callbacks (all sources together), says how far back it searched, and "Older" goes on without gaps."""
    from receiver.web.console import events

    monkeypatch.setattr(events, "SCAN_ROWS", 60)
    db.execute(
        "INSERT INTO raw_inbox (received_at, source, body, body_sha256, body_bytes, status) "
        "SELECT %s - make_interval(secs => n), CASE WHEN n %% 3 = 0 THEN 'huawei' ELSE 'ozonetel' END, "
        "convert_to(CASE WHEN n %% 7 = 0 THEN '{\"CallerID\": \"needle-555\"}' ELSE '{}' END, 'UTF8'), 'x', 2, "
        "'landed' FROM generate_series(1, 400) n",
        (now,),
    )
    seen, pages, path = [], [], "/ops/events?q=needle-555"
    while path:
        page = html(ops.get(path))
        pages.append(page)
        seen += [int(i) for i in re.findall(r'<td><a href="/ops/events/(\d+)">', page)]
        older = re.search(r'<a href="([^"]+)">Older', page)
        path = html_unescape(older[1]) if older else None
    expected = db.execute(
        "SELECT id FROM raw_inbox WHERE position(convert_to('needle-555', 'UTF8') IN body) > 0 "
        "AND received_at >= %s - interval '1 day' ORDER BY received_at DESC, id DESC",
        (now,),
    ).fetchall()
    assert seen == [r[0] for r in expected] and len(seen) == 57
    assert len(pages) >= 400 // 60  # each page read at most 60 of the 400
    assert all('id="searched"' in page for page in pages[:-1]) and 'id="searched"' not in pages[-1]
    assert 'id="searched"' not in html(ops.get("/ops/events?source=ozonetel"))  # plain paging says nothing


def test_work_pages_walk_a_ledger_in_key_order_across_equal_times(ops, db, now):
    """Keyset on (about, the key columns in their own types): ids 9 and 10 keep numeric order (as text
    they would not), items registered at the same instant are neither repeated nor skipped."""
    db.execute(
        "INSERT INTO lsq_request (id, request_id, kind, registered_at, status, next_poll_at) "
        "OVERRIDING SYSTEM VALUE SELECT n, 'open-' || n, 'call-log', %s - make_interval(mins => n / 40), "
        "'In-Queue', %s FROM generate_series(1, 250) n",
        (now, now),
    )
    seen, path = [], "/ops/work?source=leadsquared&state=open"
    while path:
        page = html(ops.get(path))
        seen += [int(k) for k in re.findall(r"<td><code>(\d+)</code></td>", page)]
        more = re.search(r'<a href="([^"]+)">More', page)
        path = more[1].replace("&amp;", "&").replace("%7C", "|") if more else None
    expected = db.execute("SELECT id FROM lsq_request WHERE final_at IS NULL ORDER BY registered_at, id").fetchall()
    assert seen == [r[0] for r in expected] and len(seen) == 250


def test_overview_counts_stop_at_the_cap_and_say_so(ops, db, now, monkeypatch):
    """A ledger of a million open items is not counted row by row on every view: past COUNT_CAP the
    overview says "N+"; /metrics still counts exactly."""
    monkeypatch.setattr(overview, "COUNT_CAP", 5)
    db.execute(
        "INSERT INTO lsq_request (request_id, kind, registered_at, status, next_poll_at, last_error) "
        "SELECT 'open-' || n, 'call-log', %s - interval '1 hour', 'In-Queue', %s, "
        "CASE WHEN n <= 2 THEN 'HTTP 503' END FROM generate_series(1, 8) n",
        (now, now),
    )
    row = html(ops.get("/ops/")).split('id="work-leadsquared"')[1].split("</tr>")[0]
    assert ">5+</a>" in row and ">2</a>" in row and "1.0 h" in row
    metrics = ops.get("/metrics").get_data(as_text=True)
    assert 'callrecon_reconcile_open{source="leadsquared"} 8.0' in metrics


def test_the_24h_chart_counts_each_closed_bin_once_and_follows_the_clock(app, ops, db, now):
    """Closed quarter-hours are counted once and kept (receiver/web/console/push_chart.py); the chart
    still equals a count of the raw rows since its first bin, as the clock moves and rows arrive."""

    def add(at: dt.datetime, n: int = 1) -> None:
        db.execute(
            "INSERT INTO raw_inbox (received_at, source, body, body_sha256, body_bytes, status) "
            "SELECT %s, 'ozonetel', '{}'::bytea, 'x', 2, 'landed' FROM generate_series(1, %s)",
            (at, n),
        )

    def shown() -> int:
        return int(re.search(r"ozonetel: (\d+) callbacks in 24 h", html(ops.get("/ops/")))[1])

    def expected(moment: dt.datetime) -> int:
        first = (int(moment.timestamp() // 900) - 95) * 900
        return db.execute(
            "SELECT count(*) FROM raw_inbox WHERE source = 'ozonetel' AND received_at >= to_timestamp(%s) "
            "AND received_at <= %s",
            (first, moment),
        ).fetchone()[0]

    for age_min, n in ((25 * 60, 4), (23 * 60 + 50, 3), (5 * 60, 7), (40, 2), (0.5, 1)):
        add(now - dt.timedelta(minutes=age_min), n)
    add(now + dt.timedelta(minutes=5), 9)  # after the page's clock: not shown yet
    assert shown() == expected(now) > 0
    add(now - dt.timedelta(seconds=10), 2)  # in the open bin: counted at the next view
    assert shown() == expected(now)
    kept = app.extensions["callrecon_push_chart"]
    assert kept.through == int((now.timestamp() - 120) // 900)
    later = now + dt.timedelta(hours=3)
    app.config["CALLRECON_CLOCK"] = lambda: later
    add(later - dt.timedelta(minutes=1), 5)
    assert shown() == expected(later) and expected(later) != expected(now)
    assert min(b for _, b in kept.counts) >= int(later.timestamp() // 900) - 95


def test_the_events_filter_reads_and_shows_times_as_the_tables_do(ops, seeded, now):
    """UTC, 24-hour ISO in the inputs as in every table: no browser date-time picker (locale, 12-hour)."""
    page = html(ops.get("/ops/events"))
    assert 'type="datetime-local"' not in page
    until = (now + dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    assert f'name="until" value="{until}"' in page and re.search(
        r'name="since" value="\d{4}-\d\d-\d\d \d\d:\d\d"', page
    )
    day = now.strftime("%Y-%m-%d")
    assert ops.get(f"/ops/events?since={day} 00:00&until={day} 23:59").status_code == 200
    assert ops.get(f"/ops/events?since={day}T00:00&until={day}T23:59").status_code == 200
    refused = ops.get(f"/ops/events?since={day}T00:00%2B05:30")
    assert refused.status_code == 400 and "UTC" in html(refused)


def overview_of(env: dict, now) -> str:
    """The overview page of an app built from `env` as it is (the console's own settings included), signed in."""
    app = create_app(Settings.from_env(env, VENDORS))
    app.config["CALLRECON_CLOCK"] = lambda: now
    try:
        client = app.test_client()
        assert sign_in(client).status_code == 302
        return html(client.get("/ops/"))
    finally:
        app.extensions["callrecon_pool"].close()


def without_push_settings(env: dict) -> dict:
    """The console's test environment with no vendor's callback tokens."""
    return {k: v for k, v in console_env(env).items() if not k.endswith("_CALLBACK_TOKENS")}


def test_an_ozonetel_only_install_shows_huawei_quietly_as_not_used(env, now):
    ozonetel_only = {k: v for k, v in without_push_settings(env).items() if not k.startswith("HUAWEI_")}
    page = overview_of({**ozonetel_only, "OZONETEL_CALLBACK_TOKENS": "t" * 32}, now)
    huawei = page.split('id="push-huawei"')[1].split("</tr>")[0]
    assert "not used" in huawei and "bad" not in huawei and "SILENT" not in huawei
    fixes = page.split('id="problems"')[1].split("</table>")[0] if 'id="problems"' in page else ""
    assert "huawei" not in fixes


# What makes each vendor "used" without its callback token: one of its settings given.
USED_WITHOUT_TOKEN = {"ozonetel": {}, "huawei": {"HUAWEI_TIMEZONE": "Asia/Shanghai"}}


@pytest.mark.parametrize("vendor", sorted(USED_WITHOUT_TOKEN))
def test_the_fix_for_a_missing_callback_token_works_as_written(vendor, env, now, run_cli):
    """Follow the overview's fix word for word: set each variable it names to what it says, run the
    command it gives for a token; then the problem is gone and `callrecon urls` prints the vendor's URL."""
    import subprocess

    base = {**without_push_settings(env), **USED_WITHOUT_TOKEN[vendor]}
    page = overview_of(base, now)
    row = next(r for r in page.split('id="problems"')[1].split("<tr>") if r.startswith(f"<td>{vendor}</td>"))
    assert "no callback token" in row and "`" not in row  # commands are set apart as code, not backticks
    fix = re.sub(r"<[^>]+>", "", row.split('<td class="bad">')[1].split("</td>", 1)[1]).replace("&#39;", "'")
    followed = {}
    for variable in re.findall(r"(?:set |; )([A-Z_]+) to ", fix):
        example = re.search(r"<code>(.*?)</code>", row.split(variable, 1)[1])[1].replace("&#39;", "'")
        if example.startswith("python3 -c"):
            example = subprocess.run(["bash", "-c", example], capture_output=True, text=True, check=True).stdout
        followed[variable] = example.strip()
    assert f"{vendor.upper()}_CALLBACK_TOKENS" in followed and "callrecon urls" in fix
    fixed = {**base, **followed}
    page = overview_of(fixed, now)
    assert (
        'id="problems"' not in page or f"<td>{vendor}</td>" not in page.split('id="problems"')[1].split("</table>")[0]
    )
    code, out, _ = run_cli(fixed, "urls", "--base", "https://calls.example.com")
    assert (
        f"{vendor}: https://calls.example.com/callbacks/{vendor}/{followed[f'{vendor.upper()}_CALLBACK_TOKENS']}" in out
    )


def test_the_quarantine_groups_and_replays_by_cause_not_by_summary(ops, db):
    """Two bodies that both read '1 of 1 records failed validation' fail for different causes: two groups,
    and replaying one cause leaves the other quarantined."""
    from conftest import OZONETEL_TOKEN

    url = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"
    no_identity = ops.post(url, data=b'{"Status": "Answered"}', content_type="application/json").json
    bad_time = [
        ops.post(
            url,
            data=json.dumps({"monitorUCID": f"q{n}", "StartTime": f"not a time {n}"}),
            content_type="application/json",
        ).json
        for n in range(2)
    ]
    not_json = ops.post(url, data=b"{oops", content_type="application/json").json
    page = html(ops.get("/ops/quarantine"))
    causes = page.split('id="reasons"')[1].split("</table>")[0]
    assert ">no call identity</a>" in causes and ">not JSON</a>" in causes
    start_time = re.search(r">(StartTime: [^<]+)</a>", causes)[1]
    assert start_time.endswith(" time: …") and "not a time 0" not in start_time  # the record's value is not in it
    assert "1 of 1 records failed validation" not in causes
    assert ">2</td>" in causes.split(start_time)[1].split("</tr>")[0]

    # replay every StartTime failure, under a field map that still refuses them: nothing else is touched
    csrf = csrf_from(page)
    replayed = ops.post(
        "/ops/quarantine/replay",
        data={
            "csrf_token": csrf,
            "source": "ozonetel",
            "reason": start_time.replace("&#39;", "'").replace("&amp;", "&"),
        },
    )
    assert "2 callbacks quarantined as" in html(ops.get(replayed.headers["Location"]))
    parsed = dict(db.execute("SELECT id, parse_count FROM raw_inbox").fetchall())
    assert [parsed[r["raw_id"]] for r in bad_time] == [2, 2]
    assert parsed[no_identity["raw_id"]] == 1 and parsed[not_json["raw_id"]] == 1
    detail = html(ops.get(f"/ops/events/{bad_time[0]['raw_id']}"))
    assert "1 of 1 records failed validation" in detail  # the summary stays on the event's page


def test_a_pushed_calls_journey_names_a_source_for_every_field_and_how_it_arrived_once(ops, seeded):
    page = html(ops.get("/ops/journey?q=9876543210"))
    sources = page.split('class="sources"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td>(.*?)</td><td>(.*?)</td></tr>", sources)
    shown = [(field, value, by) for field, value, by in rows if value != "-"]
    assert {"phone_number", "connect_time", "duration_s", "vendor_status", "disposition"} <= {f for f, _, _ in shown}
    assert [f for f, _, by in shown if by == "-"] == [], shown
    arrived = re.search(r'<td colspan="2" class="arrived">(.*?)</td>', sources)[1]
    assert arrived == "push"


def test_charts_have_a_time_axis_and_the_completeness_columns_their_definitions(ops, seeded, db, now):
    page = html(ops.get("/ops/"))
    chart = page.split('id="push-ozonetel"')[1].split("</svg>")[0]
    ticks = re.findall(r'text-anchor="\w+">([^<]+)</text>', chart)
    utc_now = now.astimezone(dt.timezone.utc)
    assert ticks == [f"{utc_now - dt.timedelta(hours=h):%H:%M}" for h in (24, 18, 12, 6, 0)]
    assert "last 24 h (UTC)" in page
    completeness = html(ops.get("/ops/completeness?days=3"))
    titles = dict(re.findall(r'<th title="(\w+): ([^"]*)">', completeness))
    documented = dict(
        db.execute(
            "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
            "WHERE attrelid = 'completeness_daily'::regclass AND attnum > 0"
        ).fetchall()
    )
    assert set(titles) == set(documented) and all(html_unescape(titles[c]) == documented[c] for c in titles)
    assert ">windows answered</th>" in completeness and ">received</th>" not in completeness
