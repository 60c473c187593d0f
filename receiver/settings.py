"""Configuration: read from the environment once, in one place (warehouse style)."""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from receiver.env_values import (
    ConfigError,
    RateLimit,
    choice,
    duration,
    integer,
    tokens,
    weekdays,
    working_hours,
    zone,
)  # noqa: F401
from receiver.vendor_settings import LSQ_KINDS, HuaweiSettings, LeadSquaredSettings, OzonetelApiSettings

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/callrecon"
DEFAULT_SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@dataclass(frozen=True)
class Settings:
    """Everything callrecon reads from the environment; build it with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    ozonetel_callback_tokens: tuple[str, ...] = field(default=(), repr=False)
    ozonetel_timezone: zoneinfo.ZoneInfo = field(default_factory=lambda: zoneinfo.ZoneInfo("Asia/Kolkata"))
    ozonetel_api_key: str = field(default="", repr=False)
    ozonetel_verify_apikey: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    db_pool_size: int = 8
    db_pool_timeout: int = 5
    landing_mode: str = "inline"
    sql_dir: Path = DEFAULT_SQL_DIR
    log_level: str = "INFO"
    leadsquared: LeadSquaredSettings = field(default_factory=LeadSquaredSettings)
    reconcile_concurrency: int = 4
    huawei: HuaweiSettings = field(default_factory=HuaweiSettings)
    ozonetel_api: OzonetelApiSettings = field(default_factory=OzonetelApiSettings)
    business_timezone: zoneinfo.ZoneInfo = field(default_factory=lambda: zoneinfo.ZoneInfo("UTC"))
    silence_threshold: float = 1800.0
    working_hours: str = "09:00-19:00"
    working_days: tuple[int, ...] = (1, 2, 3, 4, 5, 6)

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        """Read and validate every setting; raise ConfigError naming the variable on a bad value."""
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            ozonetel_callback_tokens=tokens(env.get("OZONETEL_CALLBACK_TOKENS", "")),
            ozonetel_timezone=zone(env, "OZONETEL_TIMEZONE", "Asia/Kolkata"),
            ozonetel_api_key=env.get("OZONETEL_API_KEY", "").strip(),
            ozonetel_verify_apikey=choice(env, "OZONETEL_VERIFY_APIKEY", "true", ("true", "false")) == "true",
            max_body_bytes=integer(env, "MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024),
            db_pool_size=integer(env, "DB_POOL_SIZE", 8, minimum=1),
            db_pool_timeout=integer(env, "DB_POOL_TIMEOUT", 5, minimum=1),
            landing_mode=choice(env, "LANDING_MODE", "inline", ("inline", "deferred")),
            sql_dir=Path(env.get("CALLRECON_SQL_DIR", "").strip() or DEFAULT_SQL_DIR),
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
            leadsquared=LeadSquaredSettings.from_env(env),
            reconcile_concurrency=integer(env, "RECONCILE_CONCURRENCY", 4, minimum=1),
            huawei=HuaweiSettings.from_env(env),
            ozonetel_api=OzonetelApiSettings.from_env(env),
            business_timezone=zone(env, "BUSINESS_TIMEZONE", "UTC"),
            silence_threshold=duration(env, "SILENCE_THRESHOLD", "30m"),
            working_hours=working_hours(env, "WORKING_HOURS", "09:00-19:00"),
            working_days=weekdays(env, "WORKING_DAYS", "Mon-Sat"),
        )

    def callback_tokens(self, source: str) -> tuple[str, ...]:
        """The accepted URL tokens for one vendor source."""
        from receiver.vendors.registry import PUSHES  # here: the registry imports the vendor modules

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
        for name, value in (("OZONETEL_API_KEY", self.ozonetel_api_key), ("OZONETEL_USERNAME", api.username),
                            ("PUBLIC_BASE_URL", api.public_base_url)):
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
        values = (*self.ozonetel_callback_tokens, self.ozonetel_api_key, self.leadsquared.api_key,
                  *self.huawei.callback_tokens, self.huawei.ak, self.huawei.sk)
        return tuple(v for v in values if v)
