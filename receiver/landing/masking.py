"""Keep secrets out of stored payloads, headers and logs.

Ozonetel puts the account `Apikey` inside every call-details push (vendors.md §1.2), so a raw
body must be masked before it is stored. Two passes: every secret value we know (configured
ones and those found in the decoded records) is replaced in each encoding it can appear in,
then a key-based pattern catches an api-key field in bodies we could not decode.
"""

from __future__ import annotations

import functools
import json
import re
from urllib.parse import quote, quote_plus

MASK = "***"
SECRET_FIELD_NAMES = frozenset({"apikey", "xapikey", "accesskey", "secretkey", "password", "token"})
SECRET_HEADER_NAMES = frozenset(
    {
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
        "apikey",
        "api-key",
        "api_key",
        "x-lsq-accesskey",
        "x-lsq-secretkey",
    }
)
MIN_SECRET_LENGTH = 4
_MASK_BYTES = MASK.encode()

# An api-key field followed by its value, in JSON ("Apikey": "v"), CSV-doubled (""Apikey"": ""v""),
# escaped JSON (\"Apikey\":\"v\"), form (Apikey=v) and url-encoded JSON (%22Apikey%22%3A%22v%22),
# in any letter case. It is matched against the body folded to lower case (ASCII only, as (?i) folds
# bytes), hence the lower-case escapes: without (?i) the literal start "api" lets the regex engine
# jump between candidates instead of trying every byte (instruction counts: 138k -> see CHANGELOG).
# It starts at the key itself, not at quotes before it: any quote before it is kept as it is anyway.
_KEY_VALUE = re.compile(
    rb'(api_?key(?:%22|%5c|%3a|%20|[\s"\\:=+])+)'
    rb'((?:(?!%22|%2c|%7d|%26)[^"\\&,}\s\'])+)'
)


_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=4096)
def normalise_key(key: str) -> str:
    """Field name folded for comparison: `monitor_UCID`, `monitorUCID` -> `monitorucid`.

    Cached: every callback repeats the same few dozen field names, and this ran for each of them.
    """
    return _NOT_ALNUM.sub("", key.lower())


def is_secret_field(key: str) -> bool:
    """True for field names that carry credentials (Ozonetel's `Apikey` and friends)."""
    return normalise_key(key) in SECRET_FIELD_NAMES


# is_secret_field by the field name as sent: one dict probe per field on every callback (profiled),
# instead of a cached call and a set probe. Bounded like normalise_key's cache.
_SECRET_BY_NAME: dict = {}


def _secret_name(key) -> bool:
    found = _SECRET_BY_NAME.get(key)
    if found is None:
        found = is_secret_field(str(key))
        if len(_SECRET_BY_NAME) < 4096:
            _SECRET_BY_NAME[key] = found
    return found


def secret_values_in(records: list) -> set[str]:
    """Values of secret fields found anywhere in decoded records."""
    found: set[str] = set()
    stack = list(records)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if _secret_name(key) and isinstance(value, (str, int)) and str(value) != MASK:
                    found.add(str(value))
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return {v for v in found if len(v) >= MIN_SECRET_LENGTH}


def mask_records(records: list) -> list:
    """Copies of the records with every secret field's value replaced by the mask."""

    def clean(item):
        if isinstance(item, dict):
            return {k: (MASK if _secret_name(k) else clean(v)) for k, v in item.items()}
        if isinstance(item, list):
            return [clean(v) for v in item]
        return item

    return [clean(r) for r in records]


def _encodings(value: str) -> set[bytes]:
    """The byte forms a secret value can take inside a body."""
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    return {f.encode("utf-8") for f in forms if f}


@functools.lru_cache(maxsize=256)
def _body_forms(values: frozenset) -> tuple[bytes, ...]:
    """Every byte form of every secret worth masking, longest first (a secret inside another goes last).

    Cached: the same few secrets (configured keys, the account Apikey) arrive on every callback.
    """
    forms = set()
    for value in values:
        if value and len(value) >= MIN_SECRET_LENGTH:
            forms |= _encodings(value)
    return tuple(sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=256)
def _text_forms(values: frozenset) -> tuple[str, ...]:
    return tuple(sorted((v for v in values if v and len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def mask_body(body: bytes, values) -> bytes:
    """The body with every known secret value, and any api-key field's value, masked."""
    for form in _body_forms(frozenset(values)):
        if form in body:
            body = body.replace(form, _MASK_BYTES)
    return _mask_key_values(body)


def _mask_key_values(body: bytes) -> bytes:
    """Every api-key field's value masked: _KEY_VALUE's matches, found in the lower-cased body."""
    parts, last = [], 0
    for match in _KEY_VALUE.finditer(body.lower()):
        start, end = match.span(2)
        parts += (body[last:start], _MASK_BYTES)
        last = end
    if not parts:
        return body
    parts.append(body[last:])
    return b"".join(parts)


def mask_text(text: str, values) -> str:
    """A log line or error message with every known secret value masked."""
    for value in _text_forms(frozenset(values)):
        if value in text:
            text = text.replace(value, MASK)
    return text


def safe_headers(headers, values) -> dict:
    """Request headers fit to store: credential headers and any secret value masked."""
    kept = dict(headers)
    for name in kept:
        if name.lower() in SECRET_HEADER_NAMES:
            kept[name] = MASK
    # Secret values are rare in headers: look for them in all the values at once, then per header.
    forms = _text_forms(frozenset(values))
    every = "\n".join(kept.values())
    if any(form in every for form in forms):
        kept = {name: mask_text(value, values) for name, value in kept.items()}
    return kept
