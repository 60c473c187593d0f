"""The call rollup (sql/0023) and call_log_link (sql/0024): exact through every write path, compaction, upgrade
backfill.

The reference ("oracle") is not SQL: the rows are read plainly (the call view's columns, huawei_call.detail_status,
ozonetel_request, lsq_request) and counted in Python as the definitions say (docs/schema.md "Definitions", the views'
COMMENT ON text, README "Linking LeadSquared call logs to calls")."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

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
# Zones a whole number of quarter hours from UTC: every slot lies within one business day.
ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"]

# The rollup summed per key (what is under test).
ROLLUP = """
SELECT vendor, campaign, slot, sum(calls), sum(answered), sum(calls_pushed), sum(calls_re_requested),
       sum(calls_discovered), sum(calls_missing_detail)
FROM call_rollup GROUP BY 1, 2, 3 HAVING sum(calls) <> 0
"""


# --- The oracle: plain reads, then the definitions in Python. ---


def setting(db, name: str, fallback: str) -> str:
    """A callrecon.* setting as the session sees it (unset or empty: the fallback)."""
    return db.execute("SELECT current_setting(%s, true)", (f"callrecon.{name}",)).fetchone()[0] or fallback


def now(db) -> dt.datetime:
    """The transaction's now(), in the session's time zone (so day arithmetic is the session's, as in SQL)."""
    return db.execute("SELECT now()").fetchone()[0]


def business_day(t: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The business day of an instant: its date in the business time zone."""
    return t.astimezone(zone).date()


def rollup_slot(t: dt.datetime) -> dt.datetime:
    """The 15-minute slot an instant falls in: quarter hours counted from 2000-01-01 00:00 UTC."""
    return t - (t - dt.datetime(2000, 1, 1, tzinfo=UTC)) % dt.timedelta(minutes=15)


def calls(db) -> list[dict]:
    """Every call as the call view has it, with whether it is missing its detail (a Huawei call whose
    huawei_call.detail_status is not done)."""
    status = {
        f"{vdn}:{call}": s for vdn, call, s in db.execute("SELECT vdn_id, call_id, detail_status FROM huawei_call")
    }
    rows = db.execute("SELECT vendor, vendor_call_id, campaign, ring_time, outcome, source FROM call").fetchall()
    return [
        {
            "vendor": vendor,
            "vendor_call_id": call_id,
            "campaign": campaign,
            "ring_time": ring_time,
            "answered": outcome == "answered",
            "source": source,
            "missing_detail": vendor == "huawei" and status[call_id] != "done",
        }
        for vendor, call_id, campaign, ring_time, outcome, source in rows
    ]


def call_counts(call: dict) -> tuple[int, ...]:
    """What one call adds to calls, answered, calls_pushed, calls_re_requested, calls_discovered,
    calls_missing_detail."""
    source = call["source"]
    flags = (True, call["answered"], source == "push", source == "re-requested push", source == "bulk query")
    return (*map(int, flags), int(call["missing_detail"]))


def added(total: list[int], counts) -> list[int]:
    return [a + int(b) for a, b in zip(total, counts, strict=True)]


def rollup_oracle(db) -> list[tuple]:
    """Per vendor, campaign and slot of the calls with a ring time: the counts call_rollup sums to."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * 6)
    for call in calls(db):
        if call["ring_time"] is not None:
            key = (call["vendor"], call["campaign"], rollup_slot(call["ring_time"]))
            sums[key] = added(sums[key], call_counts(call))
    return canonical([(*key, *counts) for key, counts in sums.items()])


def windows(db, zone: ZoneInfo, since: dt.datetime | None = None) -> dict[tuple, list[int]]:
    """Ozonetel windows per (vendor, campaign, business day of window_from): requested (sent: not pending),
    received, failed."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for campaign, window_from, state in db.execute("SELECT campaign_name, window_from, state FROM ozonetel_request"):
        if since is None or window_from >= since:
            key = ("ozonetel", campaign, business_day(window_from, zone))
            counts[key] = added(counts[key], (state != "pending", state == "received", state == "failed"))
    return counts


def completeness_oracle(db) -> list[tuple]:
    """completeness_daily: per vendor, campaign and business day, the calls (by how they arrived, and Huawei ones
    missing detail), the Ozonetel windows, and what Ozonetel's CDR counted; 0 where a day has only some of them.

    The CDR's figures: its legs as counted (NULL for a day never fetched), the calls only the CDR brought, and,
    once the day's CDR (its campaign's or the whole account's) was fetched, the pushed calls no leg matched."""
    zone = ZoneInfo(setting(db, "business_timezone", "UTC"))
    with_cdr = {key for (key,) in db.execute("SELECT call_key FROM ozonetel_call WHERE cdr_at IS NOT NULL")}
    days: dict[tuple, list[int]] = defaultdict(lambda: [0] * 7)
    for call in calls(db):
        if call["ring_time"] is not None:
            key = (call["vendor"], call["campaign"], business_day(call["ring_time"], zone))
            counts = call_counts(call)
            matched = call["vendor"] == "ozonetel" and call["vendor_call_id"] in with_cdr
            days[key] = added(days[key], (counts[0], *counts[2:], call["source"] == "cdr", matched))
    sent = windows(db, zone)
    legs = {("ozonetel", c, d): n for d, c, n in db.execute("SELECT day, campaign_name, legs FROM ozonetel_cdr_count")}
    fetched = set(db.execute("SELECT campaign_name, day FROM ozonetel_cdr_day WHERE passes > 0").fetchall())

    def row(key):
        calls_, pushed, re_requested, discovered, missing, cdr_only, matched = days.get(key, [0] * 7)
        seen = (key[1], key[2]) in fetched or ("", key[2]) in fetched
        unmatched = pushed + re_requested - (matched - cdr_only) if seen else None
        return (
            *key,
            calls_,
            pushed,
            re_requested,
            discovered,
            missing,
            *sent.get(key, [0] * 3),
            legs.get(key),
            cdr_only,
            unmatched,
        )

    return canonical([row(key) for key in {*days, *sent, *legs}])


def answer_rate_oracle(db) -> list[tuple]:
    """answer_rate_by_campaign_day: the calls that rang since now() minus query_days (default 14) days, per vendor,
    campaign and business day: calls, answered, and answered / calls in per cent to one decimal (half up)."""
    zone = ZoneInfo(setting(db, "business_timezone", "UTC"))
    since = now(db) - dt.timedelta(days=int(setting(db, "query_days", "14")))
    days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for call in calls(db):
        if call["ring_time"] is not None and call["ring_time"] >= since:
            key = (call["vendor"], call["campaign"], business_day(call["ring_time"], zone))
            days[key] = [days[key][0] + 1, days[key][1] + call["answered"]]
    return canonical(
        [
            (*key, n, answered, (Decimal(100 * answered) / n).quantize(Decimal("0.1"), ROUND_HALF_UP))
            for key, (n, answered) in days.items()
        ]
    )


def gaps_oracle(db) -> list[tuple]:
    """gaps_last_7_days: from the business midnight query_days (default 7) days back, today included, the vendor,
    campaign and days with a Huawei call missing its detail, a failed window or a window sent and not received."""
    zone = ZoneInfo(setting(db, "business_timezone", "UTC"))
    first = business_day(now(db), zone) - dt.timedelta(days=int(setting(db, "query_days", "7")) - 1)
    since = dt.datetime.combine(first, dt.time(0), zone)
    missing: dict[tuple, int] = defaultdict(int)
    for call in calls(db):
        if call["missing_detail"] and call["ring_time"] is not None and call["ring_time"] >= since:
            missing[(call["vendor"], call["campaign"], business_day(call["ring_time"], zone))] += 1
    sent = windows(db, zone, since)
    rows = []
    for key in {*missing, *sent}:
        requested, received, failed = sent.get(key, [0, 0, 0])
        if missing.get(key, 0) > 0 or failed > 0 or requested > received:
            rows.append((*key, missing.get(key, 0), requested, received, failed, requested - received))
    return canonical(rows)


def percentile_cont(fraction: float, values: list) -> float | None:
    """PostgreSQL's percentile_cont: NULLs ignored; sorted, the value at position fraction * (n - 1), linearly
    interpolated between the two nearest ranks (lo + (hi - lo) * the position's fraction); None for no values."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    if high == low:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def logged_start(body) -> dt.datetime | None:
    """A call log's RequestBody StartTime read as UTC; None when absent or not a time."""
    text = body.get("StartTime") if isinstance(body, dict) else None
    try:
        return dt.datetime.fromisoformat(str(text)).replace(tzinfo=UTC) if text is not None else None
    except ValueError:
        return None


def crm_oracle(db) -> list[tuple]:
    """call_end_to_crm_log, exact: the call logs (kind call-log, status Success, a StartTime) registered on the
    last query_days (default 7) UTC days, today included, each linked per vendor to the call of its
    DestinationNumber whose ring time is nearest its StartTime within 2 minutes; per vendor, over the linked calls
    with an end time: how many, the median seconds from the call's end to registered_at, and the median and p90
    to final_at."""
    today = now(db).astimezone(UTC).date()
    first_day = today - dt.timedelta(days=int(setting(db, "query_days", "7")) - 1)
    since = dt.datetime.combine(first_day, dt.time(), UTC)  # whole UTC days, today's included
    known = [c for c in db.execute("SELECT vendor, phone_number, ring_time, end_time FROM call") if None not in c[1:3]]
    linked: dict[str, list[tuple]] = defaultdict(list)
    for kind, status, body, registered_at, final_at in db.execute(
        "SELECT kind, status, request_body, registered_at, final_at FROM lsq_request"
    ):
        start = logged_start(body)
        if kind != "call-log" or status != "Success" or start is None or registered_at < since:
            continue
        for vendor in ("ozonetel", "huawei"):
            near = [
                (abs(ring - start), end)
                for v, phone, ring, end in known
                if v == vendor
                and phone == body.get("DestinationNumber")
                and abs(ring - start) <= dt.timedelta(minutes=2)
            ]
            if near:
                nearest = min(distance for distance, _ in near)
                ends = {end for distance, end in near if distance == nearest}
                assert len(ends) == 1, f"two calls equally near a log, the rule does not say which: {ends}"
                if (end := ends.pop()) is not None:
                    linked[vendor].append((registered_at, final_at, end))
    rows = []
    for vendor, links in linked.items():
        to_submit = [(registered - end).total_seconds() for registered, _, end in links]
        to_confirmed = [None if final is None else (final - end).total_seconds() for _, final, end in links]
        rows.append(
            (
                vendor,
                len(links),
                percentile_cont(0.5, to_submit),
                percentile_cont(0.5, to_confirmed),
                percentile_cont(0.9, to_confirmed),
            )
        )
    return canonical(rows)


def canonical(rows) -> list[tuple]:
    """Rows in one order, whatever the database's collation (NULLs last)."""
    return sorted((tuple(r) for r in rows), key=lambda r: tuple((v is None, v) for v in r))


def assert_newest_day_first(rows) -> None:
    """The shipped queries' order: day descending, then vendor."""
    assert [(r[2], r[0]) for r in rows] == sorted(((r[2], r[0]) for r in rows), key=lambda k: (-k[0].toordinal(), k[1]))


def assert_rollup_matches_the_oracle(db) -> None:
    assert canonical(db.execute(ROLLUP).fetchall()) == rollup_oracle(db)


def assert_rollup_matches_the_definitions(db) -> None:
    """The rollup and every reader of it give the definitions' numbers, in several business time zones."""
    assert_rollup_matches_the_oracle(db)
    for zone in ZONES:
        with db.transaction():  # one now() for both sides
            db.execute("SELECT set_config('callrecon.business_timezone', %s, true)", (zone,))
            db.execute("SELECT set_config('callrecon.query_days', '30', true)")
            for name, oracle in (
                ("answer_rate_by_campaign_day", answer_rate_oracle),
                ("gaps_last_7_days", gaps_oracle),
            ):
                mine = db.execute((SQL_DIR / "queries" / f"{name}.sql").read_text()).fetchall()
                assert_newest_day_first(mine)
                assert canonical(mine) == oracle(db), (name, zone)
            view = db.execute("SELECT * FROM completeness_daily").fetchall()
            assert canonical(view) == completeness_oracle(db), zone


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
    assert_rollup_matches_the_definitions(db)

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
    assert_rollup_matches_the_definitions(db)

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
    assert_rollup_matches_the_definitions(db)

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
    assert_rollup_matches_the_definitions(db)

    # The edges of the queries' ranges (query_days 30): calls a minute apart across the start of
    # answer_rate's rolling range (its partial first slot), and, for gaps_last_7_days, Huawei calls
    # missing detail at and just before the first business midnight of the range in each zone.
    db.execute(
        "INSERT INTO ozonetel_call (call_key, key_source, campaign_name, dial_status, start_time, source_timezone, "
        "first_seen_at, last_seen_at, first_raw_id, last_raw_id) "
        "SELECT 'edge' || n, 'UCID', 'Edge', CASE WHEN n % 3 = 0 THEN 'answered' END, "
        "now() - interval '30 days' + n * interval '1 minute', 'UTC', now(), now(), 1, 1 "
        "FROM generate_series(-2, 16) n"
    )
    for zone in ZONES:
        first_day = business_day(now(db), ZoneInfo(zone)) - dt.timedelta(days=29)
        midnight = dt.datetime.combine(first_day, dt.time(0), ZoneInfo(zone))
        for n, at in enumerate((midnight, midnight - dt.timedelta(seconds=1))):
            db.execute(
                "INSERT INTO huawei_call (vdn_id, call_id, campaign_id, call_time, detail_status, source_timezone, "
                "first_seen_at, last_seen_at) VALUES (9, %s, 'Midnight', %s, 'pending', 'UTC', now(), now())",
                (f"{zone}-{n}", at),
            )
    # Ozonetel windows in every state, some on days with calls, one before the range.
    window = (
        "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state) "
        "VALUES (%s, %s, %s + interval '15 minutes', %s)"
    )
    for campaign, at, state in [
        ("Copied", times[0], "received"),
        ("Copied", times[1], "requested"),
        ("Copied", times[2], "pending"),
        ("Copied", times[3], "failed"),
        ("Windows only", recent(db, 2, "12:00"), "timed-out"),
        ("Windows only", recent(db, 2, "12:15"), "received"),
        ("Windows only", recent(db, 40, "12:00"), "failed"),
    ]:
        db.execute(window, (campaign, at, at, state))
    assert_rollup_matches_the_definitions(db)

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
    assert_rollup_matches_the_definitions(db)


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
    assert_rollup_matches_the_oracle(db)


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
    for path in SQL_DIR.glob("[0-9]*.sql"):
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
    with conn.transaction():  # the default range (14 days)
        mine = conn.execute((SQL_DIR / "queries" / "answer_rate_by_campaign_day.sql").read_text()).fetchall()
        assert canonical(mine) == answer_rate_oracle(conn)
    assert_rollup_matches_the_definitions(conn)
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
    assert_rollup_matches_the_oracle(db)
    assert db.execute("SELECT sum(calls) FROM call_rollup").fetchone()[0] == 2000


def assert_crm_within_buckets(mine: list[tuple], exact: list[tuple], width: float | None = None) -> None:
    """The shipped query reads per-day histograms: the same vendors and counts as the exact figures, and each
    exact percentile inside the range it names (low <= exact <= high), with its estimate inside it too; with
    `width`, no range wider than that share of its value (plus the outward rounding)."""
    assert [r[:2] for r in mine] == [r[:2] for r in exact], (mine, exact)
    for got, want in zip(mine, exact, strict=True):
        for value, (estimate, low, high) in zip(want[2:], (got[2:5], got[5:8], got[8:11]), strict=True):
            if value is None:
                assert (estimate, low, high) == (None, None, None), got
                continue
            assert low <= value <= high and low <= estimate <= high, (got, want)
            assert width is None or high - low <= max(2.2, width * abs(value) + 0.2), (got, want)


def crm_figures(db) -> tuple[list, list]:
    """call_end_to_crm_log as shipped, and the link rule applied in Python, in one transaction (one now())."""
    with db.transaction():
        mine = db.execute((SQL_DIR / "queries" / "call_end_to_crm_log.sql").read_text()).fetchall()
        return canonical(mine), crm_oracle(db)


def test_call_log_links_follow_the_logs_and_the_calls_that_change_after_them(db):
    """The shipped query reads call_log_link; it gives the link rule's figures whatever changes first."""
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
    assert_crm_within_buckets(mine, reference)
    assert mine[0][1] == 6
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
    assert_crm_within_buckets(mine, reference)
    assert {r[0] for r in mine} == {"ozonetel"}
    db.execute("UPDATE huawei_call SET call_end_time = call_time + interval '70 seconds', detail_status = 'done'")
    # A re-push that moves a call out of its log's 2 minutes, and one that changes its end time.
    db.execute("UPDATE ozonetel_call SET start_time = start_time + interval '10 minutes' WHERE call_key = 'o2'")
    db.execute("UPDATE ozonetel_call SET end_time = end_time + interval '30 seconds' WHERE call_key = 'o3'")
    mine, reference = crm_figures(db)
    assert_crm_within_buckets(mine, reference)
    assert {r[0] for r in mine} == {"ozonetel", "huawei"}
    # A call deleted, a log that failed after all, a log deleted.
    db.execute("DELETE FROM ozonetel_call WHERE call_key = 'o4'")
    db.execute("UPDATE lsq_request SET status = 'FAILURE' WHERE request_id = 'r5'")
    db.execute("DELETE FROM lsq_request WHERE request_id = 'r0'")
    mine, reference = crm_figures(db)
    assert_crm_within_buckets(mine, reference)
    assert db.execute("SELECT count(*) FROM call_log_link").fetchone()[0] == 5
    # A StartTime that is not a time: the log is stored (and not linked), the write is not refused.
    db.execute(log, ("bad", "Success", json.dumps({"DestinationNumber": "1", "StartTime": "soon"}), start, start))
    assert db.execute("SELECT count(*) FROM call_log_link").fetchone()[0] == 5
    mine, reference = crm_figures(db)
    assert_crm_within_buckets(mine, reference)


def test_the_latency_histogram_holds_each_exact_percentile_over_many_logs_and_days(db):
    """600 linked logs over 9 UTC days, latencies from a second before the call's end to two hours after it:
    the histogram's figures against the exact ones, for 1, 3, 7 and 9 days, before and after compaction."""
    import random

    rng = random.Random(5)
    calls, logs = [], []
    for n in range(600):
        at = recent(db, n % 9, "03:00") + dt.timedelta(minutes=n)
        ended = at + dt.timedelta(seconds=60)
        calls.append((f"h{n}", f"7{n:06d}", at, ended))
        submitted = ended + dt.timedelta(seconds=rng.choice([-0.5, 0.4, 3, 20, 90]) * rng.uniform(1, 80))
        final = None if n % 17 == 0 else submitted + dt.timedelta(seconds=rng.uniform(5, 400))
        body = json.dumps({"DestinationNumber": f"7{n:06d}", "StartTime": at.strftime("%Y-%m-%d %H:%M:%S")})
        logs.append((f"hist-{n}", body, submitted, final))
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO ozonetel_call (call_key, key_source, phone_number, start_time, end_time, source_timezone, "
            "first_seen_at, last_seen_at, first_raw_id, last_raw_id) VALUES (%s, 'UCID', %s, %s, %s, 'UTC', now(), "
            "now(), 1, 1)",
            calls,
        )
        cur.executemany(
            "INSERT INTO lsq_request (request_id, kind, status, request_body, registered_at, final_at) "
            "VALUES (%s, 'call-log', 'Success', %s, %s, %s)",
            logs,
        )
    for compact in (False, True):
        if compact:
            assert db.execute("SELECT callrecon_latency_compact()").fetchone()[0] > 0
            assert db.execute("SELECT count(*) FROM call_log_latency WHERE NOT compacted").fetchone() == (0,)
        for days in ("1", "3", "7", "9"):
            db.execute("SELECT set_config('callrecon.query_days', %s, false)", (days,))
            mine, reference = crm_figures(db)
            # With dozens of logs a day, the two values a percentile lies between share a bucket or neighbours.
            assert_crm_within_buckets(mine, reference, width=0.25)
            assert mine and mine[0][1] == len([n for n in range(600) if n % 9 < int(days)])
    db.execute("RESET callrecon.query_days")


# leadsquared_failures_by_reason as it was before lsq_failure_daily: every failed request of the window.
FAILURES_EXACT = """
SELECT kind, status, COALESCE(status_reason, last_error) AS reason, count(*) AS requests,
       min(registered_at) AS first_registered, max(final_at) AS last_final
FROM lsq_request
WHERE status IN ('FAILURE', 'ERROR', 'failed', 'not-found', 'expired')
  AND registered_at >= now() - make_interval(days => callrecon_setting('query_days', '30')::int)
GROUP BY 1, 2, 3
"""


def failure_figures(db, days: str) -> tuple[dict, dict]:
    """The shipped query and the exact count, in one transaction (one now()), by (kind, status, reason)."""
    with db.transaction():
        db.execute("SELECT set_config('callrecon.query_days', %s, true)", (days,))
        mine = db.execute((SQL_DIR / "queries" / "leadsquared_failures_by_reason.sql").read_text()).fetchall()
        exact = db.execute(FAILURES_EXACT).fetchall()
    return ({tuple(r[:3]): tuple(r[3:]) for r in mine}, {tuple(r[:3]): tuple(r[3:]) for r in exact})


def test_the_failures_by_reason_read_from_days_kept_equal_the_failed_requests_counted_one_by_one(db):
    """400 requests over 40 days, every end status, reasons in status_reason or last_error: the shipped
    query (whole days from lsq_failure_daily, the first day from lsq_request) against the exact count,
    for windows of 1, 7, 30 and 45 days, before and after compaction, and after a retry, a request that
    failed late and a deletion (counts exact; first_registered and last_final bounds, as documented)."""
    statuses = ["FAILURE", "ERROR", "failed", "expired", "not-found", "Success", "In-Queue"]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO lsq_request (request_id, kind, status, status_reason, last_error, registered_at, final_at) "
            "VALUES (%s, %s, %s, %s, %s, now() - make_interval(mins => %s), now() - make_interval(mins => %s))",
            [
                (
                    f"f{n}",
                    ["call-log", "lead-update", "opportunity-capture"][n % 3],
                    statuses[n % 7],
                    f"MXDuplicate {n % 4}" if n % 5 else None,
                    None if n % 5 else f"HTTP {500 + n % 3}",
                    n * 144 + 7,  # every 2.4 hours, back 40 days: every time of day, each day's edge
                    n * 144,
                )
                for n in range(400)
            ],
        )
    counts = {}
    for compact in (False, True):
        if compact:
            assert db.execute("SELECT callrecon_lsq_failure_compact()").fetchone()[0] > 0
            assert db.execute("SELECT count(*) FROM lsq_failure_daily WHERE NOT compacted").fetchone() == (0,)
        for days in ("1", "7", "30", "45"):
            mine, exact = failure_figures(db, days)
            assert mine == exact, days
            counts[days] = sum(v[0] for v in exact.values())
    assert counts["1"] < counts["7"] < counts["30"] < counts["45"]
    # A retry takes a failed request out; a request that failed late and one deleted.
    db.execute("UPDATE lsq_request SET status = 'In-Queue', final_at = NULL WHERE request_id = 'f0'")
    db.execute("UPDATE lsq_request SET status = 'ERROR', status_reason = 'late' WHERE request_id = 'f5'")
    db.execute("DELETE FROM lsq_request WHERE request_id = 'f14'")
    db.execute("UPDATE lsq_request SET attempts = attempts + 1")  # touches every row, changes no count
    for days in ("1", "7", "30", "45"):
        mine, exact = failure_figures(db, days)
        assert {k: v[0] for k, v in mine.items()} == {k: v[0] for k, v in exact.items()}, days
        for key, (_, first, last) in exact.items():
            assert mine[key][1] <= first and (last is None or mine[key][2] >= last)
    assert ("opportunity-capture", "ERROR", "late") in failure_figures(db, "1")[0]
