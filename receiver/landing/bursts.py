"""When the deferred lander should stand aside: while vendors push a burst, landing waits.

Landing costs several times the CPU of storing (parse, upserts, the outcome update), on the same
cores as the receiver. bench/ingest measured a lander landing as rows arrived cutting what the
receiver acknowledged during a burst; waiting until the burst ends lets the receiver answer
vendors faster, and the lander catches up afterwards. The wait is bounded: once the oldest
pending row is `max_lag_s` old, the lander lands whatever the rate, so typed rows never lag
further than that, and a receiver under load that never ends still gets its rows landed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# The newest raw id (the primary key's last entry) and the age of the oldest row still to land
# (raw_inbox_unlanded_idx). Both are index lookups, cheap enough to ask before every pass.
PENDING_STATE = """
SELECT (SELECT max(id) FROM raw_inbox),
       (SELECT extract(epoch FROM now() - received_at)::float8
        FROM raw_inbox WHERE status = 'received' ORDER BY id LIMIT 1)
"""


class BurstWatch:
    """Tracks the raw-row arrival rate between passes; says when landing should wait."""

    def __init__(self, yield_above: float, max_lag_s: float, clock: Callable[[], float] = time.monotonic):
        self.yield_above, self.max_lag_s, self.clock = yield_above, max_lag_s, clock
        self.last_id: int | None = None
        self.at = 0.0
        self.rate = 0.0

    def should_wait(self, conn) -> bool:
        """True while rows arrive faster than `yield_above` per second and none is `max_lag_s` old."""
        last_id, oldest_age = conn.execute(PENDING_STATE).fetchone()
        last_id, now = last_id or 0, self.clock()
        if self.last_id is None or now <= self.at:
            self.rate = 0.0
        else:
            self.rate = max(last_id - self.last_id, 0) / (now - self.at)
        self.last_id, self.at = last_id, now
        return oldest_age is not None and self.rate > self.yield_above and oldest_age < self.max_lag_s
