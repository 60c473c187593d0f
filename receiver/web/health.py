"""Source silence and the landing backlog, read from the database: for /metrics and `callrecon status`."""

from __future__ import annotations

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry
from psycopg import sql
from psycopg.rows import dict_row

SOURCE_HEALTH = """
SELECT source, extract(epoch FROM silent_for) AS silent_for_s, silent, in_working_hours, quarantined
FROM source_health ORDER BY source
"""


# Raw callbacks a LANDING_MODE=deferred receiver stored and the lander has not parsed yet
# (raw_inbox_unlanded_idx); during a burst the lander waits, up to its --max-lag.
UNLANDED = """
SELECT source, count(*) AS unlanded, extract(epoch FROM now() - min(received_at))::float8 AS oldest_s
FROM raw_inbox WHERE status = 'received' GROUP BY source
"""


# Landing lag: seconds from a callback's receipt to its typed rows (raw_inbox.parsed_at), over the
# callbacks received in the last LAG_WINDOW_S and landed once (a replay's parse is not lag). One
# index range scan per push source on raw_inbox_source_received_idx, however large the table.
LAG_WINDOW_S = 300
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
LANDING_LAG = sql.SQL("""
WITH lags AS (
    SELECT s.source, extract(epoch FROM r.parsed_at - r.received_at)::float8 AS lag
    FROM unnest(%(sources)s::text[]) AS s(source)
    JOIN LATERAL (
        SELECT received_at, parsed_at FROM raw_inbox
        WHERE raw_inbox.source = s.source AND received_at > now() - make_interval(secs => %(window)s)
          AND status <> 'received' AND parse_count = 1) r ON true)
SELECT source, count(*) AS landed, sum(lag) AS lag_sum,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99,
       ARRAY[{buckets}]::bigint[] AS cumulative
FROM lags GROUP BY source
""").format(
    buckets=sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE lag <= {})").format(sql.Literal(b)) for b in LAG_BUCKETS)
)


def landing_lag(conn, sources) -> dict[str, dict]:
    """Per push source: landed count, lag sum, p50, p99 and cumulative bucket counts (see LANDING_LAG)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(LANDING_LAG, {"sources": list(sources), "window": LAG_WINDOW_S}).fetchall()
    return {row.pop("source"): row for row in rows}


# Reconciler items that gave up (view reconcile_gave_up, on partial indexes).
GAVE_UP = "SELECT source, count(*) FROM reconcile_gave_up GROUP BY source"


def gave_up(conn, ledgers) -> dict[str, int]:
    """Per reconciler source (each of `ledgers`, by source name): items that gave up (0 where none did)."""
    return {**dict.fromkeys(ledgers, 0), **dict(conn.execute(GAVE_UP).fetchall())}


def source_health(conn) -> list[dict]:
    """One dict per push source: seconds since the last callback, silent?, quarantined rows."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SOURCE_HEALTH).fetchall()


def unlanded(conn) -> dict[str, tuple[int, float]]:
    """Per source: raw callbacks waiting for the lander, and the oldest one's age in seconds."""
    return {source: (count, oldest_s) for source, count, oldest_s in conn.execute(UNLANDED).fetchall()}


class _Snapshot:
    """A one-off collector over rows already read."""

    def __init__(
        self,
        rows: list[dict],
        backlog: dict[str, tuple[int, float]],
        failed: dict[str, int],
        lag: dict[str, dict] | None = None,
    ):
        self.rows, self.backlog, self.failed, self.lag = rows, backlog, failed, lag or {}

    def collect(self):
        silent = GaugeMetricFamily(
            "callrecon_source_silent",
            "1 when a push source sent nothing for longer than SILENCE_THRESHOLD during working hours.",
            labels=["source"],
        )
        age = GaugeMetricFamily(
            "callrecon_source_last_callback_age_seconds",
            "Seconds since the last callback from a push source (absent if never).",
            labels=["source"],
        )
        quarantined = GaugeMetricFamily(
            "callrecon_raw_quarantined", "Quarantined raw callbacks, by source.", labels=["source"]
        )
        waiting = GaugeMetricFamily(
            "callrecon_raw_unlanded",
            "Raw callbacks stored (LANDING_MODE=deferred) and not landed yet, by source.",
            labels=["source"],
        )
        oldest = GaugeMetricFamily(
            "callrecon_raw_unlanded_oldest_seconds",
            "Age of the oldest raw callback not landed yet (absent when none).",
            labels=["source"],
        )
        sources = {row["source"] for row in self.rows} | set(self.backlog)
        for row in self.rows:
            silent.add_metric([row["source"]], 1.0 if row["silent"] else 0.0)
            if row["silent_for_s"] is not None:
                age.add_metric([row["source"]], float(row["silent_for_s"]))
            quarantined.add_metric([row["source"]], float(row["quarantined"]))
        for source in sorted(sources):
            count, oldest_s = self.backlog.get(source, (0, None))
            waiting.add_metric([source], float(count))
            if oldest_s is not None:
                oldest.add_metric([source], float(oldest_s))
        gave_up_items = GaugeMetricFamily(
            "callrecon_reconcile_gave_up",
            "Reconciler items that gave up after their tries or past their vendor's "
            "horizon (view reconcile_gave_up), by source.",
            labels=["source"],
        )
        for source, count in sorted(self.failed.items()):
            gave_up_items.add_metric([source], float(count))
        lag = GaugeHistogramMetricFamily(
            "callrecon_landing_lag_seconds",
            f"Seconds from a callback's receipt to its typed rows, over the callbacks received in the last "
            f"{LAG_WINDOW_S} s and landed (replays left out), by source.",
            labels=["source"],
        )
        for source, figures in sorted(self.lag.items()):
            buckets = [(f"{le:g}", float(n)) for le, n in zip(LAG_BUCKETS, figures["cumulative"], strict=True)]
            buckets.append(("+Inf", float(figures["landed"])))
            lag.add_metric([source], buckets, gsum_value=float(figures["lag_sum"] or 0.0))
        yield from (silent, age, quarantined, waiting, oldest, gave_up_items, lag)


def exposition(
    rows: list[dict], backlog: dict[str, tuple[int, float]], failed: dict[str, int], lag: dict[str, dict] | None = None
) -> bytes:
    """Prometheus text for the source-health, backlog, gave-up and landing-lag figures (read fresh at each scrape)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(rows, backlog, failed, lag))
    return generate_latest(registry)
