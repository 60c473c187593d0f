"""Huawei CC-iSales: fetch each call's detail, and discover calls pushes never brought (vendors.md §2).

Both share one budget, `huawei`: at most HUAWEI_CONCURRENCY calls in flight across all processes,
each slot resting HUAWEI_BATCH_GAP after its call before the next (§2.2: ≤10 concurrent, >1 s
between batches).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from urllib.parse import quote

from receiver import huawei as landing
from receiver.mapping import RecordError
from receiver.settings import RateLimit

from .failures import retry_delay
from .huawei_signing import signer
from .vendor_http import BadRequest, Misconfigured, Transient, Unauthorized, make_session, request_json

OK = "0200000"
NOT_FOUND = "0200007"
# Table 5 of seed 004: parameter errors that no retry can fix.
PERMANENT = {"0200001"} | {f"020000{n:02d}" for n in range(1, 12)}
API = "/rest/isales/v1/openapi/campaigns"


class HuaweiClient:
    """Signed JSON calls to CC-iSales; one Session, the configured signer, secrets masked."""

    def __init__(self, settings):
        self.config = settings.huawei
        self.secrets = settings.secret_values()
        self.sign = signer(self.config.signer)
        self.session = make_session("huawei", {"Content-Type": "application/json; charset=UTF-8"})
        if self.config.ca_bundle:
            self.session.verify = self.config.ca_bundle

    def call(self, method: str, path: str, body: dict | None, now: dt.datetime) -> dict:
        """One signed call; returns the decoded body."""
        url = self.config.base_url + path
        data = json.dumps(body).encode() if body is not None else b""
        headers = self.sign(method, url, {"Content-Type": "application/json; charset=UTF-8"}, data,
                            self.config.ak, self.config.sk, now)
        payload = request_json(self.session, method, url, data=data or None, headers=headers,
                               timeout=self.config.timeout, secrets=self.secrets, now=now)
        if not isinstance(payload, dict):
            raise Transient(f"expected a JSON object, got {type(payload).__name__}")
        return payload


def return_code(payload: dict) -> tuple[str, str]:
    """(code, description) of a CC-iSales answer; returnCode and resultCode both carry it."""
    code = str(payload.get("returnCode") or payload.get("resultCode") or "")
    desc = str(payload.get("returnDesc") or payload.get("resultDesc") or "")[:200]
    return code, desc


class HuaweiBase:
    """What both Huawei sources share: config, client, budget and error messages."""

    budget_name = "huawei"

    def __init__(self, settings, rng: random.Random | None = None):
        self.settings = settings
        self.config = settings.huawei
        self.rate_limit = RateLimit(self.config.concurrency, self.config.batch_gap)
        self.call_timeout = self.config.timeout
        self.rng = rng or random.Random()
        self._client = None

    @property
    def client(self) -> HuaweiClient:
        """Built on first use, so a misconfigured signer is reported through problems()."""
        if self._client is None:
            self._client = HuaweiClient(self.settings)
        return self._client

    def problems(self) -> list[str]:
        """Configuration errors that keep this source from running."""
        found = self.config.problems()
        try:
            signer(self.config.signer)
        except ValueError as exc:
            found.append(str(exc))
        return found

    def is_configured(self) -> bool:
        """True once any HUAWEI_* connection setting is given."""
        return bool(self.config.base_url or self.config.ak or self.config.sk)

    def explain(self, exc) -> str:
        """The operator message for an error that stops the source."""
        if isinstance(exc, Unauthorized):
            return (f"Huawei rejected the request signature ({exc}): check HUAWEI_AK, HUAWEI_SK and HUAWEI_SIGNER "
                    "(README: Huawei signing); no item was charged an attempt")
        if isinstance(exc, Misconfigured):
            return f"Huawei URL not found ({exc}): check HUAWEI_BASE_URL"
        return str(exc)

    def backoff(self, attempts: int) -> dt.timedelta:
        """Delay before the next try after `attempts` failed ones."""
        return dt.timedelta(seconds=retry_delay(attempts, self.config.retry_first_interval,
                                                self.config.retry_max_interval, self.rng))


@dataclass(frozen=True)
class Call:
    """A call whose detail is due."""

    vdn_id: int
    call_id: str
    attempts: int


CLAIM_CALL = """
SELECT vdn_id, call_id, detail_attempts FROM huawei_call
WHERE detail_status = 'pending' AND detail_next_at <= %(now)s
ORDER BY detail_next_at, vdn_id, call_id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""
DETAIL_FAILED = """
UPDATE huawei_call SET detail_attempts = detail_attempts + 1, detail_error = %(error)s,
    detail_next_at = %(next_at)s, detail_status = %(status)s
WHERE vdn_id = %(vdn_id)s AND call_id = %(call_id)s
"""
DETAIL_STATUS = """
SELECT count(*) FILTER (WHERE detail_status = 'pending') AS pending,
       count(*) FILTER (WHERE detail_status = 'pending' AND detail_next_at <= %(now)s) AS due_now,
       count(*) FILTER (WHERE detail_status = 'pending' AND detail_error IS NOT NULL) AS failing,
       0 AS expired,
       extract(epoch FROM %(now)s - min(first_seen_at) FILTER (WHERE detail_status = 'pending')) AS oldest_pending_s,
       COALESCE((SELECT jsonb_object_agg(detail_status, n) FROM (SELECT detail_status, count(*) AS n
                 FROM huawei_call WHERE detail_status <> 'pending' GROUP BY detail_status) f), '{}') AS final_by_status
FROM huawei_call
"""


