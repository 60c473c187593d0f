"""Several processes, one database: two receivers and two reconcilers at once, each item once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from test_served import free_port, http, procfile, wait_until_healthy

from conftest import OZONETEL_TOKEN, ROOT, SECRETS
from fakes import FakeLeadSquared, status_body

API_KEY = "many-key-9c3e1d"
SECRETS.add(API_KEY)
LIMIT = (4, 1.0)  # the vendor's limit here, and the budget both reconcilers share


class WallClock:
    """The fake vendor's clock: its rate window is real time, as LeadSquared's is."""

    def now(self):
        return dt.datetime.now(dt.timezone.utc)


def test_two_receivers_and_two_reconcilers_land_every_item_once_within_the_vendor_limit(
    env, reconciler_url, db, vendor_server, tmp_path
):
    fake = FakeLeadSquared(vendor_server, API_KEY, limit=LIMIT, clock=WallClock())
    fake.default = lambda request_id, kind: (200, status_body(request_id, "Success"))
    db.execute(
        "INSERT INTO lsq_request (request_id, kind) SELECT 'many-' || n, 'call-log' FROM generate_series(1, 16) n"
    )
    base_env = {**os.environ, **env, "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"}
    base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "procs.log", "wb")
    web_argv = procfile("web")
    web_argv[0] = str(Path(sys.executable).parent / web_argv[0])
    ports = [free_port(), free_port()]
    webs = [
        subprocess.Popen(web_argv, cwd=ROOT, env={**base_env, "PORT": str(p)}, stdout=log, stderr=subprocess.STDOUT)
        for p in ports
    ]
    reconcile_env = {
        **base_env,
        "DATABASE_URL": reconciler_url,  # each process with its own role's login
        "LSQ_ASYNC_BASE_URL": fake.base_url,
        "LSQ_API_KEY": API_KEY,
        "LSQ_RATE_LIMIT": f"{LIMIT[0]}/{LIMIT[1]:g}s",
        "RECONCILE_CONCURRENCY": "3",
    }
    reconcile_argv = [str(Path(sys.executable).parent / "callrecon"), "reconcile", "--source", "leadsquared", "--once"]
    try:
        for port, web in zip(ports, webs, strict=True):
            wait_until_healthy(f"http://127.0.0.1:{port}", web, tmp_path / "procs.log")
        reconcilers = [
            subprocess.Popen(reconcile_argv, cwd=ROOT, env=reconcile_env, stdout=subprocess.PIPE, stderr=log)
            for _ in range(2)
        ]
        replies = []

        def push(port, calls):
            """Every call goes to both receivers: the same push twice, at about the same time."""
            url = f"http://127.0.0.1:{port}/callbacks/ozonetel/{OZONETEL_TOKEN}"
            for n in calls:
                body = {"monitorUCID": f"many-{n}", "CampaignName": "Renewals", "Status": "Answered"}
                replies.append(http("POST", url, json.dumps(body).encode()))

        threads = [
            threading.Thread(target=push, args=(port, range(start, 30, 3))) for port in ports for start in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        outputs = [proc.communicate(timeout=60)[0].decode() for proc in reconcilers]
    finally:
        for web in webs:
            web.terminate()
            web.wait(timeout=30)
        log.close()

    assert len(replies) == 60 and all(status == 200 for status, _ in replies), replies
    assert db.execute("SELECT count(*), min(seen_count), max(seen_count) FROM ozonetel_call").fetchone() == (30, 2, 2)
    assert db.execute("SELECT count(*) FROM raw_inbox WHERE status <> 'landed'").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM ozonetel_sighting").fetchone() == (60,)
    assert all(json.loads(out.splitlines()[-1])["outcome"] == "ok" for out in outputs), outputs
    # Each polled item was asked about once, by one of the two processes, and became final once.
    assert sorted(fake.calls.values()) == [1] * 16 and fake.repeat_final_polls == 0
    assert db.execute("SELECT count(*) FROM lsq_request WHERE status = 'Success'").fetchone() == (16,)
    assert fake.over_limit == 0  # the two processes together never went past the vendor's limit
    worked = [json.loads(out.splitlines()[-1])["counts"].get("Success", 0) for out in outputs]
    assert sum(worked) == 16
