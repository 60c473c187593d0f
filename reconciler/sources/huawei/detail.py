"""Huawei CC-iSales: fetch each call's detail, and discover calls pushes never brought (vendors.md §2).

Both share one budget, `huawei`: at most HUAWEI_CONCURRENCY calls in flight across all processes,
each slot resting HUAWEI_BATCH_GAP after its call before the next (§2.2: ≤10 concurrent, >1 s
between batches).
"""

from __future__ import annotations

import abc
import datetime as dt
import random
from dataclasses import dataclass
from urllib.parse import quote

from receiver.config import RateLimit
from receiver.landing.mapping import RecordError
from receiver.vendors.huawei import DETAIL
from receiver.vendors.huawei import records as landing
from receiver.vendors.huawei.settings import NAME, section
from reconciler.core import blocks
from reconciler.core.failures import FailurePolicy
from reconciler.core.vendor_http import Unauthorized
from reconciler.sources.huawei.client import (
    API,
    NOT_FOUND,
    OK,
    PERMANENT,
    HuaweiClient,
    UndocumentedStatus,
    about_the_vdn,
    return_code,
)
from reconciler.sources.huawei.signing import signer

# A wrong VDN is wrong for detail and discovery alike, so both sources share its stop.
BLOCK_SOURCE = NAME
VDN_FIX = (
    "check that VDN {vdn} exists on the CC-iSales at HUAWEI_BASE_URL and that HUAWEI_AK may use it "
    "(discovery asks about the VDNs in HUAWEI_CAMPAIGNS); its calls wait meanwhile, uncharged"
)
# A second 404 on one VDN's path (any call or window of it): the VDN, not the call, is unknown there.
VDN_404_SEEN = """
SELECT EXISTS (SELECT 1 FROM huawei_call WHERE vdn_id = %(vdn_id)s AND detail_error LIKE 'HTTP 404:%%')
    OR EXISTS (SELECT 1 FROM huawei_discovery_window WHERE vdn_id = %(vdn_id)s AND last_error LIKE 'HTTP 404:%%')
"""


class HuaweiBase(abc.ABC):
    """What both Huawei sources share: config, client, budget, failure policy and VDN stops.

    A source names its item table's statements (FAILED, HOLD) and keys; an item has `vdn_id`,
    `tries` (failed calls so far) and `horizon_at` (when Huawei can no longer answer for it).
    """

    budget_name = NAME
    since_help = ""
    outcome_prefix = ""
    FAILED = HOLD = ""

    def __init__(self, settings, rng: random.Random | None = None):
        self.settings = settings
        self.config = section(settings)
        self.rate_limit = RateLimit(self.config.concurrency, self.config.batch_gap)
        self.call_timeout = self.config.timeout
        self.rng = rng or random.Random()
        self.policy = FailurePolicy(
            self.config.retry_first_interval, self.config.retry_max_interval, self.config.max_tries, "HUAWEI_MAX_TRIES"
        )
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
        return self.config.is_polled()

    def explain(self, exc) -> str:
        """The operator message for the one error that stops the source: a refused signature (HTTP 401)."""
        if isinstance(exc, Unauthorized):
            return (
                f"Huawei rejected the request signature ({exc}): check HUAWEI_AK, HUAWEI_SK and HUAWEI_SIGNER "
                "(docs/huawei.md: Signing); no item was charged an attempt"
            )
        return str(exc)

    def prepare(self, conn, now, since=None) -> None:
        """Nothing to add: the detail source works on the calls pushes and discovery have landed."""
        return None  # discovery overrides this to add its campaign days

    @abc.abstractmethod
    def item_key(self, item) -> dict:
        """The item's primary key as statement parameters (each Huawei source's own table)."""

    def vdn_digest(self, key: str) -> str:
        """The settings a VDN stop depends on: changing any of them lifts it."""
        return blocks.config_hash(self.config.base_url, self.config.ak, key)

    def blocked_vdns(self, conn, now) -> list[int]:
        """VDNs whose work is skipped: stopped under the current settings and not yet due a recheck."""
        return [int(key) for key in blocks.active_per_key(conn, BLOCK_SOURCE, "vdn", self.vdn_digest, now)]

    def vdn_404_again(self, conn, item, exc) -> bool:
        """True for a 404 on a VDN whose path already answered 404 once."""
        return (
            isinstance(exc, UndocumentedStatus)
            and exc.status == 404
            and conn.execute(VDN_404_SEEN, {"vdn_id": item.vdn_id}).fetchone()[0]
        )

    def stop_vdn(self, conn, item, error: str, now) -> str:
        """Stop the item's VDN (not the source) and park the item uncharged until the stop lifts."""
        key = str(item.vdn_id)
        blocks.record(
            conn,
            BLOCK_SOURCE,
            "vdn",
            key,
            reason=error,
            fix=VDN_FIX.format(vdn=key),
            config=self.vdn_digest(key),
            now=now,
            recheck=self.config.retry_max_interval,
        )
        conn.execute(self.HOLD, {**self.item_key(item), "error": error[:500], "now": now})
        return "vdn-stopped"

    def vdn_answered(self, conn, item) -> None:
        """A good answer about the VDN lifts any stop on it."""
        blocks.lift(conn, BLOCK_SOURCE, "vdn", str(item.vdn_id))

    def record_failure(self, conn, item, error: str, now, final: str | None = None) -> str:
        """Count one failed try: retry under HUAWEI_MAX_TRIES and the horizon, or end as `final`/failed."""
        next_at = now
        if final is None:
            verdict = self.policy.after_failure(item.tries + 1, now, self.rng, item.horizon_at)
            next_at = verdict.next_at
            if verdict.give_up:
                final, error = "failed", f"{error[:400]}; {verdict.why}"
        conn.execute(
            self.FAILED, {**self.item_key(item), "error": error[:500], "next_at": next_at, "state": final or "pending"}
        )
        return f"{self.outcome_prefix}-{final}" if final else "retry"

    def failed(self, conn, item, exc, run_id, now) -> str:
        """A failed call (no answer, or an undocumented HTTP status): retry, or stop the VDN on a repeated 404."""
        if self.vdn_404_again(conn, item, exc):
            return self.stop_vdn(conn, item, str(exc), now)
        return self.record_failure(conn, item, str(exc), now)


