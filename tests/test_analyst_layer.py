"""The analyst layer: canonical calls from two vendors, completeness, silence, docs, example queries, pruning."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from psycopg.rows import dict_row

from conftest import OZONETEL_TOKEN, ROOT, SECRETS, SQL_DIR, fixture_bytes
from fakes import huawei_seed_response
from receiver import create_app
from receiver.config import Settings
from receiver.database import docs as schema_docs
from receiver.database import grants
from receiver.landing.retention import prune
from receiver.vendors import VENDORS
from receiver.vendors.huawei import records as huawei_landing

HW_TOKEN = "hw-analyst-token-1"
SECRETS.add(HW_TOKEN)
UTC = dt.timezone.utc
QUERIES = sorted((SQL_DIR / "queries").glob("*.sql"))
# The UTC dates of the vendor samples' calls (fixtures call_details__array.json and push__array.json).
OZONETEL_SAMPLE_DAY = dt.date(2024, 11, 20)
HUAWEI_SAMPLE_DAY = dt.date(2022, 2, 10)


def sample_day(db) -> dt.date:
    """The UTC date the samples are moved to: yesterday by the database's clock, at any hour of the day."""
    return db.execute("SELECT (now() AT TIME ZONE 'UTC')::date - 1").fetchone()[0]


@pytest.fixture
def two_vendor_client(env):
    app = create_app(Settings.from_env({**env, "HUAWEI_CALLBACK_TOKENS": HW_TOKEN, "HUAWEI_TIMEZONE": "UTC"}, VENDORS))
    yield app.test_client()
    app.extensions["callrecon_pool"].close()


@pytest.fixture
def loaded(two_vendor_client, db, env):
    """Both vendors' samples landed through the real endpoints and landing code, times moved to today."""
    client = two_vendor_client
    assert (
        client.post(
            f"/callbacks/ozonetel/{OZONETEL_TOKEN}",
            data=fixture_bytes("ozonetel", "call_details__array.json"),
            content_type="application/json",
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/callbacks/huawei/{HW_TOKEN}",
            data=fixture_bytes("huawei", "push__array.json"),
            content_type="application/json",
        ).json["retCode"]
        == "0"
    )
    seed = huawei_seed_response()["data"]
    with db.transaction():
        huawei_landing.land_detail(
            db,
            8,
            "1644464743-1388",
            seed,
            Settings.from_env({**env, "HUAWEI_TIMEZONE": "UTC"}, VENDORS),
            dt.datetime.now(UTC),
        )
        # Move every sample to yesterday (UTC), whole days only, so that each keeps its time of day and
        # the last-N-days queries see it at whatever hour the suite runs: never "tomorrow", never future.
        day = sample_day(db)
        db.execute(
            "UPDATE ozonetel_call SET start_time = start_time + %(d)s * interval '1 day', "
            "end_time = end_time + %(d)s * interval '1 day'",
            {"d": (day - OZONETEL_SAMPLE_DAY).days},
        )
        db.execute(
            "UPDATE huawei_call SET call_time = call_time + %(d)s * interval '1 day', "
            "ack_begin_time = ack_begin_time + %(d)s * interval '1 day', "
            "call_begin_time = call_begin_time + %(d)s * interval '1 day', "
            "call_end_time = call_end_time + %(d)s * interval '1 day'",
            {"d": (day - HUAWEI_SAMPLE_DAY).days},
        )
    return client


def test_canonical_view_has_one_row_per_call_with_provenance(loaded, db):
    rows = db.cursor(row_factory=dict_row).execute("SELECT * FROM call ORDER BY vendor, vendor_call_id").fetchall()
    assert [(r["vendor"], r["vendor_call_id"]) for r in rows] == [
        ("huawei", "8:1644464743-1388"),
        ("huawei", "8:1644464743-1391"),
        ("ozonetel", "2105221234567891"),
        ("ozonetel", "2105221234567892"),
    ]
    hw, hw_failed, oz_missed, oz_answered = rows
    assert hw["outcome"] == "answered" and hw["duration_s"] == 4 and hw["recording_expires_at"] is not None
    assert hw["value_sources"]["end_time"] == "detail" and hw["value_sources"]["phone_number"] == "detail"
    assert hw["source"] == "push"
    assert hw_failed["outcome"] == "no-answer" and hw_failed["value_sources"] == {
        "campaign": "push",
        "phone_number": "push",
        "ring_time": "push",
        "outcome": "push",
    }
    assert oz_missed["outcome"] == "no-answer" and oz_answered["outcome"] == "answered"
    assert oz_answered["disposition"] == "Wrap up time exceeded :120" and oz_answered["duration_s"] == 130
    assert oz_answered["value_sources"]["end_time"] == "push" and oz_answered["source"] == "push"
    assert all(r["ring_time"].tzinfo is not None for r in rows)


