"""callrecon's setting types as marshmallow fields, for environs (receiver/config/reading.py reads them).

environs does the reading, the defaults and the per-variable error collection; what is ours is only
the value types (durations with units, 'N/Ss' rate limits, weekdays, working hours, IANA zones),
the wording of their errors (the rest of "NAME='value' ..."), and how each value is written back
for describe(). A type only one vendor uses lives in that vendor's settings module.
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from urllib.parse import urlsplit

import marshmallow as ma


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""


MASK = "****"


class Setting(ma.fields.Field):
    """Base of our types: an error is the rest of "NAME='value' ...", a value is shown as it is written."""

    def hint(self) -> str:
        """The default, written the way the variable is, for 'use a form like ...' advice."""
        return "" if self.load_default in (None, ma.missing) else self._serialize(self.load_default, None, None)

    def _serialize(self, value, attr, obj, **kwargs):
        return "" if value is None else str(value)


class Text(Setting):
    """Free text, stripped."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value


class BaseUrl(Setting):
    """An address that paths are appended to, so without a trailing slash."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value.rstrip("/")


class DatabaseUrl(Setting):
    """A libpq URL; shown with its password masked."""

    def _deserialize(self, value, attr, data, **kwargs):
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        parts = urlsplit(value)
        if not parts.password:
            return value
        return value.replace(f":{parts.password}@", f":{MASK}@", 1)


class Upper(Setting):
    """A word compared in upper case, from a fixed set when one is given (LOG_LEVEL)."""

    def __init__(self, *, choices: tuple[str, ...] = (), **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        if self.choices and value.upper() not in self.choices:
            raise ma.ValidationError(f"is not one of {', '.join(self.choices)}")
        return value.upper()


class Count(Setting):
    """A whole number with a floor."""

    def __init__(self, *, minimum: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.minimum = minimum

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            number = int(value)
        except ValueError:
            raise ma.ValidationError(f"is not an integer: set it to a whole number like {self.hint()}") from None
        if number < self.minimum:
            raise ma.ValidationError(f"is below the minimum {self.minimum}: raise it or unset it for {self.hint()}")
        return number


class Choice(Setting):
    """One of a fixed set of words, case-insensitive."""

    def __init__(self, *, choices: tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        if value.lower() not in self.choices:
            raise ma.ValidationError(f"is not one of {', '.join(self.choices)}")
        return value.lower()


class Flag(Choice):
    """'true' or 'false' only (not yes/on/1: docs/configuration.md promises these two words)."""

    def __init__(self, **kwargs):
        super().__init__(choices=("true", "false"), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data) == "true"

    def _serialize(self, value, attr, obj, **kwargs):
        return "true" if value else "false"


class Names(Setting):
    """A comma-separated list, blanks dropped (token rotation lists the new and the old one)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return tuple(part.strip() for part in value.split(",") if part.strip())

    def _serialize(self, value, attr, obj, **kwargs):
        return ",".join(sorted(value) if isinstance(value, frozenset) else value)


class Tokens(Names):
    """Secret tokens, comma-separated (rotation lists the new and the old); each long enough not to be guessed."""

    MIN_LENGTH = 16

    def _deserialize(self, value, attr, data, **kwargs):
        tokens = super()._deserialize(value, attr, data)
        if any(len(token) < self.MIN_LENGTH for token in tokens):
            raise ma.ValidationError(
                f"has a token shorter than {self.MIN_LENGTH} characters: use long random ones, "
                "e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`"
            )
        return tokens


class Statuses(Names):
    """A comma-separated set of status words, compared in lower case."""

    def _deserialize(self, value, attr, data, **kwargs):
        return frozenset(name.lower() for name in super()._deserialize(value, attr, data))


class Zone(Setting):
    """An IANA time zone name."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            example = self.hint() or "Asia/Shanghai"
            raise ma.ValidationError(f"is not an IANA time zone: use a name like {example!r}") from None

    def _serialize(self, value, attr, obj, **kwargs):
        return "" if value is None else value.key


class Identifier(Setting):
    """A lower-case SQL name (role-name prefix): letters, digits and _, so it never needs quoting."""

    def __init__(self, *, max_length: int = 40, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value, attr, data, **kwargs):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", value) or len(value) > self.max_length:
            raise ma.ValidationError(
                f"is not a lower-case name of at most {self.max_length} letters, digits or _ (e.g. {self.hint()!r})"
            )
        return value


class MemorySize(Setting):
    """A PostgreSQL memory setting with its unit: '16MB', '512kB', '1GB'."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB)", value):
            raise ma.ValidationError(f"is not a size with a unit: use a form like {self.hint()!r} (kB, MB, GB)")
        return value


UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
# A unit is required: a bare "90" once meant 90 seconds to one reader and 90 days to another.
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)\s*$")


def parse_duration(text: str) -> float:
    """Seconds from '30s', '15m', '12h', '1.5h', '250ms'; a bare number is refused (which unit was meant?)."""
    match = DURATION_RE.match(text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * UNITS[match.group(2)]


def show_duration(seconds: float) -> str:
    """'30m' for 1800.0: the largest unit that divides it exactly."""
    for unit in ("d", "h", "m", "s"):
        if seconds >= UNITS[unit] and seconds % UNITS[unit] == 0:
            return f"{seconds / UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


class Duration(Setting):
    """Seconds, written with a unit: '30s', '15m', '12h', '15d', '250ms'."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ma.ValidationError(
                f"is not a duration with a unit: use a form like {self.hint()!r} (ms, s, m, h, d)"
            ) from None
        if seconds <= 0:
            raise ma.ValidationError("must be longer than zero")
        return seconds

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else show_duration(value)


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """N calls per period, e.g. '25/5s'."""

    calls: int
    period: float

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}s"


class Rate(Setting):
    """A RateLimit written CALLS/PERIOD: '25/5s'."""

    def _deserialize(self, value, attr, data, **kwargs):
        calls, _, period = value.partition("/")
        try:
            limit = RateLimit(int(calls), parse_duration(period or "x"))
        except ValueError:
            raise ma.ValidationError("is not a rate limit: use CALLS/PERIOD like '25/5s' or '10/60s'") from None
        if limit.calls < 1 or limit.period <= 0:
            raise ma.ValidationError("must allow at least 1 call per positive period")
        return limit


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class WorkingHours(Setting):
    """'09:00-19:00' (local time, end exclusive), kept as text: the analyst views parse it."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not _HOURS.match(value) or value.split("-")[0] >= value.split("-")[1]:
            raise ma.ValidationError(f"is not a time range like {self.hint()!r} (HH:MM-HH:MM, start before end)")
        return value


DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


class Weekdays(Setting):
    """'Mon-Sat', 'Mon,Wed,Fri' or '1,2,3' -> ISO weekday numbers (Mon=1)."""

    def _deserialize(self, value, attr, data, **kwargs):
        days: set[int] = set()
        try:
            for part in value.lower().split(","):
                first, _, last = part.strip().partition("-")
                a = DAY_NAMES[first[:3]] if first[:3] in DAY_NAMES else int(first)
                b = (DAY_NAMES[last[:3]] if last[:3] in DAY_NAMES else int(last)) if last else a
                days.update(range(a, b + 1))
        except (KeyError, ValueError):
            days = set()
        if not days or not days <= set(range(1, 8)):
            raise ma.ValidationError(f"is not a list of weekdays like {self.hint()!r}")
        return tuple(sorted(days))

    def _serialize(self, value, attr, obj, **kwargs):
        names = {number: name.title() for name, number in DAY_NAMES.items()}
        return ",".join(names[day] for day in value)
