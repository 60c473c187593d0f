"""Stops the reconciler records when a vendor says part of our configuration is wrong.

An error stops only what it is about: an invalid Ozonetel campaign stops that campaign, a Huawei
error about one VDN stops that VDN, and only credential errors stop a whole source. Each stop
carries the vendor's words and the fix, for `callrecon status`. It lifts itself when the settings
it was recorded under change (their digest differs), or at `recheck_at`, when one call is allowed
through in case the fix was made in the vendor's console; a success then clears it.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from psycopg.rows import dict_row

RECORD = """
INSERT INTO reconcile_block (source, scope, key, reason, fix, config_hash, since, last_seen_at, recheck_at)
VALUES (%(source)s, %(scope)s, %(key)s, %(reason)s, %(fix)s, %(config_hash)s, %(now)s, %(now)s, %(recheck_at)s)
ON CONFLICT (source, scope, key) DO UPDATE SET
    reason = EXCLUDED.reason, fix = EXCLUDED.fix, last_seen_at = EXCLUDED.last_seen_at,
    recheck_at = EXCLUDED.recheck_at,
    since = CASE WHEN reconcile_block.config_hash = EXCLUDED.config_hash THEN reconcile_block.since
                 ELSE EXCLUDED.since END,
    config_hash = EXCLUDED.config_hash
"""
# Blocked keys of one source and scope that are still in force: same settings, recheck not yet due.
ACTIVE = """
SELECT key FROM reconcile_block
WHERE source = %(source)s AND scope = %(scope)s AND config_hash = %(config_hash)s AND recheck_at > %(now)s
"""
# Every stop of one source and scope, for scopes whose keys each have their own settings digest.
KEYED = "SELECT key, config_hash, recheck_at FROM reconcile_block WHERE source = %(source)s AND scope = %(scope)s"
LIFT = "DELETE FROM reconcile_block WHERE source = %(source)s AND scope = %(scope)s AND key = %(key)s"
LIFT_CHANGED = """
DELETE FROM reconcile_block WHERE source = %(source)s AND scope = %(scope)s AND config_hash <> %(config_hash)s
"""
LIST = """
SELECT source, scope, key, reason, fix, since, last_seen_at, recheck_at FROM reconcile_block
ORDER BY source, scope, key
"""


def config_hash(*values) -> str:
    """A short digest of the settings a stop depends on (secrets go in only as part of the digest)."""
    return hashlib.sha256("\x1f".join(str(v) for v in values).encode()).hexdigest()[:16]


def record(
    conn, source: str, scope: str, key: str, *, reason: str, fix: str, config: str, now: dt.datetime, recheck: float
) -> None:
    """Stop asking about `key` (a campaign, a VDN, or '' for the source) until the fix or the recheck."""
    conn.execute(
        RECORD,
        {
            "source": source,
            "scope": scope,
            "key": key,
            "reason": reason[:500],
            "fix": fix[:500],
            "config_hash": config,
            "now": now,
            "recheck_at": now + dt.timedelta(seconds=recheck),
        },
    )


def active(conn, source: str, scope: str, config: str, now: dt.datetime) -> set[str]:
    """Keys still stopped; stops recorded under other settings are dropped first (the operator fixed them)."""
    conn.execute(LIFT_CHANGED, {"source": source, "scope": scope, "config_hash": config})
    return {
        row[0] for row in conn.execute(ACTIVE, {"source": source, "scope": scope, "config_hash": config, "now": now})
    }


def active_per_key(conn, source: str, scope: str, digest, now: dt.datetime) -> set[str]:
    """Like active(), when each key's stop depends on its own settings (`digest(key)`, e.g. a Huawei VDN)."""
    held = set()
    for key, recorded, recheck_at in conn.execute(KEYED, {"source": source, "scope": scope}).fetchall():
        if recorded != digest(key):
            lift(conn, source, scope, key)
        elif recheck_at > now:
            held.add(key)
    return held


def lift(conn, source: str, scope: str, key: str = "") -> None:
    """A call about `key` succeeded: it is no longer stopped."""
    conn.execute(LIFT, {"source": source, "scope": scope, "key": key})


def listing(conn) -> list[dict]:
    """Every stop in force or awaiting its recheck, for `callrecon status`."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST).fetchall()
