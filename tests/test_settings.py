"""Settings: read once with environs, bad values named, the effective configuration shown with secrets masked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from receiver.config import ConfigError, RateLimit, Settings
from receiver.vendors import VENDORS

CONFIGURATION = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

SECRET_ENV = {
    "DATABASE_URL": "postgresql://callrecon:db-pass-5ecret@127.0.0.1:5432/callrecon",
    "OZONETEL_CALLBACK_TOKENS": "oz-token-5ecret-new, oz-token-5ecret-old",
    "OZONETEL_API_KEY": "oz-apikey-5ecret",
    "LSQ_API_KEY": "lsq-key-5ecret",
    "HUAWEI_CALLBACK_TOKENS": "hw-token-5ecret",
    "HUAWEI_AK": "hw-ak-5ecret",
    "HUAWEI_SK": "hw-sk-5ecret",
    "HUAWEI_TIMEZONE": "Asia/Shanghai",
}


def documented_variables() -> set[str]:
    """Every variable named in the first column of the tables under "## Variables" in docs/configuration.md."""
    section = CONFIGURATION.read_text().split("## Variables", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def test_describe_shows_every_documented_variable():
    shown = {name for name, _ in Settings.from_env({}, VENDORS).describe()}
    assert documented_variables() - shown == set()
    assert len(documented_variables()) > 60  # the tables were parsed, not skipped


def test_describe_masks_every_secret():
    settings = Settings.from_env(SECRET_ENV, VENDORS)
    text = repr(settings.describe())
    assert "5ecret" not in text and "5ecret" not in repr(settings)
    shown = dict(settings.describe())
    assert shown["DATABASE_URL"] == "postgresql://callrecon:****@127.0.0.1:5432/callrecon"
    assert shown["OZONETEL_CALLBACK_TOKENS"] == "**** (2 set)" and shown["HUAWEI_SK"] == "****"


def test_describe_writes_values_the_way_the_variables_are_written():
    shown = dict(
        Settings.from_env({"HUAWEI_CAMPAIGNS": "8:1001, 8:1002", "WORKING_DAYS": "mon-wed"}, VENDORS).describe()
    )
    assert (shown["SILENCE_THRESHOLD"], shown["LSQ_RATE_LIMIT"], shown["OZONETEL_HORIZON"]) == ("30m", "25/5s", "15d")
    assert (shown["HUAWEI_CAMPAIGNS"], shown["WORKING_DAYS"]) == ("8:1001,8:1002", "Mon,Tue,Wed")
    assert shown["OZONETEL_API_KEY"] == "" and shown["HUAWEI_TIMEZONE"] == ""


def test_values_are_typed_and_blank_means_the_default():
    settings = Settings.from_env(
        {
            "LSQ_RATE_LIMIT": "10/1m",
            "OZONETEL_WINDOW": "250ms",
            "DB_POOL_SIZE": "  ",
            "WORKING_DAYS": "Mon,Wed,Fri",
            "HUAWEI_CAMPAIGNS": "8:1001,,9:7",
            "LSQ_ASYNC_BASE_URL": "https://asyncapi.leadsquared.com/",
            "LOG_LEVEL": "debug",
            "OZONETEL_VERIFY_APIKEY": "FALSE",
            "LSQ_FINAL_STATUSES": "Success, Done",
        },
        VENDORS,
    )
    lsq, ozonetel = settings.section("leadsquared"), settings.section("ozonetel")
    assert lsq.rate_limit == RateLimit(10, 60.0) and ozonetel.window == 0.25
    assert settings.db_pool_size == 8 and settings.working_days == (1, 3, 5)
    assert settings.section("huawei").campaigns == ((8, 1001), (9, 7)) and settings.log_level == "DEBUG"
    assert lsq.base_url == "https://asyncapi.leadsquared.com"
    assert ozonetel.verify_apikey is False
    assert lsq.final_statuses == frozenset({"success", "done"})
    assert lsq.paths["call-log"] == "/1/api/telephony/logcallcomplete/status"
    defaults = Settings(vendors={v.name: v.settings() for v in VENDORS})
    assert Settings.from_env({}, VENDORS) == defaults  # the declared defaults are the defaults read


BAD = [  # one bad value per kind of setting: (variable, value, words the message must contain)
    ("DB_POOL_SIZE", "eight", "is not an integer"),
    ("LSQ_MAX_TRIES", "0", "below the minimum 1"),
    ("SILENCE_THRESHOLD", "half an hour", "is not a duration"),
    ("LSQ_TIMEOUT", "0s", "longer than zero"),
    ("LSQ_RATE_LIMIT", "25 per 5s", "is not a rate limit"),
    ("OZONETEL_RATE_LIMIT", "0/60s", "at least 1 call"),
    ("OZONETEL_TIMEZONE", "Mars/Olympus", "IANA time zone"),
    ("HUAWEI_TIMEZONE", "GMT+08:00", "IANA time zone"),
    ("LANDING_MODE", "later", "deferred, inline"),
    ("OZONETEL_VERIFY_APIKEY", "yes", "true, false"),
    ("HUAWEI_CAMPAIGNS", "8-1001", "vdnId:campaignId"),
    ("HUAWEI_CAMPAIGNS", "10000:1", "outside 1..9999"),
    ("WORKING_DAYS", "Weekdays", "list of weekdays"),
    ("WORKING_HOURS", "19:00-09:00", "time range"),
    ("PORT", "http", "is not an integer"),
    ("LOG_LEVEL", "VERBOSE", "DEBUG, INFO, WARNING"),  # it once crashed with "Unknown level" naming nothing
    ("LSQ_TIMEOUT", "20", "with a unit"),  # a bare number was seconds to one reader, days to another
]


@pytest.mark.parametrize("name,value,words", BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_value_names_the_variable_on_one_line(name, value, words):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"HUAWEI_TIMEZONE": "UTC", name: value}, VENDORS)
    message = str(error.value)
    assert message.startswith(f"{name}={value!r} ") and words in message and "\n" not in message


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(ConfigError, match=r"^DB_POOL_SIZE='0' .*; LSQ_TIMEOUT='soon' is not a duration"):
        Settings.from_env({"DB_POOL_SIZE": "0", "LSQ_TIMEOUT": "soon"}, VENDORS)
