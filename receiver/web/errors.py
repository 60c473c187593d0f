"""Every error leaves callrecon as JSON with a message a person can act on."""

from __future__ import annotations

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger("callrecon.errors")

ADVICE = {
    404: "no such endpoint; callbacks go to POST /callbacks/<source>/<token>",
    405: "wrong HTTP method; callbacks must be POSTed",
}


def register(app) -> None:
    """Install the JSON error handlers on the app."""

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc):
        """413 with the limit, so a sender knows to split the batch."""
        limit = app.config["MAX_CONTENT_LENGTH"]
        return jsonify(error="payload_too_large",
                       message=f"body exceeds MAX_BODY_BYTES={limit}; nothing was stored, send smaller batches"), 413

    @app.errorhandler(HTTPException)
    def http_error(exc):
        """Any other HTTP error as JSON."""
        message = ADVICE.get(exc.code, exc.description)
        return jsonify(error=exc.name.lower().replace(" ", "_"), message=message), exc.code

    @app.errorhandler(Exception)
    def crash(exc):
        """A bug: log it with its traceback, answer 500 without details."""
        log.exception("unhandled error")
        return jsonify(error="internal_error",
                       message="callrecon failed to handle this request; the error is logged, retry later"), 500
