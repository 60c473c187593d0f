"""`callrecon land`: land deferred raw callbacks, once or until SIGTERM, standing aside during bursts."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

import psycopg

from receiver.landing.bursts import BurstWatch
from receiver.landing.replay import BATCH as REPLAY_BATCH
from receiver.landing.replay import BatchSizer, replay
from receiver.signals import install_stop_signals

log = logging.getLogger("callrecon.land")
# While a burst lasts the lander looks at the arrival rate this often: it notices the burst's end one
# or two looks after it, and typed rows wait that much longer. A look is two index probes.
BURST_LOOK_S = 0.05


def watch_parent(pid: int, stop: threading.Event) -> None:
    """Set `stop` once process `pid` is gone: a lander the web server started must not outlive it."""

    def run():
        while not stop.wait(1.0):
            if os.getppid() != pid:
                log.warning("the web server that started this lander is gone; stopping", extra={"fields": {"pid": pid}})
                stop.set()

    threading.Thread(target=run, name="parent-watch", daemon=True).start()


def land(
    conn,
    settings,
    pushes: dict,
    *,
    follow: bool,
    interval: float,
    yield_above: float,
    max_lag: float,
    parent_pid: int | None = None,
) -> int:
    """Land what is pending on `conn` (closed at the end). Once: one JSON summary line, even of nothing;
    following: a line per pass that landed something, so an idle lander stays quiet."""
    stop = threading.Event()
    install_stop_signals(stop)
    if parent_pid:
        watch_parent(parent_pid, stop)
    watch = BurstWatch(yield_above, max_lag) if follow and yield_above > 0 else None
    waiting = False
    sizer = BatchSizer()  # fewer rows per batch when callbacks carry many records (lock-table space)
    while True:
        try:
            if watch is not None and watch.should_wait(conn):
                if not waiting:
                    log.info(
                        "callbacks arriving in a burst; landing waits until it ends",
                        extra={"fields": {"per_second": round(watch.rate), "max_lag_s": max_lag}},
                    )
                waiting = True
                if stop.wait(min(interval, BURST_LOOK_S)):
                    conn.close()
                    return 0
                continue
            waiting = False
            started = time.monotonic()
            # Following, a pass lands at most REPLAY_BATCH rows (one or more batches): the burst watch
            # is asked again soon.
            report = replay(
                conn, settings, pushes, pending_only=True, limit=REPLAY_BATCH if follow else None, sizer=sizer
            )
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
            # Two landers whose batches share calls can deadlock on them (docs/scaling.md); PostgreSQL
            # rolls one batch back. The database is fine and nothing was lost: land again at once.
            log.info(
                "landing batch rolled back by PostgreSQL (%s with another writer); landing it again",
                type(exc).__name__,
                extra={"fields": {"error": type(exc).__name__}},
            )
            continue
        except psycopg.errors.OutOfMemory as exc:
            # "out of shared memory": the batch's call locks did not fit PostgreSQL's lock table beside
            # the other sessions' locks. The batch is rolled back; land in smaller ones from now on.
            sizer.shrink()
            log.warning(
                "PostgreSQL ran out of lock space landing a batch; landing at most %d records per batch now "
                "(raise max_locks_per_transaction if this repeats)",
                sizer.records_cap,
                extra={"fields": {"error": type(exc).__name__, "records_per_batch": sizer.records_cap}},
            )
            continue
        except psycopg.OperationalError as exc:
            # The database went away: keep the process, retry when it is back.
            log.warning("database unavailable; retrying", extra={"fields": {"error": type(exc).__name__}})
            conn.close()
            if stop.wait(interval * 10):
                return 0
            try:
                conn = psycopg.connect(settings.database_url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError:
                pass
            continue
        if report.total or not follow:
            summary = {
                "landed_callbacks": report.total,
                "by_status": dict(report.by_status),
                "seconds": round(time.monotonic() - started, 3),
            }
            # One write per line: the web server's landers share its log, and print() writes the
            # newline apart, so two landers' lines could run together.
            sys.stdout.write(json.dumps(summary) + "\n")
            sys.stdout.flush()
        if not follow or stop.wait(0 if report.total else interval):
            conn.close()
            return 0
