"""Least privilege: each role connects and may do its job and nothing more; upgrades keep the roles."""

from __future__ import annotations

import json
import shlex
import shutil

import psycopg
import pytest
from psycopg import sql

from conftest import FIXTURES, LOGINS, OZONETEL_TOKEN, ROLES, SECRETS, SQL_DIR
from fakes import FakeLeadSquared, seed_response
from receiver.database import grants, migrations, roles, upgrade
from receiver.vendors import VENDORS
from reconciler import cli

URL = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"
DENIED = psycopg.errors.InsufficientPrivilege
LSQ_KEY = "lsq-roles-key-3c9a0e"
SECRETS.add(LSQ_KEY)
PRIVILEGES = {"S": "SELECT", "I": "INSERT", "U": "UPDATE", "D": "DELETE"}


@pytest.fixture
def as_role(role_url, database_url):
    """as_role(kind): an autocommit connection as that role's login; closed afterwards."""
    opened = []

    def connect(kind):
        conn = psycopg.connect(role_url(kind), autocommit=True)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def run(env, monkeypatch, capsys):
    """Run a callrecon command with the test environment plus overrides; (exit code, stdout, stderr)."""

    def _run(*argv, **overrides):
        for name, value in {**env, **overrides}.items():
            monkeypatch.setenv(name, value)
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


@pytest.fixture
def drop_roles(database_url):
    """Names appended here are dropped after the test (roles are global to the server)."""
    names: list[str] = []
    yield names
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def public_relations(db) -> set[str]:
    return {r[0] for r in db.execute(grants.RELATIONS)}


def test_every_table_and_view_is_in_the_access_list(db):
    """A migration that adds a table fails here until grants.access() (shared list or vendor) says who may use it."""
    assert public_relations(db) == set(ACCESS_NAMES := grants.access(VENDORS)), (
        f"classify in receiver/database/grants.py or the vendor's grants: "
        f"{sorted(public_relations(db) - set(ACCESS_NAMES))}; "
        f"no longer exist: {sorted(set(ACCESS_NAMES) - public_relations(db))}"
    )


def test_the_grants_in_the_database_are_exactly_the_access_list(db):
    for relation, access in grants.access(VENDORS).items():
        for kind, letters in zip(grants.SERVICES, access, strict=True):
            for letter, privilege in PRIVILEGES.items():
                held = db.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", (ROLES.name(kind), relation, privilege)
                ).fetchone()[0]
                assert held == (letter in letters), f"{kind} {privilege} on {relation}"
            for privilege in ("TRUNCATE", "REFERENCES", "TRIGGER"):
                assert not db.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", (ROLES.name(kind), relation, privilege)
                ).fetchone()[0]
    owners = {r[0] for r in db.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")}
    assert owners == {ROLES.owner}


def test_owner_rights_functions_run_only_for_the_roles_listed(db):
    """Every SECURITY DEFINER function is in grants.EXECUTE, and only the roles it lists (not PUBLIC) may run it."""
    definers = {
        r[0]
        for r in db.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.prosecdef AND p.prorettype <> 'trigger'::regtype"
        )
    }
    listed = {db.execute("SELECT %s::regprocedure::text", (f,)).fetchone()[0]: k for f, k in grants.EXECUTE.items()}
    assert definers == set(listed), f"list in receiver/database/grants.py EXECUTE: {sorted(definers - set(listed))}"
    triggers = [r[0] for r in db.execute(grants.DEFINER_TRIGGERS)]
    assert triggers, "the rollups' trigger functions run with the owner's rights"
    listed.update({trigger: () for trigger in triggers})  # fired by PostgreSQL, executable by nobody
    for function, kinds in listed.items():
        for kind in grants.SERVICES:
            held = db.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", (ROLES.name(kind), function))
            assert held.fetchone()[0] == (kind in kinds), f"{kind} EXECUTE on {function}"
        assert not db.execute("SELECT has_function_privilege('public', %s, 'EXECUTE')", (function,)).fetchone()[0]