@pytest.mark.parametrize(
    "dial_status,status,outcome",
    [
        ("answered", None, "answered"),
        ("not_answered", None, "no-answer"),
        (None, "NotAnswered", "no-answer"),
        ("user_disconnected", None, "rejected"),
        ("busy", None, "busy"),
        ("invalid_number", None, "failed"),
        ("exception", None, "failed"),
        (None, None, "unknown"),
        ("weird", None, "unknown"),
    ],
)
def test_ozonetel_outcomes_fold_into_the_documented_set(db, dial_status, status, outcome):
    assert db.execute("SELECT callrecon_ozonetel_outcome(%s, %s)", (dial_status, status)).fetchone() == (outcome,)


@pytest.mark.parametrize(
    "call_status,fail_code,outcome",
    [
        (6, "00000", "answered"),
        (5, "00537", "busy"),
        (5, "00603", "no-answer"),
        (5, "01040", "no-answer"),
        (5, "00604", "rejected"),
        (5, "00606", "failed"),
        (None, None, "unknown"),
    ],
)
def test_huawei_outcomes_fold_into_the_documented_set(db, call_status, fail_code, outcome):
    assert db.execute("SELECT callrecon_huawei_outcome(%s, %s)", (call_status, fail_code)).fetchone() == (outcome,)


def test_completeness_counts_calls_and_windows_per_campaign_day(loaded, db):
    day = sample_day(db)
    start = dt.datetime.combine(day, dt.time(), UTC)
    db.execute(
        "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state) VALUES "
        "('Renewals_Nov', %(t)s, %(t)s + interval '1 hour', 'received'), "
        "('Renewals_Nov', %(t)s + interval '1 hour', %(t)s + interval '2 hours', 'failed')",
        {"t": start},
    )
    rows = {
        (r[0], r[1]): r[2:]
        for r in db.execute(
            "SELECT vendor, campaign, calls, calls_pushed, calls_missing_detail, windows_requested, windows_received, "
            "windows_failed FROM completeness_daily WHERE day = %s",
            (day,),
        )
    }
    assert rows[("huawei", "1001")] == (2, 2, 1, 0, 0, 0)
    assert rows[("ozonetel", "Renewals_Nov")] == (2, 2, 0, 2, 1, 1)


def test_silence_is_flagged_in_working_hours_and_cleared_by_a_callback(two_vendor_client, db):
    db.execute("SET callrecon.working_hours = '00:00-24:00'")
    db.execute("SET callrecon.working_days = '1,2,3,4,5,6,7'")
    db.execute("SET callrecon.silence_threshold = '1 hour'")
    assert dict(db.execute("SELECT source, silent FROM source_health").fetchall()) == {"ozonetel": True, "huawei": True}
    two_vendor_client.post(f"/callbacks/ozonetel/{OZONETEL_TOKEN}", json={"monitorUCID": "s-1"})
    assert dict(db.execute("SELECT source, silent FROM source_health").fetchall()) == {
        "ozonetel": False,
        "huawei": True,
    }
    db.execute("SET callrecon.working_days = '8'")  # no real weekday: outside working days, never silent
    assert dict(db.execute("SELECT source, silent FROM source_health").fetchall()) == {
        "ozonetel": False,
        "huawei": False,
    }


def test_metrics_expose_source_silence_gauges(two_vendor_client):
    two_vendor_client.post(f"/callbacks/ozonetel/{OZONETEL_TOKEN}", json={"monitorUCID": "g-1"})
    text = two_vendor_client.get("/metrics").get_data(as_text=True)
    assert 'callrecon_source_silent{source="huawei"}' in text
    assert 'callrecon_source_last_callback_age_seconds{source="ozonetel"}' in text
    assert 'callrecon_source_last_callback_age_seconds{source="huawei"}' not in text  # never called back
    assert 'callrecon_raw_quarantined{source="ozonetel"} 0.0' in text


def test_status_prints_a_silence_line_per_push_source(cli_env, db, monkeypatch, capsys):
    from reconciler import cli

    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["push_sources"]) == {"ozonetel", "huawei"}
    assert report["push_sources"]["huawei"]["last_callback_age_s"] is None


