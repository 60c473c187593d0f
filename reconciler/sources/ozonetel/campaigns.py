"""A campaign Ozonetel calls invalid: stopped alone, for both Ozonetel sources, with the one fix to name.

Ozonetel answers "campaignName is invalid" (dial status) or "Invalid campaignName" (CDR) for a name
CloudAgent does not know: the other campaigns go on. The stop lifts by itself once the campaign
settings change, or after OZONETEL_RECHECK (reconciler.core.blocks).
"""

from __future__ import annotations

from reconciler.core import blocks

CAMPAIGN_FIX = (
    "check the name in OZONETEL_CAMPAIGNS against the campaign in CloudAgent (exact spelling and "
    "case); it is asked again by itself once OZONETEL_CAMPAIGNS changes, or after OZONETEL_RECHECK"
)


def stop(conn, source: str, campaign: str, reason: str, *, config: str, recheck: float, now) -> None:
    """Record the stop of one campaign of `source`, with Ozonetel's words and the fix."""
    blocks.record(
        conn, source, "campaign", campaign, reason=reason, fix=CAMPAIGN_FIX, config=config, now=now, recheck=recheck
    )
