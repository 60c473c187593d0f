"""Monthly partitions of the typed call tables: created ahead, boundaries, dedup across months
(re-pushes, re-fetches, concurrent first landings), prune by the typed age, upgrade from heaps."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading

import psycopg
import pytest
import test_partitions
from test_partitions import call_push, raw, where

from conftest import SQL_DIR
from receiver.config import Settings
from receiver.database import migrations
from receiver.landing import partitions, typed_retention
from receiver.landing.land import RawRef
from receiver.vendors import VENDORS
from receiver.vendors.huawei import records as huawei
from receiver.vendors.ozonetel import records as ozonetel

UTC = dt.timezone.utc
old_layout = test_partitions.old_layout  # a database built by earlier migrations (a fixture)
APRIL = dt.datetime(2026, 4, 1, tzinfo=UTC)  # a pinned month start, far from the test's own clock
JUST_BEFORE = APRIL - dt.timedelta(microseconds=1)


@pytest.fixture
def hw_settings(env):
    """Settings with a Huawei zone (every naive Huawei time is read in it)."""
    return Settings.from_env({**env, "HUAWEI_TIMEZONE": "UTC"}, VENDORS)


def land_ozonetel(db, settings, received_at, record, many=True):
    """Store a raw callback at a chosen time and land it, by the lander's set-based path or the inline one."""
    raw_id = raw(db, received_at, record)
    ref = RawRef(raw_id, received_at)
    with db.transaction():
        if many:
            ozonetel.land_many(db, [(ref, [record])], settings)
        else:
            ozonetel.land_records(db, ref, [record], settings)
    return raw_id


def land_huawei(db, settings, received_at, record):
    """A Huawei push stored and landed at a chosen time."""
    raw_id = raw(db, received_at, record)
    with db.transaction():
        huawei.land_records(db, RawRef(raw_id, received_at), [record], settings)
    return raw_id


def hw_push(call_time="2026-03-31 23:50:00", **more):
    """One Huawei pushed record."""
    return {
        "vdnId": 8,
        "callId": "m-1",
        "campaignId": "1001",
        "called": "88880001",
        "callTimeStr": call_time,
        "callStatus": 5,
        "failCode": "00603",
        **more,
    }


def test_call_months_are_created_ahead_with_the_raw_weeks(db):
    created = partitions.ensure(db, 6, at=APRIL + dt.timedelta(days=20))
    months = db.execute(
        "SELECT parent, partition, from_at, to_at FROM callrecon_partitions WHERE parent IN ('ozonetel_call', "
        "'huawei_call') AND from_at >= %s AND from_at < %s ORDER BY parent, from_at",
        (APRIL, APRIL + dt.timedelta(days=100)),
    ).fetchall()
    assert [m[1] for m in months] == [
        "huawei_call_m202604",
        "huawei_call_m202605",
        "huawei_call_m202606",
        "ozonetel_call_m202604",
        "ozonetel_call_m202605",
        "ozonetel_call_m202606",
    ]
    assert months[1][2:] == (dt.datetime(2026, 5, 1, tzinfo=UTC), dt.datetime(2026, 6, 1, tzinfo=UTC))
    # 7 weeks of 3 raw tables; April to June of 2 (the last week, from Jun 1, ends in June)
    assert created == 3 * 7 + 2 * 3
    assert partitions.ensure(db, 6, at=APRIL + dt.timedelta(days=20)) == 0


def test_a_call_first_seen_at_the_boundary_instant_lives_in_the_later_month(db, settings):
    partitions.ensure(db, 0, since=JUST_BEFORE, at=APRIL)
    land_ozonetel(db, settings, JUST_BEFORE, call_push("before"))
    land_ozonetel(db, settings, APRIL, call_push("at"), many=False)
    assert where(db, "ozonetel_call", call_key="before") == "ozonetel_call_m202603"
    assert where(db, "ozonetel_call", call_key="at") == "ozonetel_call_m202604"


