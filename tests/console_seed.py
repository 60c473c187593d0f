"""A console-ready app and a database with something to show: shared by the console's client and browser tests.

The seed is what an operator should notice: Huawei configured but silent, two Ozonetel callbacks
waiting for the lander, one quarantined callback (stored before a parser fix, with the account
Apikey still in its body, as bodies stored before masking had it), and reconciler work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import psycopg
from psycopg.types.json import Jsonb

from conftest import FIXTURE_APIKEY, OZONETEL_TOKEN, SECRETS, fixture_bytes
from receiver import create_app
from receiver.config import Settings
from receiver.vendors import VENDORS

OPS_TOKEN = "ops-new-4c1d9e7a2b6f8e0d"
OPS_OLD_TOKEN = "ops-old-7a2b6f8e0d4c1d9e"
SESSION_SECRET = "ops-session-secret-0f3e9a8b7c"
HUAWEI_TOKEN = "hw-token-6b1e0c9d2a7f"
# An Apikey of some other account inside a stored body: masked by its field name, not by its value.
FOREIGN_APIKEY = "ZZforeign9f8e7d6c5b4a3f2e1d0c9b8a7"
SECRETS.update({OPS_TOKEN, OPS_OLD_TOKEN, SESSION_SECRET, HUAWEI_TOKEN})
PAGE_SECRETS = (*SECRETS, FOREIGN_APIKEY)
QUARANTINED_PHONE = "9123456780"


def database_now(database_url: str) -> dt.datetime:
    """The console's pinned clock: the database's now() plus a minute, so rows the tests push (stamped by the
    database) are in the page's past however the test machine's own clock is set (docs/testing.md, faketime)."""
    with psycopg.connect(database_url) as conn:
        moment = conn.execute("SELECT now()").fetchone()[0]
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(minutes=1)


def console_env(env: dict) -> dict:
    """The test environment plus the console's settings; working hours all day, so silence is the clock's alone."""
    return {
        **env,
        "OPS_TOKENS": f"{OPS_TOKEN},{OPS_OLD_TOKEN}",
        "OPS_SESSION_SECRET": SESSION_SECRET,
        "HUAWEI_CALLBACK_TOKENS": HUAWEI_TOKEN,
        "WORKING_HOURS": "00:00-24:00",
        "WORKING_DAYS": "Mon-Sun",
        "SILENCE_THRESHOLD": "30m",
    }


def console_app(env: dict, now: dt.datetime):
    """The receiver app with the console on, its clock pinned at `now`."""
    app = create_app(Settings.from_env(console_env(env), VENDORS))
    app.config["CALLRECON_CLOCK"] = lambda: now
    return app


def csrf_from(html: str) -> str:
    """The CSRF token in a page's forms."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def sign_in(client, token: str = OPS_TOKEN):
    """Sign a Flask test client in; the response of the sign-in POST."""
    csrf = csrf_from(client.get("/ops/sign-in").get_data(as_text=True))
    return client.post("/ops/sign-in", data={"token": token, "csrf_token": csrf})


def _raw(conn, now, *, body: bytes, status: str, age: dt.timedelta, error=None, content_type="application/json"):
    """One raw_inbox row as an older receiver (or a deferred one) left it."""
    return conn.execute(
        "INSERT INTO raw_inbox (received_at, source, content_type, headers, body, body_sha256, body_bytes, status, "
        "error) "
        "VALUES (%s, 'ozonetel', %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            now - age,
            content_type,
            Jsonb({"Content-Type": content_type, "Authorization": "***"}),
            body,
            hashlib.sha256(body).hexdigest(),
            len(body),
            status,
            Jsonb(error) if error else None,
        ),
    ).fetchone()[0]


def seed(client, database_url: str, now: dt.datetime) -> dict:
    """Land one push through the endpoint, then add the rows an operator should notice; their ids."""
    landed = client.post(
        f"/callbacks/ozonetel/{OZONETEL_TOKEN}",
        data=fixture_bytes("ozonetel", "call_details__single.json"),
        content_type="application/json",
    )
    assert landed.status_code == 200, landed.get_data(as_text=True)
    record = json.loads(fixture_bytes("ozonetel", "call_details__single.json"))
    fixed = {
        **record,
        "monitorUCID": "2105229999000001",
        "CallerID": QUARANTINED_PHONE,
        "DialedNumber": QUARANTINED_PHONE,
    }
    assert fixed["Apikey"] == FIXTURE_APIKEY  # the account key, unmasked, as before masking existed
    with psycopg.connect(database_url, autocommit=True) as conn:
        ids = {
            "quarantined": _raw(
                conn,
                now,
                body=json.dumps(fixed).encode(),
                status="quarantined",
                age=dt.timedelta(hours=2),
                error={"message": "parser error: KeyError; see logs"},
            ),
            "foreign": _raw(
                conn,
                now,
                body=f"Apikey={FOREIGN_APIKEY}&note=hello".encode(),
                status="note",
                age=dt.timedelta(hours=3),
                content_type="application/x-www-form-urlencoded",
            ),
            "unlanded": [
                _raw(conn, now, body=b'{"monitorUCID": "u-1"}', status="received", age=dt.timedelta(minutes=m))
                for m in (4, 2)
            ],
        }
        ids["window_failing"] = conn.execute(
            "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state, tries, next_at, last_error) "
            "VALUES ('Renewals_Nov', %s, %s, 'timed-out', 1, %s, 'no push within 15m of request 1') RETURNING id",
            (now - dt.timedelta(hours=3), now - dt.timedelta(hours=2), now + dt.timedelta(minutes=20)),
        ).fetchone()[0]
        ids["window_failed"] = conn.execute(
            "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state, tries, next_at, last_error) "
            "VALUES ('Renewals_Nov', %s, %s, 'failed', 3, %s, 'gave up after 3 tries (OZONETEL_MAX_TRIES)') "
            "RETURNING id",
            (now - dt.timedelta(hours=6), now - dt.timedelta(hours=5), now - dt.timedelta(hours=1)),
        ).fetchone()[0]
    return ids


def scrub(database_url: str, ids: dict) -> None:
    """Take the seeded Apikey out of the database again, so conftest's scan checks only what the app wrote."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE raw_inbox SET body = convert_to(replace(convert_from(body, 'UTF8'), %s, '***'), 'UTF8') "
            "WHERE id = %s",
            (FIXTURE_APIKEY, ids["quarantined"]),
        )
