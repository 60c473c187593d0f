"""Reconciler sources by the name `--source` takes; `all` runs each in this order.

A name can cover several work sources that share one vendor budget (Huawei: discovery first, so
the calls it finds get their detail in the same pass).
"""

from reconciler.sources.huawei import HuaweiDetailSource
from reconciler.sources.huawei_discovery import HuaweiDiscoverySource
from reconciler.sources.leadsquared import LeadSquaredSource
from reconciler.sources.ozonetel import OzonetelSource

SOURCES = {
    "leadsquared": (LeadSquaredSource,),
    "huawei": (HuaweiDiscoverySource, HuaweiDetailSource),
    "ozonetel": (OzonetelSource,),
}
