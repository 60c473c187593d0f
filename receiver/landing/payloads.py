"""Turn a callback body into a list of JSON records, tolerating the shapes vendors really send.

Rules from docs/vendors.md §4 (`lenient_json`): JSON or JSON-in-a-string (at most twice);
the CSV-style doubled-quote form seen in Ozonetel's seed; form posts whose `data` field holds
JSON; a top-level array; an envelope whose list of records sits under a known key.
"""

from __future__ import annotations

import io
import json

from werkzeug.formparser import parse_form_data

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ENVELOPE_LIST_KEYS = ("data", "message", "records", "details", "result")
# Envelope fields that identify the batch (e.g. the request's uniqueId), copied into each record
# that lacks them; an envelope's own `status`/`message` describe the API call, not the call.
ENVELOPE_SHARED_KEYS = ("uniqueId", "uniqueid", "campaignName", "campaign", "userName", "username")
MAX_STRING_UNWRAP = 2


class BodyError(ValueError):
    """The body cannot be decoded into records; the message says why, for the quarantine."""


def decode(body: bytes, content_type: str | None) -> list:
    """Decode a callback body into its records (each should be a JSON object)."""
    if not body.strip():
        raise BodyError("empty body: expected JSON (an object or an array of objects)")
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in FORM_TYPES:
        return _records(_from_form(body, content_type))
    return _records(lenient_json(_text(body)))


def _text(body: bytes) -> str:
    """Bytes to text; a body that is not UTF-8 cannot be JSON."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(f"body is not valid UTF-8 (byte {exc.start})") from None


def _from_form(body: bytes, content_type: str) -> object:
    """A form post: the JSON in field `data` (Ozonetel's habit), else the fields themselves."""
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    try:
        _, form, _ = parse_form_data(environ, silent=False)
    except ValueError as exc:
        raise BodyError(f"form body could not be parsed: {exc}") from None
    if "data" in form:
        return lenient_json(form["data"])
    if not form:
        raise BodyError("form body has no fields")
    return {key: form[key] for key in form}


def lenient_json(text: str) -> object:
    """json.loads that also undoes CSV doubled quotes and JSON wrapped in JSON strings."""
    text = text.strip()
    if not text:
        raise BodyError("empty body: expected JSON (an object or an array of objects)")
    value = _loads(text, fallback=True)
    for _ in range(MAX_STRING_UNWRAP):
        if not isinstance(value, str):
            break
        value = _loads(value.strip(), fallback=True)
    return value


def _loads(text: str, fallback: bool) -> object:
    """One json.loads with clear errors; optionally retry the doubled-quote (CSV) form."""
    try:
        return json.loads(text)
    except RecursionError:
        raise BodyError("JSON is nested too deeply to parse") from None
    except json.JSONDecodeError as exc:
        if fallback and text.startswith('"') and '""' in text:
            inner = text[1:-1] if text.endswith('"') and len(text) > 1 else text[1:]
            return _loads(inner.replace('""', '"'), fallback=False)
        raise BodyError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _records(value: object) -> list:
    """Records from a decoded body: an array, an envelope holding an array, or one object."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ENVELOPE_LIST_KEYS:
            inner = value.get(key)
            if isinstance(inner, list) and inner and all(isinstance(r, dict) for r in inner):
                shared = {k: value[k] for k in ENVELOPE_SHARED_KEYS if isinstance(value.get(k), (str, int))}
                return [{**shared, **record} for record in inner]
        return [value]
    kind = {str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
    raise BodyError(f"unknown shape: expected a JSON object or an array of objects, got {kind}")
