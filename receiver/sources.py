"""Vendor sources callrecon accepts callbacks from, and the landing function for each."""

from . import ozonetel

LANDERS = {
    ozonetel.SOURCE: ozonetel.land_records,
}