def test_the_reconciler_drops_only_past_weeks_of_callrecon_tables(as_role, db):
    """prune's drops go through callrecon_drop_week; asked for anything else, it refuses and changes nothing."""
    db.execute("SELECT callrecon_ensure_partitions(0, now() - interval '3 weeks', now())")
    db.commit()
    old, current = (
        db.execute(
            "SELECT partition FROM callrecon_partitions WHERE parent = 'raw_inbox' AND NOT is_default "
            "AND from_at <= now() - %s::interval ORDER BY from_at DESC LIMIT 1",
            (age,),
        ).fetchone()[0]
        for age in ("14 days", "0 days")
    )
    reconciler = as_role("reconciler")
    for refused in ([current], ["raw_inbox_default"], ["schema_migrations"], ["ozonetel_call"]):
        with pytest.raises(psycopg.errors.RaiseException, match="not a partition of a callrecon table wholly in"):
            reconciler.execute("SELECT callrecon_drop_week(%s, false)", (refused,))
    with pytest.raises(DENIED):
        reconciler.execute(f"DROP TABLE {old}")
    week = [old, old.replace("raw_inbox", "ozonetel_sighting"), old.replace("raw_inbox", "huawei_sighting")]
    assert reconciler.execute("SELECT callrecon_drop_week(%s, false)", (week,)).fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM callrecon_partitions WHERE partition = ANY(%s)", (week,)).fetchone()[0] == 0
    assert db.execute("SELECT to_regclass(%s)", (current,)).fetchone()[0] is not None
    for kind in ("web", "analyst"):
        with pytest.raises(DENIED):
            as_role(kind).execute("SELECT callrecon_drop_week(%s, false)", ([current],))


def test_no_login_is_a_superuser_or_can_create_roles(db):
    rows = db.execute(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = ANY(%s)",
        (list(LOGINS.values()) + ROLES.names(),),
    ).fetchall()
    assert len(rows) == 8 and not any(flag for row in rows for flag in row[1:])


def test_analyst_reads_call_and_every_analyst_view(client, as_role):
    assert client.post(URL, data=(FIXTURES / "ozonetel" / "call_details__single.json").read_bytes()).status_code == 200
    analyst = as_role("analyst")
    assert analyst.execute("SELECT vendor_call_id FROM call").fetchall() == [("2105221234567890",)]
    readable = [name for name, access in grants.access(VENDORS).items() if "S" in access[2]]
    assert {"call", "completeness_daily", "source_health", "leadsquared_health", "raw_inbox_excerpt"} <= set(readable)
    for name in readable:
        analyst.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(name))).fetchall()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT body FROM raw_inbox",
        "SELECT headers FROM raw_inbox",
        "SELECT body_text FROM raw_inbox_text",
        "INSERT INTO ozonetel_call (call_key, key_source) VALUES ('x', 'ucid')",
        "UPDATE ozonetel_call SET seen_count = 0",
        "DELETE FROM ozonetel_call",
        "DELETE FROM lsq_request",
        "TRUNCATE huawei_call",
        "DROP VIEW call",
        "ALTER TABLE ozonetel_call ADD COLUMN mine text",
        "CREATE TABLE analyst_scratch (id int)",
        "CREATE VIEW analyst_view AS SELECT 1",
    ],
)
def test_analyst_is_refused_raw_bodies_writes_and_ddl(as_role, statement):
    with pytest.raises(DENIED):
        as_role("analyst").execute(statement)


def test_an_analyst_query_past_the_timeout_is_cancelled(as_role):
    analyst = as_role("analyst")
    assert analyst.execute("SHOW statement_timeout").fetchone()[0] == "1s"
    assert analyst.execute("SHOW work_mem").fetchone()[0] == "8MB"
    with pytest.raises(psycopg.errors.QueryCanceled):
        analyst.execute("SELECT pg_sleep(5)")


