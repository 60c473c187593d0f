"""Every vendor callrecon knows, declared once (as zulip declares its integrations once).

A vendor entry says whether the vendor pushes (its parser, the URL tokens it may use, how it
wants its reply, what to verify before masking, its OpenAPI description) and whether it is
polled (its reconciler source classes). Everything else reads this table: the callback endpoint,
replay, /openapi.json, /metrics, `callrecon reconcile --source` and `callrecon status`.

The reconciler's source classes are named as "module:Class", not imported: the receiver never
imports the reconciler, and the reconciler resolves the names (`reconciler.sources`).
Adding a vendor: README "Adding a vendor".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Vendor:
    """One vendor: its push side, its reconciler sources ("module:Class", run in this order), or both, and
    its settings section (a dataclass of `receiver.config.reading.setting` fields, read with the rest)."""

    name: str
    push: Push | None = None
    sources: tuple[str, ...] = ()
    settings: type | None = None
    work: tuple = ()  # receiver.work.WorkTable: each source's ledger, for `callrecon items` and /ops/work


VENDORS: dict[str, Vendor] = {}


def register(vendor: Vendor) -> Vendor:
    """Declare a vendor; a second declaration under the same name replaces the first."""
    VENDORS[vendor.name] = vendor
    return vendor


class _Pushes(Mapping):
    """The vendors that push, by name, read from the registry at each use (so late entries count)."""

    def __getitem__(self, name: str) -> Push:
        vendor = VENDORS[name]
        if vendor.push is None:
            raise KeyError(name)
        return vendor.push

    def __iter__(self):
        return (name for name, vendor in VENDORS.items() if vendor.push is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Landers(Mapping):
    """Each pushing vendor's landing function, by name."""

    def __getitem__(self, name: str):
        return PUSHES[name].land

    def __iter__(self):
        return iter(PUSHES)

    def __len__(self) -> int:
        return len(PUSHES)


PUSHES: Mapping[str, Push] = _Pushes()


def work_tables() -> dict:
    """Every polled source's ledger (receiver.work.WorkTable), by source name, in registry order."""
    return {table.source: table for vendor in VENDORS.values() for table in vendor.work}


LANDERS: Mapping[str, Callable] = _Landers()


def _declare() -> None:
    """The vendors this product ships with."""
    from receiver.ledgers import WorkTable
    from receiver.vendors.huawei import records as huawei
    from receiver.vendors.leadsquared.settings import HuaweiSettings, LeadSquaredSettings, OzonetelApiSettings
    from receiver.vendors.ozonetel import records as ozonetel

    gave_up_note = "COALESCE({error} || '; ', '') || %(reason)s"
    reopen_note = "COALESCE({error} || '; ', '') || %(note)s"

    register(
        Vendor(
            "leadsquared",
            sources=("reconciler.sources.leadsquared.polling:LeadSquaredSource",),
            settings=LeadSquaredSettings,
            work=(
                WorkTable(
                    "leadsquared",
                    "leadsquared",
                    "lsq_request",
                    ("id",),
                    label="kind || ' ' || request_id",
                    about="registered_at",
                    tries="failed_tries",
                    error="last_error",
                    next_at="next_poll_at",
                    open="final_at IS NULL",
                    gave_up="status IN ('failed', 'expired')",
                    give_up_set="status = 'failed', final_at = %(now)s, last_error = "
                    + gave_up_note.format(error="last_error"),
                    reopen_set="status = NULL, final_at = NULL, last_error = " + reopen_note.format(error="last_error"),
                    problems=lambda settings: settings.leadsquared.problems(),
                ),
            ),
        )
    )
    register(
        Vendor(
            huawei.SOURCE,
            push=Push(
                huawei.land_records,
                lambda settings: settings.huawei.callback_tokens,
                reply=huawei.reply,
                openapi=OpenApi("HuaweiCallResult", huawei.FIELD_MAP_SPEC, array_only=True),
            ),
            sources=(
                "reconciler.sources.huawei.discovery:HuaweiDiscoverySource",
                "reconciler.sources.huawei.detail:HuaweiDetailSource",
            ),
            settings=HuaweiSettings,
            work=(
                WorkTable(
                    "huawei-discovery",
                    "huawei",
                    "huawei_discovery_window",
                    ("vdn_id", "campaign_id", "day"),
                    label="'campaign ' || campaign_id || ', day ' || day",
                    about="day::timestamp AT TIME ZONE 'UTC'",
                    tries="attempts",
                    error="last_error",
                    next_at="next_at",
                    open="state = 'pending'",
                    gave_up="state = 'failed'",
                    give_up_set="state = 'failed', last_error = " + gave_up_note.format(error="last_error"),
                    reopen_set="state = 'pending', last_error = " + reopen_note.format(error="last_error"),
                    problems=lambda settings: settings.huawei.problems(),
                ),
                WorkTable(
                    "huawei",
                    "huawei",
                    "huawei_call",
                    ("vdn_id", "call_id"),
                    label="'call detail, campaign ' || COALESCE(campaign_id::text, '-')",
                    about="first_seen_at",
                    tries="detail_attempts",
                    error="detail_error",
                    next_at="detail_next_at",
                    open="detail_status = 'pending'",
                    gave_up="detail_status = 'failed'",
                    give_up_set="detail_status = 'failed', detail_error = " + gave_up_note.format(error="detail_error"),
                    reopen_set="detail_status = 'pending', detail_error = " + reopen_note.format(error="detail_error"),
                    problems=lambda settings: settings.huawei.problems(),
                ),
            ),
        )
    )
    register(
        Vendor(
            ozonetel.SOURCE,
            push=Push(
                ozonetel.land_records,
                lambda settings: settings.ozonetel_callback_tokens,
                check=ozonetel.check_apikeys,
                openapi=OpenApi("OzonetelRecord", ozonetel.FIELDS),
                land_many=ozonetel.land_many,
            ),
            sources=("reconciler.sources.ozonetel.dial_status:OzonetelSource",),
            settings=OzonetelApiSettings,
            work=(
                WorkTable(
                    "ozonetel",
                    "ozonetel",
                    "ozonetel_request",
                    ("id",),
                    label="campaign_name || ' ' || to_char(window_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
                    "|| '..' || to_char(window_to AT TIME ZONE 'UTC', 'HH24:MI') || ' UTC'",
                    about="window_from",
                    tries="tries",
                    error="last_error",
                    next_at="next_at",
                    open="state IN ('pending', 'requested', 'timed-out')",
                    gave_up="state = 'failed'",
                    give_up_set="state = 'failed', last_error = " + gave_up_note.format(error="last_error"),
                    reopen_set="state = 'timed-out', last_error = " + reopen_note.format(error="last_error"),
                    # a requested window waits for its push; asked again now, as after OZONETEL_PUSH_TIMEOUT
                    retry_set="state = CASE WHEN state = 'requested' THEN 'timed-out' ELSE state END",
                    problems=lambda settings: settings.ozonetel_problems(),
                ),
            ),
        )
    )


_declare()
