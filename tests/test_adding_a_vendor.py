"""The docs/adding-a-vendor.md walk-through, done from tests/: one registry call, nothing else edited."""

from __future__ import annotations

import threading

import pytest
import toy_vendor

from conftest import ROLES, SECRETS
from fakes import FakeClock
from receiver import create_app
from receiver.settings import Settings
from receiver.vendors import registry
from reconciler import roles
from reconciler.core.run import run_source
from reconciler.sources import SOURCES

SECRETS.add(toy_vendor.TOKEN)


@pytest.fixture
def toy(db, monkeypatch):
    """The toy vendor registered, its migration applied and its tables granted; unregistered afterwards."""
    db.execute(toy_vendor.TOY_MIGRATION)
    # docs/adding-a-vendor.md, step 3: the new tables go into ACCESS; `db upgrade` then grants them.
    monkeypatch.setattr(roles, "ACCESS", {**roles.ACCESS, **toy_vendor.TOY_ACCESS})
    roles.grant(db, ROLES, roles.Outcome())
    registry.register(toy_vendor.TOY)
    yield toy_vendor
    registry.VENDORS.pop(toy_vendor.NAME)


def test_a_registered_vendor_gets_a_callback_url_and_lands_a_push(toy, env, db):
    app = create_app(Settings.from_env({**env, "TOY_CALLBACK_TOKENS": toy.TOKEN}))
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
    assert "toy" in SOURCES
    [source_class] = SOURCES["toy"]
    settings = Settings.from_env({**env, "TOY_BASE_URL": vendor_server.url_for("").rstrip("/")})
    assert ("TOY_BASE_URL", vendor_server.url_for("").rstrip("/")) in settings.describe()
    result = run_source(source_class(settings), reconciler_url, FakeClock(), stop=threading.Event())
    assert (result.outcome, dict(result.counts)) == ("ok", {"landed": 1})
    assert db.execute("SELECT call_id, outcome FROM toy_call").fetchall() == [("t-2", "no-answer")]


def test_unregistered_vendors_are_unknown():
    assert "toy" not in registry.PUSHES and "toy" not in SOURCES
