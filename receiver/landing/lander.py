"""`callrecon land`: land deferred raw callbacks, once or until SIGTERM, standing aside during bursts."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import psycopg

from receiver.database.connect import Connector
from receiver.landing.bursts import BurstWatch
from receiver.landing.replay import BATCH as REPLAY_BATCH
from receiver.landing.replay import BatchSizer, replay
from receiver.signals import install_stop_signals

log = logging.getLogger("callrecon.land")
# While a burst lasts the lander looks at the arrival rate this often: it notices the burst's end one
# or two looks after it, and typed rows wait that much longer. A look is two index probes.
BURST_LOOK_S = 0.05
# Following: seconds to wait when nothing is pending; stand aside while more raw callbacks than this
# arrive per second; land anyway once the oldest waiting one is this old (`callrecon land` options).
INTERVAL_S, YIELD_ABOVE_PER_S, MAX_LAG_S = 0.1, 50, 60


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
    return Lander(conn, settings, pushes, follow, interval, max_lag, stop, watch).run()


@dataclass
class Lander:
    """One lander's loop: stand aside while a burst lasts, land a pass, recover from what PostgreSQL says."""

    conn: psycopg.Connection
    settings: object
    pushes: dict
    follow: bool
    interval: float
    max_lag: float
    stop: threading.Event
    watch: BurstWatch | None
    # Fewer rows per batch when callbacks carry many records (lock-table space), learned across passes.
    sizer: BatchSizer = field(default_factory=BatchSizer)
    waiting: bool = False

    def run(self) -> int:
        """Pass after pass until there is nothing more (once) or until asked to stop (following)."""
        while True:
            try:
                if self.bursting():
                    if self.stop.wait(min(self.interval, BURST_LOOK_S)):
                        break
                    continue
                started = time.monotonic()
                # Following, a pass lands at most REPLAY_BATCH rows (one or more batches): the burst watch
                # is asked again soon.
                limit = REPLAY_BATCH if self.follow else None
                report = replay(self.conn, self.settings, self.pushes, pending_only=True, limit=limit, sizer=self.sizer)
            except psycopg.OperationalError as exc:
                if not self.recover(exc):
                    break
                continue
            if report.total or not self.follow:
                summary(report, time.monotonic() - started)
            if not self.follow or self.stop.wait(0 if report.total else self.interval):
                break
        self.conn.close()
        return 0

    def bursting(self) -> bool:
        """True while callbacks arrive in a burst (logged once when one starts): landing waits."""
        if self.watch is None or not self.watch.should_wait(self.conn):
            self.waiting = False
            return False
        if not self.waiting:
            log.info(
                "callbacks arriving in a burst; landing waits until it ends",
                extra={"fields": {"per_second": round(self.watch.rate), "max_lag_s": self.max_lag}},
            )
        self.waiting = True
        return True

    def recover(self, exc: psycopg.OperationalError) -> bool:
        """After a failed pass: True to go on (landing again, in smaller batches, or on a new connection)."""
        if isinstance(exc, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)):
            # Two landers whose batches share calls can deadlock on them (docs/scaling.md); PostgreSQL
            # rolls one batch back. The database is fine and nothing was lost: land again at once.
            log.info(
                "landing batch rolled back by PostgreSQL (%s with another writer); landing it again",
                type(exc).__name__,
                extra={"fields": {"error": type(exc).__name__}},
            )
            return True
        if isinstance(exc, psycopg.errors.OutOfMemory):
            # "out of shared memory": the batch's call locks did not fit PostgreSQL's lock table beside
            # the other sessions' locks. The batch is rolled back; land in smaller ones from now on.
            self.sizer.shrink()
            log.warning(
                "PostgreSQL ran out of lock space landing a batch; landing at most %d records per batch now "
                "(raise max_locks_per_transaction if this repeats)",
                self.sizer.records_cap,
                extra={"fields": {"error": type(exc).__name__, "records_per_batch": self.sizer.records_cap}},
            )
            return True
        # The database went away: keep the process, retry when it is back.
        log.warning("database unavailable; retrying", extra={"fields": {"error": type(exc).__name__}})
        self.conn.close()
        if self.stop.wait(self.interval * 10):
            return False
        try:
            self.conn = Connector.of(self.settings).connect()
        except psycopg.OperationalError:
            pass
        return True


def summary(report, seconds: float) -> None:
    """One JSON line for a pass. One write per line: the web server's landers share its log, and print()
    writes the newline apart, so two landers' lines could run together."""
    line = {"landed_callbacks": report.total, "by_status": dict(report.by_status), "seconds": round(seconds, 3)}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
