"""`callrecon reconcile`: run sources once or in a loop, stop cleanly on SIGTERM, show progress."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time

from reconciler.core.clock import SystemClock
from reconciler.core.run import run_source
from reconciler.sources import SOURCES

log = logging.getLogger("callrecon.reconciler")
PROGRESS_LOG_EVERY = 10.0


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


def install_stop_signals(stop: threading.Event) -> dict:
    """SIGTERM/SIGINT: finish the item in hand, then exit; returns the handlers it replaced."""

    def handler(signum, frame):
        log.info("stop requested", extra={"fields": {"signal": signal.Signals(signum).name}})
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def selected_sources(name: str, settings):
    """(sources to run, messages for skipped ones, misconfiguration messages)."""
    names = list(SOURCES) if name == "all" else [name]
    run, skipped, broken = [], [], []
    for source_name in names:
        sources = [source_class(settings) for source_class in SOURCES[source_name]]
        problems = sources[0].problems()
        if not problems:
            run.extend(sources)
        elif name == "all" and not sources[0].is_configured():
            skipped.append(f"{source_name}: not configured, skipped")
        else:
            broken.append(f"{source_name}: " + "; ".join(problems))
    return run, skipped, broken


def reconcile(
    settings, *, source: str, loop: bool, interval: float, limit, concurrency: int, stop=None, since=None
) -> int:
    """Run the chosen sources; exit code 0 ok, 1 a run failed, 2 misconfigured."""
    stop = stop or threading.Event()
    clock = SystemClock(stop)
    sources, skipped, broken = selected_sources(source, settings)
    for message in skipped:
        print(message, file=sys.stderr)
    if broken:
        for message in broken:
            print(f"callrecon: {message}", file=sys.stderr)
        return 2
    previous = install_stop_signals(stop)
    try:
        return _passes(settings, sources, stop, clock, loop, interval, limit, concurrency, since)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _passes(settings, sources, stop, clock, loop, interval, limit, concurrency, since) -> int:
    """One pass over every source, repeated every `interval` seconds with --loop."""
    exit_code = 0
    while True:
        for src in sources:
            if stop.is_set():
                break
            progress = Progress(src.name)
            result = run_source(
                src,
                settings.database_url,
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
