"""What a vendor declares, and the registry that every shared part reads (as zulip declares its
integrations once, and derives their URLs, views and docs from that list).

A vendor's entry (`Vendor`, in receiver/vendors/<vendor>/__init__.py) says whether it pushes (its
parser, the URL tokens it accepts, its reply, what to verify before masking, its OpenAPI
description), which ledgers the reconciler works for it, its settings section, which tables it
adds and who may use them, and its console journey steps. `receiver/vendors/__init__.py` lists the
vendors callrecon ships with; the app, the command line and the database administration are handed
that `Registry` (or one with more vendors, as the tests' toy) and read everything from it, so shared
code never names a vendor.

The reconciler side of a vendor is named by module (`reconciler="package.module"`), not imported:
the receiver never imports the reconciler, and the reconciler loads the module (reconciler.sources).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field


def json_reply(status_code: int, body: dict) -> tuple[int, dict]:
    """Our own JSON reply, unchanged (for vendors that document no expected reply)."""
    return status_code, body


def no_check(records, settings) -> None:
    """For pushes that carry nothing to verify."""
    return None


@dataclass(frozen=True)
class OpenApi:
    """How /openapi.json describes a vendor's push body: a record schema, one object or an array."""

    schema_name: str
    fields: dict  # column: (marshmallow field, vendor name, ...): the same map the parser uses
    array_only: bool = False


# How a fix names a new URL token (Push.enable): a command that prints one.
RANDOM_TOKEN = "a long random token: `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`"


@dataclass(frozen=True)
class Push:
    """How a vendor's pushes are authenticated, landed and answered."""

    land: Callable  # (conn, RawRef, records, settings) -> Outcome
    tokens: Callable  # settings -> the URL tokens accepted for /callbacks/<vendor>/<token>
    reply: Callable = json_reply  # (status_code, body) -> (status_code, body) as the vendor wants it
    check: Callable = no_check  # (records, settings) -> verdicts kept with the raw row, before masking
    openapi: OpenApi | None = None
    # (conn, [(RawRef, records)], settings) -> [Outcome]: the same rows as `land` one callback at a
    # time, in set-based statements. Optional: the lander uses it where a vendor has one.
    land_many: Callable | None = None
    # SQL: the typed rows one raw callback (%(id)s) produced, as (tbl, key, row jsonb): the console's event page.
    typed_rows: str = ""
    # What turns the pushes on, as (variable, what to set it to): the console's fix for "no callback token".
    # The URL tokens' variable first; a value in `backticks` is a command or an example to copy.
    enable: tuple = ()


@dataclass(frozen=True)
class Journey:
    """What a vendor adds to the console's journey page (receiver/web/console/journey.py)."""

    id_hint: str = ""  # how its call ids look, for the search box ("Acme call id")
    find: Callable | None = None  # (conn, q) -> the phone number of its call whose id is q, or None
    events: Callable | None = None  # (conn, call) -> what happened to one of its calls (a `call` view row)
    linked: Callable | None = None  # (conn, call) -> what it adds to any vendor's call (a CRM's call logs)


@dataclass(frozen=True)
class Vendor:
    """One vendor: what it pushes, what the reconciler works for it, and what it adds to the database."""

    name: str
    settings: type | None = None  # its section: a dataclass of receiver.config.setting fields
    push: Push | None = None
    ledgers: tuple = ()  # receiver.ledgers.Ledger: each of its reconciler sources' ledgers
    reconciler: str = ""  # its reconciler module: SOURCES (classes, run in that order) and COMMANDS
    # Its tables and views: (web, reconciler, analyst) rights, strings of S, I, U, D (receiver/database/grants.py).
    grants: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    # Its typed tables partitioned by month of first_seen_at, with their key (migration 0025).
    monthly_tables: tuple[tuple[str, str], ...] = ()
    journey: Journey | None = None  # its steps on the console's journey page


class Registry:
    """The vendors of one install, in order (the order `--source all` runs them), and what they declare."""

    def __init__(self, *vendors: Vendor):
        self.vendors: dict[str, Vendor] = {vendor.name: vendor for vendor in vendors}

    def plus(self, *vendors: Vendor) -> Registry:
        """This registry with more vendors (a later one of the same name replaces the earlier)."""
        return Registry(*self.vendors.values(), *vendors)

    def __iter__(self) -> Iterator[Vendor]:
        return iter(self.vendors.values())

    def __getitem__(self, name: str) -> Vendor:
        return self.vendors[name]

    def __contains__(self, name: object) -> bool:
        return name in self.vendors

    @property
    def pushes(self) -> dict[str, Push]:
        """Each pushing vendor's Push, by name."""
        return {v.name: v.push for v in self if v.push is not None}

    @property
    def ledgers(self) -> dict:
        """Every reconciler ledger (receiver.ledgers.Ledger), by source name, in registry order."""
        return {ledger.source: ledger for v in self for ledger in v.ledgers}

    @property
    def polled(self) -> dict[str, str]:
        """The reconciler module of each vendor that has one, by vendor name."""
        return {v.name: v.reconciler for v in self if v.reconciler}

    @property
    def grants(self) -> dict[str, tuple[str, str, str]]:
        """Every vendor's tables and views with their rights."""
        return {name: rights for v in self for name, rights in v.grants.items()}

    @property
    def monthly_tables(self) -> tuple[tuple[str, str], ...]:
        """Every vendor's typed tables partitioned by month, with their keys."""
        return tuple(table for v in self for table in v.monthly_tables)

    @property
    def journeys(self) -> dict[str, Journey]:
        """Each vendor's console journey steps, by vendor name."""
        return {v.name: v.journey for v in self if v.journey is not None}
