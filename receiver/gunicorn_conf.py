"""Gunicorn settings, defaults from the environment: `gunicorn -c python:receiver.gunicorn_conf`."""

import os
import shutil
import tempfile

# prometheus-client picks single- or multi-process mode when first imported, so the folder must be
# in the environment before anything imports prometheus_client (receiver/__init__ imports lazily).
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _metrics_dir:
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)
    _made_metrics_dir = None
else:
    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="callrecon-metrics-")

from receiver.web.access_log import RedactingLogger  # noqa: E402  (after the metrics folder is set)

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


logger_class = RedactingLogger


def child_exit(server, worker):
    """Drop a dead worker's live-gauge files so /metrics stays truthful."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this config made (an operator-given one is left alone)."""
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
