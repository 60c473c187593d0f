"""docs/adding-a-vendor.md, done from tests/: a registry with the toy vendor, nothing else edited."""

from __future__ import annotations

import logging
import threading

import pytest
import toy_vendor
from console_seed import OPS_TOKEN, sign_in

from conftest import OZONETEL_TOKEN, ROLES, SECRETS, fixture_bytes
from fakes import FakeClock
from receiver import create_app, logs
from receiver.config import Settings
from receiver.database import grants, roles, views
from receiver.vendors import VENDORS
from reconciler import cli, sources
from reconciler.core.run import run_source

SECRETS.add(toy_vendor.TOKEN)
WITH_TOY = VENDORS.plus(toy_vendor.TOY)


@pytest.fixture
def toy(db):
    """The toy's migration applied and its tables granted as `db upgrade` grants them (its registry entry's grants)."""
    db.execute(toy_vendor.TOY_MIGRATION)
    grants.grant(db, ROLES, roles.Outcome(), grants.access(WITH_TOY))
    return toy_vendor


def test_a_registered_vendor_gets_a_callback_url_and_lands_a_push(toy, env, db):
    app = create_app(Settings.from_env({**env, "TOY_CALLBACK_TOKENS": toy.TOKEN}, WITH_TOY), WITH_TOY)
    try:
        client = app.test_client()
        resp = client.post(f"/callbacks/toy/{toy_vendor.TOKEN}", json=[{"id": "t-1", "result": "answered"}])
        assert resp.status_code == 200 and resp.json["landed"] == 1
        assert client.post("/callbacks/toy/wrong", json=[]).status_code == 401
        assert "/callbacks/toy/{token}" not in client.get("/openapi.json").json["paths"]  # no OpenApi given
    finally:
        app.extensions["callrecon_pool"].close()
    assert db.execute("SELECT call_id, outcome FROM toy_call").fetchall() == [("t-1", "answered")]
    assert db.execute("SELECT source, status FROM raw_inbox").fetchall() == [("toy", "landed")]


def test_a_registered_vendor_is_polled_by_the_reconciler(toy, env, db, reconciler_url, vendor_server):
    vendor_server.expect_request("/calls/t-2").respond_with_json({"id": "t-2", "result": "no-answer"})
    db.execute("INSERT INTO toy_item (call_id) VALUES ('t-2')")
    loaded = sources.load(WITH_TOY)
    assert "toy" in loaded
    [source_class] = loaded["toy"]
    settings = Settings.from_env({**env, "TOY_BASE_URL": vendor_server.url_for("").rstrip("/")}, WITH_TOY)
    assert ("TOY_BASE_URL", vendor_server.url_for("").rstrip("/")) in settings.describe()
    result = run_source(source_class(settings), reconciler_url, FakeClock(), stop=threading.Event())
    assert (result.outcome, dict(result.counts)) == ("ok", {"landed": 1})
    assert db.execute("SELECT call_id, outcome FROM toy_call").fetchall() == [("t-2", "no-answer")]


def test_the_shipped_registry_does_not_know_the_toy():
    assert "toy" not in VENDORS and "toy" not in VENDORS.pushes and "toy" not in sources.load(VENDORS)


TOY_KEY = "toy-key-0c9b8a7d6e5f"
SECRETS.add(TOY_KEY)


@pytest.fixture
def toy_env(toy, cli_env, monkeypatch):
    """The command line's environment with the toy configured, its key among the settings."""
    env = {**cli_env, "TOY_CALLBACK_TOKENS": toy.TOKEN, "TOY_API_KEY": TOY_KEY}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_a_registered_vendor_gets_its_command_line_subcommand(toy_env, db, capsys):
    assert cli.main(["track", "toy", "t-7", "t-8"], vendors=WITH_TOY) == 0
    assert "queued 2 toy call(s)" in capsys.readouterr().out
    assert db.execute("SELECT call_id FROM toy_item ORDER BY 1").fetchall() == [("t-7",), ("t-8",)]
    assert db.execute("SELECT source, key, state FROM reconcile_item WHERE source = 'toy'").fetchall() == []
    views.create(db, WITH_TOY.ledgers.values())  # as `callrecon db upgrade` writes it for this registry
    assert db.execute("SELECT key, state FROM reconcile_item WHERE source = 'toy' ORDER BY 1").fetchall() == [
        ("t-7", "open"),
        ("t-8", "open"),
    ]
    with pytest.raises(SystemExit):
        cli.main(["track", "--help"])  # the shipped command line knows no toy
    assert "toy" not in capsys.readouterr().out


