"""The vendor pages the tests use, copied into tests/fixtures/<vendor>/ (the first line names the page)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def seed_text(vendor: str, name: str) -> str:
    """The text of one seed page copied into tests/fixtures/<vendor>/."""
    return (FIXTURES / vendor / name).read_text(encoding="utf-8")


def seed_json(vendor: str, name: str) -> dict:
    """The first JSON example printed in a seed page (the object that starts a line)."""
    text = seed_text(vendor, name)
    start = text.index("\n{") + 1
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value
