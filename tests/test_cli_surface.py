"""The command line keeps its public surface: every command, option, default, choice and help text."""

from __future__ import annotations

import cli_surface
from reconciler import cli


def test_click_cli_has_the_recorded_argparse_surface(monkeypatch):
    """Compared as the fixture's text, so a failure shows the lines that changed."""
    monkeypatch.setenv("USER", cli_surface.USER)
    assert cli_surface.dumps(cli_surface.from_click(cli.callrecon)) == cli_surface.FIXTURE.read_text(encoding="utf-8")
