"""JSON text for the hot paths: the documents landing sends to Postgres, stored headers, log lines.

The standard library's encoder cost the lander about 11 us per typed row for the upsert's JSON
document alone (its four timestamps each go through `default=str`), a fifth of the lander's
Python; orjson writes the same document in under 1 us and knows datetimes. Its output differs
only where no reader cares: compact separators, non-ASCII as UTF-8 rather than \\u escapes, and
datetimes in ISO 8601 with a `T` (PostgreSQL reads both forms). Log lines keep the standard
library's spaced form, which operators' searches are written against (`log_line`).

What orjson refuses, the standard library writes: integers past 64 bits and non-string keys
(a vendor's JSON may hold either). orjson writes NaN and Infinity as null; `strict_dumps` is
for values that must be refused instead (a record's `extra`, mapping.storable_json).
"""

from __future__ import annotations

import json

import orjson

# Shared encoders: json.dumps builds a new encoder on every call that passes it an option.
_STRICT = json.JSONEncoder(allow_nan=False)
_LINE = json.JSONEncoder(default=str)


def dumps(value) -> str:
    """`value` as JSON text; anything else JSON cannot hold as its str() (dates, decimals)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an integer past 64 bits, a key that is not a string
        return json.dumps(value, default=str)


def strict_dumps(value) -> str:
    """`value` as JSON text, ValueError for NaN or Infinity (which jsonb cannot hold)."""
    return _STRICT.encode(value)


def log_line(value) -> str:
    """`value` as the standard library writes it (`", "` and `": "`), anything else as its str()."""
    return _LINE.encode(value)
