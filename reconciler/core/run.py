"""The reconciler core every vendor source runs on: claim an item, take a budget slot, call the
vendor, land the answer, commit; record the run.

Claiming is `SELECT ... FOR UPDATE SKIP LOCKED` inside the item's transaction: two processes
never work on the same item, and a process that dies releases its items with its session. The
item's new state and next poll time commit in that same transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from receiver.database.connect import Connector, connector
from reconciler.core import blocks
from reconciler.core.budget import Budget, Stopped
from reconciler.core.source import Source
from reconciler.core.vendor_http import Misconfigured, RateLimited, Unauthorized, VendorError

log = logging.getLogger("callrecon.reconciler")

START_RUN = """
INSERT INTO reconcile_run (source, started_at, host, pid) VALUES (%(source)s, %(now)s, %(host)s, %(pid)s)
RETURNING id
"""
FINISH_RUN = """
UPDATE reconcile_run SET finished_at = %(now)s, outcome = %(outcome)s, counts = %(counts)s, error = %(error)s
WHERE id = %(id)s
"""


@dataclass
class RunResult:
    """What one run of one source did."""

    source: str
    run_id: int
    outcome: str
    counts: Counter = field(default_factory=Counter)
    error: str | None = None


class Run:
    """Shared state of one run: counts, limit, stop and abort signals across worker threads."""

    def __init__(self, run_id: int, stop: threading.Event, limit: int | None, progress=None):
        self.id, self.stop, self.limit, self.progress = run_id, stop, limit, progress
        self.counts: Counter = Counter()
        self.taken = 0
        self.error: str | None = None
        self.source_stop: tuple[str, str] | None = None  # (vendor's words, fix) when credentials or URL are wrong
        self.limited = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Reserve one item of the --limit; False once it is used up or we must stop."""
        with self._lock:
            if self.stop.is_set() or self.error:
                return False
            if self.limit is not None and self.taken >= self.limit:
                self.limited = True
                return False
            self.taken += 1
            return True

    def untake(self) -> None:
        """Give back a reservation that found no item."""
        with self._lock:
            self.taken -= 1

    def count(self, outcome: str) -> None:
        """Count one item's outcome and report progress."""
        with self._lock:
            self.counts[outcome] += 1
            counts = Counter(self.counts)
        if self.progress:
            self.progress(counts)

    def fail(self, message: str) -> None:
        """Abort the run for every thread with one operator message."""
        with self._lock:
            if not self.error:
                self.error = message


def run_source(
    source: Source,
    database,
    clock,
    *,
    stop: threading.Event,
    limit=None,
    concurrency: int = 1,
    progress=None,
    since=None,
) -> RunResult:
    """Work through every due item of one source, `concurrency` items at a time (database: a URL or a Connector)."""
    database = connector(database)
    budget = Budget(source.budget_name, source.rate_limit, clock, source.call_timeout)
    with database.connect() as conn:
        budget.ensure(conn)
        run_id = conn.execute(
            START_RUN, {"source": source.name, "now": clock.now(), "host": socket.gethostname(), "pid": os.getpid()}
        ).fetchone()[0]
        run = Run(run_id, stop, limit, progress)
        problems = source.problems()
        if problems:
            run.fail("; ".join(problems))
        else:
            source.prepare(conn, clock.now(), since)
            threads = [
                threading.Thread(
                    target=_worker,
                    args=(source, database, budget, run, clock),
                    name=f"{source.name}-{n}",
                    daemon=True,
                )
                for n in range(concurrency)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        outcome = "failed" if run.error else "stopped" if (stop.is_set() or run.limited) else "ok"
        _stop_or_lift(conn, source, run, clock)
        conn.execute(
            FINISH_RUN,
            {
                "id": run_id,
                "now": clock.now(),
                "outcome": outcome,
                "counts": Jsonb(dict(run.counts)),
                "error": run.error,
            },
        )
    return RunResult(source.name, run_id, outcome, run.counts, run.error)


def _stop_or_lift(conn, source: Source, run: Run, clock) -> None:
    """Record the stop a refused credential or URL puts on the whole source, or lift it once a call went through."""
    if run.source_stop:
        reason, fix = run.source_stop
        blocks.record(conn, source.name, "source", "", reason=reason, fix=fix, config="", now=clock.now(), recheck=0)
    elif not run.error and run.counts:
        blocks.lift(conn, source.name, "source")  # a call went through: the credentials work again


def _worker(source: Source, database: Connector, budget: Budget, run: Run, clock) -> None:
    """One thread: items one at a time until none is due, the limit is reached, or we must stop."""
    try:
        with (
            database.connect() as conn,
            database.connect() as budget_conn,
        ):
            while run.take():
                if not _one_item(source, conn, budget_conn, budget, run, clock):
                    run.untake()
                    return
    except psycopg.OperationalError as exc:
        run.fail(f"database connection failed ({str(exc).strip().splitlines()[0]}): check DATABASE_URL")
    except Exception as exc:  # a bug: stop this run loudly rather than spin on one item
        log.exception("reconciler worker failed")
        run.fail(f"internal error {type(exc).__name__}: see the log")


def _one_item(source: Source, conn, budget_conn, budget: Budget, run: Run, clock) -> bool:
    """Claim, call and land one item in one transaction; False when nothing is due."""
    outcome = None
    with conn.transaction():
        item = source.claim(conn, clock.now())
        if item is None:
            return False
        try:
            slot = budget.acquire(budget_conn, run.stop)
        except Stopped:
            raise psycopg.Rollback() from None
        try:
            try:
                payload = source.fetch(item, clock.now())
            finally:
                # The slot rests from the end of the vendor call, not of the landing: the vendor
                # has answered, and landing a large page must not eat into its budget.
                budget.release(budget_conn, slot)
        except (Unauthorized, Misconfigured) as exc:
            run.source_stop = (str(exc), source.explain(exc))
            run.fail(source.explain(exc))
            raise psycopg.Rollback() from None  # the item is untouched: no attempt burned on a config error
        except RateLimited as exc:
            _slow_down(source, budget, budget_conn, exc)
            run.count("rate-limited")
            raise psycopg.Rollback() from None  # the item stays due and is taken again after the pause
        except VendorError as exc:
            outcome = source.failed(conn, item, exc, run.id, clock.now())
        else:
            outcome = source.land(conn, item, payload, clock.now())
    if outcome:
        run.count(outcome)
    return True


def _slow_down(source: Source, budget: Budget, budget_conn, exc: RateLimited) -> None:
    """Pause every process's budget; if the vendor stated a lower limit, keep to it from now on."""
    fields = {"source": source.name, "retry_after": exc.retry_after, "pause_s": exc.wait}
    if exc.limit is not None:
        in_force = budget.learn(budget_conn, exc.limit)
        fields.update(stated_limit=str(exc.limit), limit_in_force=str(in_force))
    budget.pause(budget_conn, exc.wait)
    log.warning("rate limited", extra={"fields": fields})
