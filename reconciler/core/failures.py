"""One failure policy for every reconciler source: how long to wait after a failed vendor call,
and when to stop trying.

Every failed call counts one try on its item. The wait doubles from `first` up to `cap`, with
jitter (half to full interval) so that items that failed together do not all come back together
and spend the budget in one burst. An item gives up, with its last reason, after `max_tries`
failed calls or once the vendor can no longer answer for it (its horizon: the Ozonetel window's
age, the Huawei recording link's expiry, LeadSquared's own ~10 h of retries). Nothing may spend a
vendor's rate budget for ever.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass


def retry_delay(attempt: int, first: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter (half to full interval) for the attempt-th failure."""
    return min(cap, first * 2 ** max(attempt - 1, 0)) * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Verdict:
    """What to do with an item after a failed call: try again at `next_at`, or give up."""

    give_up: bool
    next_at: dt.datetime
    why: str  # appended to the item's last error when it gives up; empty otherwise


@dataclass(frozen=True)
class FailurePolicy:
    """Backoff and give-up rule of one source; `setting` names the variable that sets max_tries."""

    first: float
    cap: float
    max_tries: int
    setting: str

    def after_failure(
        self, tries: int, now: dt.datetime, rng: random.Random, horizon_at: dt.datetime | None = None
    ) -> Verdict:
        """The verdict once an item has failed `tries` calls in all (this one included)."""
        if tries >= self.max_tries:
            return Verdict(True, now, f"gave up after {tries} failed tries ({self.setting}={self.max_tries})")
        if horizon_at is not None and now >= horizon_at:
            return Verdict(True, now, f"gave up: past the vendor's horizon ({horizon_at:%Y-%m-%d %H:%M} UTC)")
        next_at = now + dt.timedelta(seconds=retry_delay(tries, self.first, self.cap, rng))
        if horizon_at is not None:
            next_at = min(next_at, horizon_at)
        return Verdict(False, next_at, "")
