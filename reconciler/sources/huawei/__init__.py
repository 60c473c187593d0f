"""Huawei CC-iSales on the reconciler's side: discovery (discovery.py), detail fetch (detail.py), signing.

SOURCES run in this order on one shared budget: discovery first, so the calls it finds get their
detail in the same pass. COMMANDS adds `callrecon track huawei`.
"""

from reconciler.sources.huawei.cli import track
from reconciler.sources.huawei.detail import HuaweiDetailSource
from reconciler.sources.huawei.discovery import HuaweiDiscoverySource

SOURCES = (HuaweiDiscoverySource, HuaweiDetailSource)
COMMANDS = {"track": (track,)}
