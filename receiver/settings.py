"""Configuration: read from the environment once, in one place (warehouse style)."""

from __future__ import annotations

import os
import re
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


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds from '30s', '15m', '12h', '1.5h', '250ms' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _duration(env, name: str, default: str) -> float:
    """Parse a duration setting or explain what is wrong with it."""
    raw = env.get(name, "").strip() or default
    try:
        seconds = parse_duration(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a duration: use a form like {default!r} (s, m, h)") from None
    if seconds <= 0:
        raise ConfigError(f"{name}={raw!r} must be longer than zero")
    return seconds


@dataclass(frozen=True)
class RateLimit:
    """N calls per period, e.g. '25/5s'."""

    calls: int
    period: float

    @classmethod
    def parse(cls, name: str, raw: str) -> "RateLimit":
        """'25/5s' -> RateLimit(25, 5.0); the error names the variable."""
        calls, _, period = raw.partition("/")
        try:
            limit = cls(int(calls), parse_duration(period or "x"))
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a rate limit: use CALLS/PERIOD like '25/5s' or '10/60s'") from None
        if limit.calls < 1 or limit.period <= 0:
            raise ConfigError(f"{name}={raw!r} must allow at least 1 call per positive period")
        return limit

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}s"


LSQ_KINDS = ("call-log", "lead-update", "opportunity-capture")
# Status paths: call-log from seed 000; the other two are inferred (vendors.md §3.2), so configurable.
LSQ_DEFAULT_PATHS = {
    "call-log": "/1/api/telephony/logcallcomplete/status",
    "lead-update": "/lead/update/status",
    "opportunity-capture": "/opportunity/capture/status",
}


@dataclass(frozen=True)
class LeadSquaredSettings:
    """LeadSquared async status polling (vendors.md §3)."""

    base_url: str = ""
    api_key: str = field(default="", repr=False)
    paths: dict = field(default_factory=lambda: dict(LSQ_DEFAULT_PATHS))
    rate_limit: RateLimit = RateLimit(25, 5.0)
    poll_horizon: float = 12 * 3600
    first_interval: float = 30.0
    max_interval: float = 15 * 60
    final_statuses: frozenset = frozenset({"success", "failure", "error"})
    not_found_runs: int = 3
    timeout: float = 20.0

    @classmethod
    def from_env(cls, env) -> "LeadSquaredSettings":
        """The LSQ_* variables."""
        paths = {kind: (env.get(f"LSQ_STATUS_PATH_{kind.upper().replace('-', '_')}", "").strip()
                        or default) for kind, default in LSQ_DEFAULT_PATHS.items()}
        finals = env.get("LSQ_FINAL_STATUSES", "").strip() or "Success,FAILURE,ERROR"
        return cls(
            base_url=env.get("LSQ_ASYNC_BASE_URL", "").strip().rstrip("/"),
            api_key=env.get("LSQ_API_KEY", "").strip(),
            paths=paths,
            rate_limit=RateLimit.parse("LSQ_RATE_LIMIT", env.get("LSQ_RATE_LIMIT", "").strip() or "25/5s"),
            poll_horizon=_duration(env, "LSQ_POLL_HORIZON", "12h"),
            first_interval=_duration(env, "LSQ_POLL_FIRST_INTERVAL", "30s"),
            max_interval=_duration(env, "LSQ_POLL_MAX_INTERVAL", "15m"),
            final_statuses=frozenset(s.strip().lower() for s in finals.split(",") if s.strip()),
            not_found_runs=_int(env, "LSQ_NOT_FOUND_RUNS", 3, minimum=1),
            timeout=_duration(env, "LSQ_TIMEOUT", "20s"),
        )

    def problems(self) -> list[str]:
        """What keeps this source from running, as messages naming the variables."""
        found = []
        if not self.base_url:
            found.append("LSQ_ASYNC_BASE_URL is not set: use your region's async host, e.g. "
                         "https://asyncapi-in21.leadsquared.com (README lists them)")
        elif not self.base_url.startswith(("http://", "https://")):
            found.append(f"LSQ_ASYNC_BASE_URL={self.base_url!r} must start with https://")
        if not self.api_key:
            found.append("LSQ_API_KEY is not set: export the account's x-api-key value")
        return found


