"""Analysts on a hot standby: a real streaming replica, made with pg_basebackup -R (docs/scaling.md).

A primary and its standby run as clusters of their own on free loopback ports (standby_cluster.py
says why not the suite's server); each test gets a database copied on the primary from one built
as the suite's template is, which the standby receives by replay. The suite's fixtures (env, app,
client, db, cli_env) run unchanged against that primary: this module only redefines where
`database_url` and `role_url` point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re

import psycopg
import pytest
from console_seed import console_app, csrf_from, database_now, scrub, seed, sign_in
from psycopg import sql
from psycopg.types.json import Jsonb
from standby_cluster import CannotStart, Pair, free_port, wait_for_replay

from conftest import LOGINS, OZONETEL_TOKEN, ROLES, SQL_DIR, fixture_bytes, load_schema, scan_for_secrets
from receiver.database import grants
from receiver.landing import partitions
from receiver.vendors import VENDORS

TEMPLATE = "callrecon_standby_tmpl"
QUERIES = sorted((SQL_DIR / "queries").glob("*.sql"))
# Short, so the test of the documented query conflict waits 2 s rather than the default 30 s.
MAX_STANDBY_STREAMING_DELAY = "2s"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def pair():
    """A primary with callrecon's template database, and its hot standby; both stopped and removed afterwards."""
    try:
        pair = Pair()
    except CannotStart as exc:
        pytest.skip(f"a second PostgreSQL cluster cannot be started here: {exc}")
    try:
        try:
            pair.start_primary()
        except RuntimeError as exc:
            pytest.skip(f"a second PostgreSQL cluster cannot be started here: {exc}")
        with psycopg.connect(pair.primary.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
        load_schema(host="127.0.0.1", port=pair.primary.port, user="postgres", dbname=TEMPLATE)
        pair.start_standby(max_standby_streaming_delay=MAX_STANDBY_STREAMING_DELAY)
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def dbname(pair) -> str:
    """This test's database: a copy of the template on the primary, replayed to the standby; dropped afterwards."""
    name = f"callrecon_standby_{next(_numbers)}"
    admin = pair.primary.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE), sql.Identifier(ROLES.owner)
            )
        )
    wait_for_replay(admin, pair.standby.url("postgres"))
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(pair, dbname, log_copy) -> str:
    """conftest's database_url on the primary: the superuser's URL, and no secret in the database or the logs."""
    url = pair.primary.url(dbname)
    start = len(log_copy.lines)
    yield url
    leaks = scan_for_secrets(url, log_copy.lines[start:])
    assert not leaks, f"secret values leaked: {leaks}"


@pytest.fixture
def role_url(pair, dbname):
    """conftest's role_url, on the primary."""
    return lambda kind: pair.primary.url(dbname, LOGINS[kind])


@pytest.fixture
def standby_url(pair, dbname):
    """standby_url(kind): the same database on the standby, as a role's login ('postgres': the superuser)."""
    return lambda kind="postgres": pair.standby.url(dbname, LOGINS.get(kind, kind))


@pytest.fixture
def replayed(pair, database_url, standby_url):
    """replayed(): wait until the standby has replayed all the primary has written so far."""
    return lambda: wait_for_replay(database_url, standby_url())


def push(client, name: str = "call_details__array.json") -> None:
    """One Ozonetel push through the endpoint (landed inline), as a vendor sends it."""
    reply = client.post(
        f"/callbacks/ozonetel/{OZONETEL_TOKEN}", data=fixture_bytes("ozonetel", name), content_type="application/json"
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)


