"""The core settings, read from the environment once (warehouse style), with environs.

Each setting is declared once, as a dataclass field naming its variable, its type and its default
(`setting(...)`). Vendors declare their own sections the same way, in their own folders; the registry
hands them to `Settings.from_env`, which reads them with the rest. from_env, repr (secrets left out),
describe() and secret_values() are all derived from those declarations: a setting declared with
`secret=True` is masked everywhere (logs, stored bodies, the console) without being listed again.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from environs.fields import Path as PathField

from receiver.config.reading import SettingsEnv, described, given, secrets_of, setting
from receiver.config.values import (
    BaseUrl,
    Choice,
    Count,
    DatabaseUrl,
    Duration,
    Identifier,
    MemorySize,
    Text,
    Tokens,
    Upper,
    Weekdays,
    WorkingHours,
    Zone,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/callrecon"
DEFAULT_SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
DEFAULT_EMBEDDED_PG_DIR = Path(__file__).resolve().parents[2] / ".callrecon-pg"
UTC = zoneinfo.ZoneInfo("UTC")


@dataclass(frozen=True)
class WebSettings:
    """gunicorn's bind, workers and timeouts (receiver/gunicorn_conf.py reads this section alone)."""

    host: str = setting("HOST", Text, "0.0.0.0")
    port: int = setting("PORT", Count, 8000, minimum=1)
    workers: int = setting("WEB_CONCURRENCY", Count, 2, minimum=1)
    threads: int = setting("GUNICORN_THREADS", Count, 4, minimum=1)
    timeout: int = setting("GUNICORN_TIMEOUT", Count, 30)
    graceful_timeout: int = setting("GUNICORN_GRACEFUL_TIMEOUT", Count, 30)
    keepalive: int = setting("GUNICORN_KEEPALIVE", Count, 5)
    metrics_dir: str = setting("PROMETHEUS_MULTIPROC_DIR", Text, "")


@dataclass(frozen=True)
class RoleSettings:
    """The PostgreSQL roles `callrecon db upgrade` keeps (receiver/database/roles.py) and the analysts' limits."""

    # Roles are global to the server: a prefix lets two installs (or two test runs) share one server.
    prefix: str = setting("DB_ROLE_PREFIX", Identifier, "callrecon")
    # The release step may connect as a user the services do not share (the owner role's login).
    release_database_url: str = setting("RELEASE_DATABASE_URL", DatabaseUrl, "", in_repr=False)
    analyst_statement_timeout: float = setting("ANALYST_STATEMENT_TIMEOUT", Duration, 60.0)
    analyst_work_mem: str = setting("ANALYST_WORK_MEM", MemorySize, "16MB")


