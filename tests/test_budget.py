"""The shared rate budget: never more than N calls in any window, across processes; used fully."""

from __future__ import annotations

import datetime as dt

import pytest

from fakes import FakeClock
from receiver.config import RateLimit
from reconciler.core.budget import Budget
from reconciler.core.budget import state as budget_state
from reconciler.core.vendor_http import says_limit_exceeded, stated_limit


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


def test_a_limit_the_vendor_states_shrinks_the_budget_for_every_process_and_survives_ensure(db):
    clock = FakeClock()
    first, second = Budget("lsq", RateLimit(25, 5.0), clock, 1.0), Budget("lsq", RateLimit(25, 5.0), clock, 1.0)
    first.ensure(db)
    assert first.learn(db, RateLimit(10, 5.0)) == RateLimit(10, 5.0)
    second.ensure(db)  # another process (or a restart) with the configured 25/5s
    assert db.execute("SELECT count(*) FROM rate_slot WHERE budget = 'lsq'").fetchone() == (10,)
    assert budget_state(db, "lsq")["in_force"] == "10/5s" and budget_state(db, "lsq")["learned"] == "10/5s"
    starts = []
    for n in range(30):
        budget = first if n % 2 else second
        slot = budget.acquire(db)
        starts.append(clock.now())
        budget.release(db, slot)
    assert max_in_window(starts, dt.timedelta(seconds=5)) == 10


def test_a_stated_limit_at_or_above_the_configured_one_changes_nothing(db):
    clock = FakeClock()
    budget = Budget("roomy", RateLimit(25, 5.0), clock, 1.0)
    budget.ensure(db)
    assert budget.learn(db, RateLimit(40, 5.0)) == RateLimit(25, 5.0)
    assert db.execute("SELECT count(*) FROM rate_slot WHERE budget = 'roomy'").fetchone() == (25,)
    Budget("roomy", RateLimit(5, 5.0), clock, 1.0).ensure(db)  # the operator configures less: that wins
    assert budget_state(db, "roomy")["in_force"] == "5/5s"


def test_a_pause_without_retry_after_lasts_one_period_of_the_limit_in_force(db):
    clock = FakeClock()
    budget = Budget("slow", RateLimit(25, 5.0), clock, 1.0)
    budget.ensure(db)
    budget.learn(db, RateLimit(1, 60.0))
    budget.pause(db, None)
    assert db.execute("SELECT paused_until FROM rate_budget WHERE name = 'slow'").fetchone()[
        0
    ] == clock.now() + dt.timedelta(seconds=60)


@pytest.mark.parametrize(
    "text,limit",
    [
        ("API calls exceeded the limit of 10 in 5 second(s)", RateLimit(10, 5.0)),
        (
            '{"Status":"Error","ExceptionType":"MXAPIRateLimitExceededException",'
            '"ExceptionMessage":"API calls exceeded the limit of 25 in 5 second(s)"}',
            RateLimit(25, 5.0),
        ),
        ("Rate limit exceeded: limit of 100 requests per minute", RateLimit(100, 60.0)),
        ("Too Many Requests", None),
    ],
)
def test_rate_limit_messages_are_recognised_and_their_limit_read(text, limit):
    assert says_limit_exceeded(text)
    assert stated_limit(text) == limit


@pytest.mark.parametrize("text", ["Invalid API key", "The API call was made with invalid access credentials."])
def test_other_403_messages_are_not_rate_limits(text):
    assert not says_limit_exceeded(text) and stated_limit(text) is None
