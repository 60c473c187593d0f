"""The overview's chart of callbacks per push source over the last day, each closed bin counted once.

Counting a day of raw callbacks on every view reads every row of the day: 130 to 230 ms at
bench/scale's 10M calls, where the day's rows are no longer in PostgreSQL's cache, and it grows
with the day's volume. But a 15-minute bin that has closed does not change: received_at is set
once, at receipt, and nothing removes a raw row in its first day (prune drops whole weeks past
the retention age). So each app keeps the counts of closed bins, and a view counts only the bins
since the last one kept. A bin is kept once it closed SETTLE_S ago, longer than a receiving
transaction runs, so a callback committed just after the boundary is still in its count.

Bins are aligned to the quarter-hours of the clock (UTC), so a kept bin means the same on every
view; the chart's last bin is the current, partial one.
"""

from __future__ import annotations

import datetime as dt
import threading

BIN_S = 900
BINS = 86400 // BIN_S
SETTLE_S = 120

# raw_inbox_source_received_idx: the range since the first bin not kept yet, in the week partitions it spans.
COUNTS = """
SELECT source, floor(extract(epoch FROM received_at) / %(bin)s)::bigint AS bin, count(*) AS n
FROM raw_inbox
WHERE source = ANY(%(sources)s) AND received_at >= %(since)s AND received_at <= %(now)s
GROUP BY 1, 2
"""


class KeptBins:
    """Counts of closed bins, per (source, bin); every bin before `through` is kept (absent: none came)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, int], int] = {}
        self.through: int | None = None


def per_bin(conn, moment: dt.datetime, sources: list[str], kept: KeptBins) -> dict[str, list[int]]:
    """Callbacks per source in each of the BINS quarter-hours up to `moment`, oldest first."""
    now_bin = int(moment.timestamp() // BIN_S)
    first = now_bin - BINS + 1
    settled = int((moment.timestamp() - SETTLE_S) // BIN_S)  # bins before this one closed SETTLE_S ago
    with kept.lock:
        if kept.through is not None and kept.through > settled:  # the clock went back (a test's, or NTP's)
            kept.counts.clear()
            kept.through = None
        start = max(first, kept.through or first)
    since = dt.datetime.fromtimestamp(start * BIN_S, dt.timezone.utc)
    counted = {
        (source, b): n
        for source, b, n in conn.execute(
            COUNTS, {"bin": BIN_S, "sources": sources, "since": since, "now": moment}
        ).fetchall()
    }
    with kept.lock:
        for b in range(start, settled):
            for source in sources:
                if n := counted.get((source, b)):
                    kept.counts[(source, b)] = n
        kept.through = max(kept.through or 0, settled)
        for key in [k for k in kept.counts if k[1] < first]:
            del kept.counts[key]
        return {
            source: [
                counted.get((source, b), 0) if b >= start else kept.counts.get((source, b), 0)
                for b in range(first, now_bin + 1)
            ]
            for source in sources
        }
