"""Ozonetel Campaign Dial Status: ask Ozonetel to push each campaign window, and ask again when the
push never comes (vendors.md §1.1, seed 003).

The API does not answer with data: it accepts the request and later POSTs the records to our
callBackUrl, where the receiver lands them and credits the ledger row (receiver/vendors/ozonetel/ledger.py).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass

from psycopg.types.json import Jsonb

from receiver.landing.masking import MASK
from receiver.landing.payloads import lenient_json
from receiver.vendors.ozonetel import LEDGER
from receiver.vendors.ozonetel.settings import NAME, section
from reconciler.core import blocks
from reconciler.core.failures import FailurePolicy
from reconciler.core.vendor_http import (
    Misconfigured,
    RateLimited,
    ScopeMisconfigured,
    Transient,
    Unauthorized,
    VendorError,
    make_session,
    request_json,
)
from reconciler.sources.ozonetel import campaigns

CALLBACK_PATH = "/callbacks/ozonetel/"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Seed 003's documented replies, by a fragment of the message: what each means for the operator.
CONFIG_ERRORS = {
    "apikey is invalid": "Ozonetel says the apiKey is invalid or missing: check OZONETEL_API_KEY "
    "(and OZONETEL_APIKEY_IN: body, header or both)",
    "authentication failed": "Ozonetel rejected the credentials (Authentication failed): check OZONETEL_API_KEY "
    "and OZONETEL_USERNAME belong to the same account",
    "username is invalid": "Ozonetel says the userName is invalid or missing: check OZONETEL_USERNAME",
    "callbackurl": "Ozonetel refused the callBackUrl: set PUBLIC_BASE_URL to callrecon's public http(s):// address",
}
LIMIT_MESSAGE = "request limit exhausted"
# About one campaign only: that campaign is stopped (reconciler.core.blocks), the others go on.
CAMPAIGN_ERROR = "campaignname is invalid"

ENSURE_WINDOW = """
INSERT INTO ozonetel_request (campaign_name, window_from, window_to, next_at, origin)
VALUES (%(campaign)s, %(window_from)s, %(window_to)s, %(now)s, %(origin)s)
ON CONFLICT (campaign_name, window_from, window_to) DO NOTHING
"""
LAST_WINDOW_END = """
SELECT max(window_to) FROM ozonetel_request WHERE campaign_name = %(campaign)s AND origin = 'reconcile'
"""
TIME_OUT = """
UPDATE ozonetel_request SET
    state = CASE WHEN tries >= %(max_tries)s OR (origin = 'reconcile' AND window_to < %(horizon)s) THEN 'failed'
                 ELSE 'timed-out' END,
    next_at = %(now)s,
    last_error = 'no push within ' || %(timeout)s || ' of request ' || tries ||
                 CASE WHEN tries >= %(max_tries)s THEN '; gave up after ' || tries || ' tries (OZONETEL_MAX_TRIES)'
                      WHEN origin = 'reconcile' AND window_to < %(horizon)s
                          THEN '; gave up: the window is older than OZONETEL_HORIZON'
                      ELSE '; asking again' END
WHERE state = 'requested' AND sent_at <= %(deadline)s
"""
# Windows that can no longer be answered: waiting for a retry, but older than the horizon. A backfill
# window is exempt: the operator asked for that age on purpose; OZONETEL_MAX_TRIES still bounds it.
EXPIRE = """
UPDATE ozonetel_request SET state = 'failed',
    last_error = COALESCE(last_error || '; ', '') || 'gave up: the window is older than OZONETEL_HORIZON'
WHERE state IN ('pending', 'timed-out') AND origin = 'reconcile' AND window_to < %(horizon)s
"""
CLAIM = LEDGER.claim_query(
    "id, campaign_name, window_from, window_to, tries, origin", where="campaign_name <> ALL(%(blocked)s::text[])"
)
ADD_TRY = """
INSERT INTO ozonetel_request_try (request_id, try, sent_at, outcome, unique_id, error)
VALUES (%(id)s, (SELECT COALESCE(max(try), 0) + 1 FROM ozonetel_request_try WHERE request_id = %(id)s),
        %(now)s, %(outcome)s, NULLIF(%(unique_id)s, ''), %(error)s)
"""
ACCEPTED = """
UPDATE ozonetel_request SET state = 'requested', tries = tries + 1, sent_at = %(now)s, params = %(params)s,
    reply_status = %(status)s, reply_message = %(message)s, unique_id = NULLIF(%(unique_id)s, ''), last_error = NULL
