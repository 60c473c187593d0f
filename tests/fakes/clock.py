"""An injectable clock: time that moves only when told to."""

from __future__ import annotations

import datetime as dt
import threading


class FakeClock:
    """Time that moves only when told to (or when the code under test sleeps)."""

    def __init__(self, start=dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)):
        self.t = start
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += dt.timedelta(seconds=seconds)


def pause(seconds: float) -> None:
    """A real-time wait for loopback I/O (a push thread, a server starting), never for the clock under test.

    threading.Event().wait rather than time.sleep: under libfaketime with the monotonic clock left
    real (docs/testing.md), time.sleep fails with EINVAL, and the suite must run at a faked hour.
    """
    threading.Event().wait(seconds)
