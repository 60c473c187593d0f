"""Parsing environment values into typed settings, with errors that name the variable and the fix."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""


def tokens(raw: str) -> tuple[str, ...]:
    """Split a comma-separated token list, dropping blanks (rotation keeps old and new)."""
    return tuple(t.strip() for t in raw.split(",") if t.strip())


def integer(env, name: str, default: int, minimum: int = 0) -> int:
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


def zone(env, name: str, default: str) -> zoneinfo.ZoneInfo:
    """Parse an IANA time zone name or explain what is wrong with it."""
    raw = env.get(name, "").strip() or default
    try:
        return zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={raw!r} is not an IANA time zone: use a name like {default!r}") from None


UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds from '30s', '15m', '12h', '1.5h', '250ms' or a bare number of seconds."""
    match = DURATION_RE.match(text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def duration(env, name: str, default: str) -> float:
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


def choice(env, name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of words, or an error naming the variable and the choices."""
    raw = (env.get(name, "").strip() or default).lower()
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def campaign_pairs(env, name: str) -> tuple[tuple[int, int], ...]:
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


DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def working_hours(env, name: str, default: str) -> str:
    """'09:00-19:00' (local time, end exclusive), validated."""
    raw = env.get(name, "").strip() or default
    if not _HOURS.match(raw) or raw.split("-")[0] >= raw.split("-")[1]:
        raise ConfigError(f"{name}={raw!r} is not a time range like {default!r} (HH:MM-HH:MM, start before end)")
    return raw


def weekdays(env, name: str, default: str) -> tuple[int, ...]:
    """'Mon-Sat' or 'Mon,Wed,Fri' or '1,2,3' -> ISO weekday numbers (Mon=1)."""
    raw = (env.get(name, "").strip() or default).lower()
    days: set[int] = set()
    try:
        for part in raw.split(","):
            first, _, last = part.strip().partition("-")
            a = DAY_NAMES[first[:3]] if first[:3] in DAY_NAMES else int(first)
            b = (DAY_NAMES[last[:3]] if last[:3] in DAY_NAMES else int(last)) if last else a
            days.update(range(a, b + 1))
    except (KeyError, ValueError):
        raise ConfigError(f"{name}={raw!r} is not a list of weekdays like {default!r}") from None
    if not days or not days <= set(range(1, 8)):
        raise ConfigError(f"{name}={raw!r} is not a list of weekdays like {default!r}")
    return tuple(sorted(days))
