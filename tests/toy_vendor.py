"""A toy vendor, added the way docs/adding-a-vendor.md says: its registry entry (a push parser, a
settings section, its tables' grants), one reconciler source and one migration (here: TOY_MIGRATION,
run by the test). Nothing in receiver/ or reconciler/ is edited for it: the test hands a registry
with the toy to the app and the reconciler."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from receiver.config import RateLimit, setting
from receiver.config.values import Names, Text
from receiver.landing.land import Outcome
from receiver.ledgers import Ledger, gave_up_note, reopen_note
from receiver.registry import Push, Vendor

NAME = "toy"
TOKEN = "toy-token-7c1e"
TOY_MIGRATION = """
CREATE TABLE toy_call (call_id text PRIMARY KEY, outcome text NOT NULL, raw_id bigint);
CREATE TABLE toy_item (call_id text PRIMARY KEY, done boolean NOT NULL DEFAULT false,
                       gave_up boolean NOT NULL DEFAULT false, tries integer NOT NULL DEFAULT 0, last_error text,
                       next_at timestamptz NOT NULL DEFAULT '-infinity', added_at timestamptz NOT NULL DEFAULT now());
"""
LAND = """
INSERT INTO toy_call (call_id, outcome, raw_id) VALUES (%(call_id)s, %(outcome)s, %(raw_id)s)
ON CONFLICT (call_id) DO UPDATE SET outcome = EXCLUDED.outcome
"""


def land_records(conn, raw, records: list, settings) -> Outcome:
    """The one parser for the toy's records, used by its push and by its reconciler source."""
    outcome = Outcome(record_count=len(records))
    for index, record in enumerate(records):
        if not (isinstance(record, dict) and record.get("id") and record.get("result")):
            outcome.errors[str(index)] = {"_schema": ["needs id and result"]}
            continue
        conn.execute(
            LAND, {"call_id": str(record["id"]), "outcome": str(record["result"]), "raw_id": raw.id if raw else None}
        )
        outcome.landed += 1
    return outcome


@dataclass(frozen=True)
class ToySettings:
    """The toy's own variables, read with every other setting once the toy is registered."""

    base_url: str = setting("TOY_BASE_URL", Text, "")
    callback_tokens: tuple[str, ...] = setting("TOY_CALLBACK_TOKENS", Names, (), secret=True)


# Its polled ledger: one row per call to ask the toy's API about.
LEDGER = Ledger(
    NAME,
    NAME,
    "toy_item",
    ("call_id",),
    kind="'toy call'",
    item="call_id",
    label="'toy call ' || call_id",
    about="added_at",
    tries="tries",
    error="last_error",
    next_at="next_at",
    open="NOT done AND NOT gave_up",
    gave_up="gave_up",
    give_up_set="gave_up = true, last_error = " + gave_up_note("last_error"),
    reopen_set="gave_up = false, last_error = " + reopen_note("last_error"),
)
CLAIM = LEDGER.claim_query("call_id")


@dataclass(frozen=True)
class Item:
    call_id: str


class ToySource:
    """Polls the toy's API for each call in toy_item and lands the answer with land_records."""

    name = NAME
    budget_name = NAME
    since_help = ""

    def __init__(self, settings, rng=None):
        self.settings = settings
        self.base_url = settings.section(NAME).base_url
        self.rate_limit = RateLimit(100, 1.0)
        self.call_timeout = 5.0

    def problems(self) -> list[str]:
        return [] if self.base_url else ["toy base URL is not set"]

    def prepare(self, conn, now, since=None) -> None:
        """Nothing to add before a run: items are inserted by whoever tracks them."""

    def is_configured(self) -> bool:
        return bool(self.base_url)

    def explain(self, exc) -> str:
        return str(exc)

    def claim(self, conn, now) -> Item | None:
        row = conn.execute(CLAIM, {"now": now}).fetchone()
        return Item(row[0]) if row else None

    def fetch(self, item: Item, now) -> dict:
        return requests.get(f"{self.base_url}/calls/{item.call_id}", timeout=self.call_timeout).json()

    def land(self, conn, item: Item, payload: dict, now) -> str:
        land_records(conn, None, [payload], self.settings)
        conn.execute("UPDATE toy_item SET done = true WHERE call_id = %s", (item.call_id,))
        return "landed"

    def failed(self, conn, item: Item, exc, run_id, now) -> str:
        return "retry"


# What the reconciler reads from the module the registry entry names (reconciler.sources.load).
SOURCES = (ToySource,)
COMMANDS: dict = {}

TOY = Vendor(
    NAME,
    settings=ToySettings,
    push=Push(land_records, lambda settings: settings.section(NAME).callback_tokens),
    ledgers=(LEDGER,),
    reconciler="toy_vendor",
    grants={"toy_call": ("SIU", "SIU", "S"), "toy_item": ("", "SU", "S")},
)
