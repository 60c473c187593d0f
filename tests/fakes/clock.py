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

