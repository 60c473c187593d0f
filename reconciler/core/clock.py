"""Time for the reconciler, injectable so tests run without sleeping."""

from __future__ import annotations

import datetime as dt
import threading


class SystemClock:
    """Wall-clock UTC time; sleeping wakes early when the stop event is set."""

    def __init__(self, stop: threading.Event | None = None):
        self.stop = stop or threading.Event()

    def now(self) -> dt.datetime:
        """Current UTC time (aware)."""
        return dt.datetime.now(dt.timezone.utc)

    def sleep(self, seconds: float) -> None:
        """Wait, unless asked to stop."""
        if seconds > 0:
            self.stop.wait(seconds)