def test_a_vendors_secret_setting_is_masked_everywhere(toy_env, env, db, capsys):
    """Declared secret=True in the toy's own section, and never listed anywhere else."""
    assert cli.main(["config"], vendors=WITH_TOY) == 0
    shown = capsys.readouterr().out
    assert "TOY_API_KEY=****" in shown.splitlines() and TOY_KEY not in shown

    settings = Settings.from_env(toy_env, WITH_TOY)
    assert TOY_KEY in settings.secret_values()
    logs.configure(settings)
    [handler] = [h for h in logging.getLogger("callrecon").handlers if getattr(h, "_callrecon", False)]
    line = handler.format(
        logging.LogRecord("callrecon.toy", logging.WARNING, __file__, 1, "toy said %s", (TOY_KEY,), None)
    )
    assert TOY_KEY not in line and "toy said ***" in line

    web = {**env, "TOY_CALLBACK_TOKENS": toy_vendor.TOKEN, "TOY_API_KEY": TOY_KEY, "OPS_TOKENS": OPS_TOKEN}
    app = create_app(Settings.from_env(web, WITH_TOY), WITH_TOY)
    try:
        client = app.test_client()
        pushed = client.post(
            f"/callbacks/toy/{toy_vendor.TOKEN}", json=[{"id": "t-9", "result": "answered", "note": f"key {TOY_KEY}"}]
        )
        assert pushed.status_code == 200
        raw_id = pushed.json["raw_id"]
        stored = db.execute("SELECT convert_from(body, 'UTF8') FROM raw_inbox WHERE id = %s", (raw_id,)).fetchone()[0]
        assert TOY_KEY not in stored and "key ***" in stored
        # A body stored before the key was configured still holds it: the console masks it on the page.
        db.execute(
            "UPDATE raw_inbox SET body = convert_to(%s, 'UTF8') WHERE id = %s", (f'{{"note": "{TOY_KEY}"}}', raw_id)
        )
        sign_in(client)
        page = client.get(f"/ops/events/{raw_id}").get_data(as_text=True)
        assert f"raw callback {raw_id}" in page.lower() or str(raw_id) in page
        assert TOY_KEY not in page and "***" in page
    finally:
        db.execute(
            "UPDATE raw_inbox SET body = convert_to('{}', 'UTF8')"
        )  # the scan after the test checks the app's own writes
        app.extensions["callrecon_pool"].close()


def test_a_registered_vendor_adds_its_step_to_a_calls_journey(toy_env, env, db):
    web = {**env, "TOY_CALLBACK_TOKENS": toy_vendor.TOKEN, "TOY_API_KEY": TOY_KEY, "OPS_TOKENS": OPS_TOKEN}
    app = create_app(Settings.from_env(web, WITH_TOY), WITH_TOY)
    try:
        client = app.test_client()
        landed = client.post(
            f"/callbacks/ozonetel/{OZONETEL_TOKEN}",
            data=fixture_bytes("ozonetel", "call_details__single.json"),
            content_type="application/json",
        )
        assert landed.status_code == 200 and landed.json["landed"] == 1
        assert (
            client.post(
                f"/callbacks/toy/{toy_vendor.TOKEN}", json=[{"id": "t-4", "result": "sold", "phone": "9876543210"}]
            ).status_code
            == 200
        )
        sign_in(client)
        page = client.get("/ops/journey?q=9876543210").get_data(as_text=True)
        assert "toy call t-4 (sold)" in page and "toy call id" in page
    finally:
        app.extensions["callrecon_pool"].close()
