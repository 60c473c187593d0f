"""LeadSquared on the reconciler's side: async task status polling (polling.py).

SOURCES and COMMANDS (`callrecon track leadsquared`) are what its registry entry points to.
"""

from reconciler.sources.leadsquared.cli import track
from reconciler.sources.leadsquared.polling import LeadSquaredSource

SOURCES = (LeadSquaredSource,)
COMMANDS = {"track": (track,)}
