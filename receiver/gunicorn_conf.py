"""Gunicorn settings, from the environment via WebSettings: `gunicorn -c python:receiver.gunicorn_conf`."""

import os
import shutil
import sys
import tempfile

import psycopg

from receiver.config import ConfigError, Settings
from receiver.database import connect
from receiver.vendors import VENDORS

# Every setting is checked once here, in the master: a typo stops the server with one line naming
# the variable, instead of a traceback from each worker and gunicorn's own "failed to boot" one.
try:
    _settings = Settings.from_env(vendors=VENDORS)
    web = _settings.web
except ConfigError as exc:
    print(f"callrecon: {exc}", file=sys.stderr)
    sys.exit(2)

# Behind a transaction pooler without DATABASE_POOLER=transaction, every worker would fail on its sixth
# statement of a kind; say so once, here. A database that does not answer yet is the app's to wait for.
try:
    connect.check(connect.Connector.of(_settings))
except connect.BehindPooler as exc:
    print(f"callrecon: {exc}", file=sys.stderr)
    sys.exit(2)
except psycopg.Error:
    pass

# prometheus-client picks single- or multi-process mode when first imported, so the folder must be
# in the environment before anything imports prometheus_client (receiver/__init__ imports lazily).
if web.metrics_dir:
    shutil.rmtree(web.metrics_dir, ignore_errors=True)
    os.makedirs(web.metrics_dir, exist_ok=True)
    _made_metrics_dir = None
else:
    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="callrecon-metrics-")

from receiver import logs  # noqa: E402  (after the metrics folder is set)
from receiver.landing.supervisor import LanderSupervisor, lander_argv  # noqa: E402
from receiver.web.access_log import RedactingLogger  # noqa: E402

# LANDING_MODE=deferred (the default) with LANDER=with-web: the master runs and restarts the landers.
_landers: list = []

bind = f"{web.host}:{web.port}"
workers = web.workers
worker_class = "gthread"
threads = web.threads
# A worker silent this long is killed and replaced; also bounds a request held by a slow client.
timeout = web.timeout
graceful_timeout = web.graceful_timeout
keepalive = web.keepalive
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'


logger_class = RedactingLogger


def when_ready(server):
    """Start the lander beside the workers, so stored callbacks land without another command."""
    if _settings.landing_mode == "deferred" and _settings.lander == "with-web":
        logs.configure(_settings)
        # Idle while a burst lasts (they stand aside), then they share the backlog (SKIP LOCKED).
        _landers.extend(LanderSupervisor(lander_argv(os.getpid())) for _ in range(_settings.lander_processes))
        for lander in _landers:
            lander.start()


def post_worker_init(worker):
    """Each callback's log line is written by the access logger, joined with the access facts."""
    from receiver.web import callback_log

    callback_log.joined_with_access_log = isinstance(worker.log, RedactingLogger) and worker.log.access_log_enabled


def child_exit(server, worker):
    """Drop a dead worker's live-gauge files so /metrics stays truthful."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Stop the lander; remove the metrics folder this config made (an operator-given one is left alone)."""
    for lander in _landers:
        lander.stop()
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
