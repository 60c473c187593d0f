"""Weekly partitions: created ahead, boundaries, dedup across weeks, prune by drop, upgrade."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil

import psycopg
import pytest

from conftest import SQL_DIR
from receiver.database import migrations
from receiver.landing import partitions, retention
from receiver.landing.replay import replay
from receiver.vendors import VENDORS

UTC = dt.timezone.utc
MONDAY = dt.datetime(2026, 3, 2, tzinfo=UTC)  # a pinned week start, far from the test's own clock


def where(db, table, **key):
    """The partition holding the row with this key."""
    clause = " AND ".join(f"{k} = %({k})s" for k in key)
    return db.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE {clause}", key).fetchone()[0]


def raw(db, received_at, body: dict, status="received") -> int:
    """A raw Ozonetel callback stored at a chosen time, as the receiver would store it."""
    data = json.dumps(body).encode()
    return db.execute(
        "INSERT INTO raw_inbox (received_at, source, content_type, body, body_sha256, body_bytes, status) "
        "VALUES (%s, 'ozonetel', 'application/json', %s, %s, %s, %s) RETURNING id",
        (received_at, data, hashlib.sha256(data).hexdigest(), len(data), status),
    ).fetchone()[0]


def call_push(ucid="2603021234567890", start="2026-03-08 23:58:00"):
    """One Ozonetel call record (no Apikey: nothing to mask)."""
    return {"monitorUCID": ucid, "CampaignName": "Renewals", "StartTime": start, "Status": "Answered"}


def test_weeks_are_created_ahead_and_again_is_a_no_op(db):
    created = partitions.ensure(db, 3, at=MONDAY + dt.timedelta(days=3))
    # this week and 3 ahead, for raw_inbox and both sighting tables; March and (always) April for the two
    # monthly call tables
    assert created == 3 * 4 + 2 * 2
    weeks = db.execute(
        "SELECT partition, from_at, to_at FROM callrecon_partitions WHERE parent = 'raw_inbox' "
        "AND from_at >= %s AND from_at < %s ORDER BY from_at",
        (MONDAY, MONDAY + dt.timedelta(weeks=8)),
    ).fetchall()
    assert [w[0] for w in weeks] == [
        "raw_inbox_w20260302",
        "raw_inbox_w20260309",
        "raw_inbox_w20260316",
        "raw_inbox_w20260323",
    ]
    assert all(to - since == dt.timedelta(weeks=1) for _, since, to in weeks)
    assert partitions.ensure(db, 3, at=MONDAY + dt.timedelta(days=3)) == 0
    report = {r["parent"]: r for r in partitions.overview(db, MONDAY + dt.timedelta(days=3))}
    assert report["raw_inbox"]["weeks_ahead"] >= 3 and report["raw_inbox"]["default_rows"] == 0


def test_a_row_at_the_boundary_goes_to_the_later_week(db):
    partitions.ensure(db, 1, at=MONDAY)
    before = raw(db, MONDAY + dt.timedelta(weeks=1) - dt.timedelta(microseconds=1), call_push())
    at = raw(db, MONDAY + dt.timedelta(weeks=1), call_push())
    assert where(db, "raw_inbox", id=before) == "raw_inbox_w20260302"
    assert where(db, "raw_inbox", id=at) == "raw_inbox_w20260309"


def test_a_row_no_week_covers_lands_in_the_default_partition_and_moves_when_its_week_is_made(db):
    far = MONDAY + dt.timedelta(weeks=30)
    raw_id = raw(db, far, call_push())
    assert where(db, "raw_inbox", id=raw_id) == "raw_inbox_default"
    assert {r["parent"]: r for r in partitions.overview(db, far)}["raw_inbox"]["default_rows"] == 1
    partitions.ensure(db, 0, at=far)
    assert where(db, "raw_inbox", id=raw_id) == "raw_inbox_w20260928"
    assert db.execute("SELECT count(*) FROM raw_inbox_default").fetchone() == (0,)


def test_a_duplicate_pushed_weeks_later_is_still_one_call_and_a_replay_counts_nothing(db, settings):
    partitions.ensure(db, 3, at=MONDAY)
    first = raw(db, MONDAY + dt.timedelta(days=6, hours=23, minutes=59), call_push())
    again = raw(db, MONDAY + dt.timedelta(weeks=2, days=1), call_push())
    db.commit()
    replay(db, settings, VENDORS.pushes, ids=[first, again], pending_only=True)
    calls = db.execute("SELECT call_key, seen_count FROM ozonetel_call").fetchall()
    assert calls == [("2603021234567890", 2)]
    homes = db.execute("SELECT raw_id, tableoid::regclass::text FROM ozonetel_sighting ORDER BY raw_id").fetchall()
    assert homes == [(first, "ozonetel_sighting_w20260302"), (again, "ozonetel_sighting_w20260316")]
    replay(db, settings, VENDORS.pushes, include_all=True, ids=[first, again])
    assert db.execute("SELECT seen_count FROM ozonetel_call").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM ozonetel_sighting").fetchone() == (2,)


def test_prune_drops_whole_weeks_keeps_quarantined_and_deletes_only_at_the_edge(db, settings):
    partitions.ensure(db, 0, since=MONDAY, at=MONDAY + dt.timedelta(weeks=3))
    landed = [raw(db, MONDAY + dt.timedelta(days=d), call_push(f"u{d}")) for d in (1, 8)]
    kept = raw(db, MONDAY + dt.timedelta(days=2), {"broken": True})
    edge_old = raw(db, MONDAY + dt.timedelta(days=14, hours=1), call_push("u14"))
    edge_young = raw(db, MONDAY + dt.timedelta(days=15), call_push("u15"))
    db.commit()
    replay(db, settings, VENDORS.pushes, pending_only=True)
    assert db.execute("SELECT status FROM raw_inbox WHERE id = %s", (kept,)).fetchone() == ("quarantined",)
    before = MONDAY + dt.timedelta(days=14, hours=12)

    planned = retention.prune_partitions(db, before, include_quarantined=False, dry_run=True)
    assert [w.partitions[0] for w in planned.weeks] == ["raw_inbox_w20260302", "raw_inbox_w20260309"]
    assert [w.kept for w in planned.weeks] == [1, 0] and planned.deleted == 1
    done = retention.prune_partitions(db, before, include_quarantined=False, dry_run=False)

    assert done.bytes_freed > 0 and done.deleted == 1
    for week in ("20260302", "20260309"):
        for table in ("raw_inbox", "ozonetel_sighting", "huawei_sighting"):
            assert db.execute("SELECT to_regclass(%s)", (f"{table}_w{week}",)).fetchone() == (None,)
    left = db.execute("SELECT id, tableoid::regclass::text FROM raw_inbox ORDER BY id").fetchall()
    assert left == [(kept, "raw_inbox_default"), (edge_young, "raw_inbox_w20260316")]
    assert db.execute("SELECT raw_id FROM ozonetel_sighting ORDER BY raw_id").fetchall() == [(edge_young,)]
    assert db.execute("SELECT count(*) FROM ozonetel_call").fetchone() == (4,)  # typed rows stay
    assert landed and edge_old not in {r[0] for r in left}
    # The operator says the quarantined one may go too.
    retention.prune_partitions(db, before, include_quarantined=True, dry_run=False)
    assert db.execute("SELECT id FROM raw_inbox ORDER BY id").fetchall() == [(edge_young,)]


def test_prune_command_prints_the_weeks_it_drops_and_the_bytes_freed(db, cli_env, monkeypatch, capsys):
    """As the reconciler's login alone (no owner's RELEASE_DATABASE_URL): the drops go through callrecon_drop_week."""
    from reconciler import cli

    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RELEASE_DATABASE_URL")
    long_ago = dt.datetime.now(UTC) - dt.timedelta(days=200)
    partitions.ensure(db, 0, at=long_ago)
    raw(db, long_ago, call_push(), status="landed")
    db.commit()
    assert cli.main(["prune", "--raw-older-than", "90d", "--yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("will delete 0 raw callbacks") and out[1].startswith("will drop week ")
    assert any(line.startswith("dropped week ") and "raw_inbox_w" in line for line in out)
    assert any(line.startswith("freed ") and " bytes (" in line for line in out)
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone() == (0,)


@pytest.fixture
def old_layout(database_url):
    """A database built by the migrations before partitioning (0001-0016), with rows in it."""
    base, name = database_url.rsplit("/", 1)
    old = f"{name}_old"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{old}"')
        admin.execute(f'CREATE DATABASE "{old}"')
    try:
        with psycopg.connect(f"{base}/{old}", autocommit=True) as conn:
            yield conn
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')


def test_upgrade_from_the_old_layout_keeps_every_row_and_copies_none(old_layout, tmp_path, settings):
    conn = old_layout
    before_dir = tmp_path / "sql"
    before_dir.mkdir()
    for path in SQL_DIR.glob("[0-9]*.sql"):
        if path.name < "0017":
            shutil.copy(path, before_dir)
    migrations.upgrade(conn, before_dir)
    for n in range(50):
        body = json.dumps(call_push(f"old{n}")).encode()
        raw_id = conn.execute(
            "INSERT INTO raw_inbox (received_at, source, body, body_sha256, body_bytes, status) "
            "VALUES (now() - make_interval(days => %s), 'ozonetel', %s, 'x', %s, 'landed') RETURNING id",
            (n, body, len(body)),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO ozonetel_sighting (raw_id, record_index, call_key) VALUES (%s, 0, %s)", (raw_id, f"old{n}")
        )
    heap = conn.execute("SELECT 'raw_inbox'::regclass::oid").fetchone()[0]
    snapshot = conn.execute("SELECT id, received_at, md5(body) FROM raw_inbox ORDER BY id").fetchall()

    # `callrecon db upgrade` reads the old rows first without blocking inserts (VALIDATE), so the
    # migration's exclusive moment does not read them again.
    assert partitions.prepare_upgrade(conn, VENDORS.monthly_tables) is True
    assert conn.execute(
        "SELECT convalidated FROM pg_constraint WHERE conname = 'raw_inbox_before_partitioning'"
    ).fetchone() == (True,)
    assert [m.name for m in migrations.upgrade(conn, SQL_DIR)][0] == "0017_weekly_partitions.sql"
    assert partitions.prepare_upgrade(conn, VENDORS.monthly_tables) is False
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname LIKE '%before_partitioning'").fetchone() == (
        0,
    )

    # The old heap itself is now the legacy partition: same table, nothing copied.
    assert conn.execute("SELECT 'raw_inbox_legacy'::regclass::oid").fetchone()[0] == heap
    assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'raw_inbox'").fetchone() == ("p",)
    assert conn.execute("SELECT id, received_at, md5(body) FROM raw_inbox ORDER BY id").fetchall() == snapshot
    assert conn.execute("SELECT count(*) FROM ozonetel_sighting_legacy").fetchone() == (50,)
    assert conn.execute("SELECT count(*) FROM raw_inbox_text").fetchone() == (50,)  # views follow the parent
    # New rows go on from the old ids, into the weekly partitions.
    new_id = raw(conn, dt.datetime.now(UTC) + dt.timedelta(weeks=1), call_push("new"))
    assert new_id == snapshot[-1][0] + 1
    assert where(conn, "raw_inbox", id=new_id).startswith("raw_inbox_w")
    # A replayed old callback is still a duplicate of its old sighting.
    replay(conn, settings, VENDORS.pushes, include_all=True, ids=[snapshot[0][0]])
    sightings = conn.execute("SELECT count(*) FROM ozonetel_sighting WHERE raw_id = %s", (snapshot[0][0],))
    assert sightings.fetchone() == (1,)
    # The legacy partitions go whole, like any week, all three together (huawei's is empty).
    legacy = "SELECT to_at FROM callrecon_partitions WHERE partition = 'raw_inbox_legacy'"
    cutover = conn.execute(legacy).fetchone()[0]
    done = retention.prune_partitions(conn, cutover, include_quarantined=False, dry_run=False)
    assert [w.partitions for w in done.weeks] == [
        ["raw_inbox_legacy", "huawei_sighting_legacy", "ozonetel_sighting_legacy"]
    ]
    assert conn.execute("SELECT id FROM raw_inbox").fetchall() == [(new_id,)]


def test_status_and_metrics_show_weeks_ahead_oldest_age_default_rows_and_sizes(
    client, db, cli_env, monkeypatch, capsys
):
    from reconciler import cli

    partitions.ensure(db, 4)  # as the release step does (already so, unless a week began since)
    raw(db, MONDAY + dt.timedelta(weeks=300), call_push())  # no week covers it: the default partition
    text = client.get("/metrics").get_data(as_text=True)
    assert 'callrecon_partitions_ahead{table="raw_inbox"} 4.0' in text
    assert 'callrecon_partition_default_rows{table="raw_inbox"} 1.0' in text
    assert 'callrecon_partition_oldest_age_seconds{table="ozonetel_sighting"}' in text
    assert 'callrecon_table_bytes{table="raw_inbox"}' in text and 'callrecon_table_bytes{table="ozonetel_call"}' in text
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["partitions"]["raw_inbox"]["weeks_ahead"] == 4
    assert report["partitions"]["raw_inbox"]["default_rows"] == 1
    assert report["table_bytes"]["raw_inbox"] > 0
    assert cli.main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("raw_inbox: DEFAULT PARTITION HAS ROWS; ") and "4 weeks ahead" in line for line in lines)