@dataclass(frozen=True)
class Call:
    """A call whose detail is due."""

    vdn_id: int
    call_id: str
    tries: int
    horizon_at: dt.datetime


# The horizon: the recording link's expiry if Huawei gave one, else HUAWEI_DETAIL_HORIZON after first sight.
CLAIM_CALL = DETAIL.claim_query(
    "vdn_id, call_id, detail_attempts, COALESCE(record_expires_at, first_seen_at + %(horizon)s)",
    where="vdn_id <> ALL (%(blocked)s)",
)
DETAIL_FAILED = """
UPDATE huawei_call SET detail_attempts = detail_attempts + 1, detail_error = %(error)s,
    detail_next_at = %(next_at)s, detail_status = %(state)s
WHERE vdn_id = %(vdn_id)s AND call_id = %(call_id)s
"""
DETAIL_HOLD = """
UPDATE huawei_call SET detail_error = %(error)s, detail_next_at = %(now)s
WHERE vdn_id = %(vdn_id)s AND call_id = %(call_id)s
"""


class HuaweiDetailSource(HuaweiBase):
    """callresultdetail for every known call without detail (pushed, tracked or discovered)."""

    name = "huawei"
    outcome_prefix = "detail"
    FAILED, HOLD = DETAIL_FAILED, DETAIL_HOLD

    def claim(self, conn, now) -> Call | None:
        """The most overdue call no other process holds, outside stopped VDNs."""
        row = conn.execute(
            CLAIM_CALL,
            {
                "now": now,
                "blocked": self.blocked_vdns(conn, now),
                "horizon": dt.timedelta(seconds=self.config.detail_horizon),
            },
        ).fetchone()
        return Call(*row) if row else None

    def item_key(self, item: Call) -> dict:
        """huawei_call's key."""
        return {"vdn_id": item.vdn_id, "call_id": item.call_id}

    def fetch(self, item: Call, now) -> dict:
        """GET …/campaigns/{vdnId}/callresultdetail/{callId} (seed 004)."""
        return self.client.call(
            "GET", f"{API}/{item.vdn_id}/callresultdetail/{quote(item.call_id, safe='')}", None, now
        )

    def land(self, conn, item: Call, payload: dict, now) -> str:
        """Complete the row, or record why not; an error stops only what it is about (the call or its VDN)."""
        code, desc = return_code(payload)
        if code == OK and isinstance(payload.get("data"), dict):
            self.vdn_answered(conn, item)
            try:
                landing.land_detail(conn, item.vdn_id, item.call_id, payload["data"], self.settings, now)
            except RecordError as exc:
                return self.record_failure(conn, item, f"detail did not validate: {exc.detail}", now, "failed")
            return "detail-done"
        if about_the_vdn(code, desc):
            return self.stop_vdn(conn, item, f"{code} {desc}", now)
        if code == NOT_FOUND:
            if item.tries + 1 >= self.config.not_found_tries:
                return self.record_failure(conn, item, f"{code} {desc}", now, "not-found")
            return self.record_failure(
                conn, item, f"{code} {desc} (Huawei lists only completed calls; will retry)", now
            )
        if code in PERMANENT:
            return self.record_failure(conn, item, f"{code} {desc}", now, "failed")
        return self.record_failure(conn, item, f"unexpected answer {code or 'without a code'}: {desc}", now)
