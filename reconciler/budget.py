"""One call budget per vendor, shared by every reconciler process through Postgres.

N calls per period are N slots (table rate_slot). A call takes a slot whose `free_at` has
passed; when the call finishes the slot is freed one full period later. The vendor therefore
never sees more than N calls in any window of one period, however many processes run, and a
slot is idle only while its period runs: the budget is used fully.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading

ENSURE_BUDGET = """
INSERT INTO rate_budget (name, calls, period_ms) VALUES (%(name)s, %(calls)s, %(period_ms)s)
ON CONFLICT (name) DO UPDATE SET calls = EXCLUDED.calls, period_ms = EXCLUDED.period_ms, updated_at = now()
WHERE (rate_budget.calls, rate_budget.period_ms) IS DISTINCT FROM (EXCLUDED.calls, EXCLUDED.period_ms)
"""
ADD_SLOTS = """
INSERT INTO rate_slot (budget, slot) SELECT %(name)s, n FROM generate_series(0, %(calls)s - 1) AS n
ON CONFLICT DO NOTHING
"""
DROP_EXTRA_SLOTS = "DELETE FROM rate_slot WHERE budget = %(name)s AND slot >= %(calls)s"

TAKE_SLOT = """
UPDATE rate_slot s SET free_at = %(held_until)s, holder = %(holder)s
FROM (
    SELECT slot FROM rate_slot
    WHERE budget = %(name)s AND free_at <= %(now)s
      AND (SELECT paused_until FROM rate_budget WHERE name = %(name)s) <= %(now)s
    ORDER BY free_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) AS pick
WHERE s.budget = %(name)s AND s.slot = pick.slot
RETURNING s.slot
"""
NEXT_FREE = """
SELECT GREATEST(
    (SELECT min(free_at) FROM rate_slot WHERE budget = %(name)s),
    (SELECT paused_until FROM rate_budget WHERE name = %(name)s))
"""
FREE_SLOT = "UPDATE rate_slot SET free_at = %(free_at)s WHERE budget = %(name)s AND slot = %(slot)s"
PAUSE = """
UPDATE rate_budget SET paused_until = GREATEST(paused_until, %(until)s), updated_at = now()
WHERE name = %(name)s
"""
MAX_WAIT_STEP = 1.0


class Stopped(Exception):
    """The process was asked to stop while waiting for the budget."""


class Budget:
    """A shared budget of `limit` calls; use `with budget.call(conn):` around each vendor call."""

    def __init__(self, name: str, limit, clock, call_timeout: float):
        self.name, self.limit, self.clock = name, limit, clock
        self.period = dt.timedelta(seconds=limit.period)
        # While a call runs its slot stays taken for period + the call's timeout, so a process
        # killed mid-call frees it by itself and a slow call can never overlap the slot's next use.
        self.hold = self.period + dt.timedelta(seconds=call_timeout)
        self.holder_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def ensure(self, conn) -> None:
        """Create or resize the budget's slots to match the configured limit."""
        params = {"name": self.name, "calls": self.limit.calls, "period_ms": int(self.limit.period * 1000)}
        with conn.transaction():
            conn.execute(ENSURE_BUDGET, params)
            conn.execute(ADD_SLOTS, params)
            conn.execute(DROP_EXTRA_SLOTS, params)

    def acquire(self, conn, stop: threading.Event | None = None) -> int:
        """Take a slot, waiting as long as the budget requires; returns the slot number."""
        holder = f"{self.holder_prefix}:{threading.get_ident()}"
        while True:
            if stop is not None and stop.is_set():
                raise Stopped()
            now = self.clock.now()
            row = conn.execute(TAKE_SLOT, {"name": self.name, "now": now, "holder": holder,
                                           "held_until": now + self.hold}).fetchone()
            if row:
                return row[0]
            next_free = conn.execute(NEXT_FREE, {"name": self.name}).fetchone()[0]
            if next_free is None:
                raise RuntimeError(f"rate budget {self.name!r} has no slots: call ensure() first")
            self.clock.sleep(min(max((next_free - now).total_seconds(), 0.001), MAX_WAIT_STEP))

    def release(self, conn, slot: int) -> None:
        """Free the slot one period after the call finished (so the vendor saw it within the period)."""
        conn.execute(FREE_SLOT, {"name": self.name, "slot": slot, "free_at": self.clock.now() + self.period})

    def pause(self, conn, seconds: float | None) -> None:
        """Stop every process from calling for `seconds` (Retry-After), or one period if unknown."""
        delay = dt.timedelta(seconds=seconds) if seconds is not None else self.period
        conn.execute(PAUSE, {"name": self.name, "until": self.clock.now() + delay})