WHERE id = %(id)s
"""
FAILED = """
UPDATE ozonetel_request SET tries = tries + 1, next_at = %(next_at)s, last_error = %(error)s, state = %(state)s
WHERE id = %(id)s
"""
CAMPAIGN_STOPPED = """
UPDATE ozonetel_request SET last_error = %(error)s, next_at = %(now)s WHERE id = %(id)s
"""


@dataclass(frozen=True)
class Window:
    """One campaign window due to be requested."""

    id: int
    campaign: str
    window_from: dt.datetime
    window_to: dt.datetime
    tries: int
    origin: str


def classify(message: str) -> VendorError | None:
    """The domain error for one of Ozonetel's documented error messages (None if unknown)."""
    folded = message.lower().replace(" ", "")
    if CAMPAIGN_ERROR.replace(" ", "") in folded:
        return ScopeMisconfigured(f"Ozonetel: {message[:200]}")
    for fragment, advice in CONFIG_ERRORS.items():
        if fragment.replace(" ", "") in folded:
            return Misconfigured(advice)
    if LIMIT_MESSAGE.replace(" ", "") in folded:
        return RateLimited("Request limit exhausted", status=None)
    return None


def windows(start: dt.datetime, end: dt.datetime, size: dt.timedelta):
    """[from, to) windows of `size` from start, the last ending at or before end."""
    while start + size <= end:
        yield start, start + size
        start += size


