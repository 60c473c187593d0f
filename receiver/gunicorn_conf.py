"""Gunicorn settings, defaults from the environment: `gunicorn -c python:receiver.gunicorn_conf`."""

import os
import shutil
import tempfile

from gunicorn.glogging import Logger

# prometheus-client picks single- or multi-process mode when first imported, so the folder must be
# in the environment before any worker imports the app (this file must not import `receiver`).
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _metrics_dir:
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)
    _made_metrics_dir = None
else:
    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="callrecon-metrics-")

MASK = "***"

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A worker silent this long is killed and replaced; also bounds a request held by a slow client.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'


class RedactingLogger(Logger):
    """Access log without the callback token: /callbacks/<source>/<token> -> /callbacks/<source>/***."""

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


logger_class = RedactingLogger


def child_exit(server, worker):
    """Drop a dead worker's live-gauge files so /metrics stays truthful."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this config made (an operator-given one is left alone)."""
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
