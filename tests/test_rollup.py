"""The call rollup (sql/0023): exact against the call view through every write path, compaction, upgrade backfill."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import psycopg
import pytest

from conftest import OZONETEL_TOKEN, SECRETS, SQL_DIR, fixture_bytes
from fakes import huawei_seed_response
from receiver import create_app
from receiver.config import Settings
from receiver.database import migrations
from receiver.vendors import VENDORS
from receiver.vendors.huawei import records as huawei_landing

HW_TOKEN = "hw-rollup-token-7"
SECRETS.add(HW_TOKEN)
UTC = dt.timezone.utc
BEFORE = SQL_DIR.parent / "tests" / "fixtures" / "rollup"
# Zones a whole number of quarter hours from UTC: every slot lies within one business day.
ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"]

# The rollup summed per key, and the same counts straight from the call view.
ROLLUP = """
SELECT vendor, campaign, slot, sum(calls), sum(answered), sum(calls_pushed), sum(calls_re_requested),
       sum(calls_discovered), sum(calls_missing_detail)
FROM call_rollup GROUP BY 1, 2, 3 HAVING sum(calls) <> 0 ORDER BY 1, 2, 3
"""
FROM_VIEW = """
SELECT c.vendor, c.campaign, callrecon_rollup_slot(c.ring_time), count(*),
       count(*) FILTER (WHERE c.outcome = 'answered'),
       count(*) FILTER (WHERE c.source = 'push'), count(*) FILTER (WHERE c.source = 're-requested push'),
       count(*) FILTER (WHERE c.source = 'bulk query'),
       count(*) FILTER (WHERE c.vendor = 'huawei' AND EXISTS (
           SELECT 1 FROM huawei_call h WHERE h.vdn_id || ':' || h.call_id = c.vendor_call_id
             AND h.detail_status <> 'done'))
FROM call c WHERE c.ring_time IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def before(name: str) -> str:
    """A shipped query or view as it read the calls before the rollup (tests/fixtures/rollup)."""
    return (BEFORE / f"{name}.before.sql").read_text(encoding="utf-8")


def assert_rollup_matches_the_call_view(db) -> None:
    """The rollup and every reader of it give the call view's numbers, in several business time zones."""
    assert db.execute(ROLLUP).fetchall() == db.execute(FROM_VIEW).fetchall()
    for zone in ZONES:
        with db.transaction():  # one now() for both sides
            db.execute("SELECT set_config('callrecon.business_timezone', %s, true)", (zone,))
            db.execute("SELECT set_config('callrecon.query_days', '30', true)")
            for name in ("answer_rate_by_campaign_day", "gaps_last_7_days"):
                mine = db.execute((SQL_DIR / "queries" / f"{name}.sql").read_text()).fetchall()
                assert mine == db.execute(before(name)).fetchall(), (name, zone)
            view = db.execute("SELECT * FROM completeness_daily ORDER BY day, vendor, campaign").fetchall()
            reference = db.execute(
                f"SELECT * FROM ({before('completeness_daily')}) r ORDER BY day, vendor, campaign"
            ).fetchall()
            assert view == reference, zone


@pytest.fixture
def two_vendor_env(env):
    return {**env, "HUAWEI_CALLBACK_TOKENS": HW_TOKEN, "HUAWEI_TIMEZONE": "UTC"}


def push(env, vendor_path: str, body: bytes, mode: str) -> None:
    """One callback through the real receiver, landed inline or stored for the lander."""
    app = create_app(Settings.from_env({**env, "LANDING_MODE": mode}, VENDORS))
    try:
        response = app.test_client().post(vendor_path, data=body, content_type="application/json")
        assert response.status_code == 200, response.get_data(as_text=True)
    finally:
        app.extensions["callrecon_pool"].close()


def cli(env, monkeypatch, *argv) -> None:
    from reconciler import cli as command

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert command.main(list(argv)) == 0


def recent(db, days_ago: int, at: str) -> dt.datetime:
    """A time `days_ago` days before the database's today (UTC), at a fixed time of day."""
    today = db.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
    return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time.fromisoformat(at), UTC)