OZONETEL_DEFAULT_API_URL = "https://in1-ccaas-bulkupload.ozonetel.com/endpoint/dailer/data/preview/download"


def _choice(env, name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of words, or an error naming the variable and the choices."""
    raw = (env.get(name, "").strip() or default).lower()
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class OzonetelApiSettings:
    """Ozonetel Campaign Dial Status requests (vendors.md §1.1); the receiver's own settings stay top-level."""

    api_url: str = OZONETEL_DEFAULT_API_URL
    username: str = ""
    campaigns: tuple[str, ...] = ()
    public_base_url: str = ""
    rate_limit: RateLimit = RateLimit(10, 60.0)
    window: float = 3600.0
    push_timeout: float = 900.0
    settle: float = 600.0
    max_tries: int = 3
    sortby: str = "1"
    apikey_in: str = "body"
    request_format: str = "json"
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env) -> "OzonetelApiSettings":
        """The OZONETEL_* variables of the reconciler."""
        return cls(
            api_url=env.get("OZONETEL_API_URL", "").strip() or OZONETEL_DEFAULT_API_URL,
            username=env.get("OZONETEL_USERNAME", "").strip(),
            campaigns=tuple(c.strip() for c in env.get("OZONETEL_CAMPAIGNS", "").split(",") if c.strip()),
            public_base_url=env.get("PUBLIC_BASE_URL", "").strip().rstrip("/"),
            rate_limit=RateLimit.parse("OZONETEL_RATE_LIMIT", env.get("OZONETEL_RATE_LIMIT", "").strip() or "10/60s"),
            window=_duration(env, "OZONETEL_WINDOW", "1h"),
            push_timeout=_duration(env, "OZONETEL_PUSH_TIMEOUT", "15m"),
            settle=_duration(env, "OZONETEL_SETTLE", "10m"),
            max_tries=_int(env, "OZONETEL_MAX_TRIES", 3, minimum=1),
            sortby=_choice(env, "OZONETEL_SORTBY", "1", ("0", "1", "2")),
            apikey_in=_choice(env, "OZONETEL_APIKEY_IN", "body", ("body", "header", "both")),
            request_format=_choice(env, "OZONETEL_REQUEST_FORMAT", "json", ("json", "form")),
            timeout=_duration(env, "OZONETEL_TIMEOUT", "30s"),
        )


def _campaigns(env, name: str) -> tuple[tuple[int, int], ...]:
    """'8:1001,8:1002' -> ((8, 1001), (8, 1002))."""
    pairs = []
    for part in env.get(name, "").split(","):
        if not part.strip():
            continue
        vdn, _, campaign = part.strip().partition(":")
        try:
            pair = (int(vdn), int(campaign))
        except ValueError:
            raise ConfigError(f"{name}: {part.strip()!r} is not vdnId:campaignId (e.g. 8:1001)") from None
        if not 1 <= pair[0] <= 9999:
            raise ConfigError(f"{name}: vdnId {pair[0]} is outside 1..9999")
        pairs.append(pair)
    return tuple(pairs)


