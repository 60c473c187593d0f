"""What operators plug into their own monitoring: docs/prometheus-alerts.yml and docs/grafana-dashboard.json.

Every metric they name must be one /metrics exports (read from a live scrape, not from a list kept
here), and Debian's promtool (which `make test` installs) checks the rules and runs their unit tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import OZONETEL_TOKEN, ROOT, fixture_bytes

ALERTS = ROOT / "docs" / "prometheus-alerts.yml"
ALERT_TESTS = ROOT / "docs" / "prometheus-alerts.test.yml"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
NAME = re.compile(r"\b(callrecon_[a-z0-9_]+)\b")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "gauge": ("",),
}


def exported(client) -> set[str]:
    """Every series name /metrics can carry, from its families' names and types."""
    text = client.get("/metrics").get_data(as_text=True)
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def named_in(text: str) -> set[str]:
    return set(NAME.findall(text))


@pytest.fixture
def scraped(client, db):
    """A scrape after one callback and with a rate budget in place, so each family has its samples."""
    client.post(
        f"/callbacks/ozonetel/{OZONETEL_TOKEN}",
        data=fixture_bytes("ozonetel", "call_details__single.json"),
        content_type="application/json",
    )
    db.execute("INSERT INTO rate_budget (name, calls, period_ms) VALUES ('ozonetel', 10, 60000)")
    return exported(client)


def test_every_metric_the_alert_rules_name_is_exported(scraped):
    named = named_in(ALERTS.read_text())
    assert named and named <= scraped, sorted(named - scraped)
    alerts = set(re.findall(r"alert: (\w+)", ALERTS.read_text()))
    # the list: silence, backlog age, failing items, budget exhaustion, a receiver not ready
    assert {
        "CallreconSourceSilent",
        "CallreconLandingBacklogOld",
        "CallreconReconcileItemsFailing",
        "CallreconRateBudgetExhausted",
        "CallreconReceiverNotReady",
    } <= alerts


def test_every_metric_the_grafana_dashboard_queries_is_exported(scraped):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = set().union(*(named_in(e) for e in exprs))
    assert named and named <= scraped, sorted(named - scraped)


def test_the_new_gauges_read_work_budget_and_readiness(client, db):
    db.execute("INSERT INTO rate_budget (name, calls, period_ms) VALUES ('ozonetel', 10, 60000)")
    db.execute(
        "INSERT INTO reconcile_run (source, started_at, finished_at, outcome, counts) "
        "VALUES ('ozonetel', now() - interval '10 minutes', now(), 'ok', '{\"requested\": 150, \"failed\": 30}')"
    )
    db.execute(
        "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state, last_error) "
        "VALUES ('c', now() - interval '2 hours', now() - interval '1 hour', 'timed-out', 'no push')"
    )
    text = client.get("/metrics").get_data(as_text=True)
    assert 'callrecon_rate_budget_used_ratio{budget="ozonetel"} 0.3' in text  # 180 of 600 an hour
    assert 'callrecon_reconcile_failing{source="ozonetel"} 1.0' in text
    assert 'callrecon_reconcile_open{source="ozonetel"} 1.0' in text
    assert "callrecon_ready 1.0" in text


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian package prometheus) is not installed")
def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    for args in (["check", "rules", ALERTS.name], ["test", "rules", ALERT_TESTS.name]):
        done = subprocess.run(["promtool", *args], cwd=ALERTS.parent, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_documented_callback_outcomes_are_the_ones_metrics_counts(client, env):
    """docs/operations.md lists callrecon_callbacks_total's outcomes; the code counts those and no other."""
    from receiver import create_app
    from receiver.config import Settings
    from receiver.vendors import VENDORS
    from receiver.web import metrics

    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    paragraph = text.split("`callrecon_callbacks_total{source,outcome}`", 1)[1].split("\n  - `", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", paragraph)) - {"LANDING_MODE"}
    assert documented == set(metrics.OUTCOMES)

    url = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"
    client.post(url, data=fixture_bytes("ozonetel", "call_details__single.json"), content_type="application/json")
    client.post(url, data=b"{not json", content_type="application/json")
    client.post(
        url, data=b'{"status":"success","message":"Data processing","uniqueId":"u1"}', content_type="application/json"
    )
    client.post("/callbacks/ozonetel/wrong-token", data=b"{}", content_type="application/json")
    deferred = create_app(
        Settings.from_env({**env, "LANDING_MODE": "deferred", "LANDER": "separate", "MAX_BODY_BYTES": "1024"}, VENDORS)
    )
    try:
        deferred.test_client().post(url, data=b'{"monitorUCID":"1"}', content_type="application/json")
        deferred.test_client().post(url, data=b"[" + b" " * 2000 + b"]", content_type="application/json")
    finally:
        deferred.extensions["callrecon_pool"].close()
    counted = {
        sample.labels["outcome"]
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
        if family.name == "callrecon_callbacks"
        for sample in family.samples
        if sample.name == "callrecon_callbacks_total" and sample.value > 0
    }
    assert {"stored", "landed", "note", "quarantined", "unauthorized", "too_large"} <= counted <= documented
    with pytest.raises(ValueError, match="undocumented callback outcome"):
        metrics.observe("ozonetel", "dropped", 0.001)