def test_rollup_equals_the_call_view_through_every_write_path(two_vendor_env, cli_env, db, monkeypatch, capsys):
    env = two_vendor_env
    # The deferred lander's batch path (replay.land_batch, Push.land_many), and inline landing.
    push(
        env, f"/callbacks/ozonetel/{OZONETEL_TOKEN}", fixture_bytes("ozonetel", "call_details__array.json"), "deferred"
    )
    push(env, f"/callbacks/huawei/{HW_TOKEN}", fixture_bytes("huawei", "push__array.json"), "deferred")
    cli({**cli_env, "HUAWEI_TIMEZONE": "UTC"}, monkeypatch, "land")
    push(env, f"/callbacks/ozonetel/{OZONETEL_TOKEN}", fixture_bytes("ozonetel", "dial_status__lead.json"), "inline")
    # The reconciler's fetched detail.
    with db.transaction():
        huawei_landing.land_detail(
            db,
            8,
            "1644464743-1388",
            huawei_seed_response()["data"],
            Settings.from_env(env, VENDORS),
            dt.datetime.now(UTC),
        )
    # Replay of everything stored: lands the same rows again, changing nothing the rollup counts.
    cli({**cli_env, "HUAWEI_TIMEZONE": "UTC"}, monkeypatch, "replay", "--all")
    capsys.readouterr()
    assert db.execute("SELECT count(*) FROM call").fetchone()[0] >= 4
    assert_rollup_matches_the_call_view(db)

    # Move the samples into the queries' range, as a re-push with new times would.
    db.execute(
        "UPDATE ozonetel_call SET start_time = %(t)s + (start_time - date_trunc('day', start_time)), "
        "end_time = %(t)s + (end_time - date_trunc('day', start_time))",
        {"t": recent(db, 1, "00:00")},
    )
    db.execute(
        "UPDATE huawei_call SET call_time = %(t)s + (call_time - date_trunc('day', call_time)), "
        "ack_begin_time = %(t)s + (ack_begin_time - date_trunc('day', call_time))",
        {"t": recent(db, 2, "00:00")},
    )
    assert_rollup_matches_the_call_view(db)

    # Re-pushes that change the outcome, the campaign, the time (into another day), the source.
    db.execute("UPDATE ozonetel_call SET dial_status = 'answered' WHERE dial_status IS DISTINCT FROM 'answered'")
    db.execute(
        "UPDATE ozonetel_call SET campaign_name = 'Moved_Campaign' "
        "WHERE call_key = (SELECT min(call_key) FROM ozonetel_call)"
    )
    db.execute(
        "UPDATE ozonetel_call SET start_time = %s WHERE call_key = (SELECT max(call_key) FROM ozonetel_call)",
        (recent(db, 3, "23:50"),),
    )
    db.execute(
        "UPDATE ozonetel_call SET request_unique_id = 'u-1' WHERE call_key = (SELECT max(call_key) FROM ozonetel_call)"
    )
    db.execute("UPDATE huawei_call SET detail_status = 'done' WHERE call_id = '1644464743-1391'")
    db.execute(
        'UPDATE huawei_call SET push_count = 0, value_sources = \'{"call_status": "bulk"}\' '
        "WHERE call_id = (SELECT min(call_id) FROM huawei_call)"
    )
    assert_rollup_matches_the_call_view(db)

    # COPY (bench/scale's loader), a call without a ring time, a 30-minute-zone edge, and a delete.
    times = [recent(db, 4, at) for at in ("18:29:59", "18:30:00", "18:44:59", "23:59:59")]
    with db.cursor() as cur:
        columns = "call_key, key_source, campaign_name, dial_status, start_time, source_timezone, first_seen_at, "
        with cur.copy(f"COPY ozonetel_call ({columns} last_seen_at, first_raw_id, last_raw_id) FROM STDIN") as copy:
            for n, when in enumerate(times):
                status = "answered" if n % 2 else "busy"
                copy.write_row((f"copy{n}", "UCID", "Copied", status, when, "UTC", when, when, 1, 1))
            copy.write_row(("copy-no-time", "UCID", "Copied", "answered", None, "UTC", when, when, 1, 1))
    db.execute("DELETE FROM ozonetel_call WHERE call_key = 'copy0'")
    db.execute("DELETE FROM huawei_call WHERE call_id = (SELECT max(call_id) FROM huawei_call)")
    assert_rollup_matches_the_call_view(db)

    # Compaction keeps the sums and leaves one row per key; again, it changes nothing.
    assert db.execute("SELECT count(*) FROM call_rollup WHERE NOT compacted").fetchone()[0] > 0
    assert db.execute("SELECT callrecon_rollup_compact()").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM call_rollup WHERE NOT compacted").fetchone()[0] == 0
    assert (
        db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM call_rollup GROUP BY vendor, campaign, slot HAVING count(*) > 1) d"
        ).fetchone()[0]
        == 0
    )
    assert db.execute("SELECT count(*) FROM call_rollup WHERE calls = 0").fetchone()[0] == 0
    assert db.execute("SELECT callrecon_rollup_compact()").fetchone()[0] == 0
    assert_rollup_matches_the_call_view(db)


