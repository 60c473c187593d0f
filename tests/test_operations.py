"""Health, readiness, metrics and the redacted access log."""

from __future__ import annotations

import shutil

from conftest import OZONETEL_TOKEN, SQL_DIR
from receiver import create_app
from receiver.config import Settings
from receiver.vendors import VENDORS
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
    app = create_app(Settings.from_env({**env, "CALLRECON_SQL_DIR": str(sql_dir)}, VENDORS))
    try:
        resp = app.test_client().get("/readyz")
    finally:
        app.extensions["callrecon_pool"].close()
    assert resp.status_code == 503
    assert resp.json["pending_migrations"] == ["9999_future_change.sql"]
    assert "callrecon db upgrade" in resp.json["message"]


def test_readyz_is_503_when_the_database_is_unreachable(env):
    app = create_app(
        Settings.from_env(
            {**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", "DB_POOL_TIMEOUT": "1"}, VENDORS
        )
    )
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


def test_readyz_is_503_and_start_up_warns_when_no_callback_token_is_configured(env, caplog):
    """Operator truthfulness: a receiver that would refuse every push is not ready."""
    bare = {k: v for k, v in env.items() if not k.endswith("_CALLBACK_TOKENS")}
    with caplog.at_level("WARNING", logger="callrecon.ops"):
        app = create_app(Settings.from_env(bare, VENDORS))
    try:
        resp = app.test_client().get("/readyz")
        assert resp.status_code == 503 and resp.json["accepting"] == []
        assert "OZONETEL_CALLBACK_TOKENS" in resp.json["message"]
        assert any("no callback token is configured" in r.getMessage() for r in caplog.records)
        refused = app.test_client().post("/callbacks/ozonetel/anything", json={"monitorUCID": "1"})
        assert refused.status_code == 401
        assert "no callback token is configured for ozonetel" in refused.json["message"]
    finally:
        app.extensions["callrecon_pool"].close()


def test_a_405_names_the_allowed_methods(client):
    resp = client.get("/callbacks/ozonetel/whatever")
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == {"OPTIONS", "POST"}
    assert resp.is_json


def test_a_413_is_logged_like_every_callback(env, caplog):
    app = create_app(Settings.from_env({**env, "MAX_BODY_BYTES": "1024"}, VENDORS))
    try:
        with caplog.at_level("INFO", logger="callrecon.errors"):
            resp = app.test_client().post(
                f"/callbacks/ozonetel/{OZONETEL_TOKEN}", data=b"x" * 2048, content_type="application/json"
            )
    finally:
        app.extensions["callrecon_pool"].close()
    assert resp.status_code == 413
    [line] = [r for r in caplog.records if r.getMessage() == "callback"]
    assert line.fields["outcome"] == "too_large" and line.fields["source"] == "ozonetel"
    assert OZONETEL_TOKEN not in str(line.fields)


def test_psycopg_pool_messages_are_json_lines_too(settings, capsys):
    """A database outage makes psycopg_pool log multi-line text; it must not break the JSON log."""
    import json
    import logging

    from receiver import logs

    logs.configure(settings)
    try:
        raise ConnectionError("connection refused\n\tIs the server running on that host?")
    except ConnectionError:
        logging.getLogger("psycopg.pool").warning("error connecting in 'pool-1'", exc_info=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["logger"] == "psycopg.pool" and entry["level"] == "warning" and "refused" in entry["exc"]


def test_make_run_keeps_a_console_token_in_its_env_file(tmp_path):
    """The first run writes OPS_TOKENS beside the callback tokens (mode 600); an older file gets one added once."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "Makefile", tmp_path / "Makefile")
    make = ["make", "-s", f"BIN={Path(sys.executable).parent}"]
    env = {k: v for k, v in os.environ.items() if k not in ("OPS_TOKENS", "HUAWEI_TIMEZONE")}
    subprocess.run([*make, ".callrecon.env"], cwd=tmp_path, env=env, check=True, capture_output=True)
    written = (tmp_path / ".callrecon.env").read_text()
    assert re.search(r'^export OPS_TOKENS="\$\{OPS_TOKENS:-[\w-]{32}\}"$', written, re.M), written
    assert (tmp_path / ".callrecon.env").stat().st_mode & 0o777 == 0o600

    (tmp_path / ".callrecon.env").write_text('export OZONETEL_CALLBACK_TOKENS="${OZONETEL_CALLBACK_TOKENS:-x}"\n')
    for _ in range(2):
        subprocess.run([*make, "console-token"], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert (tmp_path / ".callrecon.env").read_text().count("export OPS_TOKENS=") == 1
    shown = subprocess.run(
        ["bash", "-c", 'source .callrecon.env && echo "${OPS_TOKENS%%,*}"'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert len(shown) == 32  # what make run tells the operator to run shows the token to paste
