"""Reconciler sources by the name `--source` takes; `all` runs each vendor in registry order.

One module per vendor. Which classes run for a vendor comes from the vendor registry
(`receiver.vendors.registry`), where each entry names its source classes as "module:Class". A
name can cover several work sources that share one vendor budget (Huawei: discovery first, so
the calls it finds get their detail in the same pass).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from receiver.registry import VENDORS


def load(path: str) -> type:
    """The class a registry entry names as "package.module:Class"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class _Sources(Mapping):
    """Vendor name -> its source classes, read from the registry at each use (so late entries count)."""

    def __getitem__(self, name: str) -> tuple[type, ...]:
        vendor = VENDORS[name]
        if not vendor.sources:
            raise KeyError(name)
        return tuple(load(path) for path in vendor.sources)

    def __iter__(self):
        return (name for name, vendor in VENDORS.items() if vendor.sources)

    def __len__(self) -> int:
        return sum(1 for _ in self)


SOURCES: Mapping[str, tuple[type, ...]] = _Sources()