@dataclass(frozen=True)
class HuaweiSettings:
    """Huawei CC-iSales: push tokens, detail fetch, discovery (vendors.md §2)."""

    callback_tokens: tuple[str, ...] = field(default=(), repr=False)
    base_url: str = ""
    ak: str = field(default="", repr=False)
    sk: str = field(default="", repr=False)
    timezone: zoneinfo.ZoneInfo = field(default_factory=lambda: zoneinfo.ZoneInfo("UTC"))
    campaigns: tuple = ()
    concurrency: int = 10
    batch_gap: float = 1.0
    timeout: float = 20.0
    not_found_tries: int = 6
    retry_first_interval: float = 60.0
    retry_max_interval: float = 3600.0
    signer: str = "auth-v2"
    discovery_days: int = 7
    page_size: int = 500
    ca_bundle: str = ""

    @classmethod
    def from_env(cls, env) -> "HuaweiSettings":
        """The HUAWEI_* variables."""
        return cls(
            callback_tokens=_tokens(env.get("HUAWEI_CALLBACK_TOKENS", "")),
            base_url=env.get("HUAWEI_BASE_URL", "").strip().rstrip("/"),
            ak=env.get("HUAWEI_AK", "").strip(),
            sk=env.get("HUAWEI_SK", "").strip(),
            timezone=_zone(env, "HUAWEI_TIMEZONE", "UTC"),
            campaigns=_campaigns(env, "HUAWEI_CAMPAIGNS"),
            concurrency=_int(env, "HUAWEI_CONCURRENCY", 10, minimum=1),
            batch_gap=_duration(env, "HUAWEI_BATCH_GAP", "1s"),
            timeout=_duration(env, "HUAWEI_TIMEOUT", "20s"),
            not_found_tries=_int(env, "HUAWEI_NOT_FOUND_TRIES", 6, minimum=1),
            retry_first_interval=_duration(env, "HUAWEI_RETRY_FIRST_INTERVAL", "60s"),
            retry_max_interval=_duration(env, "HUAWEI_RETRY_MAX_INTERVAL", "1h"),
            signer=env.get("HUAWEI_SIGNER", "").strip() or "auth-v2",
            discovery_days=_int(env, "HUAWEI_DISCOVERY_DAYS", 7, minimum=1),
            page_size=_int(env, "HUAWEI_PAGE_SIZE", 500, minimum=1),
            ca_bundle=env.get("HUAWEI_CA_BUNDLE", "").strip(),
        )

    def problems(self) -> list[str]:
        """What keeps the Huawei reconciler from running, naming the variables."""
        found = []
        if not self.base_url:
            found.append("HUAWEI_BASE_URL is not set: use the CC-iSales address, e.g. https://10.1.2.3:28443")
        if not (self.ak and self.sk):
            found.append("HUAWEI_AK and HUAWEI_SK must both be set (the C2 interface AK/SK from Huawei operations)")
        if self.page_size > 500:
            found.append(f"HUAWEI_PAGE_SIZE={self.page_size} is above Huawei's maximum of 500")
        if self.discovery_days > 30:
            found.append(f"HUAWEI_DISCOVERY_DAYS={self.discovery_days} is above Huawei's 30-day query range")
        return found


@dataclass(frozen=True)
class Settings:
    """Everything callrecon reads from the environment; build it with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    ozonetel_callback_tokens: tuple[str, ...] = field(default=(), repr=False)
    ozonetel_timezone: zoneinfo.ZoneInfo = field(default_factory=lambda: zoneinfo.ZoneInfo("Asia/Kolkata"))
    ozonetel_api_key: str = field(default="", repr=False)
    max_body_bytes: int = 10 * 1024 * 1024
    db_pool_size: int = 8
    db_pool_timeout: int = 5
    sql_dir: Path = DEFAULT_SQL_DIR
    log_level: str = "INFO"
    leadsquared: LeadSquaredSettings = field(default_factory=LeadSquaredSettings)
    reconcile_concurrency: int = 4
    huawei: HuaweiSettings = field(default_factory=HuaweiSettings)
    ozonetel_api: OzonetelApiSettings = field(default_factory=OzonetelApiSettings)

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
            leadsquared=LeadSquaredSettings.from_env(env),
            reconcile_concurrency=_int(env, "RECONCILE_CONCURRENCY", 4, minimum=1),
            huawei=HuaweiSettings.from_env(env),
            ozonetel_api=OzonetelApiSettings.from_env(env),
        )

    def callback_tokens(self, source: str) -> tuple[str, ...]:
        """The accepted URL tokens for one vendor source."""
        return {"ozonetel": self.ozonetel_callback_tokens, "huawei": self.huawei.callback_tokens}.get(source, ())

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
