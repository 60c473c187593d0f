"""POST /callbacks/<source>/<token>: authenticate, store the raw body, land it, then answer.

The route is plain WSGI in front of Flask (`CallbackRoute`, installed by create_app), not a Flask
view. Vendors push every call outcome here, a campaign's end-of-day burst at once, and Flask's
per-request machinery (contexts, routing, sessions, response objects) cost about as much CPU as
storing the callback: on the same gunicorn workers, three paired runs answered 1.1-1.5x the
callbacks per second without it (bench/ingest: from 0.84-0.87 of its durable baseline b to
0.84-1.05). Flask still serves every other path, and a /callbacks/ path of another shape falls
through to its JSON 404. Replies and log lines are the same as the view's were.
"""

from __future__ import annotations

import hmac
import logging
import time
from http import HTTPStatus

from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from receiver import json_text
from receiver.landing import inbox
from receiver.landing.groupcommit import UNAVAILABLE
from receiver.landing.land import Outcome, RawRef, land
from receiver.landing.masking import mask_body, mask_records, safe_headers, secret_values_in
from receiver.landing.payloads import BodyError, decode
from receiver.web import errors, metrics
from receiver.web.callback_log import callback_line

log = logging.getLogger("callrecon.callbacks")
RETRY_AFTER_SECONDS = 5
ALLOWED = "OPTIONS, POST"


def token_ok(valid: tuple[str, ...], given: str) -> bool:
    """Constant-time match against every configured token (old and new during rotation)."""
    ok = False
    for token in valid:
        ok |= hmac.compare_digest(token.encode(), given.encode())
    return ok


def stated_length(environ) -> int | None:
    """The body's Content-Length, or None when it gives none (or a chunked body's)."""
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdecimal() and "HTTP_TRANSFER_ENCODING" not in environ:
        return int(length)
    return None