@pytest.mark.parametrize("many", [True, False], ids=["lander", "inline"])
def test_a_repush_days_later_in_the_next_month_updates_the_same_row(db, settings, many):
    partitions.ensure(db, 0, since=JUST_BEFORE, at=APRIL + dt.timedelta(days=3))
    first = land_ozonetel(db, settings, JUST_BEFORE, call_push("u-1", start="2026-03-31 23:50:00"), many)
    # Days later, across the month boundary: a newer state of the same call, then a replayed duplicate.
    newer = dict(call_push("u-1", start="2026-03-31 23:50:00"), Status="NotAnswered", Disposition="Call back")
    again = land_ozonetel(db, settings, APRIL + dt.timedelta(days=3), newer, many)
    with db.transaction():
        ozonetel.land_many(db, [(RawRef(again, APRIL + dt.timedelta(days=3)), [newer])], settings)
    rows = db.execute(
        "SELECT tableoid::regclass::text, first_seen_at, last_seen_at, seen_count, first_raw_id, last_raw_id, "
        "disposition FROM ozonetel_call"
    ).fetchall()
    assert rows == [("ozonetel_call_m202603", JUST_BEFORE, APRIL + dt.timedelta(days=3), 2, first, again, "Call back")]
    assert db.execute("SELECT count(*) FROM call WHERE vendor_call_id = 'u-1'").fetchone() == (1,)


def test_a_lead_pushed_without_a_time_then_redialled_at_another_is_one_row(db, settings):
    """The partition key is not the vendor's time: it may be missing, and a re-dial changes it."""
    partitions.ensure(db, 0, since=JUST_BEFORE, at=APRIL + dt.timedelta(days=9))
    lead = {"DataUniqueId": "L-5", "CampaignName": "Renewals", "phoneNumber": "9876500001", "status": "Pending"}
    land_ozonetel(db, settings, JUST_BEFORE, lead)  # a dial-status lead: no StartTime at all
    land_ozonetel(
        db,
        settings,
        APRIL + dt.timedelta(days=2),
        dict(lead, StartTime="2026-04-02 10:00:00", DialStatus="not_answered"),
    )
    land_ozonetel(
        db,
        settings,
        APRIL + dt.timedelta(days=9),
        dict(lead, StartTime="2026-04-09 10:00:00", DialStatus="answered"),
        many=False,
    )
    rows = db.execute(
        "SELECT tableoid::regclass::text, start_time, dial_status, seen_count FROM ozonetel_call"
    ).fetchall()
    assert rows == [("ozonetel_call_m202603", dt.datetime(2026, 4, 9, 4, 30, tzinfo=UTC), "answered", 3)]


def test_huawei_repushes_refetches_and_detail_across_months_stay_one_call(db, hw_settings):
    partitions.ensure(db, 0, since=JUST_BEFORE, at=APRIL + dt.timedelta(days=5))
    land_huawei(db, hw_settings, JUST_BEFORE, hw_push())
    # An earlier attempt re-pushed days later (older callTimeStr), then a push with no time at all.
    land_huawei(db, hw_settings, APRIL + dt.timedelta(days=2), hw_push("2026-03-31 22:00:00", customField="try 1"))
    land_huawei(db, hw_settings, APRIL + dt.timedelta(days=3), hw_push(""))
    with db.transaction():
        huawei.land_fetched(db, [hw_push()], hw_settings, "bulk", APRIL + dt.timedelta(days=4))
        huawei.land_detail(
            db,
            8,
            "m-1",
            {
                "callStatus": "6",
                "failCode": "00000",
                "ackBeginTime": "2026-03-31 23:50:00",
                "callEndTime": "2026-03-31 23:52:00",
            },
            hw_settings,
            APRIL + dt.timedelta(days=5),
        )
        assert huawei.register(db, 8, ["m-1", "m-2"], hw_settings, APRIL + dt.timedelta(days=5)) == 1
    rows = db.execute(
        "SELECT call_id, tableoid::regclass::text, first_seen_at, push_count, call_status, custom_field, detail_status "
        "FROM huawei_call ORDER BY call_id"
    ).fetchall()
    assert rows == [
        ("m-1", "huawei_call_m202603", JUST_BEFORE, 3, 6, "try 1", "done"),
        ("m-2", "huawei_call_m202604", APRIL + dt.timedelta(days=5), 0, None, None, "pending"),
    ]


def test_two_landers_storing_the_same_new_call_at_once_make_one_row(database_url, db, settings):
    """The second waits on the call's lock until the first commits, then finds its row (no duplicate)."""
    partitions.ensure(db, 0, since=JUST_BEFORE, at=APRIL)
    first_raw, second_raw = raw(db, JUST_BEFORE, call_push("race")), raw(db, APRIL, call_push("race"))
    done = threading.Event()
    with psycopg.connect(database_url) as one, psycopg.connect(database_url) as two:
        ozonetel.land_many(one, [(RawRef(first_raw, JUST_BEFORE), [call_push("race")])], settings)

        def second():
            ozonetel.land_many(two, [(RawRef(second_raw, APRIL), [call_push("race")])], settings)
            two.commit()
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(1.0)  # blocked on the lock the first lander holds
        one.commit()
        thread.join(10)
    assert done.is_set()
    assert db.execute("SELECT tableoid::regclass::text, seen_count FROM ozonetel_call").fetchall() == [
        ("ozonetel_call_m202603", 2)
    ]


