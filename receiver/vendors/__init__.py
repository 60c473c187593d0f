"""The vendors callrecon ships with: the registry's list, the one shared place that names them.

Each vendor's home is its folder here (and, when the reconciler asks it for something, its folder
under reconciler/sources/). The order is the order `callrecon reconcile --source all` runs them.
"""

from receiver.registry import Registry
from receiver.vendors import huawei, leadsquared, ozonetel

VENDORS = Registry(leadsquared.VENDOR, huawei.VENDOR, ozonetel.VENDOR)
