"""Marshmallow schema base and the lenient field types vendor payloads need."""

from __future__ import annotations

import datetime as dt
import math
import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields

MAX_TEXT = 8192
VENDOR_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M")
MAX_DURATION_S = 10 * 24 * 3600
_WHOLE = re.compile(r"-?[0-9]+")  # ASCII digits only: str.isdigit() also takes '²', which int() refuses
_PLAIN_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})\Z")


class BaseSchema(Schema):
    """Every vendor schema ignores fields it does not know; landing keeps them in `extra`."""

    class Meta:
        unknown = EXCLUDE


def _blank(value) -> bool:
    """Vendors send "" (and sometimes "null") for a value they do not have."""
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "null"))


class VendorField(fields.Field):
    """Vendors send null for "no value" as often as they omit a field: both load as None."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def _validate(self, value):
        # marshmallow builds a combined validator on every call, validators or not: the lander
        # profiled it at a tenth of its validation time for fields that have none.
        if self.validators:
            super()._validate(value)


class Text(VendorField):
    """A vendor string: numbers become text (ids arrive both ways); objects are an error."""

    def _deserialize(self, value, attr, data, **kwargs):
        if _blank(value):
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError(f"expected text, got {type(value).__name__}")
        text = str(value).strip()
        if len(text) > MAX_TEXT:
            raise ValidationError(f"longer than {MAX_TEXT} characters")
        if "\x00" in text:
            raise ValidationError("contains a NUL character")
        return text


class VendorTime(VendorField):
    """A naive vendor timestamp ('YYYY-MM-DD HH:MM:SS'); the landing code attaches the zone."""

    def _deserialize(self, value, attr, data, **kwargs):
        if _blank(value):
            return None
        if not isinstance(value, str):
            raise ValidationError(f"expected a 'YYYY-MM-DD HH:MM:SS' time, got {type(value).__name__}")
        text = value.strip()
        # The shape nearly every vendor time has, read without strptime (about 10x its speed,
        # and the lander reads two per Ozonetel record); anything else goes through the formats.
        match = _PLAIN_TIME.match(text)
        if match:
            try:
                return dt.datetime(*map(int, match.groups()))
            except ValueError:
                pass
        for fmt in VENDOR_TIME_FORMATS:
            try:
                return dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
        raise ValidationError(f"not a 'YYYY-MM-DD HH:MM:SS' time: {text[:40]!r}")


class Seconds(VendorField):
    """A duration as 'HH:MM:SS', 'MM:SS' or a number of seconds; stored as whole seconds."""

    _CLOCK = re.compile(r"^(\d{1,4}):([0-5]?\d)(?::([0-5]?\d))?$")

    def _deserialize(self, value, attr, data, **kwargs):
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValidationError("expected a duration, got a boolean")
        if isinstance(value, (int, float)):
            seconds = self._whole(value)
        elif isinstance(value, str):
            seconds = self._parse_text(value.strip())
        else:
            raise ValidationError(f"expected a duration, got {type(value).__name__}")
        if not 0 <= seconds <= MAX_DURATION_S:
            raise ValidationError(f"duration {seconds}s is outside 0..{MAX_DURATION_S}")
        return seconds

    def _parse_text(self, text: str) -> int:
        """Seconds from '01:02:03', '02:03' or '123'."""
        match = self._CLOCK.match(text)
        if match:
            a, b, c = match.groups()
            return int(a) * 3600 + int(b) * 60 + int(c) if c is not None else int(a) * 60 + int(b)
        try:
            return self._whole(float(text))
        except ValueError:
            raise ValidationError(f"not a duration: {text[:40]!r}") from None

    @staticmethod
    def _whole(number) -> int:
        """Whole seconds from a number; NaN and infinities are not durations."""
        if isinstance(number, float) and not math.isfinite(number):
            raise ValidationError("duration is not a finite number")
        return int(number)


def to_utc(naive: dt.datetime | None, zone) -> dt.datetime | None:
    """A naive vendor time read in `zone`, as an aware UTC datetime."""
    if naive is None:
        return None
    return naive.replace(tzinfo=zone).astimezone(dt.timezone.utc)


class WholeNumber(VendorField):
    """An integer that vendors send either as a number or as digits in a string (Huawei's "6")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValidationError("expected a whole number, got a boolean")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise ValidationError(f"expected a whole number, got {str(value)[:20]!r}")
        if not -(2**31) <= number < 2**31:
            raise ValidationError("number out of range")
        return number
