"""LeadSquared: the async-API RequestIds the reconciler polls until their task is final.

LeadSquared pushes nothing to callrecon: its home holds the settings section, the status parser
(status.py) and this registry entry. The reconciler's side is reconciler/sources/leadsquared/.
"""

from receiver.ledgers import Ledger
from receiver.registry import Vendor
from receiver.vendors.leadsquared.journey import JOURNEY
from receiver.vendors.leadsquared.settings import NAME, LeadSquaredSettings, section

# One tracked RequestId per row, polled until its task is final (or it expires at the poll horizon).
LEDGER = Ledger(
    NAME,
    NAME,
    "lsq_request",
    ("id",),
    kind="kind || COALESCE(' ' || status, '')",
    item="request_id",
    label="kind || ' ' || request_id",
    about="registered_at",
    tries="failed_tries",
    next_at="next_poll_at",
    open="final_at IS NULL",
    gave_up="status IN ('failed', 'expired')",
    give_up="status = 'failed', final_at = %(now)s",
    reopen="status = NULL, final_at = NULL",
    final="status",
    expired="status = 'expired'",
    problems=lambda settings: section(settings).problems(),
)

VENDOR = Vendor(
    NAME,
    journey=JOURNEY,
    settings=LeadSquaredSettings,
    ledgers=(LEDGER,),
    reconciler="reconciler.sources.leadsquared",
    grants={
        # web reads (never writes) the ledgers /metrics counts: receiver/web/work_metrics.py
        "lsq_request": ("S", "SIU", "S"),
        "call_log_link": ("", "S", "S"),  # written by triggers (sql/0024)
        "call_log_latency": ("", "S", "S"),  # written by triggers on call_log_link (sql/0032)
        "lsq_failure_daily": ("", "S", "S"),  # written by triggers on lsq_request (sql/0033)
        "leadsquared_health": ("", "S", "S"),
    },
)
