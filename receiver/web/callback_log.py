"""One log line per callback: what callrecon made of it, and what gunicorn sent back.

Served by gunicorn with callrecon's config, the access logger (receiver/web/access_log.py) writes
the callback's line itself, from the fields the callback route leaves in the WSGI environ, joined with the
access facts (status, bytes sent, request time, client): one JSON line per callback instead of
callrecon's line plus gunicorn's text line. Profiled, the two lines cost more CPU per callback
than the rest of the request path after the store. Anywhere else (tests, `flask run`) the route
logs the line itself.
"""

from __future__ import annotations

import logging

FIELDS_KEY = "callrecon.callback"
# Set in each gunicorn worker by receiver/gunicorn_conf.py when its access logger writes these lines.
joined_with_access_log = False


def callback_line(environ: dict, log: logging.Logger, fields: dict) -> None:
    """Log one callback's line now, or leave it in the WSGI environ for the access logger to write."""
    if joined_with_access_log:
        environ[FIELDS_KEY] = (log, fields)
    elif log.isEnabledFor(logging.INFO):
        log.info("callback", extra={"fields": fields})
