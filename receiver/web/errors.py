"""Every error leaves callrecon as JSON with a message a person can act on."""

from __future__ import annotations

import logging

from flask import jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from receiver.web.callback_log import callback_line

log = logging.getLogger("callrecon.errors")

ADVICE = {
    404: "no such endpoint; callbacks go to POST /callbacks/<source>/<token>",
    405: "wrong HTTP method; callbacks must be POSTed",
}


CRASH_REPLY = {
    "error": "internal_error",
    "message": "callrecon failed to handle this request; the error is logged, retry later",
}


def too_large(source: str | None, content_length: int | None, limit: int, environ) -> dict:
    """The 413 reply, with the limit so a sender knows to split the batch; logged like every callback outcome."""
    fields = {
        "source": source,
        "outcome": "too_large",
        "status": 413,
        "content_length": content_length,
        "limit": limit,
    }
    callback_line(environ, log, fields)
    return {
        "error": "payload_too_large",
        "message": f"body exceeds MAX_BODY_BYTES={limit}; nothing was stored, send smaller batches",
    }


def register(app) -> None:
    """Install the JSON error handlers on the app."""

    @app.errorhandler(RequestEntityTooLarge)
    def body_too_large(exc):
        """413 for a body past MAX_BODY_BYTES on any Flask route (callbacks answer it in receiver.web.callbacks)."""
        return jsonify(too_large(None, request.content_length, app.config["MAX_CONTENT_LENGTH"], request.environ)), 413

    @app.errorhandler(HTTPException)
    def http_error(exc):
        """Any other HTTP error as JSON."""
        message = ADVICE.get(exc.code, exc.description)
        response = jsonify(error=exc.name.lower().replace(" ", "_"), message=message)
        response.status_code = exc.code
        for name, value in exc.get_headers():  # e.g. 405's Allow, which RFC 9110 §15.5.6 requires
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def crash(exc):
        """A bug: log it with its traceback, answer 500 without details."""
        log.exception("unhandled error")
        return jsonify(CRASH_REPLY), 500