def test_prune_drops_whole_typed_months_and_deletes_only_at_the_edge(db, settings, hw_settings):
    partitions.ensure(db, 0, since=APRIL - dt.timedelta(days=60), at=APRIL + dt.timedelta(days=20))
    for n, day in enumerate((-50, -20, 2, 10, 20)):  # February, March, April (2 before the age, 1 after)
        land_ozonetel(db, settings, APRIL + dt.timedelta(days=day), call_push(f"p{n}"))
    land_huawei(db, hw_settings, APRIL - dt.timedelta(days=20), hw_push())
    raw_rows = db.execute("SELECT count(*) FROM raw_inbox").fetchone()
    before = APRIL + dt.timedelta(days=15)

    planned = typed_retention.prune_typed(db, before, dry_run=True)
    assert [m.partitions for m in planned.weeks] == [
        ["huawei_call_m202601", "ozonetel_call_m202601"],
        ["huawei_call_m202602", "ozonetel_call_m202602"],
        ["huawei_call_m202603", "ozonetel_call_m202603"],
    ]
    assert planned.deleted == 2
    done = typed_retention.prune_typed(db, before, dry_run=False, batch=1)
    assert done.bytes_freed > 0 and done.deleted == 2
    for table in ("ozonetel_call_m202601", "ozonetel_call_m202602", "ozonetel_call_m202603", "huawei_call_m202603"):
        assert db.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)
    assert db.execute("SELECT call_key, tableoid::regclass::text FROM ozonetel_call").fetchall() == [
        ("p4", "ozonetel_call_m202604")
    ]
    assert db.execute("SELECT count(*) FROM huawei_call").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone() == raw_rows  # raw callbacks have their own age
    # Pushed again after its month was dropped, a call is stored anew.
    land_ozonetel(db, settings, APRIL + dt.timedelta(days=21), call_push("p0"))
    assert where(db, "ozonetel_call", call_key="p0") == "ozonetel_call_m202604"


