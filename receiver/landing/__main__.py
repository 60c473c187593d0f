"""`python -m receiver.landing PARENT_PID`: the lander the web server runs beside its workers.

The gunicorn master starts LANDER_PROCESSES of these (receiver/landing/supervisor.py) at a lower CPU
priority; each follows the raw inbox as `callrecon land --follow` does, with its defaults, until
SIGTERM or until the master (PARENT_PID) is gone. The process reads its settings like every other,
for the vendors callrecon ships with, so landing stays within the receiver from push to typed row.
"""

from __future__ import annotations

import sys

import psycopg

from receiver import logs
from receiver.config import ConfigError, Settings
from receiver.database.connect import Connector
from receiver.database.pool import unreachable
from receiver.landing import lander
from receiver.vendors import VENDORS


def main(argv: list[str]) -> int:
    """Follow the raw inbox; exit 2 with one line when the settings or the database are not right."""
    try:
        settings = Settings.from_env(vendors=VENDORS)
        logs.configure(settings)
        conn = Connector.of(settings).connect()
    except ConfigError as exc:
        print(f"callrecon lander: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"callrecon lander: {unreachable(settings.database_url, exc)}", file=sys.stderr)
        return 2
    return lander.land(
        conn,
        settings,
        VENDORS.pushes,
        follow=True,
        interval=lander.INTERVAL_S,
        yield_above=lander.YIELD_ABOVE_PER_S,
        max_lag=lander.MAX_LAG_S,
        parent_pid=int(argv[0]) if argv else None,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
