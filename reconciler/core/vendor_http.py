"""Outbound HTTP for every vendor: one Session per vendor, a timeout on every call, and vendor
failures turned into domain errors that carry a short, secret-free reason.

Retries do not happen here: each retry is a new call that must take a slot from the shared rate
budget, so the reconciler core reschedules the item with backoff instead (failures.py).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re

import requests

from receiver.config.values import RateLimit
from receiver.landing.masking import mask_text

EXCERPT = 200
CONNECT_TIMEOUT = 5.0
SCANNED = 2000  # how much of an error body is read for the vendor's message and limit
# Where vendors put their error text in a JSON error body, most specific first (LeadSquared:
# {"Status":"Error","ExceptionType":"MX...","ExceptionMessage":"..."}, apidocs error-handling).
MESSAGE_KEYS = ("ExceptionMessage", "Message", "message", "error_description")
TYPE_KEYS = ("ExceptionType",)
# "API calls exceeded the limit of 10 in 5 second(s)", "rate limit exceeded", "Too Many Requests"...
LIMIT_WORDS = re.compile(
    r"exceeded\s+the\s+(?:\w+\s+)?limit|limit\s+(?:was\s+|has\s+been\s+)?(?:exceeded|reached)"
    r"|rate\s*-?\s*limit|too\s+many\s+requests|throttl",
    re.IGNORECASE,
)
LIMIT_OF = re.compile(
    r"limit\s+of\s+(\d+)(?:\s+(?:api\s+)?(?:calls?|requests?))?\s+(?:in|per)\s+(\d+(?:\.\d+)?)?\s*"
    r"(second|minute|hour)",
    re.IGNORECASE,
)
UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


class VendorError(Exception):
    """A vendor call failed; `reason` is a short code, `detail` the vendor's message or a masked excerpt."""

    reason = "vendor_error"

    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.detail, self.status = detail, status

    def __str__(self) -> str:
        code = f"HTTP {self.status}" if self.status else self.reason
        return f"{code}: {self.detail}"


class Unauthorized(VendorError):
    """401, or a 403 that is not about a rate limit: the credentials are wrong; stop this source for the run."""

    reason = "unauthorized"


class Misconfigured(VendorError):
    """404 and the like: the URL is wrong; stop this source for the run."""

    reason = "misconfigured"


class ScopeMisconfigured(VendorError):
    """The vendor says one campaign or VDN of ours is wrong: stop that one (reconciler.core.blocks), not the source."""

    reason = "scope_misconfigured"


class RateLimited(VendorError):
    """429, or a 403 that says a limit was exceeded: slow down, for `retry_after` seconds if the vendor
    said; `limit` is the limit the vendor stated in its message, if it did."""

    reason = "rate_limited"

    def __init__(
        self, detail: str, status: int | None = 429, retry_after: float | None = None, limit: RateLimit | None = None
    ):
        super().__init__(detail, status)
        self.retry_after, self.limit = retry_after, limit

    @property
    def wait(self) -> float | None:
        """Seconds to pause: Retry-After, else the period of the stated limit, else unknown (None)."""
        if self.retry_after is not None:
            return self.retry_after
        return self.limit.period if self.limit else None


class BadRequest(VendorError):
    """400: the vendor found the request malformed (LeadSquared: content type or body)."""

    reason = "bad_request"


class Transient(VendorError):
    """5xx, timeout, connection failure or an unreadable body: try this item again later."""

    reason = "transient"


def make_session(vendor: str, headers: dict) -> requests.Session:
    """The vendor's Session (connection reuse); credentials go in headers, never in URLs we log."""
    session = requests.Session()
    session.headers.update({"User-Agent": f"callrecon/0.1 ({vendor})", "Accept": "application/json", **headers})
    return session


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max((when - now).total_seconds(), 0.0)


def vendor_message(text: str) -> str | None:
    """The vendor's own error text from a JSON error body ("MXType: message"), or None if it has none."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    message = next((body[k] for k in MESSAGE_KEYS if isinstance(body.get(k), str) and body[k].strip()), None)
    if message is None:
        return None
    kind = next((body[k] for k in TYPE_KEYS if isinstance(body.get(k), str) and body[k].strip()), None)
    return f"{kind}: {message}" if kind else message


def says_limit_exceeded(text: str) -> bool:
    """True when an error text says a rate limit was hit (some vendors send it as a 403)."""
    return bool(LIMIT_WORDS.search(text))


def stated_limit(text: str) -> RateLimit | None:
    """The limit a vendor states in its message: 'limit of 10 in 5 second(s)' -> 10/5s; None if none."""
    match = LIMIT_OF.search(text)
    if not match:
        return None
    calls, amount, unit = int(match.group(1)), float(match.group(2) or 1), match.group(3).lower()
    period = amount * UNIT_SECONDS[unit]
    return RateLimit(calls, period) if calls > 0 and period > 0 else None


def raise_for_status(resp: requests.Response, secrets, now: dt.datetime) -> None:
    """The VendorError subclass for a non-200 answer; its detail is the vendor's message when it gave one."""
    if resp.status_code == 200:
        return
    text = resp.text[:SCANNED]
    message = vendor_message(text)
    detail = mask_text((message or text)[:EXCERPT].replace("\n", " "), secrets)
    if resp.status_code == 429 or (resp.status_code == 403 and says_limit_exceeded(text)):
        raise RateLimited(
            detail,
            resp.status_code,
            retry_after_seconds(resp.headers.get("Retry-After"), now),
            stated_limit(message or text),
        )
    if resp.status_code in (401, 403):
        raise Unauthorized(detail, resp.status_code)
    if resp.status_code == 400:
        raise BadRequest(detail, 400)
    if resp.status_code in (404, 405):
        raise Misconfigured(detail, resp.status_code)
    raise Transient(detail, resp.status_code)


def get_json(session: requests.Session, url: str, *, params: dict, timeout: float, secrets, now: dt.datetime):
    """GET and decode JSON, raising the VendorError subclass that says what to do next."""
    return request_json(session, "GET", url, params=params, timeout=timeout, secrets=secrets, now=now)


def request_json(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    secrets,
    now: dt.datetime,
    params: dict | None = None,
    data=None,
    headers: dict | None = None,
    decode=None,
):
    """One call, JSON answer decoded; failures raise the VendorError subclass that says what to do."""
    try:
        resp = session.request(
            method, url, params=params, data=data, headers=headers, timeout=(CONNECT_TIMEOUT, timeout)
        )
    except requests.Timeout:
        raise Transient(f"no answer within {timeout:g}s") from None
    except requests.ConnectionError as exc:
        raise Transient(mask_text(f"connection failed: {type(exc).__name__}", secrets)) from None
    raise_for_status(resp, secrets, now)
    try:
        return decode(resp.text) if decode else resp.json()
    except ValueError:
        excerpt = mask_text(resp.text[:EXCERPT].replace("\n", " "), secrets)
        raise Transient(f"body is not JSON: {excerpt!r}", resp.status_code) from None
