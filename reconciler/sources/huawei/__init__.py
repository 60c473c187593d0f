"""huawei: what the reconciler asks this vendor, and how."""
