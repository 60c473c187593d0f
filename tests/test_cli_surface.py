"""The command line keeps its public surface: every command, option, default, choice and help text."""

from __future__ import annotations

import cli_surface
import pytest

from reconciler import cli


def test_click_cli_has_the_recorded_argparse_surface(monkeypatch):
    """Compared as the fixture's text, so a failure shows the lines that changed."""
    monkeypatch.setenv("USER", cli_surface.USER)
    assert cli_surface.dumps(cli_surface.from_click(cli.callrecon)) == cli_surface.FIXTURE.read_text(encoding="utf-8")


USAGE_ERRORS = {
    "no command": [],
    "no action": ["db"],
    "once and loop": ["reconcile", "--once", "--loop"],
    "bad date": ["reconcile", "--since", "2026-13-01"],
    "unknown source": ["replay", "--source", "nowhere"],
    "missing option": ["prune"],
}


@pytest.mark.parametrize("argv", list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_usage_errors_exit_2_with_the_usage_line_as_argparse_did(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: callrecon") and "Error:" in err


def test_help_lists_sources_from_the_registries(capsys):
    from receiver.vendors import VENDORS

    with pytest.raises(SystemExit):
        cli.main(["reconcile", "-h"])
    assert "{" + ",".join([*VENDORS.polled, "all"]) + "}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["replay", "-h"])
    assert "{" + ",".join(sorted(VENDORS.pushes)) + "}" in capsys.readouterr().out


def test_the_db_help_line_names_every_db_command():
    """`callrecon --help` lists db's actions on its line; it named three of seven once."""
    db = cli.callrecon.commands["db"]
    assert all(name in db.short_help for name in db.commands), (db.short_help, sorted(db.commands))
