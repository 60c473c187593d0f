"""`callrecon reconcile`: run sources once or in a loop, stop cleanly on SIGTERM, show progress."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time

import psycopg

from receiver import ledgers
from receiver.database import connect as pooled
from receiver.database.connect import Connector
from receiver.database.pool import unreachable
from receiver.landing import partitions
from receiver.signals import install_stop_signals
from reconciler import sources as vendor_sources
from reconciler.core.clock import SystemClock
from reconciler.core.run import run_source

log = logging.getLogger("callrecon.reconciler")
PROGRESS_LOG_EVERY = 10.0
# The rollups kept as appended deltas (call_rollup, sql/0023; call_log_latency, sql/0032;
# lsq_failure_daily, sql/0033), folded at each pass.
COMPACT_ROLLUP = "SELECT callrecon_rollup_compact() + callrecon_latency_compact() + callrecon_lsq_failure_compact()"


class Progress:
    """A one-line status on a terminal; a JSON log line every few seconds otherwise."""

    def __init__(self, source: str, stream=None):
        self.source, self.stream = source, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0
        self._lock = threading.Lock()

    def __call__(self, counts) -> None:
        """Report the counts so far (throttled)."""
        now = time.monotonic()
        with self._lock:
            if now - self.last < (0.2 if self.tty else PROGRESS_LOG_EVERY):
                return
            self.last = now
        done = sum(counts.values())
        if self.tty:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            self.stream.write(f"\r{self.source}: {done} items ({detail})\x1b[K")
            self.stream.flush()
        else:
            log.info("progress", extra={"fields": {"source": self.source, "items": done, "counts": dict(counts)}})

    def close(self) -> None:
        """End the terminal status line."""
        if self.tty and self.last:
            self.stream.write("\n")


def selected_sources(name: str, settings, vendors):
    """(sources to run, {name: sources} not configured at all, misconfiguration messages).

    Each source is judged on its own settings: a vendor's sources may be configured apart (Ozonetel's
    dial-status requests and its CDR pull). One with no settings at all is skipped, unless the
    operator named its vendor and none of that vendor's sources can run.
    """
    loaded = vendor_sources.load(vendors)
    names = list(loaded) if name == "all" else [name]
    run, unconfigured, broken = [], {}, []
    for vendor in names:
        sources = [source_class(settings) for source_class in loaded[vendor]]
        problems = {source.name: source.problems() for source in sources}
        ready = [s for s in sources if not problems[s.name]]
        idle = [s for s in sources if problems[s.name] and not s.is_configured()]
        half = [s for s in sources if problems[s.name] and s.is_configured()]
        if idle and not ready and not half and name != "all":
            half, idle = idle, []  # the operator asked for this vendor: say what it lacks
        run.extend(ready)
        if idle:
            unconfigured[vendor if len(idle) == len(sources) else ", ".join(s.name for s in idle)] = idle
        said = {tuple(problems[s.name]) for s in half}
        if half and len(said) == 1 and len(half) == len(sources):
            broken.append(f"{vendor}: " + "; ".join(problems[half[0].name]))
        else:
            broken += [f"{s.name}: " + "; ".join(problems[s.name]) for s in half]
    return run, unconfigured, broken


def database_problem(settings) -> str | None:
    """None when the database answers as DATABASE_POOLER says; else one line naming where we looked (never the
    password) or the setting to change."""
    try:
        pooled.check(Connector.of(settings))
    except psycopg.OperationalError as exc:
        return unreachable(settings.database_url, exc)
    except pooled.BehindPooler as exc:
        return str(exc)
    return None


def waiting_without_configuration(settings, vendors, unconfigured: dict, now) -> list[str]:
    """Sources with no configuration whose ledgers still hold work (e.g. pushed Huawei calls awaiting detail)."""
    found = []
    with Connector.of(settings).connect() as conn:
        for name, sources in unconfigured.items():
            pending = sum(
                int(ledgers.status(conn, vendors.ledgers[source.name], now)["pending"] or 0) for source in sources
            )
            if pending:
                found.append(
                    f"{name}: {pending} items wait for it, but it is not configured: "
                    + "; ".join(sources[0].problems())
                )
    return found


def reconcile(
    settings, vendors, *, source: str, loop: bool, interval: float, limit, concurrency: int, stop=None, since=None
) -> int:
    """Run the chosen sources; exit code 0 ok, 1 a run failed (e.g. credentials refused), 2 configuration or
    database (docs/operations.md, "Exit codes")."""
    stop = stop or threading.Event()
    clock = SystemClock(stop)
    sources, unconfigured, broken = selected_sources(source, settings, vendors)
    problem = database_problem(settings)
    if problem:
        print(f"callrecon: {problem}", file=sys.stderr)
        return 2
    broken += waiting_without_configuration(settings, vendors, unconfigured, clock.now())
    if broken:
        for message in broken:
            print(f"callrecon: {message}", file=sys.stderr)
        return 2
    for name in unconfigured:
        print(f"{name}: not configured and nothing waits for it, skipped", file=sys.stderr)
    if not sources:
        _compact_rollup(settings)
        print("callrecon: nothing is configured to reconcile and nothing waits: nothing to do", file=sys.stderr)
        return 0
    previous = install_stop_signals(stop)
    try:
        return _passes(settings, sources, stop, clock, loop, interval, limit, concurrency, since)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ensure_partitions(settings) -> None:
    """Create the weeks ahead at each pass: a service that runs for months never lets them run out."""
    try:
        with Connector.of(settings).connect() as conn:
            partitions.ensure(conn, settings.partitions_ahead)
    except psycopg.Error as exc:
        # Not a reason to stop reconciling: the default partition still takes every row.
        log.warning(
            "could not create the weekly partitions ahead; run `callrecon db upgrade`",
            extra={"fields": {"error": type(exc).__name__, "detail": str(exc)[:200]}},
        )


def _compact_rollup(settings) -> None:
    """Fold the call rollup's deltas at each pass, so the analyst queries that read it sum few rows (sql/0023)."""
    try:
        with Connector.of(settings).connect() as conn:
            conn.execute(COMPACT_ROLLUP)
    except psycopg.Error as exc:
        # The rollup stays exact without it, only slower to read; not a reason to stop reconciling.
        log.warning(
            "could not compact the call rollup; run `callrecon db upgrade` if migration 0023 is missing",
            extra={"fields": {"error": type(exc).__name__, "detail": str(exc)[:200]}},
        )


def _passes(settings, sources, stop, clock, loop, interval, limit, concurrency, since) -> int:
    """One pass over every source, repeated every `interval` seconds with --loop."""
    exit_code = 0
    while True:
        _ensure_partitions(settings)
        _compact_rollup(settings)
        for src in sources:
            if stop.is_set():
                break
            progress = Progress(src.name)
            result = run_source(
                src,
                Connector.of(settings),
                clock,
                stop=stop,
                limit=limit,
                concurrency=concurrency,
                progress=progress,
                since=since,
            )
            progress.close()
            print(
                json.dumps(
                    {
                        "source": result.source,
                        "run_id": result.run_id,
                        "outcome": result.outcome,
                        "counts": dict(result.counts),
                        "error": result.error,
                    }
                )
            )
            if result.outcome == "failed":
                exit_code = 1
        if not loop or stop.is_set():
            return exit_code
        since = None  # --since re-opens windows once, not on every pass
        clock.sleep(interval)
