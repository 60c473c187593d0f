"""Who may use the console: operator tokens (OPS_TOKENS) sign in to a signed session cookie.

The cookie is Flask's signed session (itsdangerous), HttpOnly, SameSite=Strict, Secure when
PUBLIC_BASE_URL is https, scoped to /ops and valid SESSION_HOURS. It holds a fingerprint of the
token used, never the token, so removing a token from OPS_TOKENS ends its sessions at once. Every
POST carries the session's CSRF token. Failed sign-ins are limited per client address (and in all)
in each worker process, and logged with the address, never with what was typed.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request, session, url_for

from receiver.web.console import bp, log, page, settings

SESSION_HOURS = 12
FAILURES_PER_ADDRESS = 5  # failed sign-ins per address per FAILURE_WINDOW_S, then 429
FAILURES_IN_ALL = 50  # across addresses (a spread-out guess), per FAILURE_WINDOW_S
FAILURE_WINDOW_S = 300.0
OPEN_ENDPOINTS = frozenset({"console.sign_in"})


def fingerprint(token: str) -> str:
    """A short name for a token in sessions and logs (a hash prefix: it does not reveal the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:10]


def session_secret(app_settings) -> str:
    """OPS_SESSION_SECRET, or one derived from the tokens (so every worker derives the same; never logged).

    Derived, a rotation that changes OPS_TOKENS also signs everyone out, which is what a rotation is for.
    """
    if app_settings.ops_session_secret:
        return app_settings.ops_session_secret
    material = "\x1f".join(sorted(app_settings.ops_tokens)).encode()
    return hmac.new(b"callrecon ops session v1", material, hashlib.sha256).hexdigest()


def configure(app, app_settings) -> None:
    """Session cookie settings for the console (the receiver's other endpoints use no session)."""
    if not app_settings.ops_tokens:
        return
    base = app_settings.public_base_url
    app.secret_key = session_secret(app_settings)
    app.config.update(
        SESSION_COOKIE_NAME="callrecon_ops",
        SESSION_COOKIE_PATH="/ops",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=urlsplit(base).scheme == "https",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS),
    )
    app.extensions["callrecon_sign_in_limiter"] = Limiter()


class Limiter:
    """Failed sign-ins per address and in all over a sliding window (per worker process)."""

    def __init__(self, clock=time.monotonic):
        self.clock, self.lock = clock, threading.Lock()
        self.by_address: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.all: collections.deque = collections.deque()

    def _trim(self, times: collections.deque, now: float) -> None:
        while times and times[0] <= now - FAILURE_WINDOW_S:
            times.popleft()

    def blocked(self, address: str) -> bool:
        """True while the address (or everyone) has used up its failed tries."""
        with self.lock:
            now = self.clock()
            mine = self.by_address[address]
            self._trim(mine, now)
            self._trim(self.all, now)
            return len(mine) >= FAILURES_PER_ADDRESS or len(self.all) >= FAILURES_IN_ALL

    def failed(self, address: str) -> int:
        """Count one failure; the address's failures in the window."""
        with self.lock:
            now = self.clock()
            self.by_address[address].append(now)
            self.all.append(now)
            return len(self.by_address[address])


def signed_in_as() -> str | None:
    """The fingerprint of the token this session signed in with, if it is still accepted."""
    mark = session.get("op")
    if not mark:
        return None
    if mark not in {fingerprint(token) for token in settings().ops_tokens}:
        return None  # the token was rotated out
    return mark


def operator() -> str:
    """Who acts, for logs and for the reason kept with an item ('ops:<fingerprint>')."""
    return f"ops:{signed_in_as()}"


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


@bp.app_context_processor
def _csrf_in_templates():
    """Templates put {{ csrf_token() }} in every form."""
    return {"csrf_token": csrf_token}


@bp.before_request
def guard():
    """404 when the console is off; sign-in first; a valid CSRF token on every POST."""
    if not settings().ops_tokens:
        abort(404)
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or "csrf" not in session or not hmac.compare_digest(sent, session["csrf"]):
            log.warning("console POST without a valid CSRF token", extra={"fields": {"path": request.path}})
            abort(400, "missing or stale CSRF token: reload the page and try again")
    if request.endpoint not in OPEN_ENDPOINTS and signed_in_as() is None:
        return redirect(url_for("console.sign_in", next=request.full_path if request.method == "GET" else None))
    return None


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (never another site) after sign-in."""
    if target and target.startswith("/ops") and not target.startswith("//"):
        return target
    return url_for("console.overview")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """The sign-in form; a good token starts a session, a bad one gets 401, too many 429."""
    if request.method == "GET":
        return page("sign_in.html", next=request.args.get("next", ""))
    limiter = current_app.extensions["callrecon_sign_in_limiter"]
    address = request.remote_addr or "unknown"
    if limiter.blocked(address):
        log.warning("console sign-in refused: too many failed tries", extra={"fields": {"client": address}})
        response = page(
            "sign_in.html",
            status=429,
            error=f"Too many failed sign-ins: wait {FAILURE_WINDOW_S / 60:.0f} minutes and try again.",
        )
        response.headers["Retry-After"] = str(int(FAILURE_WINDOW_S))
        return response
    given = request.form.get("token", "")
    match = None
    for token in settings().ops_tokens:
        if hmac.compare_digest(token.encode(), given.encode()):
            match = token
    if match is None:
        failures = limiter.failed(address)
        log.warning(
            "console sign-in failed: the token is not in OPS_TOKENS",
            extra={"fields": {"client": address, "failures_in_window": failures}},
        )
        return page(
            "sign_in.html", status=401, error="That token is not one of OPS_TOKENS.", next=request.form.get("next", "")
        )
    session.clear()
    session.permanent = True
    session["op"] = fingerprint(match)
    csrf_token()
    log.info("console sign-in", extra={"fields": {"client": address, "operator": f"ops:{session['op']}"}})
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/sign-out")
def sign_out():
    """End the session."""
    session.clear()
    return redirect(url_for("console.sign_in"))
