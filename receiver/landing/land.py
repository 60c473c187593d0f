"""Parse stored callbacks into typed rows: the one path every push, replay and fetch goes through."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import psycopg

from receiver.landing import inbox
from receiver.landing.payloads import BodyError

log = logging.getLogger("callrecon.landing")


@dataclass(frozen=True)
class RawRef:
    """The stored raw row a set of records came from."""

    id: int
    received_at: dt.datetime
    apikey_check: dict | None = None  # raw_inbox.apikey_check: verdicts made before the body was masked


@dataclass
class Outcome:
    """What landing one callback did; decides the raw row's status and the HTTP reply."""

    record_count: int = 0
    landed: int = 0
    errors: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    fatal: str | None = None

    @property
    def status(self) -> str:
        """raw_inbox.status for this outcome."""
        if self.fatal or self.errors:
            return "quarantined"
        if not self.landed and self.notes:
            return "note"
        return "landed"

    def error_json(self) -> dict | None:
        """The raw row's `error` column: why (part of) the body did not land."""
        if self.fatal:
            return {"message": self.fatal}
        if self.errors:
            return {
                "message": f"{len(self.errors)} of {self.record_count} records failed validation",
                "records": self.errors,
            }
        if self.notes:
            return {"notes": self.notes}
        return None


def land_unguarded(conn, push, work: list, settings) -> list[Outcome]:
    """land() for many callbacks [(RawRef, records)] of one vendor, without land()'s savepoints.

    For a batch that is already behind one savepoint (replay.land_batch): any error propagates,
    and the caller rolls the whole batch back and lands it again callback by callback with land().
    Uses the vendor's set-based `land_many` where it has one.
    """
    outcomes: list[Outcome | None] = [None] * len(work)
    parsed = []
    for n, (_, records) in enumerate(work):
        if isinstance(records, BodyError):
            outcomes[n] = Outcome(fatal=str(records))
        elif not records:
            outcomes[n] = Outcome(fatal="no records: the body is an empty array or envelope")
        else:
            parsed.append(n)
    if push.land_many is not None:
        landed = push.land_many(conn, [work[n] for n in parsed], settings)
    else:
        landed = [push.land(conn, work[n][0], work[n][1], settings) for n in parsed]
    for n, outcome in zip(parsed, landed, strict=True):
        outcomes[n] = outcome
    inbox.record_outcomes(conn, [(raw, outcome) for (raw, _), outcome in zip(work, outcomes, strict=True)])
    return outcomes


def land(conn, lander, raw: RawRef, records, settings) -> Outcome:
    """Land decoded records (or record why they could not be decoded) against one raw row.

    Runs inside the caller's transaction, after the raw row is inserted; a failure here rolls
    back to a savepoint so the raw row itself always commits.
    """
    if isinstance(records, BodyError):
        outcome = Outcome(fatal=str(records))
    elif not records:
        outcome = Outcome(fatal="no records: the body is an empty array or envelope")
    else:
        try:
            with conn.transaction():
                outcome = lander(conn, raw, records, settings)
        except psycopg.DataError as exc:
            outcome = Outcome(record_count=len(records), fatal=f"database rejected a value: {exc.diag.message_primary}")
        except (psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
            log.exception("landing raw row %s failed in the database", raw.id)
            outcome = Outcome(record_count=len(records), fatal=f"landing failed: {type(exc).__name__}; see logs")
        except psycopg.OperationalError:
            raise
        except Exception as exc:  # a parser bug must not cost the callback: quarantine and replay later
            log.exception("landing raw row %s raised", raw.id)
            outcome = Outcome(record_count=len(records), fatal=f"parser error: {type(exc).__name__}; see logs")
    inbox.record_outcome(conn, raw.id, outcome, raw.received_at)
    return outcome
