"""The `callrecon` command line: help everywhere, db commands, replay, urls, settings errors."""

from __future__ import annotations

import json

import psycopg
import pytest

from conftest import OZONETEL_TOKEN, SECRETS
from receiver.config import ConfigError, Settings
from receiver.database.provision import ensure_database
from receiver.vendors import VENDORS
from reconciler import cli

URL = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"


@pytest.fixture
def run(env, reconciler_url, monkeypatch, capsys):
    """Run a callrecon command with the test environment, as the reconciler's login; returns (exit code, stdout,
    stderr)."""
    for name, value in {**env, "DATABASE_URL": reconciler_url}.items():
        monkeypatch.setenv(name, value)

    def _run(*argv):
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


COMMANDS = [
    [],
    ["db"],
    ["db", "ensure"],
    ["db", "upgrade"],
    ["db", "status"],
    ["replay"],
    ["urls"],
    ["track", "huawei"],
    ["track"],
    ["track", "leadsquared"],
    ["reconcile"],
    ["status"],
    ["backfill"],
    ["backfill", "ozonetel"],
    ["prune"],
    ["db", "docs"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) or "callrecon" for c in COMMANDS])
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    assert "usage: callrecon" in capsys.readouterr().out


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("db", "replay", "urls", "track", "reconcile", "status"):
        assert f"    {command}" in out


def test_db_status_and_upgrade_on_a_migrated_database(run):
    code, out, _ = run("db", "status")
    assert code == 0 and "0 pending" in out and "0001_raw_inbox.sql" in out
    code, out, _ = run("db", "upgrade")
    assert code == 0 and "0 migration(s) applied" in out


def test_db_commands_explain_an_unreachable_database(run, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    code, _, err = run("db", "status")
    assert code == 2 and "callrecon db ensure" in err


def test_bad_setting_names_the_variable(run, monkeypatch):
    monkeypatch.setenv("OZONETEL_TIMEZONE", "Mars/Olympus")
    code, _, err = run("db", "status")
    assert code == 2 and "OZONETEL_TIMEZONE" in err and "IANA" in err


@pytest.mark.parametrize("name,value", [("MAX_BODY_BYTES", "ten"), ("DB_POOL_SIZE", "0")])
def test_settings_reject_bad_numbers_with_the_variable_name(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value}, VENDORS)


def test_urls_prints_the_first_token(run):
    code, out, _ = run("urls", "--base", "https://calls.example.com/")
    assert code == 0 and out.strip() == f"ozonetel: https://calls.example.com/callbacks/ozonetel/{OZONETEL_TOKEN}"


def test_replay_lands_quarantined_rows_after_a_parser_fix(client, db, run, monkeypatch):
    from receiver.landing.mapping import FieldMap
    from receiver.vendors.ozonetel import records as ozonetel

    client.post(URL, json={"LegacyCallRef": "old-1", "CampaignName": "c"})
    client.post(URL, json={"monitorUCID": "fine-1"})
    assert db.execute("SELECT status FROM raw_inbox ORDER BY id").fetchall() == [("quarantined",), ("landed",)]

    # The fix: a new alias in ozonetel.FIELDS ("LegacyCallRef" is a monitorUCID), as a release would load it.
    fields = {**ozonetel.FIELDS, "monitor_ucid": (*ozonetel.FIELDS["monitor_ucid"], "LegacyCallRef")}
    monkeypatch.setattr(ozonetel, "FIELD_MAP", FieldMap("OzonetelRecordSchema", fields))
    code, out, _ = run("replay")
    assert code == 0 and '"replayed": 1' in out and '"landed": 1' in out
    assert db.execute("SELECT status, parse_count, error FROM raw_inbox ORDER BY id").fetchall() == [
        ("landed", 2, None),
        ("landed", 1, None),
    ]
    assert db.execute("SELECT call_key, seen_count FROM ozonetel_call ORDER BY 1").fetchall() == [
        ("fine-1", 1),
        ("old-1", 1),
    ]


