"""Huawei CC-iSales: its pushed call results, and the ledgers of detail fetches and discovery days.

Everything about Huawei on the receiving side lives in this folder: the settings section, the
record parser and landing (records.py), and this registry entry. The reconciler's side (detail
fetch, discovery, signing) is reconciler/sources/huawei/.
"""

from receiver.ledgers import Ledger
from receiver.registry import RANDOM_TOKEN, OpenApi, Push, Vendor
from receiver.vendors.huawei import records
from receiver.vendors.huawei.journey import JOURNEY
from receiver.vendors.huawei.settings import NAME, HuaweiSettings, section

TYPED_ROWS = """
SELECT 'huawei_call' AS tbl, h.vdn_id || ':' || h.call_id AS key, to_jsonb(h) AS row FROM huawei_call h
WHERE (h.vdn_id, h.call_id) IN (SELECT vdn_id, call_id FROM huawei_sighting WHERE raw_id = %(id)s)
"""

# One row per configured campaign and day, paged through the bulk call-result query.
DISCOVERY = Ledger(
    "huawei-discovery",
    NAME,
    "huawei_discovery_window",
    ("vdn_id", "campaign_id", "day"),
    kind="'campaign day'",
    item="vdn_id || ':' || campaign_id || ' ' || day",
    label="'campaign ' || campaign_id || ', day ' || day",
    about="day::timestamp AT TIME ZONE 'UTC'",
    tries="attempts",
    open="state = 'pending'",
    gave_up="state = 'failed'",
    give_up="state = 'failed'",
    reopen="state = 'pending'",
    final="state",
    problems=lambda settings: section(settings).problems(),
)
# The call table itself: each known call waits for its detail fetch.
DETAIL = Ledger(
    NAME,
    NAME,
    "huawei_call",
    ("vdn_id", "call_id"),
    kind="'call detail'",
    item="vdn_id || ':' || call_id",
    label="'call detail, campaign ' || COALESCE(campaign_id::text, '-')",
    about="first_seen_at",
    tries="detail_attempts",
    error="detail_error",
    next_at="detail_next_at",
    open="detail_status = 'pending'",
    gave_up="detail_status = 'failed'",
    give_up="detail_status = 'failed'",
    reopen="detail_status = 'pending'",
    final="detail_status",
    problems=lambda settings: section(settings).problems(),
)

VENDOR = Vendor(
    NAME,
    journey=JOURNEY,
    settings=HuaweiSettings,
    push=Push(
        records.land_records,
        lambda settings: section(settings).callback_tokens,
        reply=records.reply,
        openapi=OpenApi("HuaweiCallResult", records.FIELD_MAP_SPEC, array_only=True),
        typed_rows=TYPED_ROWS,
        enable=(
            ("HUAWEI_CALLBACK_TOKENS", RANDOM_TOKEN),
            ("HUAWEI_TIMEZONE", "the tenant's IANA time zone, e.g. `Asia/Shanghai` (Huawei's times carry none)"),
        ),
    ),
    ledgers=(DISCOVERY, DETAIL),
    reconciler="reconciler.sources.huawei",
    grants={
        "huawei_call": ("SIU", "SIUD", "S"),
        "huawei_sighting": ("SI", "SID", "S"),
        # web reads (never writes) the ledgers /metrics counts: receiver/web/work_metrics.py
        "huawei_discovery_window": ("S", "SIU", "S"),
        "huawei_fail_code": ("", "S", "S"),
        "huawei_call_explained": ("", "S", "S"),
    },
    monthly_tables=(("huawei_call", "vdn_id, call_id, first_seen_at"),),
)