def test_a_re_push_that_changes_nothing_counted_writes_no_delta(db):
    db.execute(
        "INSERT INTO ozonetel_call (call_key, key_source, campaign_name, dial_status, start_time, source_timezone, "
        "first_seen_at, last_seen_at, first_raw_id, last_raw_id) VALUES ('k1', 'UCID', 'C', 'answered', now(), 'UTC', "
        "now(), now(), 1, 1)"
    )
    rows = db.execute("SELECT count(*) FROM call_rollup").fetchone()[0]
    db.execute("UPDATE ozonetel_call SET seen_count = seen_count + 1, last_seen_at = now(), disposition = 'x'")
    assert db.execute("SELECT count(*) FROM call_rollup").fetchone()[0] == rows


def test_the_services_write_the_rollup_only_through_the_trigger(db, role_url):
    """The trigger runs as the owner (SECURITY DEFINER): web and reconciler land calls with no right on the rollup."""
    for kind in ("web", "reconciler"):
        with psycopg.connect(role_url(kind), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO ozonetel_call (call_key, key_source, campaign_name, start_time, source_timezone, "
                "first_seen_at, last_seen_at, first_raw_id, last_raw_id) VALUES (%s, 'UCID', 'C', now(), 'UTC', now(), "
                "now(), 1, 1)",
                (f"by-{kind}",),
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    "INSERT INTO call_rollup (vendor, slot, calls, answered, calls_pushed, calls_re_requested, "
                    "calls_discovered, calls_missing_detail) VALUES ('x', now(), 1, 0, 0, 0, 0, 0)"
                )
    with psycopg.connect(role_url("analyst"), autocommit=True) as conn:
        assert conn.execute("SELECT sum(calls) FROM call_rollup").fetchone()[0] == 2
    assert db.execute(ROLLUP).fetchall() == db.execute(FROM_VIEW).fetchall()


@pytest.fixture
def before_rollup(database_url, tmp_path):
    """A database built by the migrations before 0023, and a folder with those migrations."""
    base, name = database_url.rsplit("/", 1)
    old = f"{name}_pre_rollup"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{old}"')
        admin.execute(f'CREATE DATABASE "{old}"')
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for path in SQL_DIR.glob("*.sql"):
        if path.name < "0023":
            shutil.copy(path, sql_dir)
    try:
        with psycopg.connect(f"{base}/{old}", autocommit=True) as conn:
            migrations.upgrade(conn, sql_dir)
            yield conn
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')


def test_the_upgrade_backfills_the_rollup_from_the_calls_already_there(before_rollup):
    conn = before_rollup
    conn.execute(
        "INSERT INTO ozonetel_call (call_key, key_source, campaign_name, dial_status, request_unique_id, start_time, "
        "source_timezone, first_seen_at, last_seen_at, first_raw_id, last_raw_id) "
        "SELECT 'o' || n, 'UCID', 'C' || (n % 3), CASE WHEN n % 2 = 0 THEN 'answered' ELSE 'busy' END, "
        "CASE WHEN n % 5 = 0 THEN 'u' END, now() - n * interval '7 minutes', 'UTC', now(), now(), 1, 1 "
        "FROM generate_series(1, 500) n"
    )
    conn.execute(
        "INSERT INTO huawei_call (vdn_id, call_id, campaign_id, call_time, call_status, fail_code, push_count, "
        "value_sources, detail_status, source_timezone, first_seen_at, last_seen_at) "
        "SELECT 8, 'h' || n, '100' || (n % 2), now() - n * interval '11 minutes', "
        "CASE WHEN n % 3 = 0 THEN 6 ELSE 5 END, "
        "'00603', n % 2, CASE WHEN n % 4 = 0 THEN '{\"call_status\": \"bulk\"}'::jsonb ELSE '{}' END, "
        "CASE WHEN n % 7 = 0 THEN 'pending' ELSE 'done' END, 'UTC', now(), now() FROM generate_series(1, 300) n"
    )
    assert [m.version for m in migrations.upgrade(conn, SQL_DIR)][0] == "0023"
    assert conn.execute("SELECT bool_and(compacted), sum(calls) FROM call_rollup").fetchone() == (True, 800)
    assert conn.execute(ROLLUP).fetchall() == conn.execute(FROM_VIEW).fetchall()
    with conn.transaction():
        mine = conn.execute((SQL_DIR / "queries" / "answer_rate_by_campaign_day.sql").read_text()).fetchall()
        assert mine == conn.execute(before("answer_rate_by_campaign_day")).fetchall()
    # A rebuild (what a migration replacing a typed table runs) gives the same rows.
    before_rows = conn.execute(ROLLUP).fetchall()
    conn.execute("SELECT callrecon_rollup_rebuild()")
    assert conn.execute(ROLLUP).fetchall() == before_rows


def test_a_reconciler_pass_compacts_the_rollup(cli_env, db, monkeypatch, capsys):
    db.execute(
        "INSERT INTO ozonetel_call (call_key, key_source, campaign_name, start_time, source_timezone, first_seen_at, "
        "last_seen_at, first_raw_id, last_raw_id) VALUES ('k2', 'UCID', 'C', now(), 'UTC', now(), now(), 1, 1)"
    )
    assert db.execute("SELECT count(*) FROM call_rollup WHERE NOT compacted").fetchone()[0] == 1
    from reconciler import cli as command

    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    command.main(["reconcile", "--source", "all", "--once"])
    capsys.readouterr()
    assert db.execute("SELECT count(*) FROM call_rollup WHERE NOT compacted").fetchone()[0] == 0
    assert db.execute("SELECT sum(calls) FROM call_rollup").fetchone()[0] == 1


def test_the_rollup_stays_exact_with_many_calls_and_concurrent_compaction(database_url, db):
    """Two compactions at once, and deltas appended while they run, never change the sums."""
    db.execute(
        "INSERT INTO ozonetel_call (call_key, key_source, campaign_name, dial_status, start_time, source_timezone, "
        "first_seen_at, last_seen_at, first_raw_id, last_raw_id) "
        "SELECT 'm' || n, 'UCID', 'C' || (n % 4), CASE WHEN n % 3 = 0 THEN 'answered' END, "
        "now() - n * interval '1 minute', 'UTC', now(), now(), 1, 1 FROM generate_series(1, 2000) n"
    )
    db.execute("UPDATE ozonetel_call SET dial_status = 'answered' WHERE call_key LIKE 'm1%'")
    with psycopg.connect(database_url) as first, psycopg.connect(database_url, autocommit=True) as second:
        first.execute("SELECT callrecon_rollup_compact()")  # holds its deleted rows until commit
        db.execute("UPDATE ozonetel_call SET campaign_name = 'Z' WHERE call_key LIKE 'm2%'")
        import threading

        done = threading.Thread(target=lambda: second.execute("SELECT callrecon_rollup_compact()"))
        done.start()
        first.commit()
        done.join(timeout=30)
    db.execute("SELECT callrecon_rollup_compact()")
    assert db.execute(ROLLUP).fetchall() == db.execute(FROM_VIEW).fetchall()
    assert db.execute("SELECT sum(calls) FROM call_rollup").fetchone()[0] == 2000


def crm_figures(db) -> tuple[list, list]:
    """call_end_to_crm_log as shipped, and as it was before call_log_link, in one transaction (one now())."""
    with db.transaction():
        mine = db.execute((SQL_DIR / "queries" / "call_end_to_crm_log.sql").read_text()).fetchall()
        return mine, db.execute(before("call_end_to_crm_log")).fetchall()


def test_call_log_links_follow_the_logs_and_the_calls_that_change_after_them(db):
    """The shipped query reads call_log_link; it gives the live lookup's figures whatever changes first."""
    start = recent(db, 1, "10:00")
    log = (
        "INSERT INTO lsq_request (request_id, kind, status, request_body, registered_at, final_at) "
        "VALUES (%s, 'call-log', %s, %s, %s, %s)"
    )

    def body(phone, at):
        return json.dumps({"DestinationNumber": phone, "StartTime": at.strftime("%Y-%m-%d %H:%M:%S")})

    def ozonetel(key, phone, at, seconds):
        db.execute(
            "INSERT INTO ozonetel_call (call_key, key_source, phone_number, start_time, end_time, source_timezone, "
            "first_seen_at, last_seen_at, first_raw_id, last_raw_id) VALUES (%s, 'UCID', %s, %s, %s, 'UTC', now(), "
            "now(), 1, 1)",
            (key, phone, at, at + dt.timedelta(seconds=seconds)),
        )

    # Calls first, then their logs (the usual order); several logs so the percentiles mean something.
    for n in range(6):
        at = start + dt.timedelta(minutes=10 * n)
        ozonetel(f"o{n}", f"90000{n}", at, 60 + n)
        ended = at + dt.timedelta(seconds=60 + n)
        db.execute(
            log,
            (
                f"r{n}",
                "Success",
                body(f"90000{n}", at),
                ended + dt.timedelta(seconds=20 + 7 * n),
                ended + dt.timedelta(seconds=90 + 11 * n),
            ),
        )
    mine, reference = crm_figures(db)
    assert mine == reference and mine[0][1] == 6
    # A log registered In-Queue, then confirmed by the reconciler's poll (an UPDATE).
    db.execute(log, ("late", "In-Queue", body("900009", start), start + dt.timedelta(minutes=5), None))
    db.execute(
        "UPDATE lsq_request SET status = 'Success', final_at = registered_at + interval '1 minute' "
        "WHERE request_id = 'late'"
    )
    # A call that lands after its log, a nearer one, and a Huawei call whose end time comes with its detail.
    ozonetel("o9", "900009", start + dt.timedelta(seconds=30), 45)
    ozonetel("o9-near", "900009", start + dt.timedelta(seconds=5), 50)
    db.execute(
        "INSERT INTO huawei_call (vdn_id, call_id, campaign_id, called, call_time, source_timezone, first_seen_at, "
        "last_seen_at) VALUES (8, 'h1', '1001', '900001', %s, 'UTC', now(), now())",
        (start + dt.timedelta(minutes=10, seconds=20),),
    )
    mine, reference = crm_figures(db)
    assert mine == reference and {r[0] for r in mine} == {"ozonetel"}
    db.execute("UPDATE huawei_call SET call_end_time = call_time + interval '70 seconds', detail_status = 'done'")
    # A re-push that moves a call out of its log's 2 minutes, and one that changes its end time.
    db.execute("UPDATE ozonetel_call SET start_time = start_time + interval '10 minutes' WHERE call_key = 'o2'")
    db.execute("UPDATE ozonetel_call SET end_time = end_time + interval '30 seconds' WHERE call_key = 'o3'")
    mine, reference = crm_figures(db)
    assert mine == reference and {r[0] for r in mine} == {"ozonetel", "huawei"}
    # A call deleted, a log that failed after all, a log deleted.
    db.execute("DELETE FROM ozonetel_call WHERE call_key = 'o4'")
    db.execute("UPDATE lsq_request SET status = 'FAILURE' WHERE request_id = 'r5'")
    db.execute("DELETE FROM lsq_request WHERE request_id = 'r0'")
    mine, reference = crm_figures(db)
    assert mine == reference
    assert db.execute("SELECT count(*) FROM call_log_link").fetchone()[0] == 5
    # A StartTime that is not a time: the log is stored (and not linked), the write is not refused.
    db.execute(log, ("bad", "Success", json.dumps({"DestinationNumber": "1", "StartTime": "soon"}), start, start))
    assert db.execute("SELECT count(*) FROM call_log_link").fetchone()[0] == 5