def test_replay_all_is_harmless_to_seen_counts(client, db, run):
    for _ in range(3):
        client.post(URL, json={"monitorUCID": "r-1", "Disposition": "x"})
    code, out, _ = run("replay", "--all")
    assert code == 0 and '"replayed": 3' in out
    assert db.execute("SELECT seen_count FROM ozonetel_call").fetchone() == (3,)
    assert db.execute("SELECT sum(parse_count) FROM raw_inbox").fetchone() == (6,)


def test_replay_of_an_older_push_does_not_overwrite_newer_values(client, db, run):
    client.post(URL, json={"monitorUCID": "o-1", "Disposition": "first"})
    client.post(URL, json={"monitorUCID": "o-1", "Disposition": "second"})
    first_id = db.execute("SELECT min(id) FROM raw_inbox").fetchone()[0]
    code, _, _ = run("replay", "--all", "--id", str(first_id))
    assert code == 0
    assert db.execute("SELECT disposition, seen_count FROM ozonetel_call").fetchone() == ("second", 2)


def test_db_ensure_creates_a_missing_database(postgresql):
    info = postgresql.info
    name = f"{info.dbname}_ensure"
    url = f"postgresql://{info.user}@{info.host}:{info.port}/{name}"
    try:
        assert ensure_database(url, log=lambda m: None) == f"created database {name}"
        assert ensure_database(url, log=lambda m: None) == f"database {name} exists"
    finally:
        with psycopg.connect(f"postgresql://{info.user}@{info.host}:{info.port}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_track_from_arguments_and_stdin_is_idempotent(run, db, monkeypatch):
    import io

    code, out, _ = run("track", "leadsquared", "--kind", "call-log", "--by", "ops", "id-1", "ID-1", "id-2")
    assert code == 0 and out.strip() == "registered 2 new, 1 already tracked (call-log)"
    monkeypatch.setattr("sys.stdin", io.StringIO("id-2\n\nid-3\n  id-4  \n"))
    code, out, _ = run("track", "leadsquared", "--kind", "lead-update")
    assert code == 0 and out.strip() == "registered 2 new, 1 already tracked (lead-update)"
    assert db.execute("SELECT request_id, kind, registered_by FROM lsq_request ORDER BY 1").fetchall() == [
        ("id-1", "call-log", "ops"),
        ("id-2", "call-log", "ops"),
        ("id-3", "lead-update", "cli:" + __import__("os").environ.get("USER", "unknown")),
        ("id-4", "lead-update", "cli:" + __import__("os").environ.get("USER", "unknown")),
    ]


def test_track_rejects_an_unknown_kind(run):
    with pytest.raises(SystemExit) as exit_:
        run("track", "leadsquared", "--kind", "calls", "x")
    assert exit_.value.code == 2


def test_reconcile_a_misconfigured_source_exits_2_naming_the_variable(run):
    code, _, err = run("reconcile", "--source", "leadsquared")
    assert code == 2 and "LSQ_ASYNC_BASE_URL is not set" in err and "LSQ_API_KEY is not set" in err


def test_reconcile_all_skips_unconfigured_sources(run):
    code, out, err = run("reconcile", "--source", "all", "--once")
    assert code == 0 and "leadsquared: not configured and nothing waits for it, skipped" in err and out == ""
    assert "nothing is configured to reconcile and nothing waits" in err


def test_reconcile_exits_2_when_work_waits_for_an_unconfigured_source(run):
    """pushed Huawei calls waiting for detail, no Huawei API configured: not a healthy exit 0."""
    assert run("track", "huawei", "--vdn", "8", "call-1", "call-2")[0] == 0
    code, out, err = run("reconcile", "--source", "all", "--once")
    assert code == 2 and out == ""
    assert "huawei: 2 items wait for it, but it is not configured" in err and "HUAWEI_BASE_URL" in err


def test_reconcile_exits_2_naming_database_url_when_the_database_is_down(run, monkeypatch):
    """a dead DATABASE_URL port used to exit 0 (or print a traceback)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:s3cret-pw@127.0.0.1:5999/callrecon")
    code, out, err = run("reconcile", "--source", "all", "--once")
    assert code == 2 and out == ""
    assert "127.0.0.1:5999/callrecon (DATABASE_URL) does not answer" in err
    assert "Traceback" not in err and "s3cret-pw" not in err


def test_reconcile_and_status_against_a_fake_leadsquared(run, db, httpserver, monkeypatch):
    import json

    from fakes import FakeLeadSquared, status_body

    fake = FakeLeadSquared(httpserver, "cli-key-123456")
    fake.default = lambda rid, kind: (200, status_body(rid, "Success" if rid.startswith("ok") else "In-Queue"))
    monkeypatch.setenv("LSQ_ASYNC_BASE_URL", fake.base_url)
    monkeypatch.setenv("LSQ_API_KEY", "cli-key-123456")
    SECRETS.add("cli-key-123456")
    run("track", "leadsquared", "--kind", "call-log", "ok-1", "ok-2", "wait-1")
    code, out, _ = run("reconcile", "--source", "leadsquared", "--once")
    summary = json.loads(out)
    assert code == 0 and summary["outcome"] == "ok" and summary["counts"] == {"Success": 2, "In-Queue": 1}
    code, out, _ = run("status", "--json")
    report = json.loads(out)["leadsquared"]
    assert code == 0
    assert (report["pending"], report["due_now"], report["final_by_status"]) == (1, 0, {"Success": 2})
    assert report["last_run"]["outcome"] == "ok" and report["oldest_pending_s"] >= 0
    code, out, _ = run("status")
    assert "leadsquared: pending 1 (due now 0" in out and "final: Success 2" in out


def test_reconcile_exits_1_when_the_vendor_rejects_the_key(run, httpserver, monkeypatch):
    from fakes import FakeLeadSquared

    fake = FakeLeadSquared(httpserver, "right-key-999")
    monkeypatch.setenv("LSQ_ASYNC_BASE_URL", fake.base_url)
    monkeypatch.setenv("LSQ_API_KEY", "wrong-key-111")
    run("track", "leadsquared", "--kind", "call-log", "k-1")
    code, out, err = run("reconcile", "--source", "leadsquared")
    assert code == 1 and "LSQ_API_KEY" in out and "wrong-key-111" not in out + err


def test_track_huawei_reads_call_ids_from_stdin(run, db, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("1644464743-1388\n1644464743-1391\n1644464743-1388\n"))
    code, out, _ = run("track", "huawei", "--vdn", "8")
    assert code == 0 and out.strip() == "registered 2 new, 1 already known (vdn 8)"
    assert db.execute("SELECT count(*) FROM huawei_call WHERE detail_status = 'pending'").fetchone() == (2,)
    code, _, err = run("track", "huawei", "--vdn", "10000", "x")
    assert code == 2 and "1..9999" in err


def test_config_prints_every_setting_with_secrets_masked(env, monkeypatch, capsys):
    from conftest import SECRETS

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    shown = dict(line.split("=", 1) for line in out.splitlines())
    assert shown["OZONETEL_TIMEZONE"] == "Asia/Kolkata" and shown["LSQ_RATE_LIMIT"] == "25/5s"
    assert "OZONETEL_CALLBACK_TOKENS" in shown and "DATABASE_URL" in shown
    assert not [secret for secret in SECRETS if secret in out]


def test_replay_of_a_missing_id_says_so_and_exits_1(run):
    """`replay --id <missing>` used to say nothing and exit 0."""
    code, out, err = run("replay", "--id", "424242")
    assert code == 1 and json.loads(out)["replayed"] == 0
    assert "no raw callback with id 424242" in err


def test_reconcile_interval_without_loop_is_a_usage_error(run, capsys):
    """`--interval` without `--loop` used to be ignored silently."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(["reconcile", "--interval", "5"])
    assert exit_.value.code == 2
    assert "--interval applies only with --loop" in capsys.readouterr().err


def test_urls_use_public_base_url_and_say_when_it_is_missing(run, monkeypatch):
    """`urls` printed a loopback URL even with PUBLIC_BASE_URL set."""
    monkeypatch.setenv("PORT", "8123")
    code, out, err = run("urls")
    assert code == 0 and "http://127.0.0.1:8123/callbacks/ozonetel/" in out
    assert "PUBLIC_BASE_URL is not set" in err
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://calls.example.com/")
    code, out, err = run("urls")
    assert "https://calls.example.com/callbacks/ozonetel/" in out and "PUBLIC_BASE_URL" not in err


def test_status_says_a_push_source_without_tokens_is_not_configured(run):
    """a fresh install without Huawei showed 'huawei pushes: SILENT; last callback never'."""
    code, out, _ = run("status")
    assert code == 0
    assert "huawei pushes: not configured (set HUAWEI_CALLBACK_TOKENS" in out
    assert "huawei pushes: SILENT" not in out


def test_db_ensure_names_a_wrong_port_at_once_instead_of_starting_clusters(run, monkeypatch):
    """a DATABASE_URL on a port no local cluster uses started every cluster and waited 30 s."""
    from receiver.database import provision

    started = []
    monkeypatch.setattr(provision, "_start_local_cluster", lambda port: started.append(port) or [])
    monkeypatch.setattr(provision, "local_clusters", lambda: {("15", "main"): 5432})
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5999/callrecon")
    code, _, err = run("db", "ensure")
    assert code == 2 and started == []
    assert "nothing answers at 127.0.0.1:5999" in err and "no local cluster is configured for port 5999" in err


DOCUMENTED = [  # docs/operations.md "Commands": every command that touches the database
    ["db", "status"],
    ["db", "upgrade"],
    ["db", "docs", "--output", "schema.md"],
    ["replay"],
    ["land"],
    ["prune", "--raw-older-than", "90d", "--dry-run"],
    ["track", "leadsquared", "--kind", "call-log", "id-1"],
    ["track", "huawei", "--vdn", "8", "c-1"],
    ["status"],
    ["reconcile", "--source", "all", "--once"],
    ["backfill", "ozonetel", "--campaign", "X", "--since", "2026-11-01", "--until", "2026-11-02", "--dry-run"],
]


@pytest.mark.parametrize("argv", DOCUMENTED, ids=[" ".join(a[:2]) for a in DOCUMENTED])
def test_each_command_with_the_database_down_says_so_in_one_line(run, monkeypatch, tmp_path, argv):
    """one error path for operators: no traceback, exit 2, the message names DATABASE_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:s3cret-pw@127.0.0.1:5999/callrecon")
    monkeypatch.delenv("RELEASE_DATABASE_URL")  # db upgrade: DATABASE_URL then (a set one is named instead)
    code, _, err = run(*argv)
    assert code == 2 and "DATABASE_URL" in err and "5999" in err
    assert "Traceback" not in err and "s3cret-pw" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["status"], ["config"], ["urls"], ["reconcile", "--once"]], ids=" ".join)
@pytest.mark.parametrize("name,value", [("LSQ_TIMEOUT", "20"), ("LOG_LEVEL", "VERBOSE"), ("DB_POOL_SIZE", "x")])
def test_each_command_with_a_bad_setting_names_the_variable(run, monkeypatch, argv, name, value):
    monkeypatch.setenv(name, value)
    code, _, err = run(*argv)
    assert code == 2 and err.startswith(f"callrecon: {name}={value!r}") and "Traceback" not in err
