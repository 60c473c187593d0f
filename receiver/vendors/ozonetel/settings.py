"""Ozonetel CloudAgent's settings section: its pushes (tokens, Apikey check, zone) and its Campaign
Dial Status requests (vendors.md §1.1), read with every other setting."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from receiver.config.reading import setting
from receiver.config.values import BaseUrl, Choice, Count, Duration, Flag, Names, Rate, RateLimit, Text, Zone

NAME = "ozonetel"

DEFAULT_API_URL = "https://in1-ccaas-bulkupload.ozonetel.com/endpoint/dailer/data/preview/download"
DEFAULT_RATE = RateLimit(10, 60.0)  # seed 003: 10 per minute
CDR_RATE = RateLimit(2, 60.0)  # vendors.md §1.5: 2 requests a minute, pages and by-UCID calls alike
IST = zoneinfo.ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True)
class OzonetelSettings:
    """Ozonetel pushes and Campaign Dial Status requests (vendors.md §1)."""

    callback_tokens: tuple[str, ...] = setting("OZONETEL_CALLBACK_TOKENS", Names, (), secret=True)
    timezone: zoneinfo.ZoneInfo = setting("OZONETEL_TIMEZONE", Zone, IST)  # noqa: RUF009 (a Field)
    api_key: str = setting("OZONETEL_API_KEY", Text, "", secret=True)
    verify_apikey: bool = setting("OZONETEL_VERIFY_APIKEY", Flag, True)
    api_url: str = setting("OZONETEL_API_URL", Text, DEFAULT_API_URL)
    username: str = setting("OZONETEL_USERNAME", Text, "")
    campaigns: tuple[str, ...] = setting("OZONETEL_CAMPAIGNS", Names, ())
    rate_limit: RateLimit = setting("OZONETEL_RATE_LIMIT", Rate, DEFAULT_RATE)  # noqa: RUF009 (a Field)
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
    # The CDR report (docs/ozonetel.md, "CDR pull"): runs once OZONETEL_CDR_URL is set.
    cdr_url: str = setting("OZONETEL_CDR_URL", BaseUrl, "")
    cdr_auth: str = setting("OZONETEL_CDR_AUTH", Choice, "both", choices=("apikey", "token", "both"))
    cdr_rate_limit: RateLimit = setting("OZONETEL_CDR_RATE_LIMIT", Rate, CDR_RATE)  # noqa: RUF009 (a Field)
    cdr_settle: float = setting("OZONETEL_CDR_SETTLE", Duration, 3 * 3600.0)
    cdr_refetch: float = setting("OZONETEL_CDR_REFETCH", Duration, 24 * 3600.0)
    cdr_lookback: float = setting("OZONETEL_CDR_LOOKBACK", Duration, 15 * 86400.0)
    cdr_page_size: int = setting("OZONETEL_CDR_PAGE_SIZE", Count, 1000, minimum=1)
    cdr_match_window: float = setting("OZONETEL_CDR_MATCH_WINDOW", Duration, 120.0)
    cdr_max_tries: int = setting("OZONETEL_CDR_MAX_TRIES", Count, 6, minimum=1)

    def is_polled(self) -> bool:
        """True once any of the dial-status requests' settings is given (so `--source all` should run them).

        A user name alone with OZONETEL_CDR_URL is an install that pulls the CDR for the whole account
        and asks for no pushes: the requests are not wanted there, not misconfigured.
        """
        return bool(self.campaigns or (self.username and not self.cdr_url))

    def cdr_problems(self) -> list[str]:
        """What keeps the CDR pull from running, naming the variables."""
        found = [
            f"{name} is not set"
            for name, value in (("OZONETEL_USERNAME", self.username), ("OZONETEL_API_KEY", self.api_key))
            if not value
        ]
        if not self.cdr_url:
            found.append("OZONETEL_CDR_URL is not set: the report host, e.g. https://in1-ccaas-api.ozonetel.com")
        elif not self.cdr_url.startswith(("http://", "https://")):
            found.append(f"OZONETEL_CDR_URL={self.cdr_url!r} must start with https://")
        return found

    def problems(self, public_base_url: str) -> list[str]:
        """What keeps the dial-status requests from running, naming the variables."""
        found = []
        for name, value in (
            ("OZONETEL_API_KEY", self.api_key),
            ("OZONETEL_USERNAME", self.username),
            ("PUBLIC_BASE_URL", public_base_url),
        ):
            if not value:
                found.append(f"{name} is not set")
        if not self.campaigns:
            found.append("OZONETEL_CAMPAIGNS is not set: list the campaign names, comma-separated")
        if not self.callback_tokens:
            found.append("OZONETEL_CALLBACK_TOKENS is not set: the callBackUrl needs a token")
        if public_base_url and not public_base_url.startswith(("http://", "https://")):
            found.append(f"PUBLIC_BASE_URL={public_base_url!r} must start with https:// (Ozonetel insists)")
        return found


def section(settings) -> OzonetelSettings:
    """This vendor's section of the settings."""
    return settings.section(NAME)
