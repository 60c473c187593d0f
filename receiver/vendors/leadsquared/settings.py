"""LeadSquared's settings section: async status polling (vendors.md §3), read with every other setting."""

from __future__ import annotations

from dataclasses import dataclass

from receiver.config.reading import setting
from receiver.config.values import BaseUrl, Count, Duration, Rate, RateLimit, Statuses, Text

NAME = "leadsquared"

KINDS = ("call-log", "lead-update", "opportunity-capture")
# Status paths: call-log from seed 000; the other two are inferred (vendors.md §3.2), so configurable.
DEFAULT_PATHS = {
    "call-log": "/1/api/telephony/logcallcomplete/status",
    "lead-update": "/lead/update/status",
    "opportunity-capture": "/opportunity/capture/status",
}
DEFAULT_RATE = RateLimit(25, 5.0)
DEFAULT_FINAL = frozenset({"success", "failure", "error"})


@dataclass(frozen=True)
class LeadSquaredSettings:
    """LeadSquared async status polling (vendors.md §3)."""

    base_url: str = setting("LSQ_ASYNC_BASE_URL", BaseUrl, "")
    api_key: str = setting("LSQ_API_KEY", Text, "", secret=True)
    call_log_path: str = setting("LSQ_STATUS_PATH_CALL_LOG", Text, DEFAULT_PATHS["call-log"])
    lead_update_path: str = setting("LSQ_STATUS_PATH_LEAD_UPDATE", Text, DEFAULT_PATHS["lead-update"])
    opportunity_capture_path: str = setting(
        "LSQ_STATUS_PATH_OPPORTUNITY_CAPTURE", Text, DEFAULT_PATHS["opportunity-capture"]
    )
    rate_limit: RateLimit = setting("LSQ_RATE_LIMIT", Rate, DEFAULT_RATE)  # noqa: RUF009 (a Field)
    poll_horizon: float = setting("LSQ_POLL_HORIZON", Duration, 12 * 3600.0)
    first_interval: float = setting("LSQ_POLL_FIRST_INTERVAL", Duration, 30.0)
    max_interval: float = setting("LSQ_POLL_MAX_INTERVAL", Duration, 15 * 60.0)
    final_statuses: frozenset = setting("LSQ_FINAL_STATUSES", Statuses, DEFAULT_FINAL)
    max_tries: int = setting("LSQ_MAX_TRIES", Count, 10, minimum=1)
    timeout: float = setting("LSQ_TIMEOUT", Duration, 20.0)

    @property
    def paths(self) -> dict[str, str]:
        """The status path of each request kind (KINDS)."""
        paths = (self.call_log_path, self.lead_update_path, self.opportunity_capture_path)
        return dict(zip(KINDS, paths, strict=True))

    def is_configured(self) -> bool:
        """True once any connection setting is given (so `--source all` should run it)."""
        return bool(self.base_url or self.api_key)

    def problems(self) -> list[str]:
        """What keeps this source from running, as messages naming the variables."""
        found = []
        if not self.base_url:
            found.append(
                "LSQ_ASYNC_BASE_URL is not set: use your region's async host, e.g. "
                "https://asyncapi-in21.leadsquared.com (docs/leadsquared.md lists them)"
            )
        elif not self.base_url.startswith(("http://", "https://")):
            found.append(f"LSQ_ASYNC_BASE_URL={self.base_url!r} must start with https://")
        if not self.api_key:
            found.append("LSQ_API_KEY is not set: export the account's x-api-key value")
        return found


def section(settings) -> LeadSquaredSettings:
    """This vendor's section of the settings."""
    return settings.section(NAME)