def floor_time(moment: dt.datetime, size: dt.timedelta, zone) -> dt.datetime:
    """`moment` rounded down to a whole multiple of `size` on the local clock of `zone` (11:35 -> 11:00)."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    epoch = dt.datetime(1970, 1, 1)
    return (epoch + ((local - epoch) // size) * size).replace(tzinfo=zone).astimezone(dt.timezone.utc)


class OzonetelSource:
    """Requests dial-status pushes for campaign windows, within Ozonetel's 10-per-minute limit."""

    name = budget_name = NAME
    since_help = ""

    def __init__(self, settings, rng: random.Random | None = None):
        self.settings = settings
        self.config = section(settings)
        self.secrets = settings.secret_values()
        self.rate_limit = self.config.rate_limit
        self.call_timeout = self.config.timeout
        self.window = dt.timedelta(seconds=self.config.window)
        self.rng = rng or random.Random()
        self.policy = FailurePolicy(
            self.config.retry_first_interval,
            self.config.retry_max_interval,
            self.config.max_tries,
            "OZONETEL_MAX_TRIES",
        )
        self.horizon = dt.timedelta(seconds=self.config.horizon)
        # Campaign stops hold while these settings are unchanged (blocks.config_hash).
        self.campaign_config = blocks.config_hash(
            self.config.api_url, self.config.username, sorted(self.config.campaigns)
        )
        headers = {"apiKey": self.config.api_key} if self.config.apikey_in in ("header", "both") else {}
        self.session = make_session(NAME, headers)

    def problems(self) -> list[str]:
        """Configuration errors that keep this source from running."""
        return self.config.problems(self.settings.public_base_url)

    def is_configured(self) -> bool:
        """True once any of the reconciler's Ozonetel settings is given."""
        return self.config.is_polled()

    def explain(self, exc) -> str:
        """The operator message for an error that stops the source."""
        if isinstance(exc, Unauthorized):
            found = classify(exc.detail)
            return (
                found.detail
                if found
                else (f"Ozonetel rejected the request ({exc}): check OZONETEL_API_KEY and OZONETEL_USERNAME")
            )
        if isinstance(exc, Misconfigured):
            return exc.detail if exc.status is None else f"Ozonetel URL not found ({exc}): check OZONETEL_API_URL"
        return str(exc)

    @property
    def callback_url(self) -> str:
        """Where Ozonetel should push: PUBLIC_BASE_URL + the Ozonetel path + the first token."""
        return self.settings.public_base_url + CALLBACK_PATH + self.config.callback_tokens[0]

    def prepare(self, conn, now, since=None) -> None:
        """Add the windows since the last one up to now minus the settle delay; time out stale requests."""
        last_complete = floor_time(now - dt.timedelta(seconds=self.config.settle), self.window, self.config.timezone)
        with conn.transaction():
            for campaign in self.config.campaigns:
                start = conn.execute(LAST_WINDOW_END, {"campaign": campaign}).fetchone()[0]
                start = start or last_complete - self.window
                self.add_windows(conn, campaign, start, last_complete, now, "reconcile")
            conn.execute(
                TIME_OUT,
                {
                    "now": now,
                    "max_tries": self.config.max_tries,
                    "horizon": now - self.horizon,
                    "timeout": f"{self.config.push_timeout:g}s",
                    "deadline": now - dt.timedelta(seconds=self.config.push_timeout),
                },
            )
            conn.execute(EXPIRE, {"horizon": now - self.horizon})

    def add_windows(self, conn, campaign: str, start, end, now, origin: str) -> int:
        """Ledger rows for every window in [start, end); existing ones are left alone."""
        added = 0
        for window_from, window_to in windows(start, end, self.window):
            added += conn.execute(
                ENSURE_WINDOW,
                {
                    "campaign": campaign,
                    "window_from": window_from,
                    "window_to": window_to,
                    "now": now,
                    "origin": origin,
                },
            ).rowcount
        return added

    def claim(self, conn, now) -> Window | None:
        """The most overdue window no other process holds."""
        blocked = sorted(blocks.active(conn, NAME, "campaign", self.campaign_config, now))
        row = conn.execute(CLAIM, {"now": now, "blocked": blocked}).fetchone()
        return Window(*row) if row else None

    def request_params(self, item: Window) -> dict:
        """The Campaign Dial Status parameters for one window (seed 003), dates in OZONETEL_TIMEZONE."""
        zone = self.config.timezone
        params = {
            "fromDate": item.window_from.astimezone(zone).strftime(DATE_FORMAT),
            "toDate": item.window_to.astimezone(zone).strftime(DATE_FORMAT),
            "sortby": self.config.sortby,
            "status": "All",
            "dialstatus": "All",
            "dispositions": "ALL",
            "campaignName": item.campaign,
            "userName": self.config.username,
            "callBackUrl": self.callback_url,
        }
        if self.config.apikey_in in ("body", "both"):
            params["apiKey"] = self.config.api_key
        return params

    def fetch(self, item: Window, now):
        """Send the request; Ozonetel's documented error replies become domain errors here."""
        params = self.request_params(item)
        if self.config.request_format == "json":
            data, headers = json.dumps(params).encode(), {"Content-Type": "application/json"}
        else:
            data, headers = params, None  # requests form-encodes a dict
        payload = request_json(
            self.session,
            "POST",
            self.config.api_url,
            timeout=self.call_timeout,
            secrets=self.secrets,
            now=now,
            data=data,
            headers=headers,
            decode=lenient_json,
        )
        if not isinstance(payload, dict):
            raise Transient(f"unexpected reply: {str(payload)[:100]!r}")
        if str(payload.get("status", "")).lower() != "success":
            message = str(payload.get("message", ""))[:300]
            raise classify(message) or Transient(f"Ozonetel replied error: {message}")
        return payload

    def land(self, conn, item: Window, payload: dict, now) -> str:
        """Ozonetel accepted the request: wait for the push; the campaign is evidently valid."""
        params = {k: (MASK if k == "apiKey" else v) for k, v in self.request_params(item).items()}
        params["callBackUrl"] = self.settings.public_base_url + CALLBACK_PATH + MASK
        unique_id = str(payload.get("uniqueId") or "")
        conn.execute(ADD_TRY, {"id": item.id, "now": now, "outcome": "accepted", "unique_id": unique_id, "error": None})
        conn.execute(
            ACCEPTED,
            {
                "id": item.id,
                "now": now,
                "params": Jsonb(params),
                "status": str(payload.get("status")),
                "message": str(payload.get("message", ""))[:300],
                "unique_id": unique_id,
            },
        )
        blocks.lift(conn, NAME, "campaign", item.campaign)
        return "requested"

    def failed(self, conn, item: Window, exc, run_id, now) -> str:
        """A failed call counts a try (failures.FailurePolicy); an invalid campaign stops only that campaign."""
        if isinstance(exc, ScopeMisconfigured):
            conn.execute(
                ADD_TRY,
                {"id": item.id, "now": now, "outcome": "campaign-invalid", "unique_id": "", "error": exc.detail[:500]},
            )
            conn.execute(CAMPAIGN_STOPPED, {"id": item.id, "now": now, "error": f"campaign stopped: {exc.detail}"})
            campaigns.stop(
                conn, NAME, item.campaign, exc.detail, config=self.campaign_config, recheck=self.config.recheck, now=now
            )
            return "campaign-misconfigured"
        horizon_at = item.window_to + self.horizon if item.origin == "reconcile" else None
        verdict = self.policy.after_failure(item.tries + 1, now, self.rng, horizon_at=horizon_at)
        error = str(exc)[:400] + (f"; {verdict.why}" if verdict.give_up else "")
        conn.execute(ADD_TRY, {"id": item.id, "now": now, "outcome": "failed", "unique_id": "", "error": error})
        conn.execute(
            FAILED,
            {
                "id": item.id,
                "next_at": verdict.next_at,
                "error": error,
                "state": "failed" if verdict.give_up else "pending" if item.tries == 0 else "timed-out",
            },
        )
        return "failed" if verdict.give_up else "retry"
