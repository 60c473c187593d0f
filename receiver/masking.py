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
SECRET_HEADER_NAMES = frozenset({
    "authorization", "cookie", "proxy-authorization", "x-api-key", "apikey", "api-key", "api_key",
    "x-lsq-accesskey", "x-lsq-secretkey",
})
MIN_SECRET_LENGTH = 4

# An api-key field followed by its value, in JSON ("Apikey": "v"), CSV-doubled (""Apikey"": ""v""),
# escaped JSON (\"Apikey\":\"v\"), form (Apikey=v) and url-encoded JSON (%22Apikey%22%3A%22v%22).
_KEY_VALUE = re.compile(
    rb'(?i)((?:%22|["\\])*api_?key(?:%22|%5C|%3A|%20|[\s"\\:=+])+)'
    rb'((?:(?!%22|%2C|%7D|%26)[^"\\&,}\s\'])+)'
)


def normalise_key(key: str) -> str:
    """Field name folded for comparison: `monitor_UCID`, `monitorUCID` -> `monitorucid`."""
    return re.sub(r"[^a-z0-9]", "", key.lower())


def is_secret_field(key: str) -> bool:
    """True for field names that carry credentials (Ozonetel's `Apikey` and friends)."""
    return normalise_key(key) in SECRET_FIELD_NAMES


def secret_values_in(records: list) -> set[str]:
    """Values of secret fields found anywhere in decoded records."""
    found: set[str] = set()
    stack = list(records)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if is_secret_field(str(key)) and isinstance(value, (str, int)) and str(value) != MASK:
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
            return {k: (MASK if is_secret_field(str(k)) else clean(v)) for k, v in item.items()}
        if isinstance(item, list):
            return [clean(v) for v in item]
        return item
    return [clean(r) for r in records]


@functools.lru_cache(maxsize=256)
def _encodings(value: str) -> tuple[bytes, ...]:
    """The byte forms a secret value can take inside a body, longest first.

    Cached: the same few secrets (configured keys, the account Apikey) arrive on every callback.
    """
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    return tuple(sorted({f.encode("utf-8") for f in forms if f}, key=len, reverse=True))


def mask_body(body: bytes, values) -> bytes:
    """The body with every known secret value, and any api-key field's value, masked."""
    for value in sorted({v for v in values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        for form in _encodings(value):
            body = body.replace(form, MASK.encode())
    return _KEY_VALUE.sub(lambda m: m.group(1) + MASK.encode(), body)


def mask_text(text: str, values) -> str:
    """A log line or error message with every known secret value masked."""
    for value in sorted({v for v in values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def safe_headers(headers, values) -> dict:
    """Request headers fit to store: credential headers and any secret value masked."""
    kept = {}
    for name, value in headers:
        kept[name] = MASK if name.lower() in SECRET_HEADER_NAMES else mask_text(value, values)
    return kept
