"""docs/adding-a-vendor.md, done from tests/: a registry with the toy vendor, nothing else edited."""

from __future__ import annotations

import threading

import pytest
import toy_vendor

from conftest import ROLES, SECRETS
from fakes import FakeClock
from receiver import create_app
from receiver.config import Settings
from receiver.database import roles
from receiver.vendors import VENDORS
from reconciler import sources
from reconciler.core.run import run_source

SECRETS.add(toy_vendor.TOKEN)
WITH_TOY = VENDORS.plus(toy_vendor.TOY)


@pytest.fixture
def toy(db):
    """The toy's migration applied and its tables granted as `db upgrade` grants them (its registry entry's grants)."""
    db.execute(toy_vendor.TOY_MIGRATION)
    roles.grant(db, ROLES, roles.Outcome(), roles.access(WITH_TOY))
    return toy_vendor


def test_a_registered_vendor_gets_a_callback_url_and_lands_a_push(toy, env, db):
    app = create_app(Settings.from_env({**env, "TOY_CALLBACK_TOKENS": toy.TOKEN}, WITH_TOY), WITH_TOY)
    try:
        client = app.test_client()
        resp = client.post(f"/callbacks/toy/{toy.TOKEN}", json=[{"id": "t-1", "result": "answered"}])
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
