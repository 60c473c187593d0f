"""Prometheus metrics, safe under gunicorn's several worker processes.

Under gunicorn the config sets PROMETHEUS_MULTIPROC_DIR before any worker imports this module,
so every process writes its samples to files and /metrics sums them (prometheus-client's
multiprocess mode). Without it (tests, `flask run`) the default in-process registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# Every outcome callrecon_callbacks_total counts (docs/operations.md lists them; a test compares):
OUTCOMES = {
    "stored": "the raw body committed, to be landed by the lander (LANDING_MODE=deferred, the default)",
    "landed": "stored and landed in typed rows in the request (LANDING_MODE=inline)",
    "note": "stored and kept as a vendor's status notice, no call in it (inline)",
    "quarantined": "stored, but it could not be landed (inline): callrecon replay after a fix",
    "unauthorized": "wrong or missing URL token: 401, nothing stored",
    "too_large": "a body over MAX_BODY_BYTES: 413, nothing stored",
    "db_unavailable": "the database did not take the body: 503, nothing stored, the vendor should retry",
}
CALLBACKS = Counter("callrecon_callbacks_total", "Callback requests by source and outcome.", ["source", "outcome"])
RECORDS_LANDED = Counter("callrecon_records_landed_total", "Records landed in typed tables, by source.", ["source"])
RECORDS_QUARANTINED = Counter(
    "callrecon_records_quarantined_total", "Records (or undecodable bodies) quarantined, by source.", ["source"]
)
APIKEY_CHECKS = Counter(
    "callrecon_apikey_checks_total",
    "Pushed records by the result of comparing their Apikey with the configured "
    "key: match, mismatch (quarantined, never landed) or absent (landed).",
    ["source", "result"],
)
CALLBACK_SECONDS = Histogram(
    "callrecon_callback_seconds",
    "Time to store and land one callback, by source.",
    ["source"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class _Read:
    """A one-off collector over gauge families already read from the database."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        yield from self.families


def exposition_of(families) -> bytes:
    """Prometheus text for gauge families read at this scrape (outside the process-wide registry, which
    multiprocess mode would sum across workers)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Read(list(families)))
    return generate_latest(registry)


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _child(metric, *labels):
    """metric.labels(*labels), kept: the lookup cost more than the increment on every callback (profiled)."""
    key = (metric, labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    return child


_CHILDREN: dict = {}


def observe(source: str, outcome: str, seconds: float, landed: int = 0, quarantined: int = 0) -> None:
    """Count one callback's outcome (one of OUTCOMES: a new one is documented first)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"undocumented callback outcome {outcome!r}: add it to metrics.OUTCOMES and the docs")
    _child(CALLBACKS, source, outcome).inc()
    _child(CALLBACK_SECONDS, source).observe(seconds)
    if landed:
        _child(RECORDS_LANDED, source).inc(landed)
    if quarantined:
        _child(RECORDS_QUARANTINED, source).inc(quarantined)


def observe_apikeys(source: str, check: dict) -> None:
    """Count one callback's Apikey verdicts."""
    mismatch, absent = len(check["mismatch"]), len(check["absent"])
    for result, count in (("mismatch", mismatch), ("absent", absent)):
        if count:
            _child(APIKEY_CHECKS, source, result).inc(count)
    matched = check["checked"] - mismatch - absent
    if matched > 0:
        _child(APIKEY_CHECKS, source, "match").inc(matched)
