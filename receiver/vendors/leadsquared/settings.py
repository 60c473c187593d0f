"""Settings of each vendor the reconciler talks to: one line per variable, read with the rest by Settings.from_env."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from receiver.config.reading import setting
from receiver.config.values import (
    BaseUrl,
    CampaignPairs,
    Choice,
    ConfigError,
    Count,
    Duration,
    Names,
    Rate,
    RateLimit,
    Statuses,
    Text,
    Zone,
)

LSQ_KINDS = ("call-log", "lead-update", "opportunity-capture")
# Status paths: call-log from seed 000; the other two are inferred (vendors.md §3.2), so configurable.
LSQ_DEFAULT_PATHS = {
    "call-log": "/1/api/telephony/logcallcomplete/status",
    "lead-update": "/lead/update/status",
    "opportunity-capture": "/opportunity/capture/status",
}
LSQ_RATE, OZONETEL_RATE = RateLimit(25, 5.0), RateLimit(10, 60.0)  # seed 003: 10 per minute
LSQ_FINAL = frozenset({"success", "failure", "error"})


@dataclass(frozen=True)
class LeadSquaredSettings:
    """LeadSquared async status polling (vendors.md §3)."""

    base_url: str = setting("LSQ_ASYNC_BASE_URL", BaseUrl, "")
    api_key: str = setting("LSQ_API_KEY", Text, "", secret=True)
    call_log_path: str = setting("LSQ_STATUS_PATH_CALL_LOG", Text, LSQ_DEFAULT_PATHS["call-log"])
    lead_update_path: str = setting("LSQ_STATUS_PATH_LEAD_UPDATE", Text, LSQ_DEFAULT_PATHS["lead-update"])
    opportunity_capture_path: str = setting(
        "LSQ_STATUS_PATH_OPPORTUNITY_CAPTURE", Text, LSQ_DEFAULT_PATHS["opportunity-capture"]
    )
    rate_limit: RateLimit = setting("LSQ_RATE_LIMIT", Rate, LSQ_RATE)  # noqa: RUF009 (a Field)
    poll_horizon: float = setting("LSQ_POLL_HORIZON", Duration, 12 * 3600.0)
    first_interval: float = setting("LSQ_POLL_FIRST_INTERVAL", Duration, 30.0)
    max_interval: float = setting("LSQ_POLL_MAX_INTERVAL", Duration, 15 * 60.0)
    final_statuses: frozenset = setting("LSQ_FINAL_STATUSES", Statuses, LSQ_FINAL)
    max_tries: int = setting("LSQ_MAX_TRIES", Count, 10, minimum=1)
    timeout: float = setting("LSQ_TIMEOUT", Duration, 20.0)

    @property
    def paths(self) -> dict[str, str]:
        """The status path of each request kind (LSQ_KINDS)."""
        paths = (self.call_log_path, self.lead_update_path, self.opportunity_capture_path)
        return dict(zip(LSQ_KINDS, paths, strict=True))

    def problems(self) -> list[str]:
        """What keeps this source from running, as messages naming the variables."""
        found = []
        if not self.base_url:
            found.append(
                "LSQ_ASYNC_BASE_URL is not set: use your region's async host, e.g. "
                "https://asyncapi-in21.leadsquared.com (README lists them)"
            )
        elif not self.base_url.startswith(("http://", "https://")):
            found.append(f"LSQ_ASYNC_BASE_URL={self.base_url!r} must start with https://")
        if not self.api_key:
            found.append("LSQ_API_KEY is not set: export the account's x-api-key value")
        return found


OZONETEL_DEFAULT_API_URL = "https://in1-ccaas-bulkupload.ozonetel.com/endpoint/dailer/data/preview/download"


@dataclass(frozen=True)
class OzonetelApiSettings:
    """Ozonetel Campaign Dial Status requests (vendors.md §1.1); the receiver's own settings stay top-level."""

    api_url: str = setting("OZONETEL_API_URL", Text, OZONETEL_DEFAULT_API_URL)
    username: str = setting("OZONETEL_USERNAME", Text, "")
    campaigns: tuple[str, ...] = setting("OZONETEL_CAMPAIGNS", Names, ())
    public_base_url: str = setting("PUBLIC_BASE_URL", BaseUrl, "")
    rate_limit: RateLimit = setting("OZONETEL_RATE_LIMIT", Rate, OZONETEL_RATE)  # noqa: RUF009 (a Field)
    window: float = setting("OZONETEL_WINDOW", Duration, 3600.0)
    push_timeout: float = setting("OZONETEL_PUSH_TIMEOUT", Duration, 900.0)
    settle: float = setting("OZONETEL_SETTLE", Duration, 600.0)
    max_tries: int = setting("OZONETEL_MAX_TRIES", Count, 3, minimum=1)
    retry_first_interval: float = setting("OZONETEL_RETRY_FIRST_INTERVAL", Duration, 60.0)
    retry_max_interval: float = setting("OZONETEL_RETRY_MAX_INTERVAL", Duration, 3600.0)
    horizon: float = setting("OZONETEL_HORIZON", Duration, 15 * 86400.0)
    recheck: float = setting("OZONETEL_RECHECK", Duration, 3600.0)
    sortby: str = setting("OZONETEL_SORTBY", Choice, "2", choices=("0", "1", "2"))
    apikey_in: str = setting("OZONETEL_APIKEY_IN", Choice, "body", choices=("body", "header", "both"))
    request_format: str = setting("OZONETEL_REQUEST_FORMAT", Choice, "json", choices=("json", "form"))
    timeout: float = setting("OZONETEL_TIMEOUT", Duration, 30.0)


