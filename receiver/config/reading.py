"""Settings declared once, as dataclass fields, and read from an environment mapping with environs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import marshmallow as ma
from environs import Env, EnvValidationError

from receiver.config.values import MASK, ConfigError


def setting(
    variable: str, kind: type[ma.fields.Field], default, *, secret=False, in_repr=True, **options
) -> dataclasses.Field:
    """A dataclass field read from `variable` by the marshmallow field `kind`; secrets stay out of repr."""
    meta = {"variable": variable, "kind": kind, "secret": secret, "options": options}
    return dataclasses.field(default=default, repr=in_repr and not secret, metadata=meta)


def declared(section) -> list[dataclasses.Field]:
    """The fields of a settings dataclass that come from an environment variable, in declaration order."""
    return [f for f in dataclasses.fields(section) if "variable" in f.metadata]


class SettingsEnv(Env):
    """environs' Env over a plain mapping (tests pass dicts), where a blank value counts as unset."""

    def __init__(self, environ: Mapping[str, str]):
        super().__init__(eager=False)  # collect every bad variable, then report them on one line
        self._mapping = environ

    def _get_value(self, env_key, default):
        # The hook environs' own FileAwareEnv overrides: here the mapping given, not os.environ.
        value = str(self._mapping.get(env_key, "")).strip()
        return value or default

    def read(self, section) -> dict:
        """Parse every variable that `section` declares into {attribute: value}."""
        values = {}
        for f in declared(section):
            kind, meta = f.metadata["kind"], f.metadata
            if kind.__name__ not in self.__custom_parsers__:
                self.add_parser_from_field(kind.__name__, kind)
            values[f.name] = getattr(self, kind.__name__)(meta["variable"], f.default, **meta["options"])
        return values

    def finish(self) -> None:
        """Raise one ConfigError naming every bad variable ("NAME='value' reason; ..."), or return."""
        try:
            self.seal()
        except EnvValidationError as exc:
            bad = [f"{name}={self._mapping[name].strip()!r} {why[0]}" for name, why in exc.error_messages.items()]
            raise ConfigError("; ".join(bad)) from None


def given(section_value) -> bool:
    """True when any of a section's settings differs from its default: the install uses that part at all."""
    return any(getattr(section_value, f.name) != f.default for f in declared(section_value))


def secrets_of(section_value) -> list[str]:
    """The values of a section's `secret=True` settings (each token of a list), for masking."""
    found = []
    for f in declared(section_value):
        if f.metadata["secret"]:
            value = getattr(section_value, f.name)
            found += list(value) if isinstance(value, (tuple, list, frozenset)) else [value]
    return [str(v) for v in found if v]


def described(section_value) -> list[tuple[str, str]]:
    """(variable, value shown) for each setting of a section object, secrets masked."""
    rows = []
    for f in declared(section_value):
        value, meta = getattr(section_value, f.name), f.metadata
        if meta["secret"]:
            shown = "" if not value else f"{MASK} ({len(value)} set)" if isinstance(value, tuple) else MASK
        else:
            shown = meta["kind"](**meta["options"])._serialize(value, None, None)
        rows.append((meta["variable"], "" if shown is None else str(shown)))
    return rows
