"""The `callrecon` command line: database, landing, reconciling and operator helpers.

click instead of a hand-written argparse parser: each command declares its options beside the code that
uses them, --help comes from the same declarations, and tests can read the command tree
(tests/test_cli_surface.py). base.py keeps the usage lines, help layout and exit codes argparse gave.
The command line is built for a vendor registry (`build`, as create_app is for the app): the commands
whose choices or subcommands come from the vendors are made for it, and every command reads it.
"""

from __future__ import annotations

import functools
import sys

import click

from receiver.config import ConfigError
from receiver.database import migrations
from receiver.database.provision import ProvisionError
from receiver.vendors import VENDORS
from reconciler.cli import db, inbox, items, prune, work
from reconciler.cli.base import WIDTH, Group


def build(vendors) -> click.Group:
    """The `callrecon` group for a vendor registry (receiver.registry.Registry)."""

    @click.group(
        cls=Group,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": WIDTH, "obj": vendors},
    )
    def callrecon():
        """callrecon: land vendor call outcomes in Postgres and reconcile what pushes missed. Configuration comes
        from the environment (see docs/configuration.md)."""

    for command in (
        db.db,
        inbox.replay(vendors),
        inbox.land,
        work.vendor_group(vendors, "track"),
        work.reconcile(vendors),
        work.vendor_group(vendors, "backfill"),
        work.status,
        items.items(vendors),
        prune.prune,
        inbox.urls,
        inbox.config,
    ):
        callrecon.add_command(command)
    return callrecon


@functools.cache
def shipped() -> click.Group:
    """The command line for the vendors callrecon ships with, built once, on first use.

    Not at import: a vendor's subcommands import reconciler.cli.base, which runs this package first.
    """
    return build(VENDORS)


def __getattr__(name: str):
    """`reconciler.cli.callrecon`: the shipped command line (tests read its surface)."""
    if name == "callrecon":
        return shipped()
    raise AttributeError(name)


def main(argv=None, vendors=None) -> int:
    """Entry point of the `callrecon` console script: the command's exit code; usage errors exit 2."""
    cli = shipped() if vendors is None else build(vendors)
    try:
        return cli.main(args=argv, prog_name="callrecon", standalone_mode=False) or 0
    except click.UsageError as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None  # argparse exited 2 on bad arguments; scripts expect that
    except click.Abort:
        print("callrecon: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, ProvisionError, migrations.MigrationError) as exc:
        print(f"callrecon: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
