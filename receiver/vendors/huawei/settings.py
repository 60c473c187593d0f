"""Huawei CC-iSales' settings section: push tokens, detail fetch, discovery (vendors.md §2)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import marshmallow as ma

from receiver.config.reading import setting
from receiver.config.values import BaseUrl, ConfigError, Count, Duration, Names, Setting, Text, Zone

NAME = "huawei"

TIMEZONE_REQUIRED = (
    "HUAWEI_TIMEZONE is not set: Huawei sends call times without a zone, in the tenant's time zone; "
    "set it to that IANA name (e.g. Asia/Shanghai for a GMT+08:00 tenant) so times are not misread as UTC"
)


class CampaignPairs(Setting):
    """'8:1001,8:1002' -> ((8, 1001), (8, 1002)): Huawei vdnId:campaignId pairs."""

    def _deserialize(self, value, attr, data, **kwargs):
        pairs = []
        for part in filter(None, (p.strip() for p in value.split(","))):
            vdn, _, campaign = part.partition(":")
            try:
                pair = (int(vdn), int(campaign))
            except ValueError:
                raise ma.ValidationError(f"has {part!r}, which is not vdnId:campaignId (e.g. 8:1001)") from None
            if not 1 <= pair[0] <= 9999:
                raise ma.ValidationError(f"has vdnId {pair[0]}, outside 1..9999")
            pairs.append(pair)
        return tuple(pairs)

    def _serialize(self, value, attr, obj, **kwargs):
        return ",".join(f"{vdn}:{campaign}" for vdn, campaign in value)


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

    def is_polled(self) -> bool:
        """True once any connection setting is given (so `--source all` should run its sources)."""
        return bool(self.base_url or self.ak or self.sk)

    def zone(self) -> zoneinfo.ZoneInfo:
        """HUAWEI_TIMEZONE: every naive Huawei time is read in it; there is no silent default."""
        if self.timezone is None:
            raise ConfigError(TIMEZONE_REQUIRED)
        return self.timezone

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


def section(settings) -> HuaweiSettings:
    """This vendor's section of the settings."""
    return settings.section(NAME)
