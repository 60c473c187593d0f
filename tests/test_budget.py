"""The shared rate budget: never more than N calls in any window, across processes; used fully."""

from __future__ import annotations

import datetime as dt

from fakes import FakeClock
from receiver.settings import RateLimit
from reconciler.budget import Budget


def max_in_window(times, period):
    """Largest number of times inside any half-open window of length `period`."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_two_processes_sharing_a_budget_never_exceed_it_and_use_it_fully(db):
    clock = FakeClock()
    limit = RateLimit(5, 2.0)
    first, second = Budget("test", limit, clock, call_timeout=1.0), Budget("test", limit, clock, call_timeout=1.0)
    first.ensure(db)
    second.ensure(db)
    starts = []
    for n in range(40):  # the two "processes" take turns, each call lasting 0.1 s
        budget = first if n % 2 else second
        slot = budget.acquire(db)
        starts.append(clock.now())
        clock.advance(0.1)
        budget.release(db, slot)
    period = dt.timedelta(seconds=2)
    assert max_in_window(starts, period) == 5
    elapsed = (starts[-1] - starts[0]).total_seconds()
    # 40 calls at 5 per 2 s (plus 0.1 s per call of holding) take about 16 s: the budget is not left idle
    assert 14.0 <= elapsed <= 17.5


def test_resizing_the_budget_adds_and_drops_slots(db):
    clock = FakeClock()
    Budget("resize", RateLimit(10, 1.0), clock, 1.0).ensure(db)
    assert db.execute("SELECT count(*) FROM rate_slot WHERE budget = 'resize'").fetchone() == (10,)
    Budget("resize", RateLimit(3, 1.0), clock, 1.0).ensure(db)
    assert db.execute("SELECT count(*), max(slot) FROM rate_slot WHERE budget = 'resize'").fetchone() == (3, 2)


def test_a_pause_holds_every_caller_until_it_ends(db):
    clock = FakeClock()
    budget = Budget("paused", RateLimit(100, 1.0), clock, 1.0)
    budget.ensure(db)
    t0 = clock.now()
    budget.pause(db, 7)
    budget.acquire(db)
    assert clock.now() >= t0 + dt.timedelta(seconds=7)


def test_a_slot_taken_by_a_process_that_died_frees_itself(db):
    clock = FakeClock()
    budget = Budget("dead", RateLimit(1, 1.0), clock, call_timeout=3.0)
    budget.ensure(db)
    t0 = clock.now()
    budget.acquire(db)  # ... and the process dies without release()
    budget.acquire(db)
    assert clock.now() >= t0 + dt.timedelta(seconds=4)