def read_body(environ, limit: int) -> bytes:
    """The request body; RequestEntityTooLarge past `limit` bytes, however the body is sent.

    A vendor's push states its length: that many bytes are read from the server's stream at once,
    without werkzeug's Request and its wrapped stream (14 us of a callback's CPU, profiled). A
    chunked body (no length) is read to its end, which the server marks (`wsgi.input_terminated`,
    as gunicorn does), one byte past the limit at most: werkzeug's own reader cut such a body at
    the limit and handed back the truncated part, which was stored and quarantined with a 202.
    Without a length or a server that ends the stream there is no body (werkzeug's rule).
    """
    stream = environ["wsgi.input"]
    size = stated_length(environ)
    if size is not None:
        if size > limit:
            raise RequestEntityTooLarge()
        body = stream.read(size) if size else b""
        if len(body) < size:
            raise ClientDisconnected()  # what werkzeug raises when the client sends less than it said
        return body
    if "wsgi.input_terminated" not in environ:
        return b""
    parts, size = [], 0
    while size <= limit:
        part = stream.read(limit + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(parts)


def _segment(text: str) -> str:
    """A path segment as Flask's router would pass it: WSGI strings are latin-1 for UTF-8 bytes."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text.encode("latin-1").decode("utf-8", "replace")


class CallbackRoute:
    """WSGI middleware answering /callbacks/<source>/<token>; anything else goes on to Flask."""

    def __init__(self, app):
        self.flask = app.wsgi_app
        self.settings = app.config["CALLRECON_SETTINGS"]
        self.extensions = app.extensions
        self.pushes = app.extensions["callrecon_vendors"].pushes

    def __call__(self, environ, start_response):
        parts = environ.get("PATH_INFO", "").split("/")
        if len(parts) != 4 or parts[0] or parts[1] != "callbacks" or not parts[2] or not parts[3]:
            return self.flask(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            start_response(
                "200 OK", [("Allow", ALLOWED), ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")]
            )
            return [b""]
        if method != "POST":
            body = {"error": "method_not_allowed", "message": errors.ADVICE[405]}
            return _respond(start_response, 405, body, [("Allow", ALLOWED)])
        try:
            status, body, headers = self.receive(environ, _segment(parts[2]), _segment(parts[3]))
        except Exception:  # a bug: log it with its traceback, answer 500 without details (as errors.crash)
            log.exception("unhandled error")
            status, body, headers = 500, errors.CRASH_REPLY, []
        return _respond(start_response, status, body, headers)

    def receive(self, environ, source: str, token: str) -> tuple[int, dict, list]:
        """Store first, land second, reply last: a 2xx is sent only after the commit in `store`."""
        started = time.perf_counter()
        push = self.pushes.get(source)
        if push is None:
            message = f"unknown callback source {source!r}; use one of {sorted(self.pushes)}"
            return 404, {"error": "not_found", "message": message}, []
        valid = push.tokens(self.settings)
        if not token_ok(valid, token):
            return _finish(environ, source, "unauthorized", started, 401, unauthorized(source, bool(valid)))
        limit = self.settings.max_body_bytes
        try:
            received = read_body(environ, limit)  # 413 past MAX_BODY_BYTES
        except RequestEntityTooLarge:
            metrics.observe(source, "too_large", time.perf_counter() - started)
            return 413, errors.too_large(source, stated_length(environ), limit, environ), []
        raw, records = self.raw_row(environ, source, push, received)
        try:
            raw_id, outcome = self.store(push, raw, records)
        except UNAVAILABLE as exc:
            # Nothing was committed: no 2xx may be sent.
            log.error("database unavailable", extra={"fields": {"source": source, "error": type(exc).__name__}})
            status, body, _ = _finish(environ, source, "db_unavailable", started, 503, UNAVAILABLE_REPLY)
            return status, body, [("Retry-After", str(RETRY_AFTER_SECONDS))]
        # The raw row (and any typed rows) are committed: only now may we answer 2xx.
        return answer(environ, source, push, started, raw_id, records, outcome)

    def raw_row(self, environ, source: str, push, received: bytes) -> tuple[dict, object]:
        """The raw row to store (its body and headers masked) and the decoded records (or the BodyError)."""
        settings = self.settings
        content_type = environ.get("CONTENT_TYPE")
        apikey_check = None
        try:
            records = decode(received, content_type)
            apikey_check = push.check(records, settings)  # before masking: it compares the keys
            secrets = secret_values_in(records)
            if settings.landing_mode != "deferred":  # deferred: the lander decodes and masks the stored body
                records = mask_records(records)
        except BodyError as exc:
            records, secrets = exc, set()
        secrets.update(settings.secret_values())
        if apikey_check is not None:
            metrics.observe_apikeys(source, apikey_check)
        raw = dict(
            source=source,
            client_addr=environ.get("REMOTE_ADDR"),
            content_type=content_type,
            headers=safe_headers(EnvironHeaders(environ).items(), secrets),
            body=mask_body(received, secrets),
            received_bytes=len(received),
            apikey_check=apikey_check,
        )
        return raw, records

    def store(self, push, raw: dict, records) -> tuple[int, Outcome | None]:
        """Commit the raw row (deferred: in the next group commit; inline: with its typed rows); (raw id, outcome)."""
        if self.settings.landing_mode == "deferred":
            # Group commit returns only after the commit that holds this raw row.
            raw_id, _ = self.extensions["callrecon_raw_writer"].submit(raw)
            return raw_id, None
        with self.extensions["callrecon_pool"].connection() as conn:
            raw_id, received_at = inbox.store(conn, **raw)
            ref = RawRef(raw_id, received_at, raw["apikey_check"])
            return raw_id, land(conn, push.land, ref, records, self.settings)


UNAVAILABLE_REPLY = {
    "error": "database_unavailable",
    "message": "callrecon could not store this callback because its database is unavailable; "
    "nothing was kept, send it again shortly",
}


def unauthorized(source: str, configured: bool) -> dict:
    """The 401 reply: which variable holds the tokens, and where the right URL comes from."""
    variable = f"{source.upper()}_CALLBACK_TOKENS"
    if configured:
        message = (
            f"the token in this URL is not accepted; copy the callback URL from `callrecon urls` "
            f"(tokens come from {variable})"
        )
    else:
        message = (
            f"no callback token is configured for {source}, so every push is refused: set "
            f"{variable} and restart, then paste the URL from `callrecon urls`"
        )
    return {"error": "unauthorized", "message": message}


def answer(environ, source: str, push, started: float, raw_id: int, records, outcome) -> tuple[int, dict, list]:
    """The 2xx for a committed callback, in the vendor's reply shape: stored, landed, a note, or quarantined."""
    if outcome is None:
        count = 0 if isinstance(records, BodyError) else len(records)
        reply = {
            "raw_id": raw_id,
            "stored": True,
            "records": count,
            "status": "stored",
            "parsed": False,
            "message": "stored; the lander lands it within moments (LANDING_MODE=deferred)",
        }
        return _finish(environ, source, "stored", started, *push.reply(200, reply), raw_id, count)
    reply = {"raw_id": raw_id, "stored": True, "records": outcome.record_count, "landed": outcome.landed}
    if outcome.status != "quarantined":
        reply.update(status=outcome.status, parsed=True)
        status, body = push.reply(200, reply)
        return _finish(
            environ, source, outcome.status, started, status, body, raw_id, outcome.record_count, outcome.landed
        )
    # 202, not 4xx: the body is safely stored and a resend could never parse any better.
    reply.update(
        status="quarantined",
        parsed=False,
        error=outcome.error_json()["message"],
        message="stored but not (fully) parsed; it is kept for review and "
        "`callrecon replay` re-parses it after a fix; do not resend",
    )
    failed = len(outcome.errors) if outcome.fatal is None else max(outcome.record_count, 1)
    status, body = push.reply(202, reply)
    return _finish(
        environ, source, "quarantined", started, status, body, raw_id, outcome.record_count, outcome.landed, failed
    )


def _finish(environ, source, outcome, started, status_code, body, raw_id=None, records=0, landed=0, quarantined=0):
    """Count and log (never the token or body) a callback; (status, reply, no extra headers)."""
    ms = (time.perf_counter() - started) * 1000
    metrics.observe(source, outcome, ms / 1000, landed=landed, quarantined=quarantined)
    fields = {
        "source": source,
        "outcome": outcome,
        "records": records,
        "landed": landed,
        "raw_id": raw_id,
        "status": status_code,
        "ms": round(ms, 1),
    }
    callback_line(environ, log, fields)
    return status_code, body, []


def _respond(start_response, status: int, body: dict, headers: list) -> list[bytes]:
    """Send a JSON reply; compact, as Flask's JSON provider writes it."""
    data = (json_text.dumps(body) + "\n").encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers],
    )
    return [data]