class HuaweiDetailSource(HuaweiBase):
    """callresultdetail for every known call without detail (pushed, tracked or discovered)."""

    name = "huawei"

    def status(self, conn, now) -> dict:
        """Counts for `callrecon status`."""
        cur = conn.execute(DETAIL_STATUS, {"now": now})
        return dict(zip([c.name for c in cur.description], cur.fetchone()))

    def claim(self, conn, now) -> Call | None:
        """The most overdue call no other process holds."""
        row = conn.execute(CLAIM_CALL, {"now": now}).fetchone()
        return Call(*row) if row else None

    def fetch(self, item: Call, now) -> dict:
        """GET …/campaigns/{vdnId}/callresultdetail/{callId} (seed 004)."""
        return self.client.call("GET", f"{API}/{item.vdn_id}/callresultdetail/{quote(item.call_id, safe='')}",
                                None, now)

    def land(self, conn, item: Call, payload: dict, now) -> str:
        """Complete the row, or record why not; returns the outcome to count."""
        code, desc = return_code(payload)
        if code == OK and isinstance(payload.get("data"), dict):
            try:
                landing.land_detail(conn, item.vdn_id, item.call_id, payload["data"], self.settings, now)
            except RecordError as exc:
                return self._failed(conn, item, f"detail did not validate: {exc.detail}", now, permanent=True)
            return "detail-done"
        if code == NOT_FOUND:
            if item.attempts + 1 >= self.config.not_found_tries:
                return self._failed(conn, item, f"{code} {desc}", now, status="not-found")
            return self._failed(conn, item, f"{code} {desc} (Huawei lists only completed calls; will retry)", now)
        if code in PERMANENT:
            return self._failed(conn, item, f"{code} {desc}", now, permanent=True)
        return self._failed(conn, item, f"unexpected answer {code or 'without a code'}: {desc}", now)

    def failed(self, conn, item: Call, exc, run_id, now) -> str:
        """A failed call: retry with backoff (a 400 will never succeed: failed)."""
        return self._failed(conn, item, str(exc), now, permanent=isinstance(exc, BadRequest))

    def _failed(self, conn, item: Call, error: str, now, permanent=False, status=None) -> str:
        """Record the error and the next try (or the final state); returns the outcome."""
        if status is None:
            status = "failed" if permanent else "pending"
        conn.execute(DETAIL_FAILED, {"vdn_id": item.vdn_id, "call_id": item.call_id, "error": error[:500],
                                     "next_at": now + self.backoff(item.attempts + 1), "status": status})
        return "retry" if status == "pending" else f"detail-{status}"


@dataclass(frozen=True)
class Window:
    """One campaign day to query, at its next page."""

    vdn_id: int
    campaign_id: int
    day: dt.date
    next_page: int
    attempts: int


ENSURE_WINDOW = """
INSERT INTO huawei_discovery_window (vdn_id, campaign_id, day, next_at)
VALUES (%(vdn_id)s, %(campaign_id)s, %(day)s, %(now)s)
ON CONFLICT DO NOTHING
"""
REOPEN_WINDOWS = """
UPDATE huawei_discovery_window SET state = 'pending', next_page = 1, next_at = %(now)s, covered_at = NULL
WHERE vdn_id = %(vdn_id)s AND campaign_id = %(campaign_id)s AND day >= %(since)s
"""
CLAIM_WINDOW = """
SELECT vdn_id, campaign_id, day, next_page, attempts FROM huawei_discovery_window
WHERE state = 'pending' AND next_at <= %(now)s
ORDER BY day, next_at, vdn_id, campaign_id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""
WINDOW_PAGE = """
UPDATE huawei_discovery_window SET next_page = %(next_page)s, total_count = %(total)s,
    calls_seen = calls_seen + %(landed)s, attempts = attempts + 1, next_at = %(next_at)s,
    state = %(state)s, covered_at = %(covered_at)s, last_error = NULL
WHERE vdn_id = %(vdn_id)s AND campaign_id = %(campaign_id)s AND day = %(day)s
"""
WINDOW_FAILED = """
UPDATE huawei_discovery_window SET attempts = attempts + 1, last_error = %(error)s, next_at = %(next_at)s,
    state = %(state)s
