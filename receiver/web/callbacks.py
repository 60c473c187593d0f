"""POST /callbacks/<source>/<token>: authenticate, store the raw body, land it, then answer."""

from __future__ import annotations

import hmac
import json
import logging
import time

from flask import Blueprint, current_app, jsonify, request

from receiver.landing import inbox
from receiver.landing.groupcommit import UNAVAILABLE
from receiver.landing.land import RawRef, land
from receiver.landing.masking import mask_body, mask_records, safe_headers, secret_values_in
from receiver.landing.payloads import BodyError, decode
from receiver.vendors.registry import LANDERS, PUSHES
from receiver.web import metrics
from receiver.web.callback_log import callback_line

bp = Blueprint("callbacks", __name__)
log = logging.getLogger("callrecon.callbacks")
RETRY_AFTER_SECONDS = 5


def token_ok(valid: tuple[str, ...], given: str) -> bool:
    """Constant-time match against every configured token (old and new during rotation)."""
    ok = False
    for token in valid:
        ok |= hmac.compare_digest(token.encode(), given.encode())
    return ok


def _finish(source, outcome, started, status_code, body, raw_id=None, records=0, landed=0, quarantined=0):
    """Count, log (never the token or body) and build the JSON reply."""
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
    callback_line(log, fields)
    # Not jsonify: it costs twice as much per callback (profiled), for the same compact JSON.
    return current_app.response_class(
        json.dumps(body, separators=(",", ":")) + "\n", status_code, mimetype="application/json"
    )


@bp.post("/callbacks/<source>/<token>")
def receive(source: str, token: str):
    """Store first, land second, reply last: a 2xx is sent only after the commit below."""
    started = time.perf_counter()
    settings = current_app.config["CALLRECON_SETTINGS"]
    if source not in LANDERS:
        return jsonify(
            error="not_found", message=f"unknown callback source {source!r}; use one of {sorted(LANDERS)}"
        ), 404
    valid = PUSHES[source].tokens(settings)
    if not token_ok(valid, token):
        message = (
            (
                f"the token in this URL is not accepted; copy the callback URL from `callrecon urls` "
                f"(tokens come from {source.upper()}_CALLBACK_TOKENS)"
            )
            if valid
            else (
                f"no callback token is configured for {source}, so every push is refused: set "
                f"{source.upper()}_CALLBACK_TOKENS and restart, then paste the URL from `callrecon urls`"
            )
        )
        return _finish(source, "unauthorized", started, 401, {"error": "unauthorized", "message": message})

    received = request.get_data(cache=False)  # bounded by MAX_CONTENT_LENGTH: 413 past it
    content_type = request.headers.get("Content-Type")
    deferred = settings.landing_mode == "deferred"
    apikey_check = None
    try:
        records = decode(received, content_type)
        apikey_check = PUSHES[source].check(records, settings)  # before masking: it compares the keys
        secrets = secret_values_in(records)
        if not deferred:  # deferred: `callrecon land` decodes and masks the stored body itself
            records = mask_records(records)
    except BodyError as exc:
        records, secrets = exc, set()
    secrets.update(settings.secret_values())
    raw = dict(
        source=source,
        client_addr=request.remote_addr,
        content_type=content_type,
        headers=safe_headers(request.headers.items(), secrets),
        body=mask_body(received, secrets),
        received_bytes=len(received),
        apikey_check=apikey_check,
    )
    if apikey_check is not None:
        metrics.observe_apikeys(source, apikey_check)

    try:
        if deferred:
            # Group commit returns only after the commit that holds this raw row.
            raw_id, _ = current_app.extensions["callrecon_raw_writer"].submit(raw)
            outcome = None
        else:
            with current_app.extensions["callrecon_pool"].connection() as conn:
                raw_id, received_at = inbox.store(conn, **raw)
                outcome = land(conn, LANDERS[source], RawRef(raw_id, received_at, apikey_check), records, settings)
        # The raw row (and any typed rows) are committed: only now may we answer 2xx.
    except UNAVAILABLE as exc:
        log.error("database unavailable", extra={"fields": {"source": source, "error": type(exc).__name__}})
        response = _finish(
            source,
            "db_unavailable",
            started,
            503,
            {
                "error": "database_unavailable",
                "message": "callrecon could not store this callback because its database is unavailable; "
                "nothing was kept, send it again shortly",
            },
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    answer = PUSHES[source].reply
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
        return _finish(source, "stored", started, *answer(200, reply), raw_id, count)
    reply = {"raw_id": raw_id, "stored": True, "records": outcome.record_count, "landed": outcome.landed}
    if outcome.status == "quarantined":
        # 202, not 4xx: the body is safely stored and a resend could never parse any better.
        reply.update(
            status="quarantined",
            parsed=False,
            error=outcome.error_json()["message"],
            message="stored but not (fully) parsed; it is kept for review and "
            "`callrecon replay` re-parses it after a fix; do not resend",
        )
        failed = len(outcome.errors) if outcome.fatal is None else max(outcome.record_count, 1)
        return _finish(
            source, "quarantined", started, *answer(202, reply), raw_id, outcome.record_count, outcome.landed, failed
        )
    reply.update(status=outcome.status, parsed=True)
    return _finish(source, outcome.status, started, *answer(200, reply), raw_id, outcome.record_count, outcome.landed)
