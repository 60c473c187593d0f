"""Gunicorn access logging that never writes a callback token, and writes each callback's one line."""

import logging

from gunicorn.glogging import Logger

from receiver.landing.masking import MASK
from receiver.web.callback_log import FIELDS_KEY


class RedactingLogger(Logger):
    """Access log without the callback token: /callbacks/<source>/<token> -> /callbacks/<source>/***."""

    def access(self, resp, req, environ, request_time):
        """A callback's JSON line (receiver/web/callback_log.py) with the access facts; else gunicorn's line."""
        left = environ.get(FIELDS_KEY)
        if left is None:
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return None
        log, fields = left
        if log.isEnabledFor(logging.INFO):
            status = resp.status
            fields = {
                **fields,
                "status": int(status.split(None, 1)[0]) if isinstance(status, str) else status,
                "bytes_sent": getattr(resp, "sent", None),
                "request_ms": round(request_time.total_seconds() * 1000, 1),
                "client": environ.get("REMOTE_ADDR"),
                "path": self._redact_line(environ.get("PATH_INFO") or ""),
            }
            log.info("callback", extra={"fields": fields})
        return None

    def atoms(self, resp, req, environ, request_time):
        """Gunicorn's log atoms with every path-bearing atom redacted."""
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q"):
            value = atoms.get(key)
            if isinstance(value, str) and "/callbacks/" in value:
                atoms[key] = self._redact_line(value)
        return atoms

    @staticmethod
    def _redact_line(value: str) -> str:
        """Mask the token segment wherever /callbacks/<source>/<token> appears in a log atom."""
        head, sep, tail = value.partition("/callbacks/")
        source, slash, rest = tail.partition("/")
        if not slash:
            return value
        token_end = min((i for i in (rest.find(c) for c in " ?#") if i >= 0), default=len(rest))
        return f"{head}{sep}{source}/{MASK}{rest[token_end:]}"
