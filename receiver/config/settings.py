"""Configuration: read from the environment once, in one place (warehouse style), with environs.

Each setting is declared once, as a dataclass field naming its variable, its type and its default
(`setting(...)`); from_env, repr (secrets left out) and describe() are all derived from those lines.
"""

from __future__ import annotations

import dataclasses
import os
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from environs.fields import Path as PathField

from receiver.config.reading import SettingsEnv, described, setting
from receiver.config.values import (
    Choice,
    ConfigError,
    Count,
    DatabaseUrl,
    Duration,
    Flag,
    Identifier,
    MemorySize,
    Names,
    RateLimit,
    Text,
    Tokens,
    Upper,
    Weekdays,
    WorkingHours,
    Zone,
)
from receiver.vendors.leadsquared.settings import LSQ_KINDS, HuaweiSettings, LeadSquaredSettings, OzonetelApiSettings

__all__ = ["LSQ_KINDS", "ConfigError", "RateLimit", "Settings", "WebSettings"]

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/callrecon"
DEFAULT_SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
IST, UTC = zoneinfo.ZoneInfo("Asia/Kolkata"), zoneinfo.ZoneInfo("UTC")


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

    @classmethod
    def from_env(cls, env=None) -> WebSettings:
        """Only the web server's variables, so the gunicorn master does not need the vendors' ones."""
        reader = SettingsEnv(os.environ if env is None else env)
        values = reader.read(cls)
        reader.finish()
        return cls(**values)


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
    """Everything callrecon reads from the environment; build it with `Settings.from_env()`."""

    database_url: str = setting("DATABASE_URL", DatabaseUrl, DEFAULT_DATABASE_URL, in_repr=False)  # a password
    ozonetel_callback_tokens: tuple[str, ...] = setting("OZONETEL_CALLBACK_TOKENS", Names, (), secret=True)
    ozonetel_timezone: zoneinfo.ZoneInfo = setting("OZONETEL_TIMEZONE", Zone, IST)  # noqa: RUF009 (a Field)
    ozonetel_api_key: str = setting("OZONETEL_API_KEY", Text, "", secret=True)
    ozonetel_verify_apikey: bool = setting("OZONETEL_VERIFY_APIKEY", Flag, True)
    max_body_bytes: int = setting("MAX_BODY_BYTES", Count, 10 * 1024 * 1024, minimum=1024)
    db_pool_size: int = setting("DB_POOL_SIZE", Count, 8, minimum=1)
    db_pool_timeout: int = setting("DB_POOL_TIMEOUT", Count, 5, minimum=1)
    landing_mode: str = setting("LANDING_MODE", Choice, "deferred", choices=("deferred", "inline"))
    lander: str = setting("LANDER", Choice, "with-web", choices=("with-web", "separate"))
    lander_processes: int = setting("LANDER_PROCESSES", Count, 2, minimum=1)
    sql_dir: Path = setting("CALLRECON_SQL_DIR", PathField, DEFAULT_SQL_DIR)  # noqa: RUF009 (a Field)
    log_level: str = setting("LOG_LEVEL", Upper, "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    leadsquared: LeadSquaredSettings = field(default_factory=LeadSquaredSettings)
    reconcile_concurrency: int = setting("RECONCILE_CONCURRENCY", Count, 4, minimum=1)
    partitions_ahead: int = setting("PARTITIONS_AHEAD", Count, 4, minimum=1)
    # How long typed call rows are kept (callrecon prune drops whole months past it); unset keeps them.
    typed_retention: float | None = setting("TYPED_RETENTION", Duration, None)
    huawei: HuaweiSettings = field(default_factory=HuaweiSettings)
    ozonetel_api: OzonetelApiSettings = field(default_factory=OzonetelApiSettings)
    business_timezone: zoneinfo.ZoneInfo = setting("BUSINESS_TIMEZONE", Zone, UTC)  # noqa: RUF009 (a Field)
    silence_threshold: float = setting("SILENCE_THRESHOLD", Duration, 1800.0)
    working_hours: str = setting("WORKING_HOURS", WorkingHours, "09:00-19:00")
    working_days: tuple[int, ...] = setting("WORKING_DAYS", Weekdays, (1, 2, 3, 4, 5, 6))
    ops_tokens: tuple[str, ...] = setting("OPS_TOKENS", Tokens, (), secret=True)
    ops_session_secret: str = setting("OPS_SESSION_SECRET", Text, "", secret=True)
    # The console acts for an operator (replay, retry, give up, read the ledgers), with the rights of
    # the CLI: a login in the reconciler role, not the web role's. Opened only when OPS_TOKENS is set.
    ops_database_url: str = setting("OPS_DATABASE_URL", DatabaseUrl, "", in_repr=False)
    web: WebSettings = field(default_factory=WebSettings)
    roles: RoleSettings = field(default_factory=RoleSettings)
    # Sections of vendors added through the registry alone (README "Adding a vendor"), by vendor name.
    vendors: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env=None) -> Settings:
        """Read and validate every setting (os.environ or a plain dict); one ConfigError names each bad variable."""
        reader = SettingsEnv(os.environ if env is None else env)
        values = reader.read(cls)
        kinds = sections(cls)
        read = {name: reader.read(kind) for name, kind in kinds.items()}
        added = registered_sections(set(kinds.values()))
        read_added = {name: reader.read(kind) for name, kind in added.items()}
        reader.finish()  # bad values first; then the rules between values (HUAWEI_TIMEZONE), in the sections
        return cls(
            **values,
            **{name: kinds[name](**section) for name, section in read.items()},
            vendors={name: added[name](**section) for name, section in read_added.items()},
        )

    def describe(self) -> list[tuple[str, str]]:
        """The effective configuration as (variable, value shown), secrets masked: for `callrecon config`."""
        rows = described(self)
        for name in sections(type(self)):
            rows += described(getattr(self, name))
        for section in self.vendors.values():
            rows += described(section)
        return rows

    def section(self, vendor: str):
        """A vendor's settings section, as its registry entry declares it (built in, or added)."""
        from receiver.registry import VENDORS

        wanted = VENDORS[vendor].settings
        for name, kind in sections(type(self)).items():
            if kind is wanted:
                return getattr(self, name)
        return self.vendors[vendor]

    def callback_tokens(self, source: str) -> tuple[str, ...]:
        """The accepted URL tokens for one vendor source."""
        from receiver.registry import PUSHES  # here: the registry imports the vendor modules

        return PUSHES[source].tokens(self) if source in PUSHES else ()

    def database_settings(self) -> dict:
        """The callrecon.* settings the analyst views read (written by `callrecon db upgrade`)."""
        return {
            "callrecon.business_timezone": self.business_timezone.key,
            "callrecon.silence_threshold": f"{self.silence_threshold:g} seconds",
            "callrecon.working_hours": self.working_hours,
            "callrecon.working_days": ",".join(map(str, self.working_days)),
        }

    def ozonetel_problems(self) -> list[str]:
        """What keeps the Ozonetel reconciler from running, naming the variables."""
        api, found = self.ozonetel_api, []
        for name, value in (
            ("OZONETEL_API_KEY", self.ozonetel_api_key),
            ("OZONETEL_USERNAME", api.username),
            ("PUBLIC_BASE_URL", api.public_base_url),
        ):
            if not value:
                found.append(f"{name} is not set")
        if not api.campaigns:
            found.append("OZONETEL_CAMPAIGNS is not set: list the campaign names, comma-separated")
        if not self.ozonetel_callback_tokens:
            found.append("OZONETEL_CALLBACK_TOKENS is not set: the callBackUrl needs a token")
        if api.public_base_url and not api.public_base_url.startswith(("http://", "https://")):
            found.append(f"PUBLIC_BASE_URL={api.public_base_url!r} must start with https:// (Ozonetel insists)")
        return found

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, so masking and log checks can look for each of them."""
        values = (
            *self.ozonetel_callback_tokens,
            self.ozonetel_api_key,
            self.leadsquared.api_key,
            *self.huawei.callback_tokens,
            self.huawei.ak,
            self.huawei.sk,
            *self.ops_tokens,
            self.ops_session_secret,
        )
        return tuple(v for v in values if v)


def sections(cls) -> dict[str, type]:
    """The sections of a settings class (its dataclass-typed fields), each read from the same environment."""
    return {
        f.name: f.default_factory
        for f in dataclasses.fields(cls)
        if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory)
    }


def registered_sections(built_in: set) -> dict[str, type]:
    """Settings sections the vendor registry declares beyond the built-in ones, by vendor name."""
    from receiver.registry import VENDORS  # here: the registry imports the vendor modules

    return {v.name: v.settings for v in VENDORS.values() if v.settings and v.settings not in built_in}
