"""LeadSquared async task statuses: poll each tracked RequestId until final (vendors.md §3).

`GET {LSQ_ASYNC_BASE_URL}{path for the kind}?RequestID=<id>` with the headers the status pages
list: `x-api-key` and `Content-Type: application/json` (seed 000). In-Queue is polled again at
growing intervals until the horizon, then marked expired. A failed call (400, 5xx, timeout, an
unreadable answer) is one try under the shared FailurePolicy: after LSQ_MAX_TRIES the item is
`failed`. The pages document no answer for an unknown RequestID (400 is a malformed request, 404
a wrong URL), so nothing is taken to mean one: such an id ends `failed` with LeadSquared's words.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass

from receiver.landing.mapping import RecordError
from receiver.vendors.leadsquared import LEDGER
from receiver.vendors.leadsquared import status as landing
from receiver.vendors.leadsquared.settings import NAME, section
from reconciler.core.failures import FailurePolicy
from reconciler.core.vendor_http import BadRequest, Misconfigured, Transient, Unauthorized, get_json, make_session

# Seed 000: "Pass the x-api-key in the header", "Content-Type is application/json".
STATUS_HEADERS = {"Content-Type": "application/json"}
# LeadSquared's generic 401 text says "Check your AccessKey and SecretKey"; status calls send
# neither, so that advice is cut from what the operator reads.
KEY_PAIR_ADVICE = re.compile(r"[^.]*\b(?:access\s*key|secret\s*key)\b[^.]*\.?", re.IGNORECASE)

CLAIM = LEDGER.claim_query("id, request_id, kind, registered_at, attempts, failed_tries")

RECORD_FAILURE = """
UPDATE lsq_request SET
    attempts = attempts + 1, failed_tries = failed_tries + 1, last_polled_at = %(now)s,
    last_error = %(last_error)s, next_poll_at = %(next_poll_at)s, final_at = %(final_at)s,
    status = COALESCE(%(status)s, status)
WHERE id = %(id)s
"""


@dataclass(frozen=True)
class Item:
    """One tracked request, as claimed."""

    id: int
    request_id: str
    kind: str
    registered_at: dt.datetime
    attempts: int
    failed_tries: int


class LeadSquaredSource:
    """The reconciler source for LeadSquared async status polling."""

    name = budget_name = NAME
    since_help = ""

    def __init__(self, settings, rng: random.Random | None = None):
        self.config = section(settings)
        self.secrets = settings.secret_values()
        self.rate_limit = self.config.rate_limit
        self.call_timeout = self.config.timeout
        self.horizon = dt.timedelta(seconds=self.config.poll_horizon)
        self.rng = rng or random.Random()
        self.policy = FailurePolicy(
            self.config.first_interval, self.config.max_interval, self.config.max_tries, "LSQ_MAX_TRIES"
        )
        self.session = make_session(NAME, {"x-api-key": self.config.api_key, **STATUS_HEADERS})

    def problems(self) -> list[str]:
        """Configuration errors that keep this source from running."""
        return self.config.problems()

    def prepare(self, conn, now, since=None) -> None:
        """Nothing to add: the receiver registers every request the CRM answered with a RequestId."""

    def is_configured(self) -> bool:
        """True once any LSQ_* connection setting is given (so `--source all` should run it)."""
        return self.config.is_configured()

    def explain(self, exc) -> str:
        """The operator message for an error that stops the source."""
        if isinstance(exc, Unauthorized):
            said = KEY_PAIR_ADVICE.sub("", exc.detail).strip()
            return (
                f"LeadSquared refused the x-api-key header (HTTP {exc.status}{': ' + said if said else ''}): "
                "check LSQ_API_KEY, the account's API key, which callrecon sends as that header and nothing "
                "else on status calls; no item was charged an attempt"
            )
        if isinstance(exc, Misconfigured):
            return (
                f"LeadSquared status URL not found ({exc}): check LSQ_ASYNC_BASE_URL and the LSQ_STATUS_PATH_* settings"
            )
        return str(exc)

    def claim(self, conn, now) -> Item | None:
        """The most overdue item no other process holds, locked until this transaction ends."""
        row = conn.execute(CLAIM, {"now": now}).fetchone()
        return Item(*row) if row else None

    def fetch(self, item: Item, now):
        """One status call."""
        url = self.config.base_url + self.config.paths[item.kind]
        return get_json(
            self.session,
            url,
            params={"RequestID": item.request_id},
            timeout=self.call_timeout,
            secrets=self.secrets,
            now=now,
        )

    def land(self, conn, item: Item, payload, now) -> str:
        """Decode and store the status with its schedule; returns the outcome to count."""
        try:
            row = landing.parse_status(payload, item.request_id)
        except RecordError as exc:
            return self.failed(conn, item, Transient(f"unexpected status response: {exc.detail}"), None, now)
        if row["status"].lower() in self.config.final_statuses:
            landing.record_status(conn, item.id, row, now=now, next_poll_at=now, final_at=now)
            return row["status"]
        next_poll_at, expired = self._schedule(item, now, self._in_queue_interval(item))
        landing.record_status(
            conn,
            item.id,
            row,
            now=now,
            next_poll_at=next_poll_at,
            final_at=now if expired else None,
            status="expired" if expired else None,
            last_error=self._horizon_message(row["status"]) if expired else None,
        )
        return "expired" if expired else row["status"]

    def failed(self, conn, item: Item, exc, run_id, now) -> str:
        """One failed call is one try: retry with backoff, else give up (failed, or expired at the horizon)."""
        reason = self._reason(exc)
        verdict = self.policy.after_failure(item.failed_tries + 1, now, self.rng, self._horizon_at(item))
        status = None
        if verdict.give_up:
            status = "expired" if now >= self._horizon_at(item) else "failed"
            reason = f"{reason}; {verdict.why}"
        conn.execute(
            RECORD_FAILURE,
            {
                "id": item.id,
                "now": now,
                "last_error": reason[:500],
                "next_poll_at": verdict.next_at,
                "final_at": now if verdict.give_up else None,
                "status": status,
            },
        )
        return status or "retry"

    @staticmethod
    def _reason(exc) -> str:
        """last_error for a failed call; a 400 is LeadSquared calling the request malformed, never an unknown id."""
        if isinstance(exc, BadRequest):
            return (
                f"malformed request (HTTP 400): {exc.detail} (LeadSquared: content type or body not as "
                "its API expects; check LSQ_STATUS_PATH_* and the RequestID)"
            )
        return str(exc)

    def _in_queue_interval(self, item: Item) -> float:
        """30 s, 60 s, 120 s ... up to the cap, by the number of answered polls so far (failed calls back off apart)."""
        return min(self.config.max_interval, self.config.first_interval * 2 ** (item.attempts - item.failed_tries))

    def _horizon_at(self, item: Item) -> dt.datetime:
        """When polling this item stops: LSQ_POLL_HORIZON after registration."""
        return item.registered_at + self.horizon

    def _schedule(self, item: Item, now, delay: float) -> tuple[dt.datetime, bool]:
        """(next poll time, expired?): never past the horizon; at the horizon, expired."""
        horizon_at = self._horizon_at(item)
        if now >= horizon_at:
            return now, True
        return min(now + dt.timedelta(seconds=delay), horizon_at), False

    def _horizon_message(self, status: str) -> str:
        """Why an item expired."""
        return f"still {status} after the poll horizon ({self.config.poll_horizon / 3600:g} h, LSQ_POLL_HORIZON)"