WHERE vdn_id = %(vdn_id)s AND campaign_id = %(campaign_id)s AND day = %(day)s
"""
DISCOVERY_STATUS = """
SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
       count(*) FILTER (WHERE state = 'pending' AND next_at <= %(now)s) AS due_now,
       count(*) FILTER (WHERE state = 'pending' AND last_error IS NOT NULL) AS failing,
       0 AS expired,
       NULL::numeric AS oldest_pending_s,
       COALESCE((SELECT jsonb_object_agg(state, n) FROM (SELECT state, count(*) AS n
                 FROM huawei_discovery_window WHERE state <> 'pending' GROUP BY state) f), '{}') AS final_by_status
FROM huawei_discovery_window
"""
TODAY_REQUERY = dt.timedelta(minutes=15)


class HuaweiDiscoverySource(HuaweiBase):
    """Bulk `callresult` per configured campaign and day, paged; lands calls and queues their detail."""

    name = "huawei-discovery"

    def prepare(self, conn, now, since: dt.date | None = None) -> None:
        """Make sure a window exists for each campaign and day in range; --since re-opens covered days."""
        today = now.astimezone(self.config.timezone).date()
        first = since or today - dt.timedelta(days=self.config.discovery_days - 1)
        first = max(first, today - dt.timedelta(days=29))  # Huawei answers at most 30 days back
        with conn.transaction():
            for vdn_id, campaign_id in self.config.campaigns:
                day = first
                while day <= today:
                    conn.execute(ENSURE_WINDOW, {"vdn_id": vdn_id, "campaign_id": campaign_id, "day": day,
                                                 "now": now})
                    day += dt.timedelta(days=1)
                if since:
                    conn.execute(REOPEN_WINDOWS, {"vdn_id": vdn_id, "campaign_id": campaign_id, "since": since,
                                                  "now": now})

    def status(self, conn, now) -> dict:
        """Counts for `callrecon status`."""
        cur = conn.execute(DISCOVERY_STATUS, {"now": now})
        return dict(zip([c.name for c in cur.description], cur.fetchone()))

    def claim(self, conn, now) -> Window | None:
        """The oldest due window page no other process holds."""
        row = conn.execute(CLAIM_WINDOW, {"now": now}).fetchone()
        return Window(*row) if row else None

    def fetch(self, item: Window, now) -> dict:
        """POST …/campaigns/{vdnId}/callresult/{campaignId} for one page of one day (§2.2)."""
        day = item.day.isoformat()
        body = {"beginTime": day, "endTime": day, "pageNum": item.next_page, "pageSize": self.config.page_size,
                "showDetail": 0}
        return self.client.call("POST", f"{API}/{item.vdn_id}/callresult/{item.campaign_id}", body, now)

    def land(self, conn, item: Window, payload: dict, now) -> str:
        """Land the page's calls; move to the next page, or mark the day covered once it is over."""
        code, desc = return_code(payload)
        if code != OK:
            permanent = code in PERMANENT
            return self._failed(conn, item, f"{code or 'no code'} {desc}", now, permanent)
        records = payload.get("data") or []
        if not isinstance(records, list):
            return self._failed(conn, item, "data is not a list", now, permanent=False)
        landed, errors = landing.land_fetched(conn, records, self.settings, "bulk", now)
        total = payload.get("totalCount") if isinstance(payload.get("totalCount"), int) else None
        more = bool(records) and (total is None or item.next_page * self.config.page_size < total)
        day_over = item.day < now.astimezone(self.config.timezone).date()
        params = {"vdn_id": item.vdn_id, "campaign_id": item.campaign_id, "day": item.day, "total": total,
                  "landed": landed, "covered_at": None, "state": "pending"}
        if more:
            params.update(next_page=item.next_page + 1, next_at=now)
        elif day_over:
            params.update(next_page=item.next_page, next_at=now, state="covered", covered_at=now)
        else:  # today: completed calls keep arriving, so query the day again later
            params.update(next_page=1, next_at=now + TODAY_REQUERY)
        conn.execute(WINDOW_PAGE, params)
        return "page-with-errors" if errors else "page"

    def failed(self, conn, item: Window, exc, run_id, now) -> str:
        """A failed page: retry with backoff (a 400 never succeeds: failed)."""
        return self._failed(conn, item, str(exc), now, permanent=isinstance(exc, BadRequest))

    def _failed(self, conn, item: Window, error: str, now, permanent: bool) -> str:
        """Record the error and the next try, or fail the window."""
        conn.execute(WINDOW_FAILED, {"vdn_id": item.vdn_id, "campaign_id": item.campaign_id, "day": item.day,
                                     "error": error[:500], "next_at": now + self.backoff(item.attempts + 1),
                                     "state": "failed" if permanent else "pending"})
        return "window-failed" if permanent else "retry"