def test_analysts_see_raw_callbacks_only_as_masked_excerpts(client, as_role, db):
    body = json.dumps({"monitorUCID": "u-1", "CampaignName": "c", "PhoneNumber": "9876543210", "Apikey": "zz"})
    assert client.post(URL, data=body, headers={"Cookie": "session=s3cret"}).status_code in (200, 202)
    [(excerpt, error)] = as_role("analyst").execute("SELECT body_excerpt, error_excerpt FROM raw_inbox_excerpt")
    assert "9876543210" in db.execute("SELECT convert_from(body, 'UTF8') FROM raw_inbox").fetchone()[0]
    assert "9876543210" not in excerpt and "***10" in excerpt and '"CampaignName"' in excerpt
    columns = {r[0] for r in as_role("analyst").execute("SELECT * FROM raw_inbox_excerpt LIMIT 0").description}
    assert not columns & {"headers", "body", "client_addr"}


def test_web_lands_a_callback_through_the_endpoint_and_cannot_drop_or_delete(client, settings, as_role, db):
    assert settings.database_url.startswith(f"postgresql://{LOGINS['web']}@")
    reply = client.post(URL, data=(FIXTURES / "ozonetel" / "call_details__single.json").read_bytes())
    assert reply.status_code == 200 and reply.get_json()["status"] == "landed"
    assert db.execute("SELECT count(*) FROM ozonetel_call").fetchone()[0] == 1
    web = as_role("web")
    assert web.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
        LOGINS["web"],
        False,
    )
    for statement in (
        "DELETE FROM ozonetel_call",
        "DELETE FROM raw_inbox",
        "DROP TABLE ozonetel_call",
        "DROP TABLE raw_inbox CASCADE",
        "TRUNCATE raw_inbox",
        "ALTER TABLE raw_inbox DROP COLUMN body",
        "UPDATE lsq_request SET status = 'Success'",  # ledgers it only counts for /metrics
        "UPDATE rate_budget SET calls = 0",
        "INSERT INTO reconcile_run (source) VALUES ('x')",
    ):
        with pytest.raises(DENIED):
            web.execute(statement)
    assert db.execute("SELECT count(*) FROM raw_inbox").fetchone()[0] == 1


def test_the_reconciler_runs_a_whole_pass_against_the_fake(run, httpserver, reconciler_url, db):
    fake = FakeLeadSquared(httpserver, LSQ_KEY)
    seed = seed_response("call-log")
    request_id = seed.get("RequestId") or seed.get("RequestID")
    fake.script(request_id, (200, seed))
    lsq = {"LSQ_ASYNC_BASE_URL": httpserver.url_for("").rstrip("/"), "LSQ_API_KEY": LSQ_KEY, "LSQ_TIMEOUT": "2s"}
    code, _, err = run("track", "leadsquared", "--kind", "call-log", request_id, DATABASE_URL=reconciler_url, **lsq)
    assert code == 0, err
    code, out, err = run("reconcile", "--source", "all", "--once", DATABASE_URL=reconciler_url, **lsq)
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["counts"] == {"Success": 1}
    assert db.execute("SELECT status FROM lsq_request").fetchone()[0] == "Success"
    assert db.execute("SELECT count(*) FROM reconcile_run WHERE outcome = 'ok'").fetchone()[0] >= 1
    with psycopg.connect(reconciler_url, autocommit=True) as conn, pytest.raises(DENIED):
        conn.execute("DROP TABLE lsq_request")


