"""Ozonetel on the reconciler's side: Campaign Dial Status requests (dial_status.py) and their backfill,
and the CDR report pulled day by day (cdr.py, with its shared token, cdr_token.py).

SOURCES and COMMANDS are what the registry entry (receiver/vendors/ozonetel/) points the reconciler
and the command line to.
"""

from reconciler.sources.ozonetel.cdr import OzonetelCdrSource
from reconciler.sources.ozonetel.cli import backfill
from reconciler.sources.ozonetel.dial_status import OzonetelSource

SOURCES = (OzonetelSource, OzonetelCdrSource)
COMMANDS = {"backfill": (backfill,)}
