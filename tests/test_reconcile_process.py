"""`callrecon reconcile` as a real process: SIGTERM finishes the item in hand and exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from conftest import SECRETS
from fakes import FakeLeadSquared, status_body

API_KEY = "proc-key-4b8e2f"
SECRETS.add(API_KEY)


def test_sigterm_mid_call_commits_that_item_and_exits_zero(cli_env, db, httpserver):
    fake = FakeLeadSquared(httpserver, API_KEY)
    in_call, release = threading.Event(), threading.Event()

    def first_call_blocks(request_id):
        if not in_call.is_set():
            in_call.set()
            release.wait(20)

    fake.on_call = first_call_blocks
    fake.default = lambda request_id, kind: (200, status_body(request_id, "Success"))
    db.execute("INSERT INTO lsq_request (request_id, kind) SELECT 'sig-' || n, 'call-log' FROM generate_series(1, 5) n")
    proc_env = {
        **os.environ,
        **cli_env,
        "LSQ_ASYNC_BASE_URL": fake.base_url,
        "LSQ_API_KEY": API_KEY,
        "RECONCILE_CONCURRENCY": "1",
    }
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "callrecon"),
            "reconcile",
            "--source",
            "leadsquared",
            "--loop",
            "--interval",
            "300",
        ],
        env=proc_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert in_call.wait(20), "the reconciler never called the fake"
        proc.send_signal(signal.SIGTERM)
        release.set()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert '"outcome": "stopped"' in out and '"Success": 1' in out
    assert db.execute("SELECT count(*) FROM lsq_request WHERE status = 'Success'").fetchone() == (1,)
    assert db.execute("SELECT outcome FROM reconcile_run").fetchall() == [("stopped",)]
    assert API_KEY not in out + err
