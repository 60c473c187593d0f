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


def _source() -> str | None:
    """The vendor source named in a callback path, if the request was one (never the token)."""
    args = request.view_args or {}
    return args.get("source")


def register(app) -> None:
    """Install the JSON error handlers on the app."""

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc):
        """413 with the limit, so a sender knows to split the batch; logged like every callback outcome."""
        limit = app.config["MAX_CONTENT_LENGTH"]
        fields = {
            "source": _source(),
            "outcome": "too_large",
            "status": 413,
            "content_length": request.content_length,
            "limit": limit,
        }
        callback_line(log, fields)
        return jsonify(
            error="payload_too_large",
            message=f"body exceeds MAX_BODY_BYTES={limit}; nothing was stored, send smaller batches",
        ), 413

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
        return jsonify(
            error="internal_error", message="callrecon failed to handle this request; the error is logged, retry later"
        ), 500