TIMEZONE_REQUIRED = (
    "HUAWEI_TIMEZONE is not set: Huawei sends call times without a zone, in the tenant's time zone; "
    "set it to that IANA name (e.g. Asia/Shanghai for a GMT+08:00 tenant) so times are not misread as UTC"
)


@dataclass(frozen=True)
class HuaweiSettings:
    """Huawei CC-iSales: push tokens, detail fetch, discovery (vendors.md §2)."""

    callback_tokens: tuple[str, ...] = setting("HUAWEI_CALLBACK_TOKENS", Names, (), secret=True)
    base_url: str = setting("HUAWEI_BASE_URL", BaseUrl, "")
    ak: str = setting("HUAWEI_AK", Text, "", secret=True)
    sk: str = setting("HUAWEI_SK", Text, "", secret=True)
    timezone: zoneinfo.ZoneInfo | None = setting("HUAWEI_TIMEZONE", Zone, None)  # noqa: RUF009 (a Field)
    campaigns: tuple = setting("HUAWEI_CAMPAIGNS", CampaignPairs, ())
    concurrency: int = setting("HUAWEI_CONCURRENCY", Count, 10, minimum=1)
    batch_gap: float = setting("HUAWEI_BATCH_GAP", Duration, 1.0)
    timeout: float = setting("HUAWEI_TIMEOUT", Duration, 20.0)
    not_found_tries: int = setting("HUAWEI_NOT_FOUND_TRIES", Count, 6, minimum=1)
    retry_first_interval: float = setting("HUAWEI_RETRY_FIRST_INTERVAL", Duration, 60.0)
    retry_max_interval: float = setting("HUAWEI_RETRY_MAX_INTERVAL", Duration, 3600.0)
    signer: str = setting("HUAWEI_SIGNER", Text, "auth-v2")
    discovery_days: int = setting("HUAWEI_DISCOVERY_DAYS", Count, 7, minimum=1)
    page_size: int = setting("HUAWEI_PAGE_SIZE", Count, 500, minimum=1)
    ca_bundle: str = setting("HUAWEI_CA_BUNDLE", Text, "")
    max_tries: int = setting("HUAWEI_MAX_TRIES", Count, 8, minimum=1)
    detail_horizon: float = setting("HUAWEI_DETAIL_HORIZON", Duration, 30 * 86400.0)

    def __post_init__(self):
        """Huawei in use without HUAWEI_TIMEZONE is refused: its times carry no zone (vendors.md §2.5 [I])."""
        if self.is_configured() and self.timezone is None:
            raise ConfigError(TIMEZONE_REQUIRED)

    def is_configured(self) -> bool:
        """True once any Huawei push token or connection setting is given."""
        return bool(self.callback_tokens or self.base_url or self.ak or self.sk)

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
