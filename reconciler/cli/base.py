"""Click classes that keep what operators knew from the argparse CLI: usage lines, help layout, exits.

tests/fixtures/cli/surface.json records that CLI; tests/test_cli_surface.py holds this one to it.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import sys

import click
import psycopg

from receiver.config import ConfigError, Settings
from receiver.database import connect as pooled
from receiver.database.connect import Connector
from receiver.database.pool import unreachable
from receiver.registry import Registry

HELP = "show this help message and exit"
COLUMN = 20  # flags wider than this get a line of their own; help starts at column 24 at most, as in argparse
WIDTH = 10_000  # no cap: wrap at the terminal's width, as argparse did (click's default is 80)


class IsoDate(click.ParamType):
    """A YYYY-MM-DD date, as date.fromisoformat reads it."""

    name = "date"

    def convert(self, value, param, ctx):
        """The date, or a usage error that shows the expected form."""
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date: use YYYY-MM-DD", param, ctx)


class Option(click.Option):
    """An option shown as argparse showed it; its help may say %(default)s and it may exclude others."""

    def __init__(self, *args, not_with=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.not_with = tuple(not_with)

    def help_text(self, ctx) -> str | None:
        """The help with %(default)s filled in (a callable default is called now, like argparse at start)."""
        if self.help and "%(" in self.help:
            return self.help % {"default": self.get_default(ctx)}
        return self.help

    def shown_metavar(self) -> str | None:
        """What follows the flag: the metavar, {choice,...}, or the name in capitals; None for a flag."""
        if self.is_flag:
            return None
        if self.metavar:
            return self.metavar
        if isinstance(self.type, click.Choice):
            return "{" + ",".join(self.type.choices) + "}"
        return self.name.upper()

    def usage(self) -> str:
        """This option in the usage line: `--kind {a,b}`, bracketed unless required."""
        shown = " ".join(filter(None, (self.opts[0], self.shown_metavar())))
        return shown if self.required else f"[{shown}]"

    def get_help_record(self, ctx):
        """(flags and metavar, help), as the options section lists it."""
        flags = ", ".join([*self.opts, *self.secondary_opts])
        metavar = self.shown_metavar()
        return (f"{flags} {metavar}" if metavar else flags), self.help_text(ctx) or ""

    def handle_parse_result(self, ctx, opts, args):
        """Refuse this option together with one it excludes (argparse's mutually exclusive group)."""
        if opts.get(self.name):
            for other in self.not_with:
                if opts.get(other.lstrip("-").replace("-", "_")):
                    raise click.UsageError(f"{self.opts[0]} is not allowed with {other}", ctx)
        return super().handle_parse_result(ctx, opts, args)


class Argument(click.Argument):
    """A positional argument with a help text (click before 8.5 has none)."""

    def __init__(self, decls, help=None, **kwargs):
        super().__init__(decls, **kwargs)
        self.help = help

    def shown_metavar(self) -> str:
        """The name shown for it."""
        return self.metavar or self.name

    def usage(self) -> str:
        """`[ID ...]` for any number of values, as argparse wrote it."""
        return f"[{self.shown_metavar()} ...]" if self.nargs == -1 else self.shown_metavar()


def _show_help(ctx, param, value):
    """-h/--help prints the help and exits the process with 0, as argparse did (scripts rely on the exit)."""
    if value and not ctx.resilient_parsing:
        click.echo(ctx.get_help(), color=ctx.color)
        raise SystemExit(0)


class _ArgparseLook:
    """Usage line, help layout and -h of the argparse CLI, for commands and groups alike."""

    metavar = None  # a group's name for its subcommand (COMMAND, ACTION, SOURCE)
    _help = None

    def get_help_option(self, ctx):
        """-h, --help with argparse's wording, first in every listing."""
        if self._help is None:
            self._help = Option(
                ctx.help_option_names, is_flag=True, expose_value=False, is_eager=True, callback=_show_help, help=HELP
            )
        return self._help

    def displayed_params(self, ctx) -> list:
        """The help option, then the parameters in the order they were declared."""
        return [self.get_help_option(ctx), *self.params]

    def collect_usage_pieces(self, ctx):
        """`[-h] [--source {..}] [--once | --loop] --kind {..} [ID ...] COMMAND ...`."""
        pieces, shown = [], set()
        params = self.displayed_params(ctx)
        for param in params:
            if param.name in shown:
                continue
            group = [param, *(p for p in params if p.opts[0] in getattr(param, "not_with", ()))]
            shown.update(p.name for p in group)
            pieces.append("[" + " | ".join(p.opts[0] for p in group) + "]" if len(group) > 1 else param.usage())
        if self.metavar:
            pieces.append(f"{self.metavar} ...")
        return pieces

    def format_usage(self, ctx, formatter):
        """`usage: callrecon ...`, lower case, wrapped between pieces (never inside `[--limit LIMIT]`)."""
        head = f"usage: {ctx.command_path}"
        lines = [head]
        for piece in self.collect_usage_pieces(ctx):
            if len(lines[-1]) + 1 + len(piece) > formatter.width and lines[-1].strip() != head:
                lines.append(" " * len(head))
            lines[-1] += " " + piece
        formatter.write("\n".join(lines) + "\n")

    def format_help_text(self, ctx, formatter):
        """The description, not indented."""
        if self.help:
            formatter.write_paragraph()
            formatter.write_text(inspect.cleandoc(self.help))

    def format_arguments(self, ctx, formatter):
        """Nothing here: format_options lists the arguments before the options, as argparse did."""

    def format_options(self, ctx, formatter):
        """`positional arguments:` (a group's commands, or the arguments), then `options:`, in one column."""
        commands = [(f"  {name}", cmd.short_help or "") for name, cmd in getattr(self, "commands", {}).items()]
        arguments = [(p.shown_metavar(), p.help or "") for p in self.params if isinstance(p, click.Argument)]
        options = [p.get_help_record(ctx) for p in self.displayed_params(ctx) if isinstance(p, click.Option)]
        width = min(max(len(term) for term, _ in commands + arguments + options), COLUMN)

        def rows(items):
            formatter.write_dl([(term.ljust(width), text) for term, text in items], col_max=COLUMN)

        if commands or arguments:
            with formatter.section("positional arguments"):
                if commands:
                    formatter.write_text(self.metavar)
                    rows(commands)
                if arguments:
                    rows(arguments)
        with formatter.section("options"):
            rows(options)


class Command(_ArgparseLook, click.Command):
    """A callrecon command."""


class Group(_ArgparseLook, click.Group):
    """A callrecon command with subcommands, listed in the order they were added."""

    command_class = Command
    group_class = type  # subgroups are Groups too

    def __init__(self, *args, metavar: str = "COMMAND", **kwargs):
        super().__init__(*args, no_args_is_help=False, **kwargs)  # a missing command is a usage error (exit 2)
        self.metavar = metavar

    def list_commands(self, ctx):
        """Declaration order, as the help lists them."""
        return list(self.commands)


option = functools.partial(click.option, cls=Option)
argument = functools.partial(click.argument, cls=Argument)


def vendors_in_use() -> Registry:
    """The registry the running command line was built for (reconciler.cli.build)."""
    return click.get_current_context().find_object(Registry)


def with_settings(func):
    """Pass the settings read from the environment first; read after parsing, so --help needs none."""

    @functools.wraps(func)
    def command(*args, **kwargs):
        settings = Settings.from_env(vendors=vendors_in_use())
        from receiver import logs

        logs.configure(settings)
        return func(settings, *args, **kwargs) or 0

    return command


def connect(settings, release: bool = False):
    """An autocommit connection; each unit of work opens its own transaction block.

    release: to RELEASE_DATABASE_URL when it is set (migrations, roles), else DATABASE_URL. Those keep
    session state across transactions (SET ROLE for the owner), so they refuse a transaction pooler
    whatever DATABASE_POOLER says.
    """
    url, variable = settings.database_url, "DATABASE_URL"
    if release and settings.roles.release_database_url:
        url, variable = settings.roles.release_database_url, "RELEASE_DATABASE_URL"
    database = Connector(url, "none") if release else Connector.of(settings, url)
    try:
        conn = database.connect()
    except psycopg.OperationalError as exc:
        raise ConfigError(unreachable(url, exc, variable)) from None
    try:
        pooled.check(database, conn)
    except pooled.BehindPooler as exc:
        conn.close()
        if release:
            raise ConfigError(
                f"{variable} leads to a connection pooler in transaction mode; migrations and roles set the "
                f"owner role for their session: point {variable} at PostgreSQL itself"
            ) from None
        raise ConfigError(str(exc)) from None
    return conn


def ids_from(args_ids) -> list[str]:
    """Ids from the arguments, or one per line on stdin when none (or '-') are given."""
    ids = list(args_ids)
    if not ids or ids == ["-"]:
        ids = sys.stdin.read().splitlines()
    ids = [i.strip() for i in ids if i.strip()]
    bad = [i for i in ids if len(i) > 200]
    if bad:
        raise ConfigError(f"{len(bad)} id(s) longer than 200 characters; is the input one id per line?")
    if not ids:
        raise ConfigError("no ids given: pass them as arguments or one per line on stdin")
    return ids