@dataclass(frozen=True)
class Settings:
    """Everything callrecon reads from the environment; build it with `Settings.from_env(env, vendors)`."""

    database_url: str = setting("DATABASE_URL", DatabaseUrl, DEFAULT_DATABASE_URL, in_repr=False)  # a password
    # What sits between callrecon and PostgreSQL: `transaction` for PgBouncer (or any pooler) in
    # transaction mode, where no statement may stay prepared on a server connection.
    database_pooler: str = setting("DATABASE_POOLER", Choice, "none", choices=("none", "transaction"))
    # Where `callrecon db ensure` keeps the embedded PostgreSQL's data, and its port on 127.0.0.1: the server it
    # starts when DATABASE_URL is not set and nothing answers at the default address (receiver/database/embedded.py).
    embedded_pg_dir: Path = setting("EMBEDDED_PG_DIR", PathField, DEFAULT_EMBEDDED_PG_DIR)  # noqa: RUF009 (a Field)
    embedded_pg_port: int = setting("EMBEDDED_PG_PORT", Count, 54329, minimum=1)
    max_body_bytes: int = setting("MAX_BODY_BYTES", Count, 10 * 1024 * 1024, minimum=1024)
    db_pool_size: int = setting("DB_POOL_SIZE", Count, 8, minimum=1)
    db_pool_timeout: int = setting("DB_POOL_TIMEOUT", Count, 5, minimum=1)
    landing_mode: str = setting("LANDING_MODE", Choice, "deferred", choices=("deferred", "inline"))
    lander: str = setting("LANDER", Choice, "with-web", choices=("with-web", "separate"))
    lander_processes: int = setting("LANDER_PROCESSES", Count, 2, minimum=1)
    sql_dir: Path = setting("CALLRECON_SQL_DIR", PathField, DEFAULT_SQL_DIR)  # noqa: RUF009 (a Field)
    log_level: str = setting("LOG_LEVEL", Upper, "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    # callrecon's public address: the callback URLs it prints and asks vendors to push to, and the console's cookie.
    public_base_url: str = setting("PUBLIC_BASE_URL", BaseUrl, "")
    reconcile_concurrency: int = setting("RECONCILE_CONCURRENCY", Count, 4, minimum=1)
    partitions_ahead: int = setting("PARTITIONS_AHEAD", Count, 4, minimum=1)
    # How long typed call rows are kept (callrecon prune drops whole months past it); unset keeps them.
    typed_retention: float | None = setting("TYPED_RETENTION", Duration, None)
    business_timezone: zoneinfo.ZoneInfo = setting("BUSINESS_TIMEZONE", Zone, UTC)  # noqa: RUF009 (a Field)
    silence_threshold: float = setting("SILENCE_THRESHOLD", Duration, 1800.0)
    working_hours: str = setting("WORKING_HOURS", WorkingHours, "09:00-19:00")
    working_days: tuple[int, ...] = setting("WORKING_DAYS", Weekdays, (1, 2, 3, 4, 5, 6))
    ops_tokens: tuple[str, ...] = setting("OPS_TOKENS", Tokens, (), secret=True)
    ops_session_secret: str = setting("OPS_SESSION_SECRET", Text, "", secret=True)
    # The console acts for an operator (replay, retry, give up, read the ledgers), with the rights of
    # the CLI: a login in the reconciler role, not the web role's. Opened only when OPS_TOKENS is set.
    ops_database_url: str = setting("OPS_DATABASE_URL", DatabaseUrl, "", in_repr=False)
    # Where the console's pages read (a hot standby spares the primary); its actions stay on OPS_DATABASE_URL.
    console_database_url: str = setting("CONSOLE_DATABASE_URL", DatabaseUrl, "", in_repr=False)
    # A hot standby of DATABASE_URL's database (the analysts' replica): /metrics and `callrecon status` show its lag.
    standby_database_url: str = setting("STANDBY_DATABASE_URL", DatabaseUrl, "", in_repr=False)
    web: WebSettings = field(default_factory=WebSettings)
    roles: RoleSettings = field(default_factory=RoleSettings)
    # Each vendor's own section, by vendor name, as its registry entry declares it.
    vendors: dict = field(default_factory=dict, repr=False)
    # Whether DATABASE_URL was given: only an unset one lets `callrecon db ensure` choose the server.
    database_url_given: bool = field(default=False, repr=False)

    @classmethod
    def from_env(cls, env=None, vendors: Iterable = ()) -> Settings:
        """Read and validate every setting (os.environ or a plain dict), the sections of `vendors` (registry
        entries) included; one ConfigError names each bad variable."""
        environ = os.environ if env is None else env
        reader = SettingsEnv(environ)
        values = reader.read(cls)
        kinds = {"web": WebSettings, "roles": RoleSettings}
        read = {name: reader.read(kind) for name, kind in kinds.items()}
        sections = {vendor.name: vendor.settings for vendor in vendors if vendor.settings}
        read_sections = {name: reader.read(kind) for name, kind in sections.items()}
        reader.finish()  # bad values first; then the rules between values (e.g. a required zone), in the sections
        return cls(
            **values,
            **{name: kinds[name](**section) for name, section in read.items()},
            vendors={name: sections[name](**section) for name, section in read_sections.items()},
            database_url_given=bool(str(environ.get("DATABASE_URL", "")).strip()),
        )

    def sections(self) -> list:
        """The web and role sections, then each vendor's, in registry order."""
        return [self.web, self.roles, *self.vendors.values()]

    def describe(self) -> list[tuple[str, str]]:
        """The effective configuration as (variable, value shown), secrets masked: for `callrecon config`."""
        rows = described(self)
        for section in self.sections():
            rows += described(section)
        return rows

    def section(self, vendor: str):
        """A vendor's settings section, as its registry entry declares it."""
        return self.vendors[vendor]

    def uses(self, vendor: str) -> bool:
        """Whether any of a vendor's settings is given (a vendor that declares none counts as used)."""
        return vendor not in self.vendors or given(self.vendors[vendor])

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret (each setting declared `secret=True`), so masking can look for each of them."""
        found = secrets_of(self)
        for section in self.sections():
            found += secrets_of(section)
        return tuple(found)

    def database_settings(self) -> dict:
        """The callrecon.* settings the analyst views read (written by `callrecon db upgrade`)."""
        return {
            "callrecon.business_timezone": self.business_timezone.key,
            "callrecon.silence_threshold": f"{self.silence_threshold:g} seconds",
            "callrecon.working_hours": self.working_hours,
            "callrecon.working_days": ",".join(map(str, self.working_days)),
        }
