"""Each vendor's reconciler side, loaded from the module its registry entry names.

A vendor's module (reconciler/sources/<vendor>/__init__.py) declares SOURCES, the source classes
that `--source <vendor>` runs, in order (several share one vendor budget: Huawei's discovery runs
first, so the calls it finds get their detail in the same pass), and COMMANDS, its subcommands of
the command line's groups (`track`, `backfill`). Nothing here names a vendor.
"""

from __future__ import annotations

import importlib


def module_of(vendors, name: str):
    """The reconciler module a vendor's registry entry names."""
    return importlib.import_module(vendors.polled[name])


def load(vendors) -> dict[str, tuple[type, ...]]:
    """Each polled vendor's source classes, by vendor name, in registry order."""
    return {name: tuple(module_of(vendors, name).SOURCES) for name in vendors.polled}


def commands(vendors, group: str) -> list:
    """The click commands the polled vendors add to one command-line group, in registry order."""
    return [
        command
        for name in vendors.polled
        for command in getattr(module_of(vendors, name), "COMMANDS", {}).get(group, ())
    ]
