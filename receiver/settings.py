"""Configuration: read from the environment once, in one place (warehouse style)."""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/callrecon"
DEFAULT_SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""


def _tokens(raw: str) -> tuple[str, ...]:
    """Split a comma-separated token list, dropping blanks (rotation keeps old and new)."""
    return tuple(t.strip() for t in raw.split(",") if t.strip())


def _int(env, name: str, default: int, minimum: int = 0) -> int:
    """Parse an integer setting or explain what is wrong with it."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer: set it to a whole number like {default}") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}: raise it or unset it for {default}")
    return value


def _zone(env, name: str, default: str) -> zoneinfo.ZoneInfo:
    """Parse an IANA time zone name or explain what is wrong with it."""
    raw = env.get(name, "").strip() or default
    try:
        return zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={raw!r} is not an IANA time zone: use a name like {default!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything callrecon reads from the environment; build it with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    ozonetel_callback_tokens: tuple[str, ...] = ()
    ozonetel_timezone: zoneinfo.ZoneInfo = field(default_factory=lambda: zoneinfo.ZoneInfo("Asia/Kolkata"))
    ozonetel_api_key: str = ""
    max_body_bytes: int = 10 * 1024 * 1024
    db_pool_size: int = 8
    db_pool_timeout: int = 5
    sql_dir: Path = DEFAULT_SQL_DIR
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        """Read and validate every setting; raise ConfigError naming the variable on a bad value."""
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            ozonetel_callback_tokens=_tokens(env.get("OZONETEL_CALLBACK_TOKENS", "")),
            ozonetel_timezone=_zone(env, "OZONETEL_TIMEZONE", "Asia/Kolkata"),
            ozonetel_api_key=env.get("OZONETEL_API_KEY", "").strip(),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024),
            db_pool_size=_int(env, "DB_POOL_SIZE", 8, minimum=1),
            db_pool_timeout=_int(env, "DB_POOL_TIMEOUT", 5, minimum=1),
            sql_dir=Path(env.get("CALLRECON_SQL_DIR", "").strip() or DEFAULT_SQL_DIR),
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
        )

    def callback_tokens(self, source: str) -> tuple[str, ...]:
        """The accepted URL tokens for one vendor source."""
        return {"ozonetel": self.ozonetel_callback_tokens}.get(source, ())

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, so masking and log checks can look for each of them."""
        values = (*self.ozonetel_callback_tokens, self.ozonetel_api_key)
        return tuple(v for v in values if v)