def rows_of(url: str, query: str) -> list[tuple]:
    """Every row of one statement, as the login in `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


# (a) The analyst's queries


def test_the_analyst_runs_every_example_query_and_view_on_the_standby(client, db, replayed, role_url, standby_url):
    push(client)
    # Yesterday (UTC), so every query's time range holds the sample calls at any hour.
    db.execute(
        "UPDATE ozonetel_call SET start_time = start_time + d, end_time = end_time + d "
        "FROM (SELECT ((now() AT TIME ZONE 'UTC')::date - 1 - date '2024-11-20') * interval '1 day' AS d) shift"
    )
    replayed()
    analyst = standby_url("analyst")
    with psycopg.connect(analyst, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        # The analyst's limits are the role's settings (ALTER ROLE ... SET): in the catalog, so on the standby too.
        assert conn.execute("SHOW statement_timeout").fetchone() == ("1s",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE scratch (n int)")
    for query in QUERIES:
        text = query.read_text(encoding="utf-8")
        on_standby = rows_of(analyst, text)
        assert on_standby == rows_of(role_url("analyst"), text), query.name
        if query.stem == "answer_rate_by_campaign_day":
            assert [(r[0], r[1], r[5]) for r in on_standby] == [("ozonetel", "Renewals_Nov", 50.0)]
    readable = sorted(name for name, rights in grants.access(VENDORS).items() if "S" in rights[2])
    views = {name for (name,) in rows_of(standby_url(), "SELECT viewname FROM pg_views WHERE schemaname = 'public'")}
    assert {"call", "completeness_daily", "source_health", "raw_inbox_excerpt", "reconcile_gave_up"} <= views
    for name in readable:
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name)).as_string(None)
        assert rows_of(analyst, count) == rows_of(role_url("analyst"), count), name
    assert rows_of(analyst, "SELECT count(*) FROM call") == [(2,)]


# (b) What the primary's maintenance does reaches the standby


def raw_row(db, received_at: dt.datetime, status: str = "landed", error: dict | None = None) -> None:
    """A raw callback stored at a chosen time (tests/test_partitions.py's raw), as landed or quarantined."""
    body = b'{"monitorUCID": "old"}'
    db.execute(
        "INSERT INTO raw_inbox (received_at, source, content_type, body, body_sha256, body_bytes, status, error) "
        "VALUES (%s, 'ozonetel', 'application/json', %s, %s, %s, %s, %s)",
        (received_at, body, hashlib.sha256(body).hexdigest(), len(body), status, error and Jsonb(error)),
    )


def test_rollups_new_partitions_and_prune_drops_reach_the_standby(
    client, db, database_url, cli_env, replayed, standby_url, monkeypatch
):
    from reconciler import cli

    listing = "SELECT partition FROM callrecon_partitions ORDER BY 1"
    rollup = "SELECT vendor, campaign, slot, calls, answered, compacted FROM call_rollup ORDER BY 1, 2, 3, compacted"
    push(client)
    with psycopg.connect(cli_env["DATABASE_URL"], autocommit=True) as reconciler:
        # What each reconciler pass does first (reconciler/runner.py): the periods ahead, then the rollup folded.
        long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=120)
        made = partitions.ensure(
            reconciler, 1, since=long_ago, at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=70)
        )
        assert made > 0
        assert reconciler.execute("SELECT callrecon_rollup_compact()").fetchone()[0] > 0
    replayed()
    assert rows_of(standby_url(), listing) == rows_of(database_url, listing)
    assert rows_of(standby_url("analyst"), rollup) == rows_of(database_url, rollup)
    assert all(row[-1] for row in rows_of(standby_url("analyst"), rollup))  # compacted, as on the primary

    old_week = db.execute(
        "SELECT partition FROM callrecon_partitions WHERE parent = 'raw_inbox' AND from_at <= %s ORDER BY from_at "
        "DESC LIMIT 1",
        (long_ago,),
    ).fetchone()[0]
    raw_row(db, long_ago)
    replayed()
    # An analyst reading the old week on the standby when prune drops it: the documented conflict
    # (docs/scaling.md): replay waits max_standby_streaming_delay for the query, then ends its session.
    reading = psycopg.connect(standby_url("analyst"))
    (excerpts,) = reading.execute("SELECT count(*) FROM raw_inbox_excerpt").fetchone()
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["prune", "--raw-older-than", "90d", "--yes"]) == 0
    replayed()
    with pytest.raises(psycopg.OperationalError, match="conflict with recovery"):
        reading.execute("SELECT 1")
    reading.close()
    assert rows_of(standby_url(), f"SELECT to_regclass('{old_week}')") == [(None,)]
    assert rows_of(standby_url("analyst"), "SELECT count(*) FROM raw_inbox_excerpt") == [(excerpts - 1,)]
    assert rows_of(standby_url(), listing) == rows_of(database_url, listing)


# (c) The console: pages from the standby, actions on the primary

