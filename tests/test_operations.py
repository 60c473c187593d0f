"""Health, readiness, metrics and the redacted access log."""

from __future__ import annotations

import shutil

from conftest import OZONETEL_TOKEN, SQL_DIR
from receiver import create_app
from receiver.settings import Settings
from receiver.web.access_log import RedactingLogger

URL = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"


def test_healthz_is_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.json["status"] == "ready" and resp.json["pending_migrations"] == []


def test_readyz_is_503_with_a_pending_migration(env, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "9999_future_change.sql").write_text("CREATE TABLE future_change (id int);\n")
    app = create_app(Settings.from_env({**env, "CALLRECON_SQL_DIR": str(sql_dir)}))
    try:
        resp = app.test_client().get("/readyz")
    finally:
        app.extensions["callrecon_pool"].close()
    assert resp.status_code == 503
    assert resp.json["pending_migrations"] == ["9999_future_change.sql"]
    assert "callrecon db upgrade" in resp.json["message"]


def test_readyz_is_503_when_the_database_is_unreachable(env):
    app = create_app(Settings.from_env({**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
                                        "DB_POOL_TIMEOUT": "1"}))
    try:
        resp = app.test_client().get("/readyz")
    finally:
        app.extensions["callrecon_pool"].close()
    assert resp.status_code == 503 and resp.json["database"] == "unreachable"
    assert "DATABASE_URL" in resp.json["message"]


def _sample(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in labels.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_callbacks_by_outcome_and_records(client):
    before = client.get("/metrics").get_data(as_text=True)
    client.post(URL, json=[{"monitorUCID": "m1"}, {"monitorUCID": "m2"}])
    client.post(URL, data=b"{nope", content_type="application/json")
    client.post("/callbacks/ozonetel/not-the-token", json={})
    after = client.get("/metrics").get_data(as_text=True)

    def delta(name, labels):
        return _sample(after, name, labels) - _sample(before, name, labels)

    assert delta("callrecon_callbacks_total", 'outcome="landed",source="ozonetel"') == 1
    assert delta("callrecon_callbacks_total", 'outcome="quarantined",source="ozonetel"') == 1
    assert delta("callrecon_callbacks_total", 'outcome="unauthorized",source="ozonetel"') == 1
    assert delta("callrecon_records_landed_total", 'source="ozonetel"') == 2
    assert delta("callrecon_records_quarantined_total", 'source="ozonetel"') == 1
    assert delta("callrecon_callback_seconds_count", 'source="ozonetel"') == 3
    assert "callrecon_callback_seconds_bucket" in after


def test_access_log_never_shows_the_callback_token():
    redact = RedactingLogger._redact_line
    assert redact(f"POST /callbacks/ozonetel/{OZONETEL_TOKEN} HTTP/1.1") == "POST /callbacks/ozonetel/*** HTTP/1.1"
    assert redact(f"/callbacks/ozonetel/{OZONETEL_TOKEN}?x=1") == "/callbacks/ozonetel/***?x=1"
    assert redact("GET /healthz HTTP/1.1") == "GET /healthz HTTP/1.1"