def test_migrations_run_as_the_owner_role(run, db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "9999_new_table.sql").write_text(
        "CREATE TABLE later_thing (id int);\nCOMMENT ON TABLE later_thing IS 'x';\n"
    )
    code, out, err = run("db", "upgrade", CALLRECON_SQL_DIR=str(sql_dir))
    assert code == 0, err
    assert "applied 9999_new_table.sql" in out
    assert db.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'later_thing'").fetchone()[0] == ROLES.owner
    assert "later_thing are in no role's list" in err  # until a list classifies it
    assert not db.execute("SELECT has_table_privilege(%s, 'later_thing', 'SELECT')", (ROLES.analyst,)).fetchone()[0]
    business = db.execute(
        "SELECT setconfig FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()[0]
    assert any(item.startswith("callrecon.business_timezone=") for item in business)


def test_an_install_from_before_the_roles_gets_them_with_no_data_moved(database_url, db, tmp_path):
    """The schema as it was before the roles existed (built and owned by the superuser, no grants), with data in it."""
    old_dir = tmp_path / "sql"
    old_dir.mkdir()
    for path in SQL_DIR.glob("[0-9]*.sql"):
        if path.name < "0020":
            shutil.copy(path, old_dir / path.name)
    name = db.execute("SELECT current_database()").fetchone()[0] + "_old"
    db.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url.rsplit("/", 1)[0] + "/" + name
    try:
        with psycopg.connect(url, autocommit=True) as old:
            migrations.upgrade(old, old_dir)
            old.execute(
                "INSERT INTO raw_inbox (source, body, body_sha256, body_bytes) VALUES ('ozonetel', '\\x7b7d', 'h', 2)"
            )
            before = old.execute("SELECT pg_relation_filenode('raw_inbox'), count(*) FROM raw_inbox").fetchone()
            out = upgrade.apply(old, SQL_DIR, ROLES, roles.AnalystLimits(), {}, VENDORS)
            later = sorted(path.name[:4] for path in SQL_DIR.glob("[0-9]*.sql") if path.name >= "0020")
            assert [m.version for m in out.ran] == later and out.adopted > 20 and not out.dba
            assert old.execute("SELECT pg_relation_filenode('raw_inbox'), count(*) FROM raw_inbox").fetchone() == before
            owners = {r[0] for r in old.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
            assert owners == {ROLES.owner}
        with psycopg.connect(url.replace("postgres@", f"{LOGINS['analyst']}@"), autocommit=True) as analyst:
            assert analyst.execute("SELECT count(*) FROM raw_inbox_excerpt").fetchone()[0] == 1
            with pytest.raises(DENIED):
                analyst.execute("SELECT body FROM raw_inbox")
    finally:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_an_analyst_login_a_dba_added_gets_the_limits_at_the_next_upgrade(run, database_url, drop_roles, db):
    name = ROLES.prefix + "_by_hand"
    drop_roles.append(name)
    db.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(sql.Identifier(name), sql.Identifier(ROLES.analyst)))
    code, _, err = run("db", "upgrade", RELEASE_DATABASE_URL=database_url)
    assert code == 0, err
    with psycopg.connect(database_url.replace("postgres@", f"{name}@"), autocommit=True) as analyst:
        assert analyst.execute("SHOW statement_timeout").fetchone()[0] == "1s"
        assert analyst.execute("SHOW work_mem").fetchone()[0] == "8MB"
    code, _, err = run("db", "upgrade")  # as the owner's login, which may not ALTER ROLE: nothing left to ask
    assert code == 0 and err == ""


def test_database_settings_the_owner_may_not_write_are_reported_not_a_crash(run, database_url, db):
    db.execute(
        sql.SQL("REVOKE SET ON PARAMETER callrecon.business_timezone FROM {}").format(sql.Identifier(ROLES.owner))
    )
    code, out, err = run("db", "upgrade")  # as the owner's login
    assert code == 0 and "schema is up to date" in out
    assert "the callrecon.* database settings were not written" in err
    assert f"GRANT SET ON PARAMETER callrecon.business_timezone TO {ROLES.owner};" in err
    code, _, err = run("db", "upgrade", RELEASE_DATABASE_URL=database_url)  # a superuser grants it again
    assert code == 0 and err == ""
    code, _, err = run("db", "upgrade")
    assert code == 0 and err == ""


def test_a_release_user_that_may_not_create_roles_is_told_what_a_dba_runs(run):
    prefix = ROLES.prefix + "_x"
    code, out, err = run("db", "upgrade", DB_ROLE_PREFIX=prefix)  # as the owner's login: no CREATEROLE
    assert code == 0 and "schema is up to date" in out
    assert f"the user {LOGINS['owner']} may not create roles (no CREATEROLE)" in err
    assert f"CREATE ROLE {prefix}_analyst NOLOGIN;" in err and f"GRANT {prefix}_owner TO {LOGINS['owner']};" in err
    assert "then run `callrecon db upgrade` again" in err


def test_grant_analyst_creates_a_limited_login_and_prints_no_password(run, database_url, drop_roles, db):
    name = ROLES.prefix + "_asha"
    drop_roles.append(name)
    code, out, err = run("db", "grant-analyst", name, RELEASE_DATABASE_URL=database_url)
    assert code == 0, err
    first, url = out.splitlines()
    assert first == f"created {name} in {ROLES.analyst}" and url == database_url.replace("postgres@", f"{name}@")
    assert "password" not in out
    with psycopg.connect(url, autocommit=True) as analyst:
        assert analyst.execute("SHOW statement_timeout").fetchone()[0] == "1s"
        assert analyst.execute("SELECT count(*) FROM call").fetchone()[0] == 0
        with pytest.raises(DENIED):
            analyst.execute("SELECT * FROM raw_inbox")
    code, out, _ = run("db", "grant-analyst", name, RELEASE_DATABASE_URL=database_url)
    assert code == 0 and out.startswith(f"updated {name}")
    code, out, _ = run("db", "roles")
    assert code == 0
    assert f"{ROLES.analyst}: members " in out and name in out.split(f"{ROLES.analyst}: members ")[1].splitlines()[0]
    assert "raw_inbox_excerpt (select)" in out and "raw_inbox (select insert update)" in out


def test_local_roles_creates_the_three_logins_and_writes_their_urls(run, database_url, drop_roles, tmp_path):
    drop_roles += [f"{ROLES.prefix}_{process}_local" for process in ("release", "web", "reconciler")]
    target = tmp_path / "roles.env"
    code, out, err = run("db", "local-roles", "--output", str(target), RELEASE_DATABASE_URL=database_url)
    assert code == 0, err
    assert target.stat().st_mode & 0o777 == 0o600  # the file holds the logins' passwords
    lines = dict(word.removeprefix("export ").split("=", 1) for word in shlex.split(target.read_text()) if "=" in word)
    assert set(lines) == {"RELEASE_DATABASE_URL", "WEB_DATABASE_URL", "RECONCILER_DATABASE_URL"}
    web_login = f"{ROLES.prefix}_web_local"
    assert f"web: {database_url.replace('postgres@', web_login + '@')}" in out.splitlines()  # no password shown
    for name, role in (("WEB", ROLES.name("web")), ("RECONCILER", ROLES.name("reconciler")), ("RELEASE", ROLES.owner)):
        with psycopg.connect(lines[f"{name}_DATABASE_URL"], autocommit=True) as conn:
            assert conn.execute("SELECT pg_has_role(%s, 'MEMBER')", (role,)).fetchone()[0], name
    with psycopg.connect(lines["WEB_DATABASE_URL"], autocommit=True) as web, pytest.raises(DENIED):
        web.execute("DELETE FROM raw_inbox")


def test_local_roles_on_a_remote_server_leaves_every_process_on_database_url(run, tmp_path):
    target = tmp_path / "roles.env"
    remote = "postgresql://someone@db.example.com:5432/callrecon"
    code, _, err = run("db", "local-roles", "--output", str(target), DATABASE_URL=remote, RELEASE_DATABASE_URL="")
    assert code == 0 and "every process uses DATABASE_URL (db.example.com is not this machine)" in err
    assert target.read_text().count(remote) == 3


def test_grant_analyst_without_createrole_says_what_a_dba_runs(run):
    code, _, err = run("db", "grant-analyst", ROLES.prefix + "_nobody")  # RELEASE_DATABASE_URL: the owner's login
    assert code == 2
    assert f"ask a DBA to run CREATE ROLE {ROLES.prefix}_nobody LOGIN IN ROLE {ROLES.analyst}" in err