def test_prune_command_takes_the_typed_age_from_typed_retention_and_prints_what_it_drops(
    db, cli_env, monkeypatch, capsys
):
    from reconciler import cli

    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    long_ago = dt.datetime.now(UTC) - dt.timedelta(days=400)
    partitions.ensure(db, 0, at=long_ago)
    db.execute(
        "INSERT INTO ozonetel_call (call_key, key_source, source_timezone, first_seen_at, last_seen_at, first_raw_id, "
        "last_raw_id) VALUES ('old', 'UCID', 'UTC', %s, %s, 1, 1)",
        (long_ago, long_ago),
    )
    assert cli.main(["prune", "--raw-older-than", "90d", "--typed-older-than", "30d", "--yes"]) == 2
    assert "under the raw age" in capsys.readouterr().err
    monkeypatch.setenv("TYPED_RETENTION", "365d")
    assert cli.main(["prune", "--yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("will delete 0 typed calls first seen before ")
    assert any(line.startswith("dropped month ") and "ozonetel_call_m" in line for line in out)
    assert any(line.startswith("freed ") and " bytes (" in line for line in out)
    assert db.execute("SELECT count(*) FROM ozonetel_call").fetchone() == (0,)


ROLLUP_LIKE_TRIGGER = """
CREATE TABLE call_statements (tbl text, n bigint);
CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_statements SELECT TG_TABLE_NAME, count(*) FROM changed;
    RETURN NULL;
END $$;
CREATE TRIGGER ozonetel_call_counted AFTER INSERT ON ozonetel_call REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
"""


OLD_OZONETEL = (
    "INSERT INTO ozonetel_call (call_key, key_source, monitor_ucid, campaign_name, status, source_timezone, "
    "first_seen_at, last_seen_at, first_raw_id, last_raw_id) VALUES (%s, 'monitorUCID', %s, 'Renewals', 'Answered', "
    "'Asia/Kolkata', %s, now(), 1, 1)"
)
OLD_HUAWEI = (
    "INSERT INTO huawei_call (vdn_id, call_id, campaign_id, call_time, call_status, source_timezone, first_seen_at, "
    "last_seen_at, push_count) VALUES (8, %s, '1001', %s, 5, 'UTC', %s, now(), 1)"
)


def test_upgrade_from_heaps_keeps_every_call_its_triggers_and_dedup(old_layout, tmp_path, settings, hw_settings):
    conn = old_layout
    before_dir = tmp_path / "sql"
    before_dir.mkdir()
    for path in SQL_DIR.glob("[0-9]*.sql"):
        if path.name < "0025":
            shutil.copy(path, before_dir)
    migrations.upgrade(conn, before_dir)
    conn.execute(ROLLUP_LIKE_TRIGGER)  # as a statement-level rollup trigger (migrations 0023/0024) would be
    now = conn.execute("SELECT now()").fetchone()[0]
    for n in range(40):  # as the code before 0025 stored them: one row per call, its key alone unique
        seen = now - dt.timedelta(days=n * 3)
        conn.execute(OLD_OZONETEL, (f"old{n}", f"old{n}", seen))
        conn.execute(OLD_HUAWEI, (f"old{n}", seen, seen))
    heaps = conn.execute("SELECT 'ozonetel_call'::regclass::oid, 'huawei_call'::regclass::oid").fetchone()
    # the row as it was: columns later migrations add (0030's pushed, cdr_at, value_sources) hold their defaults
    calls = (
        "SELECT call_key, first_seen_at, seen_count, md5((to_jsonb(o) - 'pushed' - 'cdr_at' - 'value_sources')::text) "
        "FROM ozonetel_call o ORDER BY call_key"
    )
    hw_calls = "SELECT call_id, first_seen_at, push_count, md5(h::text) FROM huawei_call h ORDER BY call_id"
    snapshot = conn.execute(calls).fetchall(), conn.execute(hw_calls).fetchall()

    # validates the bounds, builds the new keys concurrently
    assert partitions.prepare_upgrade(conn, VENDORS.monthly_tables) is True
    applied = [m.name for m in migrations.upgrade(conn, SQL_DIR)]
    assert applied[0] == "0025_monthly_call_partitions.sql" and all(name > "0025" for name in applied)
    assert partitions.prepare_upgrade(conn, VENDORS.monthly_tables) is False

    # The old heaps are the legacy partitions: nothing copied, every row as it was.
    assert (
        conn.execute("SELECT 'ozonetel_call_legacy'::regclass::oid, 'huawei_call_legacy'::regclass::oid").fetchone()
        == heaps
    )
    assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'ozonetel_call'").fetchone() == ("p",)
    assert (conn.execute(calls).fetchall(), conn.execute(hw_calls).fetchall()) == snapshot
    assert conn.execute("SELECT count(*) FROM call").fetchone() == (80,)  # the view follows the parents
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname LIKE '%before_partitioning'").fetchone() == (
        0,
    )
    # The trigger moved to the parent (a statement on the parent fires it once) and left the legacy table.
    triggers = "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'ozonetel_call_counted'"
    assert conn.execute(triggers).fetchall() == [("ozonetel_call",)]

    # A re-push of an old call updates its legacy row; a new call from next month on goes to its month's
    # partition (until then the legacy one covers new calls too: old code may still be storing them).
    conn.execute("DELETE FROM call_statements")
    cutover = conn.execute("SELECT to_at FROM callrecon_partitions WHERE partition = 'ozonetel_call_legacy'").fetchone()
    later = cutover[0] + dt.timedelta(days=1)
    partitions.ensure(conn, 0, at=later)
    land_ozonetel(conn, settings, later, call_push("old39"))
    land_ozonetel(conn, settings, later, call_push("new"))
    land_huawei(conn, hw_settings, later, hw_push(callId="old39"))
    assert conn.execute("SELECT count(*), sum(seen_count) FROM ozonetel_call").fetchone() == (41, 42)
    assert where(conn, "ozonetel_call", call_key="old39") == "ozonetel_call_legacy"
    assert where(conn, "ozonetel_call", call_key="new") == f"ozonetel_call_m{later:%Y%m}"
    assert conn.execute("SELECT count(*), sum(push_count) FROM huawei_call").fetchone() == (40, 41)
    # Once per statement on the parent: the re-push inserted no row (it updated one), the new call one.
    assert conn.execute("SELECT tbl, n FROM call_statements").fetchall() == [("ozonetel_call", 0), ("ozonetel_call", 1)]
    # The legacy partitions are dropped whole by the typed age, both together.
    cutover = conn.execute(
        "SELECT to_at FROM callrecon_partitions WHERE partition = 'ozonetel_call_legacy'"
    ).fetchone()[0]
    planned = typed_retention.prune_typed(conn, cutover, dry_run=True)
    assert [m.partitions for m in planned.weeks] == [["huawei_call_legacy", "ozonetel_call_legacy"]]


def test_status_and_metrics_show_the_typed_months(client, db, cli_env, monkeypatch, capsys):
    from reconciler import cli

    partitions.ensure(db, 4)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'callrecon_partitions_ahead{table="ozonetel_call"}' in text
    assert 'callrecon_partition_default_rows{table="huawei_call"} 0.0' in text
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["partitions"]["ozonetel_call"]["partitions"] >= 1
    assert report["partitions"]["huawei_call"]["default_rows"] == 0
    # Next month is always made, so a month ahead exists whatever the day of the month.
    assert report["partitions"]["ozonetel_call"]["weeks_ahead"] >= 1
    assert report["partitions"]["ozonetel_call"]["period"] == "monthly"
    assert cli.main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("huawei_call: ok; ") and " monthly partitions, " in line for line in lines)


