"""The command line keeps its public surface: every command, option, default, choice and help text."""

from __future__ import annotations

import cli_surface
from reconciler import cli


def test_cli_surface_matches_the_recorded_one(monkeypatch):
    monkeypatch.setenv("USER", cli_surface.USER)
    assert cli_surface.from_argparse(cli.build_parser()) == cli_surface.recorded()
