"""Ozonetel CloudAgent: its pushes (call details, Campaign Dial Status) and its dial-status request ledger.

Everything about Ozonetel on the receiving side lives in this folder: the settings section, the
record parser and landing (records.py), the matching of pushes to the requests that asked for them
(ledger.py), and this registry entry. The reconciler's side is reconciler/sources/ozonetel/.
"""

from receiver.ledgers import Ledger
from receiver.registry import RANDOM_TOKEN, OpenApi, Push, Vendor
from receiver.vendors.ozonetel import records
from receiver.vendors.ozonetel.journey import JOURNEY
from receiver.vendors.ozonetel.settings import NAME, OzonetelSettings, section

# The typed rows a raw callback produced, through its sightings (the console's event page).
TYPED_ROWS = """
SELECT 'ozonetel_call' AS tbl, o.call_key AS key, to_jsonb(o) AS row FROM ozonetel_call o
WHERE o.call_key IN (SELECT call_key FROM ozonetel_sighting WHERE raw_id = %(id)s)
"""

# A window for people: its campaign and UTC range.
WINDOW = (
    "campaign_name || ' ' || to_char(window_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
    "|| '..' || to_char(window_to AT TIME ZONE 'UTC', 'HH24:MI') || ' UTC'"
)
# One row per campaign window asked for with Campaign Dial Status; "requested" waits for its push.
LEDGER = Ledger(
    NAME,
    NAME,
    "ozonetel_request",
    ("id",),
    kind="'window'",
    item=WINDOW,
    label=WINDOW,
    about="window_from",
    open="state IN ('pending', 'requested', 'timed-out')",
    claimable="state IN ('pending', 'timed-out')",
    gave_up="state = 'failed'",
    give_up="state = 'failed'",
    reopen="state = 'timed-out'",
    # a requested window waits for its push; asked again now, as after OZONETEL_PUSH_TIMEOUT
    retry_set="state = CASE WHEN state = 'requested' THEN 'timed-out' ELSE state END",
    final="state",
    problems=lambda settings: section(settings).problems(settings.public_base_url),
)

# One row per day (OZONETEL_TIMEZONE) of the CDR report, per campaign or for the whole account.
CDR_LEDGER = Ledger(
    "ozonetel-cdr",
    "ozonetel-cdr",
    "ozonetel_cdr_day",
    ("id",),
    kind="'CDR day'",
    item="COALESCE(NULLIF(campaign_name, ''), 'account') || ' ' || day",
    label="'CDR of ' || COALESCE(NULLIF(campaign_name, ''), 'the account') || ', ' || day || ', pass ' || (passes + 1)"
    " || ', page ' || next_page",
    about="day::timestamp AT TIME ZONE 'UTC'",
    open="state = 'pending'",
    gave_up="state IN ('failed', 'expired')",
    give_up="state = 'failed'",
    reopen="state = 'pending'",
    final="state",
    expired="state = 'expired'",
    problems=lambda settings: section(settings).cdr_problems(),
)

VENDOR = Vendor(
    NAME,
    journey=JOURNEY,
    settings=OzonetelSettings,
    push=Push(
        records.land_records,
        lambda settings: section(settings).callback_tokens,
        check=records.check_apikeys,
        openapi=OpenApi("OzonetelRecord", records.FIELDS),
        land_many=records.land_many,
        typed_rows=TYPED_ROWS,
        enable=(("OZONETEL_CALLBACK_TOKENS", RANDOM_TOKEN),),
    ),
    ledgers=(LEDGER, CDR_LEDGER),
    reconciler="reconciler.sources.ozonetel",
    grants={
        # prune deletes typed calls at the typed retention age (receiver/landing/typed_retention.py)
        "ozonetel_call": ("SIU", "SIUD", "S"),
        "ozonetel_sighting": ("SI", "SID", "S"),  # prune deletes the sightings of the raw rows it deletes
        # a push credits the window it answers (ledger.py)
        "ozonetel_request": ("SU", "SIU", "S"),
        "ozonetel_request_try": ("S", "SI", "S"),
        "ozonetel_request_credit": ("SI", "SI", "S"),
        # the CDR pull (reconciler/sources/ozonetel/cdr.py): its days, their counts, the shared token (the
        # reconciler's alone), and the ids each leg is known by, which landing pushes reads too
        "ozonetel_cdr_day": ("S", "SIU", "S"),
        "ozonetel_cdr_count": ("S", "SIUD", "S"),
        "ozonetel_cdr_token": ("", "SIU", ""),
        "ozonetel_call_alias": ("S", "SI", "S"),
    },
    monthly_tables=(("ozonetel_call", "call_key, first_seen_at"),),
)