HOME_SCANS = """
SELECT relname, seq_scan, COALESCE(idx_scan, 0) FROM pg_stat_user_tables
WHERE relname IN ('ozonetel_call_m202604', 'huawei_call_m202604') ORDER BY relname
"""


def scans(db) -> dict:
    """{partition: (seq scans, index scans)} as the statistics see them now."""
    db.execute("SELECT pg_stat_force_next_flush()")  # this backend's counts, not a second later
    db.execute("SELECT pg_stat_clear_snapshot()")
    return {name: (seq, idx) for name, seq, idx in db.execute(HOME_SCANS)}


def test_home_look_ups_read_the_key_index_as_a_new_month_fills(db):
    """The look-up's plan is cached while the month is new and empty; with thousands of calls in it, a
    batch's look-up must still read the key index, not the whole partition (0028)."""
    partitions.ensure(db, 1, at=APRIL + dt.timedelta(days=3))
    keys = [f"k-{n}" for n in range(200)]
    for _ in range(8):  # past PL/pgSQL's five custom plans: its generic plan is made on an empty month
        db.execute("SELECT * FROM callrecon_ozonetel_homes(%s)", (keys,))
        db.execute("SELECT * FROM callrecon_huawei_homes(%s, %s)", ([8] * 200, keys))
    db.execute(
        "INSERT INTO ozonetel_call (call_key, key_source, source_timezone, first_seen_at, last_seen_at, "
        "first_raw_id, last_raw_id) SELECT 'k-' || n, 'monitorUCID', 'Asia/Kolkata', %(at)s, %(at)s, n, n "
        "FROM generate_series(1, 5000) n",
        {"at": APRIL + dt.timedelta(days=1)},
    )
    db.execute(
        "INSERT INTO huawei_call (vdn_id, call_id, source_timezone, first_seen_at, last_seen_at, first_raw_id, "
        "last_raw_id) SELECT 8, 'k-' || n, 'UTC', %(at)s, %(at)s, n, n FROM generate_series(1, 5000) n",
        {"at": APRIL + dt.timedelta(days=1)},
    )
    before = scans(db)
    homes = db.execute("SELECT * FROM callrecon_ozonetel_homes(%s)", (keys,)).fetchall()
    huawei_homes = db.execute("SELECT * FROM callrecon_huawei_homes(%s, %s)", ([8] * 200, keys)).fetchall()
    after = scans(db)
    assert len(homes) == len(huawei_homes) == 199  # k-1 .. k-199 are stored, k-0 is not
    for partition in ("ozonetel_call_m202604", "huawei_call_m202604"):
        assert after[partition][0] == before[partition][0], f"{partition} was scanned whole"
        assert after[partition][1] > before[partition][1]


def test_a_round_longer_than_one_upsert_lands_whole(db, settings, monkeypatch):
    """The lander's batches hold up to 1,000 callbacks (20,000 records of 20-record posts): land_many sends
    them in statements of UPSERT_CHUNK records, and every record lands once."""
    monkeypatch.setattr(ozonetel, "UPSERT_CHUNK", 3)
    at = APRIL + dt.timedelta(days=2)
    partitions.ensure(db, 1, at=at)
    items = []
    for n in range(7):
        record = call_push(ucid=f"chunk-{n}", start="2026-04-02 10:00:00")
        items.append((RawRef(raw(db, at, record), at), [record]))
    with db.transaction():
        outcomes = ozonetel.land_many(db, items, settings)
    assert [(o.status, o.landed) for o in outcomes] == [("landed", 1)] * 7
    rows = db.execute("SELECT monitor_ucid, seen_count FROM ozonetel_call WHERE monitor_ucid LIKE 'chunk-%' ORDER BY 1")
    assert rows.fetchall() == [(f"chunk-{n}", 1) for n in range(7)]
