"""Outbound HTTP for every vendor: one Session per vendor, a timeout on every call, and vendor
failures turned into domain errors that carry a short, secret-free reason.

Retries do not happen here: each retry is a new call that must take a slot from the shared rate
budget, so the reconciler core reschedules the item with backoff instead (failures.py).
"""

from __future__ import annotations

import email.utils
import datetime as dt

import requests

from receiver.masking import mask_text

EXCERPT = 200
CONNECT_TIMEOUT = 5.0


class VendorError(Exception):
    """A vendor call failed; `reason` is a short code, `detail` a masked excerpt."""

    reason = "vendor_error"

    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.detail, self.status = detail, status

    def __str__(self) -> str:
        code = f"HTTP {self.status}" if self.status else self.reason
        return f"{code}: {self.detail}"


class Unauthorized(VendorError):
    """401/403: the credentials are wrong; stop this source for the run."""

    reason = "unauthorized"


class Misconfigured(VendorError):
    """404 and the like: the URL is wrong; stop this source for the run."""

    reason = "misconfigured"


class ScopeMisconfigured(VendorError):
    """The vendor says one campaign or VDN of ours is wrong: stop that one (reconciler.blocks), not the source."""

    reason = "scope_misconfigured"


class RateLimited(VendorError):
    """429: slow down; `retry_after` seconds if the vendor said."""

    reason = "rate_limited"

    def __init__(self, detail: str, status: int | None = 429, retry_after: float | None = None):
        super().__init__(detail, status)
        self.retry_after = retry_after


class BadRequest(VendorError):
    """400: the vendor rejected this item (e.g. unknown id)."""

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


def get_json(session: requests.Session, url: str, *, params: dict, timeout: float, secrets, now: dt.datetime):
    """GET and decode JSON, raising the VendorError subclass that says what to do next."""
    return request_json(session, "GET", url, params=params, timeout=timeout, secrets=secrets, now=now)


def request_json(session: requests.Session, method: str, url: str, *, timeout: float, secrets, now: dt.datetime,
                 params: dict | None = None, data=None, headers: dict | None = None, decode=None):
    """One call, JSON answer decoded; failures raise the VendorError subclass that says what to do."""
    try:
        resp = session.request(method, url, params=params, data=data, headers=headers,
                               timeout=(CONNECT_TIMEOUT, timeout))
    except requests.Timeout:
        raise Transient(f"no answer within {timeout:g}s") from None
    except requests.ConnectionError as exc:
        raise Transient(mask_text(f"connection failed: {type(exc).__name__}", secrets)) from None
    excerpt = mask_text(resp.text[:EXCERPT].replace("\n", " "), secrets)
    if resp.status_code in (401, 403):
        raise Unauthorized(excerpt, resp.status_code)
    if resp.status_code == 429:
        raise RateLimited(excerpt, 429, retry_after_seconds(resp.headers.get("Retry-After"), now))
    if resp.status_code == 400:
        raise BadRequest(excerpt, 400)
    if resp.status_code in (404, 405):
        raise Misconfigured(excerpt, resp.status_code)
    if resp.status_code != 200:
        raise Transient(excerpt, resp.status_code)
    try:
        return decode(resp.text) if decode else resp.json()
    except ValueError:
        raise Transient(f"body is not JSON: {excerpt!r}", resp.status_code) from None
