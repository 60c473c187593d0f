"""A toy vendor, added the way docs/adding-a-vendor.md says: its registry entry (a push parser, a
settings section with a secret, a polled ledger, its tables' grants, a console journey step), its
reconciler side (one source and a `callrecon track toy` subcommand) and one migration (here:
TOY_MIGRATION, run by the test). Nothing in receiver/ or reconciler/ is edited for it: the tests
hand a registry with the toy to the app, the command line and the reconciler."""

from __future__ import annotations

from dataclasses import dataclass

import click
import requests

from receiver.config import RateLimit, setting
from receiver.config.values import Names, Text
from receiver.landing.land import Outcome
from receiver.ledgers import Ledger
from receiver.registry import Journey, Push, Vendor
from reconciler.cli.base import Command, argument, connect, ids_from, with_settings

NAME = "toy"
TOKEN = "toy-token-7c1e"
TOY_MIGRATION = """
CREATE TABLE toy_call (call_id text PRIMARY KEY, outcome text NOT NULL, raw_id bigint, phone text);
CREATE TABLE toy_item (call_id text PRIMARY KEY, done boolean NOT NULL DEFAULT false,
                       gave_up boolean NOT NULL DEFAULT false, tries integer NOT NULL DEFAULT 0, last_error text,
                       next_at timestamptz NOT NULL DEFAULT '-infinity', added_at timestamptz NOT NULL DEFAULT now());
"""
LAND = """
INSERT INTO toy_call (call_id, outcome, raw_id, phone) VALUES (%(call_id)s, %(outcome)s, %(raw_id)s, %(phone)s)
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
            LAND,
            {
                "call_id": str(record["id"]),
                "outcome": str(record["result"]),
                "raw_id": raw.id if raw else None,
                "phone": record.get("phone"),
            },
        )
        outcome.landed += 1
    return outcome


@dataclass(frozen=True)
class ToySettings:
    """The toy's own variables, read with every other setting once the toy is registered."""

    base_url: str = setting("TOY_BASE_URL", Text, "")
    callback_tokens: tuple[str, ...] = setting("TOY_CALLBACK_TOKENS", Names, (), secret=True)
    api_key: str = setting("TOY_API_KEY", Text, "", secret=True)


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
    open="NOT done AND NOT gave_up",
    gave_up="gave_up",
    give_up="gave_up = true",
    reopen="gave_up = false",
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


@click.command(NAME, cls=Command, short_help="toy calls to ask the toy's API about")
@argument("ids", nargs=-1, metavar="CALLID", help="call ids; none or '-' reads one per line from stdin")
@with_settings
def track(settings, ids):
    """Queue toy calls for the reconciler (a vendor's own subcommand of `callrecon track`)."""
    ids = ids_from(ids)
    with connect(settings) as conn, conn.transaction():
        for call_id in ids:
            conn.execute("INSERT INTO toy_item (call_id) VALUES (%s) ON CONFLICT DO NOTHING", (call_id,))
    print(f"queued {len(ids)} toy call(s)")


# What the reconciler and the command line read from the module the registry entry names.
SOURCES = (ToySource,)
COMMANDS = {"track": (track,)}


def linked(conn, call: dict) -> list[dict]:
    """The toy's step on the journey page: its calls of the same phone number, beside any vendor's call."""
    rows = conn.execute("SELECT call_id, outcome FROM toy_call WHERE phone = %s", (call["phone_number"],))
    return [{"at": None, "what": "toy", "detail": f"toy call {c} ({o})", "raw_id": None} for c, o in rows]


TOY = Vendor(
    NAME,
    settings=ToySettings,
    push=Push(land_records, lambda settings: settings.section(NAME).callback_tokens),
    ledgers=(LEDGER,),
    reconciler="toy_vendor",
    journey=Journey(id_hint="toy call id", linked=linked),
    grants={"toy_call": ("SIU", "SIU", "S"), "toy_item": ("", "SIU", "S")},
)
