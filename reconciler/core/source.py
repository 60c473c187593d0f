"""What a vendor source gives the run loop: the plug point every `reconciler.sources` module fills.

A source is one state machine over one ledger: it claims the most overdue item (locked in the
caller's transaction), fetches it from the vendor, and lands the answer or records the failure.
Its ledger (receiver.ledgers.Ledger, of the same name, declared in its vendor's registry entry)
says what its states mean, so its claim statement and its `callrecon status` counts come from
there. `run_source` uses nothing else, so a new vendor is a class with these members; it need not
inherit from anything (the check is structural).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    import psycopg

    from receiver.config.values import RateLimit
    from reconciler.core.vendor_http import VendorError


@runtime_checkable
class Source(Protocol):
    """One vendor work source, as `run_source` drives it."""

    name: ClassVar[str]  # the reconcile_run.source and `--source` name
    budget_name: ClassVar[str]  # the rate budget it spends; sources of one vendor share one (Huawei)
    since_help: ClassVar[str]  # what `callrecon reconcile --since` re-opens for it, for --help; "" when nothing
    rate_limit: RateLimit  # calls per period the vendor allows, configured
    call_timeout: float  # seconds one vendor call may take (a budget slot is held that long at most)

    def problems(self) -> list[str]:
        """Configuration errors that keep this source from running (empty when it can run)."""
        ...

    def is_configured(self) -> bool:
        """True once any of its settings is given, so `--source all` should run it."""
        ...

    def explain(self, exc: VendorError) -> str:
        """The operator message for an error that stops the whole source (credentials, URL)."""
        ...

    def prepare(self, conn: psycopg.Connection, now: dt.datetime, since: dt.date | None = None) -> None:
        """Add the work this run should see before claiming starts (a no-op for most sources)."""
        ...

    def claim(self, conn: psycopg.Connection, now: dt.datetime) -> Any | None:
        """The most overdue item no other process holds, locked until the transaction ends; None when none."""
        ...

    def fetch(self, item: Any, now: dt.datetime) -> Any:
        """One vendor call for the item; vendor failures raise `VendorError` subclasses."""
        ...

    def land(self, conn: psycopg.Connection, item: Any, payload: Any, now: dt.datetime) -> str:
        """Land the vendor's answer through the receiver's landing code; the outcome to count."""
        ...

    def failed(self, conn: psycopg.Connection, item: Any, exc: VendorError, run_id: int, now: dt.datetime) -> str:
        """Record a failed call on the item (retry later or give up); the outcome to count."""
        ...