def test_committed_schema_docs_are_current(db):
    committed = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert schema_docs.render(db, grants.access(VENDORS)) == committed, (
        "docs/schema.md is stale: run `callrecon db docs` and commit it"
    )


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_every_example_query_runs(loaded, db, query):
    cur = db.execute(query.read_text(encoding="utf-8"))
    assert cur.description is not None
    rows = cur.fetchall()
    if query.stem == "answer_rate_by_campaign_day":
        rates = {(r[0], r[1]): r[5] for r in rows}
        assert rates[("huawei", "1001")] == 50.0 and rates[("ozonetel", "Renewals_Nov")] == 50.0
    if query.stem == "calls_missing_detail":
        assert [r[1] for r in rows] == ["1644464743-1391"]


def test_at_least_five_example_queries():
    assert len(QUERIES) >= 5
    # Tools that pass parameters (psycopg, bench/scale) read a bare % as a placeholder, comments included.
    assert not [path.name for path in QUERIES if "%" in path.read_text()]


def test_crm_log_is_linked_to_its_call_by_number_and_start_time(loaded, db):
    end = db.execute("SELECT end_time, ring_time FROM call WHERE vendor_call_id = '2105221234567892'").fetchone()
    body = {"DestinationNumber": "9876500002", "StartTime": end[1].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")}
    db.execute(
        "INSERT INTO lsq_request (request_id, kind, status, request_body, registered_at, final_at) "
        "VALUES ('crm-1', 'call-log', 'Success', %s, %s, %s)",
        (json.dumps(body), end[0] + dt.timedelta(seconds=20), end[0] + dt.timedelta(seconds=95)),
    )
    rows = db.execute((SQL_DIR / "queries" / "call_end_to_crm_log.sql").read_text()).fetchall()
    assert [row[:2] for row in rows] == [("ozonetel", 1)]
    # Each figure is the 10 %-wide bucket that holds it, and an estimate inside that bucket.
    for exact, (estimate, low, high) in zip((20, 95, 95), (rows[0][2:5], rows[0][5:8], rows[0][8:11]), strict=True):
        assert low <= exact <= high and low <= estimate <= high and high - low <= 0.1 * exact + 0.2  # one bucket


def test_prune_deletes_old_landed_raw_rows_only(loaded, db):
    db.execute("UPDATE raw_inbox SET received_at = now() - interval '100 days'")
    quarantined = loaded.post(f"/callbacks/ozonetel/{OZONETEL_TOKEN}", data=b"{broken", content_type="application/json")
    db.execute(
        "UPDATE raw_inbox SET received_at = now() - interval '100 days' WHERE id = %s", (quarantined.json["raw_id"],)
    )
    before = dt.datetime.now(UTC) - dt.timedelta(days=90)
    assert prune(db, before, include_quarantined=False, dry_run=True) == 2
    assert prune(db, before, include_quarantined=False, dry_run=False, batch=1) == 2
    assert db.execute("SELECT status FROM raw_inbox").fetchall() == [("quarantined",)]
    assert db.execute("SELECT count(*) FROM call").fetchone() == (4,)  # typed rows stay
    assert db.execute("SELECT count(*) FROM ozonetel_sighting").fetchone() == (0,)
    assert prune(db, before, include_quarantined=True, dry_run=False) == 1


def test_prune_command_reports_what_it_would_do(env, monkeypatch, capsys):
    from reconciler import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["prune", "--raw-older-than", "90d", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("would delete 0 raw callbacks (landed, note)")
    assert cli.main(["prune", "--raw-older-than", "soon"]) == 2


def test_items_that_gave_up_show_in_the_view_metrics_and_status(client, db, cli_env, monkeypatch, capsys):
    """One failure policy: whatever gave up is visible to analysts, /metrics and `callrecon status`."""
    db.execute(
        "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state, tries, last_error) "
        "VALUES ('Renewals_Nov', '2026-11-23 04:30+00', '2026-11-23 05:30+00', 'failed', 3, "
        "'HTTP 503: down; gave up after 3 failed tries (OZONETEL_MAX_TRIES=3)')"
    )
    db.execute(
        "INSERT INTO lsq_request (request_id, kind, status, failed_tries, last_error, final_at) "
        "VALUES ('rq-x', 'call-log', 'failed', 10, 'HTTP 500; gave up', now())"
    )
    rows = db.execute("SELECT source, kind, item, tries FROM reconcile_gave_up ORDER BY source").fetchall()
    assert rows == [
        ("leadsquared", "call-log failed", "rq-x", 10),
        ("ozonetel", "window", "Renewals_Nov 2026-11-23 04:30..05:30 UTC", 3),
    ]
    text = client.get("/metrics").get_data(as_text=True)
    assert 'callrecon_reconcile_gave_up{source="ozonetel"} 1.0' in text
    assert 'callrecon_reconcile_gave_up{source="huawei"} 0.0' in text
    from reconciler import cli

    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ozonetel"]["gave_up"] == 1 and report["leadsquared"]["gave_up"] == 1


def test_callrecon_setting_takes_the_documented_full_name_and_the_short_one(db):
    db.execute("SET callrecon.business_timezone = 'Asia/Kolkata'")
    assert db.execute(
        "SELECT callrecon_setting('callrecon.business_timezone', 'UTC'), "
        "callrecon_setting('business_timezone', 'UTC'), "
        "callrecon_setting('callrecon.nothing_here', 'fallback')"
    ).fetchone() == ("Asia/Kolkata", "Asia/Kolkata", "fallback")


@pytest.mark.parametrize("age,message", [("90", "is not an age with a unit"), ("0d", "under 1d"), ("12h", "under 1d")])
def test_prune_refuses_bare_numbers_and_short_ages(env, monkeypatch, capsys, age, message):
    """a bare 90 was read as 90 seconds, and 0d was accepted."""
    from reconciler import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["prune", "--raw-older-than", age, "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_prune_says_what_it_will_delete_and_needs_yes_off_a_terminal(loaded, db, cli_env, monkeypatch, capsys):
    from reconciler import cli

    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    db.execute("UPDATE raw_inbox SET received_at = now() - interval '100 days'")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["prune", "--raw-older-than", "90d"]) == 2
    out = capsys.readouterr()
    assert out.out.startswith("will delete 2 raw callbacks") and "pass --yes" in out.err
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone() == (2,)
    assert cli.main(["prune", "--raw-older-than", "90d", "--yes"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("deleted 2 raw callbacks")
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone() == (0,)
    assert cli.main(["prune", "--raw-older-than", "12h", "--force", "--dry-run"]) == 0


def test_missing_detail_means_the_same_in_the_view_the_query_and_the_docs(db):
    """one definition. A done call without connect/end times (unanswered) is not missing its detail;
    a failed or not-found one is, as is a pending one."""
    for call_id, status, ring in (
        ("done-1", "done", "2026-11-23 10:00"),
        ("fail-1", "failed", "2026-11-23 10:01"),
        ("nf-1", "not-found", "2026-11-23 10:02"),
        ("pend-1", "pending", "2026-11-23 10:03"),
    ):
        db.execute(
            "INSERT INTO huawei_call (vdn_id, call_id, campaign_id, call_time, source_timezone, "
            "first_seen_at, last_seen_at, detail_status) VALUES (8, %s, '1001', %s, 'UTC', now(), now(), %s)",
            (call_id, ring + "+00", status),
        )
    view = db.execute(
        "SELECT calls, calls_missing_detail FROM completeness_daily WHERE vendor = 'huawei' AND day = '2026-11-23'"
    ).fetchone()
    query = [r[1] for r in db.execute((SQL_DIR / "queries" / "calls_missing_detail.sql").read_text()).fetchall()]
    assert view == (4, 3) and sorted(query) == ["fail-1", "nf-1", "pend-1"]
    docs = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert "**Missing detail** (Huawei): `huawei_call.detail_status <> 'done'`" in docs


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_every_shipped_query_states_its_time_range_first(query):
    """the example queries were silently limited to 7, 14 or 30 days."""
    assert query.read_text(encoding="utf-8").splitlines()[0].startswith("-- Time range: ")


def test_the_time_range_of_the_shipped_queries_is_a_parameter(loaded, db):
    query = (SQL_DIR / "queries" / "answer_rate_by_campaign_day.sql").read_text(encoding="utf-8")
    assert db.execute(query).fetchall()  # the samples are from yesterday: inside the default 14 days
    db.execute("SET callrecon.query_days = '0'")
    assert db.execute(query).fetchall() == []


def test_every_vendor_citation_points_into_the_repository():
    """The code, the README and the docs cite `vendors.md §N` and "seed 00N"; both must resolve in docs/vendors.md."""
    import re

    vendors = (ROOT / "docs" / "vendors.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", vendors, re.MULTILINE))
    files = [
        ROOT / "README.md",
        *(page for page in (ROOT / "docs").glob("*.md") if page.name != "schema.md"),  # schema.md: generated
        *ROOT.glob("receiver/**/*.py"),
        *ROOT.glob("reconciler/**/*.py"),
        *SQL_DIR.glob("*.sql"),
    ]
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    cited = set(re.findall(r"§(\d+(?:\.\d+)?)", text)) - {"15.5"}  # RFC 9110 §15.5.6, not vendors.md
    assert cited and cited <= sections, sorted(cited - sections)
    for seed in set(re.findall(r"seeds? (00\d)", text)):
        assert f"| {seed} |" in vendors
    assert not re.search(r"shared/(seeds|vendors\.md)", text)  # the steering folder is not the repository
