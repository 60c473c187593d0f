"""The public surface of the `callrecon` command line, read from argparse or click, for a recorded diff.

Each command path (["db", "upgrade"], ["reconcile"] ...) maps to the help line its parent lists, its
own description, and every option or argument as the user sees it: flags, whether it takes a value,
the metavar shown, choices, type, default, required, repeatable and the help text after %(default)s
is filled in. tests/fixtures/cli/surface.json holds the surface of the argparse CLI that click replaced;
`python tests/cli_surface.py` rewrites it from today's CLI after a deliberate change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import sys

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "cli" / "surface.json"
USER = "operator"  # --by's default names $USER; the surface is read with this one so it is stable

_ARGPARSE_TYPES = {None: "str", int: "int", float: "float", dt.date.fromisoformat: "date"}
_CLICK_TYPES = {"text": "str", "choice": "str", "integer": "int", "float": "float", "date": "date"}


def _words(text):
    """Help text with whitespace folded, since argparse and click wrap differently."""
    return " ".join(text.split()) if text else None


def _param(flags, takes_value, metavar, choices, type_, default, required, repeatable, help_):
    """One option or argument in the shape both readers produce."""
    if repeatable and default in (None, (), []):
        default = None
    if not takes_value and default is None:
        default = False
    return {
        "flags": list(flags),
        "takes_value": takes_value,
        "metavar": metavar if takes_value else None,
        "choices": list(choices) if choices else None,
        "type": type_ if takes_value else None,
        "default": default,
        "required": bool(required),
        "repeatable": bool(repeatable),
        "help": _words(help_),
    }


def from_argparse(parser: argparse.ArgumentParser, path=(), help_=None) -> list[dict]:
    """The surface of an argparse parser and its subparsers."""
    formatter = parser._get_formatter()
    entry = {
        "path": list(path),
        "help": help_,
        "description": _words(parser.description),
        "metavar": None,
        "params": [],
        "exclusive": sorted(
            sorted(a.option_strings[0] for a in group._group_actions) for group in parser._mutually_exclusive_groups
        ),
    }
    children = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            entry["metavar"] = action.metavar
            lines = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                children += from_argparse(sub, (*path, name), lines[name])
            continue
        takes_value = action.nargs != 0
        choices = list(action.choices) if action.choices else None
        if action.option_strings:
            metavar = action.metavar or ("{" + ",".join(choices) + "}" if choices else action.dest.upper())
        else:
            metavar = action.metavar or action.dest
        default = None if action.default is argparse.SUPPRESS else action.default
        repeatable = isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+")
        required = action.required and action.nargs != "*"  # argparse flags [ID ...] required, yet takes none
        entry["params"].append(
            _param(
                action.option_strings or [action.dest],
                takes_value,
                metavar,
                choices,
                _ARGPARSE_TYPES[action.type],
                default,
                required,
                repeatable,
                formatter._expand_help(action) if action.help else None,
            )
        )
    return [entry, *children]


def from_click(command, path=(), parent=None) -> list[dict]:
    """The surface of a click command or group (the reconciler.cli classes)."""
    import click

    ctx = click.Context(
        command, info_name=path[-1] if path else "callrecon", parent=parent, **(command.context_settings or {})
    )
    entry = {
        "path": list(path),
        "help": command.short_help if path else None,
        "description": _words(command.help),
        "metavar": getattr(command, "metavar", None),
        "params": [],
        "exclusive": sorted(
            {tuple(sorted((p.opts[0], *p.not_with))) for p in command.params if getattr(p, "not_with", ())}
        ),
    }
    entry["exclusive"] = [list(group) for group in entry["exclusive"]]
    for param in command.displayed_params(ctx):
        is_option = isinstance(param, click.Option)
        takes_value = not (is_option and param.is_flag)
        choices = list(param.type.choices) if isinstance(param.type, click.Choice) else None
        repeatable = param.multiple or param.nargs == -1
        default = param.to_info_dict()["default"]  # as declared; None when unset
        default = default() if callable(default) else default
        if is_option:
            flags, help_ = [*param.opts, *param.secondary_opts], param.help_text(ctx)
        else:
            flags, help_ = [param.name], param.help
        entry["params"].append(
            _param(
                flags,
                takes_value,
                param.shown_metavar(),
                choices,
                _CLICK_TYPES.get(param.type.name),
                default,
                param.required,
                repeatable,
                help_,
            )
        )
    children = []
    for name in getattr(command, "commands", {}):
        children += from_click(command.commands[name], (*path, name), ctx)
    return [entry, *children]


def dumps(surface: list[dict]) -> str:
    """The fixture's text: one command per block, one parameter per line, so a diff shows what moved."""
    blocks = []
    for entry in surface:
        head = {k: v for k, v in entry.items() if k != "params"}
        params = ",\n".join(f"   {json.dumps(p)}" for p in entry["params"])
        blocks.append(f' {json.dumps(head)[:-1]}, "params": [\n{params}\n ]}}')
    return "[\n" + ",\n".join(blocks) + "\n]\n"


def recorded() -> list[dict]:
    """The surface recorded in the fixture."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


if __name__ == "__main__":
    import os

    os.environ["USER"] = USER
    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))
    from reconciler import cli

    surface = from_click(cli.callrecon)
    FIXTURE.write_text(dumps(surface), encoding="utf-8")
    print(f"wrote {FIXTURE} ({len(surface)} commands)")
