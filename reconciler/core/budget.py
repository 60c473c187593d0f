"""One call budget per vendor, shared by every reconciler process through Postgres.

N calls per period are N slots (table rate_slot). A call takes a slot whose `free_at` has
passed; when the call finishes the slot is freed one full period later. The vendor therefore
never sees more than N calls in any window of one period, however many processes run, and a
slot is idle only while its period runs: the budget is used fully.

When the vendor states its own limit in a rate-limit reply ("limit of 10 in 5 second(s)"), that
limit is kept on rate_budget beside the configured one, and the budget in force keeps within
both. It is in Postgres so every process obeys it and a restart with the configured value does
not undo it.
"""

from __future__ import annotations

import os
import socket
import threading

from receiver.config.values import RateLimit

ENSURE_BUDGET = """
INSERT INTO rate_budget (name, calls, period_ms) VALUES (%(name)s, %(calls)s, %(period_ms)s)
ON CONFLICT (name) DO UPDATE SET calls = EXCLUDED.calls, period_ms = EXCLUDED.period_ms, updated_at = now()
WHERE (rate_budget.calls, rate_budget.period_ms) IS DISTINCT FROM (EXCLUDED.calls, EXCLUDED.period_ms)
"""
# Slots, period and hold follow the budget in force (effective_*: the configured limit, or the
# limit the vendor stated when that is lower), so every process obeys a learned limit at once.
ADD_SLOTS = """
INSERT INTO rate_slot (budget, slot)
SELECT b.name, n FROM rate_budget b, generate_series(0, b.effective_calls - 1) AS n WHERE b.name = %(name)s
ON CONFLICT DO NOTHING
"""
DROP_EXTRA_SLOTS = """
DELETE FROM rate_slot
WHERE budget = %(name)s AND slot >= (SELECT effective_calls FROM rate_budget WHERE name = %(name)s)
"""
LEARN = """
UPDATE rate_budget SET learned_calls = %(calls)s, learned_period_ms = %(period_ms)s, learned_at = %(now)s,
    updated_at = now()
WHERE name = %(name)s
RETURNING effective_calls, effective_period_ms
"""
STATE = """
SELECT calls, period_ms, learned_calls, learned_period_ms, learned_at, effective_calls, effective_period_ms,
       paused_until
FROM rate_budget WHERE name = %(name)s
"""

TAKE_SLOT = """
WITH open_budget AS (
    SELECT effective_period_ms FROM rate_budget WHERE name = %(name)s AND paused_until <= %(now)s
)
UPDATE rate_slot s
SET free_at = %(now)s + make_interval(secs => b.effective_period_ms / 1000.0 + %(timeout)s), holder = %(holder)s
FROM open_budget b, (
    SELECT slot FROM rate_slot
    WHERE budget = %(name)s AND free_at <= %(now)s
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
FREE_SLOT = """
UPDATE rate_slot s SET free_at = %(now)s + make_interval(secs => b.effective_period_ms / 1000.0)
FROM rate_budget b
WHERE b.name = %(name)s AND s.budget = b.name AND s.slot = %(slot)s
"""
PAUSE = """
UPDATE rate_budget SET updated_at = now(), paused_until = GREATEST(paused_until,
    %(now)s + COALESCE(make_interval(secs => %(seconds)s::float8), make_interval(secs => effective_period_ms / 1000.0)))
WHERE name = %(name)s
"""
MAX_WAIT_STEP = 1.0


class Stopped(Exception):
    """The process was asked to stop while waiting for the budget."""


class Budget:
    """A shared budget of `limit` calls; use `with budget.call(conn):` around each vendor call."""

    def __init__(self, name: str, limit, clock, call_timeout: float):
        self.name, self.limit, self.clock = name, limit, clock
        # While a call runs its slot stays taken for period + the call's timeout, so a process
        # killed mid-call frees it by itself and a slow call can never overlap the slot's next use.
        self.call_timeout = call_timeout
        self.holder_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def ensure(self, conn) -> None:
        """Create the budget or set its configured limit; a lower limit the vendor stated stays in force."""
        params = {"name": self.name, "calls": self.limit.calls, "period_ms": int(self.limit.period * 1000)}
        with conn.transaction():
            conn.execute(ENSURE_BUDGET, params)
            self._resize(conn)

    def learn(self, conn, stated: RateLimit) -> RateLimit:
        """Keep the limit the vendor stated (e.g. in a 403/429 body) for every process; returns the one in force."""
        with conn.transaction():
            calls, period_ms = conn.execute(
                LEARN,
                {
                    "name": self.name,
                    "calls": stated.calls,
                    "period_ms": int(stated.period * 1000),
                    "now": self.clock.now(),
                },
            ).fetchone()
            self._resize(conn)
        return RateLimit(calls, period_ms / 1000)

    def _resize(self, conn) -> None:
        """Make the slots match the budget in force (drop extra ones, add missing ones)."""
        conn.execute(ADD_SLOTS, {"name": self.name})
        conn.execute(DROP_EXTRA_SLOTS, {"name": self.name})

    def acquire(self, conn, stop: threading.Event | None = None) -> int:
        """Take a slot, waiting as long as the budget requires; returns the slot number."""
        holder = f"{self.holder_prefix}:{threading.get_ident()}"
        while True:
            if stop is not None and stop.is_set():
                raise Stopped()
            now = self.clock.now()
            row = conn.execute(
                TAKE_SLOT, {"name": self.name, "now": now, "holder": holder, "timeout": self.call_timeout}
            ).fetchone()
            if row:
                return row[0]
            next_free = conn.execute(NEXT_FREE, {"name": self.name}).fetchone()[0]
            if next_free is None:
                raise RuntimeError(f"rate budget {self.name!r} has no slots: call ensure() first")
            self.clock.sleep(min(max((next_free - now).total_seconds(), 0.001), MAX_WAIT_STEP))

    def release(self, conn, slot: int) -> None:
        """Free the slot one period after the call finished (so the vendor saw it within the period)."""
        conn.execute(FREE_SLOT, {"name": self.name, "slot": slot, "now": self.clock.now()})

    def pause(self, conn, seconds: float | None) -> None:
        """Stop every process from calling for `seconds` (Retry-After), or one period if unknown."""
        conn.execute(PAUSE, {"name": self.name, "now": self.clock.now(), "seconds": seconds})


def state(conn, name: str) -> dict | None:
    """The budget as configured, as learned from the vendor, and in force; None before its first run."""
    row = conn.execute(STATE, {"name": name}).fetchone()
    if row is None:
        return None
    calls, period_ms, learned_calls, learned_period_ms, learned_at, eff_calls, eff_period_ms, paused = row
    return {
        "configured": str(RateLimit(calls, period_ms / 1000)),
        "learned": None if learned_calls is None else str(RateLimit(learned_calls, learned_period_ms / 1000)),
        "learned_at": learned_at and learned_at.isoformat(),
        "in_force": str(RateLimit(eff_calls, eff_period_ms / 1000)),
        "paused_until": paused.isoformat(),
    }
