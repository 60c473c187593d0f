"""Huawei CC-iSales discovery: bulk `callresult` per configured campaign and day finds the calls
pushes never brought (vendors.md §2.2), on the same budget, failure policy and VDN stops as the
detail fetch (huawei.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from receiver.vendors.huawei import DISCOVERY
from receiver.vendors.huawei import records as landing
from reconciler.sources.huawei.client import API, OK, PERMANENT, about_the_vdn, return_code
from reconciler.sources.huawei.detail import HuaweiBase


@dataclass(frozen=True)
class Window:
    """One campaign day to query, at its next page."""

    vdn_id: int
    campaign_id: int
    day: dt.date
    next_page: int
    tries: int
    horizon_at: dt.datetime | None = None


ENSURE_WINDOW = """
INSERT INTO huawei_discovery_window (vdn_id, campaign_id, day, next_at)
VALUES (%(vdn_id)s, %(campaign_id)s, %(day)s, %(now)s)
ON CONFLICT DO NOTHING
"""
REOPEN_WINDOWS = """
UPDATE huawei_discovery_window SET state = 'pending', next_page = 1, next_at = %(now)s, covered_at = NULL
WHERE vdn_id = %(vdn_id)s AND campaign_id = %(campaign_id)s AND day >= %(since)s
"""
CLAIM_WINDOW = DISCOVERY.claim_query(
    "vdn_id, campaign_id, day, next_page, failures",
    where="vdn_id <> ALL (%(blocked)s)",
    order="day, next_at, vdn_id, campaign_id",
)
WINDOW_PAGE = """
UPDATE huawei_discovery_window SET next_page = %(next_page)s, total_count = %(total)s,
    calls_seen = calls_seen + %(landed)s, attempts = attempts + 1, next_at = %(next_at)s,
    state = %(state)s, covered_at = %(covered_at)s, last_error = NULL, failures = 0
WHERE vdn_id = %(vdn_id)s AND campaign_id = %(campaign_id)s AND day = %(day)s
"""
WINDOW_FAILED = """
UPDATE huawei_discovery_window SET attempts = attempts + 1, failures = failures + 1, last_error = %(error)s,
    next_at = %(next_at)s, state = %(state)s
WHERE vdn_id = %(vdn_id)s AND campaign_id = %(campaign_id)s AND day = %(day)s
"""
WINDOW_HOLD = """
UPDATE huawei_discovery_window SET last_error = %(error)s, next_at = %(now)s
WHERE vdn_id = %(vdn_id)s AND campaign_id = %(campaign_id)s AND day = %(day)s
"""
TODAY_REQUERY = dt.timedelta(minutes=15)


class HuaweiDiscoverySource(HuaweiBase):
    """Bulk `callresult` per configured campaign and day, paged; lands calls and queues their detail."""

    name = "huawei-discovery"
    since_help = "Huawei discovery"
    outcome_prefix = "window"
    FAILED, HOLD = WINDOW_FAILED, WINDOW_HOLD

    def prepare(self, conn, now, since: dt.date | None = None) -> None:
        """Make sure a window exists for each campaign and day in range; --since re-opens covered days."""
        today = now.astimezone(self.config.timezone).date()
        first = since or today - dt.timedelta(days=self.config.discovery_days - 1)
        first = max(first, today - dt.timedelta(days=29))  # Huawei answers at most 30 days back
        with conn.transaction():
            for vdn_id, campaign_id in self.config.campaigns:
                day = first
                while day <= today:
                    conn.execute(ENSURE_WINDOW, {"vdn_id": vdn_id, "campaign_id": campaign_id, "day": day, "now": now})
                    day += dt.timedelta(days=1)
                if since:
                    conn.execute(
                        REOPEN_WINDOWS, {"vdn_id": vdn_id, "campaign_id": campaign_id, "since": since, "now": now}
                    )

    def claim(self, conn, now) -> Window | None:
        """The oldest due window page no other process holds, outside stopped VDNs."""
        row = conn.execute(CLAIM_WINDOW, {"now": now, "blocked": self.blocked_vdns(conn, now)}).fetchone()
        return Window(*row, horizon_at=self.horizon(row[2])) if row else None

    def horizon(self, day: dt.date) -> dt.datetime:
        """When Huawei stops answering for `day`: HUAWEI_DETAIL_HORIZON after it began in HUAWEI_TIMEZONE."""
        start = dt.datetime.combine(day, dt.time(), tzinfo=self.config.timezone)
        return start + dt.timedelta(seconds=self.config.detail_horizon)

    def item_key(self, item: Window) -> dict:
        """huawei_discovery_window's key."""
        return {"vdn_id": item.vdn_id, "campaign_id": item.campaign_id, "day": item.day}

    def fetch(self, item: Window, now) -> dict:
        """POST …/campaigns/{vdnId}/callresult/{campaignId} for one page of one day (§2.2)."""
        day = item.day.isoformat()
        body = {
            "beginTime": day,
            "endTime": day,
            "pageNum": item.next_page,
            "pageSize": self.config.page_size,
            "showDetail": 0,
        }
        return self.client.call("POST", f"{API}/{item.vdn_id}/callresult/{item.campaign_id}", body, now)

    def land(self, conn, item: Window, payload: dict, now) -> str:
        """Land the page's calls; move to the next page, or mark the day covered once it is over."""
        code, desc = return_code(payload)
        if code != OK:
            if about_the_vdn(code, desc):
                return self.stop_vdn(conn, item, f"{code} {desc}", now)
            return self.record_failure(
                conn, item, f"{code or 'no code'} {desc}", now, "failed" if code in PERMANENT else None
            )
        records = payload.get("data") or []
        if not isinstance(records, list):
            return self.record_failure(conn, item, "data is not a list", now)
        self.vdn_answered(conn, item)
        landed, errors = landing.land_fetched(conn, records, self.settings, "bulk", now)
        total = payload.get("totalCount") if isinstance(payload.get("totalCount"), int) else None
        more = bool(records) and (total is None or item.next_page * self.config.page_size < total)
        day_over = item.day < now.astimezone(self.config.timezone).date()
        params = {
            "vdn_id": item.vdn_id,
            "campaign_id": item.campaign_id,
            "day": item.day,
            "total": total,
            "landed": landed,
            "covered_at": None,
            "state": "pending",
        }
        if more:
            params.update(next_page=item.next_page + 1, next_at=now)
        elif day_over:
            params.update(next_page=item.next_page, next_at=now, state="covered", covered_at=now)
        else:  # today: completed calls keep arriving, so query the day again later
            params.update(next_page=1, next_at=now + TODAY_REQUERY)
        conn.execute(WINDOW_PAGE, params)
        return "page-with-errors" if errors else "page"