# Ready to run, so its retry is not refused (tests/test_console.py, OZONETEL_READY).
OZONETEL_READY = {
    "OZONETEL_USERNAME": "acme_ops",
    "OZONETEL_CAMPAIGNS": "Renewals_Nov",
    "PUBLIC_BASE_URL": "https://calls.example.com",
}


@pytest.fixture
def console(env, database_url, standby_url):
    """The console with its pages on the standby (CONSOLE_DATABASE_URL) and its actions on the primary."""
    now = database_now(database_url)
    app = console_app({**env, **OZONETEL_READY, "CONSOLE_DATABASE_URL": standby_url("reconciler")}, now)
    ids = seed(app.test_client(), database_url, now)
    client = app.test_client()
    assert sign_in(client).status_code == 302
    yield app, client, ids
    app.extensions["callrecon_pool"].close()
    scrub(database_url, ids)


def get_pages(app, ids: dict) -> dict[str, list[str]]:
    """A URL for every GET page of the console (every work list: each ledger in each state)."""
    from receiver import ledgers

    day = database_now(app.config["CALLRECON_SETTINGS"].database_url).date()
    by_endpoint = {
        "console.overview": ["/ops/"],
        "console.sign_in": ["/ops/sign-in"],
        "console.events": ["/ops/events", "/ops/events?status=quarantined&q=9123456780"],
        "console.event": [f"/ops/events/{ids['quarantined']}", f"/ops/events/{ids['unlanded'][0]}"],
        "console.quarantine": ["/ops/quarantine", "/ops/quarantine?source=ozonetel"],
        "console.journey": ["/ops/journey?q=9876543210", "/ops/journey?q=2105221234567890"],
        "console.completeness": ["/ops/completeness", "/ops/completeness?days=14"],
        "console.calls": [f"/ops/calls?day={day}&vendor=ozonetel&campaign=Renewals_Nov"],
        "console.work": [
            f"/ops/work?source={source}&state={state}" for source in VENDORS.ledgers for state in ledgers.STATES
        ],
    }
    served = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("console.") and "GET" in rule.methods and rule.endpoint != "console.static"
    }
    assert served == set(by_endpoint), "a console page without a URL here: add one, so it is read on the standby"
    return by_endpoint


def test_every_console_page_reads_the_standby(console, db, replayed, pair):
    app, client, ids = console
    with app.extensions["callrecon_console_pool"].connection() as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    replayed()
    for endpoint, urls in get_pages(app, ids).items():
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (endpoint, url, response.get_data(as_text=True)[:500])
    # A row only the primary has yet: the page does not show it while the standby's replay is paused.
    with psycopg.connect(pair.standby.url("postgres"), autocommit=True) as standby_admin:
        standby_admin.execute("SELECT pg_wal_replay_pause()")
        try:
            raw_row(db, dt.datetime.now(dt.timezone.utc), "quarantined", {"message": "seen on the primary first"})
            assert "seen on the primary first" not in client.get("/ops/quarantine").get_data(as_text=True)
        finally:
            standby_admin.execute("SELECT pg_wal_replay_resume()")
    replayed()
    assert "seen on the primary first" in client.get("/ops/quarantine").get_data(as_text=True)


