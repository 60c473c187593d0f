"""Settings of each vendor the reconciler talks to (read once, with the rest, by Settings.from_env)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field

from receiver.env_values import ConfigError, RateLimit, campaign_pairs, choice, duration, integer, tokens, zone


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
    max_tries: int = 10
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
            poll_horizon=duration(env, "LSQ_POLL_HORIZON", "12h"),
            first_interval=duration(env, "LSQ_POLL_FIRST_INTERVAL", "30s"),
            max_interval=duration(env, "LSQ_POLL_MAX_INTERVAL", "15m"),
            final_statuses=frozenset(s.strip().lower() for s in finals.split(",") if s.strip()),
            max_tries=integer(env, "LSQ_MAX_TRIES", 10, minimum=1),
            timeout=duration(env, "LSQ_TIMEOUT", "20s"),
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
    retry_first_interval: float = 60.0
    retry_max_interval: float = 3600.0
    horizon: float = 15 * 86400
    recheck: float = 3600.0
    sortby: str = "2"
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
            window=duration(env, "OZONETEL_WINDOW", "1h"),
            push_timeout=duration(env, "OZONETEL_PUSH_TIMEOUT", "15m"),
            settle=duration(env, "OZONETEL_SETTLE", "10m"),
            max_tries=integer(env, "OZONETEL_MAX_TRIES", 3, minimum=1),
            retry_first_interval=duration(env, "OZONETEL_RETRY_FIRST_INTERVAL", "60s"),
            retry_max_interval=duration(env, "OZONETEL_RETRY_MAX_INTERVAL", "1h"),
            horizon=duration(env, "OZONETEL_HORIZON", "15d"),
            recheck=duration(env, "OZONETEL_RECHECK", "1h"),
            sortby=choice(env, "OZONETEL_SORTBY", "2", ("0", "1", "2")),
            apikey_in=choice(env, "OZONETEL_APIKEY_IN", "body", ("body", "header", "both")),
            request_format=choice(env, "OZONETEL_REQUEST_FORMAT", "json", ("json", "form")),
            timeout=duration(env, "OZONETEL_TIMEOUT", "30s"),
        )


TIMEZONE_REQUIRED = (
    "HUAWEI_TIMEZONE is not set: Huawei sends call times without a zone, in the tenant's time zone; "
    "set it to that IANA name (e.g. Asia/Shanghai for a GMT+08:00 tenant) so times are not misread as UTC")


@dataclass(frozen=True)
class HuaweiSettings:
    """Huawei CC-iSales: push tokens, detail fetch, discovery (vendors.md §2)."""

    callback_tokens: tuple[str, ...] = field(default=(), repr=False)
    base_url: str = ""
    ak: str = field(default="", repr=False)
    sk: str = field(default="", repr=False)
    timezone: zoneinfo.ZoneInfo | None = None
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
    max_tries: int = 8
    detail_horizon: float = 30 * 86400.0

    def __post_init__(self):
        """Huawei in use without HUAWEI_TIMEZONE is refused: its times carry no zone (vendors.md §2.5 [I])."""
        if self.is_configured() and self.timezone is None:
            raise ConfigError(TIMEZONE_REQUIRED)

    def is_configured(self) -> bool:
        """True once any Huawei push token or connection setting is given."""
        return bool(self.callback_tokens or self.base_url or self.ak or self.sk)

    @classmethod
    def from_env(cls, env) -> "HuaweiSettings":
        """The HUAWEI_* variables."""
        return cls(
            callback_tokens=tokens(env.get("HUAWEI_CALLBACK_TOKENS", "")),
            base_url=env.get("HUAWEI_BASE_URL", "").strip().rstrip("/"),
            ak=env.get("HUAWEI_AK", "").strip(),
            sk=env.get("HUAWEI_SK", "").strip(),
            timezone=zone(env, "HUAWEI_TIMEZONE", "Asia/Shanghai") if env.get("HUAWEI_TIMEZONE", "").strip()
            else None,
            campaigns=campaign_pairs(env, "HUAWEI_CAMPAIGNS"),
            concurrency=integer(env, "HUAWEI_CONCURRENCY", 10, minimum=1),
            batch_gap=duration(env, "HUAWEI_BATCH_GAP", "1s"),
            timeout=duration(env, "HUAWEI_TIMEOUT", "20s"),
            not_found_tries=integer(env, "HUAWEI_NOT_FOUND_TRIES", 6, minimum=1),
            retry_first_interval=duration(env, "HUAWEI_RETRY_FIRST_INTERVAL", "60s"),
            retry_max_interval=duration(env, "HUAWEI_RETRY_MAX_INTERVAL", "1h"),
            signer=env.get("HUAWEI_SIGNER", "").strip() or "auth-v2",
            discovery_days=integer(env, "HUAWEI_DISCOVERY_DAYS", 7, minimum=1),
            page_size=integer(env, "HUAWEI_PAGE_SIZE", 500, minimum=1),
            ca_bundle=env.get("HUAWEI_CA_BUNDLE", "").strip(),
            max_tries=integer(env, "HUAWEI_MAX_TRIES", 8, minimum=1),
            detail_horizon=duration(env, "HUAWEI_DETAIL_HORIZON", "30d"),
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
