"""The one Ozonetel CDR token every reconciler process shares, kept in PostgreSQL (ozonetel_cdr_token).

Ozonetel's token API (docs/vendors.md §1.5) gives a token for 60 minutes, at most 10 an
hour, and a new token voids every older one: two processes that each made their own would void
each other's in turn. So there is one row. A process reads it before each call; it makes a new one
only when the stored one has under RENEW_BEFORE left (or Ozonetel said it expired), under an
advisory lock, after reading the row again under that lock: whoever comes second takes over the
token the first just made. Makings are at least an hour / 10 apart, so the API's own limit holds
however many processes run. The token goes in a header and in this table only: never in a log,
an error, a stored body or on a page (it is masked like every secret the source knows).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket

from receiver.database.connect import connector
from reconciler.core.vendor_http import RateLimited, Unauthorized, VendorError, request_json

TOKEN_PATH = "/ca_apis/CAToken/generateToken"
LIFETIME = dt.timedelta(minutes=60)
RENEW_BEFORE = dt.timedelta(minutes=10)
MINTS_PER_HOUR = 10
MINT_SPACING = dt.timedelta(hours=1) / MINTS_PER_HOUR
LOCK_KEY = 7_110_031  # pg_advisory_xact_lock: one process makes a token at a time

READ = "SELECT token, minted_at, expires_at FROM ozonetel_cdr_token WHERE id = 1"
STORE = """
INSERT INTO ozonetel_cdr_token (id, token, minted_at, expires_at, minted_by)
VALUES (1, %(token)s, %(now)s, %(expires_at)s, %(by)s)
ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, minted_at = EXCLUDED.minted_at,
    expires_at = EXCLUDED.expires_at, minted_by = EXCLUDED.minted_by
"""
# Ozonetel said the token expired: it is no good to anyone, unless another process has replaced it.
SPENT = "UPDATE ozonetel_cdr_token SET expires_at = LEAST(expires_at, %(now)s) WHERE id = 1 AND token = %(token)s"


class TokenStore:
    """Hands out the shared token, making a new one when it is due (see the module's text)."""

    def __init__(self, database, session, base_url: str, username: str, api_key: str, timeout: float):
        self.database, self.session = connector(database), session
        self.base_url, self.username, self.api_key, self.timeout = base_url, username, api_key, timeout
        self.by = f"{socket.gethostname()}:{os.getpid()}"

    def token(self, now: dt.datetime, secrets) -> str:
        """A token with more than RENEW_BEFORE left: the stored one, or a new one this process makes."""
        with self.database.connect() as conn:
            row = conn.execute(READ).fetchone()
            if row and row[2] - now > RENEW_BEFORE:
                return row[0]
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                row = conn.execute(READ).fetchone()  # another process may have made one meanwhile
                if row and row[2] - now > RENEW_BEFORE:
                    return row[0]
                if row and now - row[1] < MINT_SPACING:
                    wait = (row[1] + MINT_SPACING - now).total_seconds()
                    raise RateLimited(f"a token was made {int((now - row[1]).total_seconds())} s ago", None, wait)
                token = self.mint(now, secrets)
                conn.execute(STORE, {"token": token, "now": now, "expires_at": now + LIFETIME, "by": self.by})
                return token

    def spent(self, token: str, now: dt.datetime) -> None:
        """Ozonetel refused `token` as expired: the next call makes a new one (if nobody has yet)."""
        with self.database.connect() as conn:
            conn.execute(SPENT, {"token": token, "now": now})

    def mint(self, now: dt.datetime, secrets) -> str:
        """POST the token API with the account's apiKey and userName."""
        reply = request_json(
            self.session,
            "POST",
            self.base_url + TOKEN_PATH,
            timeout=self.timeout,
            secrets=secrets,
            now=now,
            data=json.dumps({"userName": self.username}).encode(),
            headers={"apiKey": self.api_key, "Content-Type": "application/json"},
        )
        token = reply.get("token") if isinstance(reply, dict) else None
        if not token:
            message = str(reply.get("message") if isinstance(reply, dict) else reply)[:200]
            if "username" in message.lower() or "apikey" in message.lower():
                raise Unauthorized(f"Ozonetel's token API refused: {message}")
            raise VendorError(f"Ozonetel's token API gave no token: {message}")
        return str(token)