def test_console_actions_run_on_the_primary_and_their_page_shows_them(console, db, pair, standby_url):
    app, client, ids = console
    raw_id, key = ids["quarantined"], str(ids["window_failing"])
    page = client.get("/ops/quarantine").get_data(as_text=True)
    replayed = client.post("/ops/quarantine/replay", data={"raw_id": raw_id, "csrf_token": csrf_from(page)})
    assert replayed.status_code == 302
    assert db.execute("SELECT status FROM raw_inbox WHERE id = %s", (raw_id,)).fetchone() == ("landed",)
    # The action waited for the standby to replay it, so the page it redirects to (read there) shows it.
    assert rows_of(standby_url(), f"SELECT status FROM raw_inbox WHERE id = {raw_id}") == [("landed",)]
    shown = client.get(replayed.headers["Location"]).get_data(as_text=True)
    assert f"Replayed raw callback {raw_id}: landed." in shown and "CONSOLE_DATABASE_URL" not in shown

    work = client.get("/ops/work?source=ozonetel&state=failing").get_data(as_text=True)
    csrf = csrf_from(work)
    retried = client.post("/ops/work/retry", data={"source": "ozonetel", "key": key, "csrf_token": csrf})
    assert "due now" in client.get(retried.headers["Location"]).get_data(as_text=True)

    # While the standby does not replay, the action still runs on the primary, and says its page may lag.
    with psycopg.connect(pair.standby.url("postgres"), autocommit=True) as standby_admin:
        standby_admin.execute("SELECT pg_wal_replay_pause()")
        try:
            given_up = client.post(
                "/ops/work/give-up", data={"source": "ozonetel", "key": key, "csrf_token": csrf, "reason": "closed"}
            )
            after = client.get(given_up.headers["Location"]).get_data(as_text=True)
        finally:
            standby_admin.execute("SELECT pg_wal_replay_resume()")
    assert db.execute("SELECT state FROM ozonetel_request WHERE id = %s", (key,)).fetchone() == ("failed",)
    assert "(CONSOLE_DATABASE_URL) is more than 2 s behind" in after


# (d) The lag, for the operator


def scrape(env: dict, **extra) -> str:
    """/metrics of an app with `extra` settings."""
    from receiver import create_app
    from receiver.config import Settings

    app = create_app(Settings.from_env({**env, **extra}, VENDORS))
    try:
        return app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        app.extensions["callrecon_pool"].close()


def status(cli_env: dict, monkeypatch, capsys, **extra) -> str:
    """What `callrecon status` prints with `extra` settings."""
    from reconciler import cli

    for name, value in {**cli_env, **extra}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["status"]) == 0
    return capsys.readouterr().out


def gauge(text: str, name: str) -> float | None:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return None if found is None else float(found[1])


def test_the_standby_lag_shows_in_metrics_and_status(
    env, cli_env, db, pair, replayed, standby_url, monkeypatch, capsys
):
    standby = {"STANDBY_DATABASE_URL": standby_url("web")}
    assert "callrecon_standby" not in scrape(env)  # no standby configured: no gauge, no line
    assert "standby:" not in status(cli_env, monkeypatch, capsys)
    replayed()
    text = scrape(env, **standby)
    assert gauge(text, "callrecon_standby_up") == 1.0
    assert gauge(text, "callrecon_standby_replay_lag_seconds") < 5  # 0 unless a write came in between
    assert re.search(
        r"^standby: replay lag [0-9.]+ s, \d+ bytes of WAL behind",
        status(cli_env, monkeypatch, capsys, **standby),
        re.M,
    )

    with psycopg.connect(pair.standby.url("postgres"), autocommit=True) as standby_admin:
        standby_admin.execute("SELECT pg_wal_replay_pause()")
        try:
            db.execute("INSERT INTO rate_budget (name, calls, period_ms) VALUES ('lagging', 1, 1000)")
            text = scrape(env, **standby)
            line = status(cli_env, monkeypatch, capsys, **standby)
        finally:
            standby_admin.execute("SELECT pg_wal_replay_resume()")
    assert gauge(text, "callrecon_standby_replay_behind_bytes") > 0
    assert gauge(text, "callrecon_standby_replay_lag_seconds") > 0
    behind = re.search(r"^standby: replay lag ([0-9.]+) s, (\d+) bytes", line, re.M)
    assert behind and int(behind[2]) > 0

    gone = {"STANDBY_DATABASE_URL": f"postgresql://nobody:pw-standby-9@127.0.0.1:{free_port()}/x"}
    text = scrape(env, **gone)
    assert gauge(text, "callrecon_standby_up") == 0.0 and gauge(text, "callrecon_standby_replay_lag_seconds") is None
    line = status(cli_env, monkeypatch, capsys, **gone)
    assert "standby: DOES NOT ANSWER: the standby at 127.0.0.1:" in line and "check STANDBY_DATABASE_URL" in line
    assert "pw-standby-9" not in line
    primary = {"STANDBY_DATABASE_URL": env["DATABASE_URL"]}
    assert gauge(scrape(env, **primary), "callrecon_standby_up") == 0.0
    assert "standby: NOT A STANDBY" in status(cli_env, monkeypatch, capsys, **primary)
