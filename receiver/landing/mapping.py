"""Vendor field names -> our columns, validated by marshmallow; shared by every vendor's landing."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from marshmallow import ValidationError
from psycopg import sql

from receiver import json_text
from receiver.landing.fields import BaseSchema
from receiver.landing.masking import MASK, is_secret_field, normalise_key


class RecordError(ValueError):
    """One record cannot land; `detail` (field -> messages) is stored in the quarantine."""

    def __init__(self, detail):
        super().__init__(str(detail))
        self.detail = detail


MAX_ROUTES = 4096


class FieldMap:
    """Maps a vendor record onto columns by name, ignoring case and underscores.

    `fields` is {column: (marshmallow field, vendor name, other vendor names...)}: adding a
    vendor name for a column is one line there.
    """

    def __init__(self, name: str, fields: dict):
        self.columns = tuple(fields)
        self.aliases = {
            normalise_key(alias): column for column, (_, *names) in fields.items() for alias in (column, *names)
        }
        self.name = name
        self.fields = {column: spec[0] for column, spec in fields.items()}
        self.schema = BaseSchema.from_dict(self.fields, name=name)()
        self._bound = self.schema.fields  # the schema's own (bound) field objects, by column
        self._direct = {column: _direct(field) for column, field in self._bound.items()}
        self._routes: dict = {}

    def split(self, record: dict) -> tuple[dict, dict, dict]:
        """(mapped by column, unmapped fields with secrets masked, column -> vendor name)."""
        mapped, extra, origin = {}, {}, {}
        routes = self._routes
        for key, value in record.items():
            route = routes.get(key)
            if route is None:
                route = self._route(key)
            column, secret = route
            if secret:
                extra[key] = MASK
            elif column and column not in mapped:
                mapped[column], origin[column] = value, str(key)
            else:
                extra[key] = value
        return mapped, extra, origin

    def _route(self, key) -> tuple[str | None, bool]:
        """(column, is a secret field) for a vendor field name; remembered, as every push repeats them.

        A FieldMap's names are fixed when it is built: a new alias is a new FieldMap (a release).
        """
        route = (self.aliases.get(normalise_key(str(key))), is_secret_field(str(key)))
        if len(self._routes) < MAX_ROUTES:  # bounded: a hostile sender could invent names forever
            self._routes[key] = route
        return route

    def load(self, mapped: dict, origin: dict) -> dict:
        """Validated values for every column (None where absent); errors use the vendor's names.

        Each present value goes through its marshmallow field's `deserialize`, as `Schema.load` would
        do it, without the schema's per-field plumbing around it (getters, error store, hooks): the
        lander profiled that at over a third of its validation time. The schema has no hooks, no
        required fields and no schema-level validators, so the values and messages are the same;
        an absent field is None, as `Schema.load` plus the fill below gave.
        """
        loaded = dict.fromkeys(self.columns)
        errors = None
        for column, value in mapped.items():
            try:
                direct = self._direct[column]
                if direct is None:
                    loaded[column] = self._bound[column].deserialize(value, column, mapped)
                elif value is not None:
                    loaded[column] = direct(value, column, mapped)
            except ValidationError as exc:
                errors = errors or {}
                errors[origin.get(column, column)] = exc.messages
        if errors:
            raise RecordError(errors)
        return loaded


def _direct(field):
    """The field's `_deserialize` when `deserialize` would add nothing around it, else None.

    `deserialize` checks for a missing or null value, then runs pre-load hooks, `_deserialize`,
    validators and post-load hooks. A mapped value is never missing; for a field that allows
    null and has no hooks or validators the rest is `_deserialize` itself, which marshmallow
    documents as what a field type implements. The lander spent 7 us per record in the wrapper.
    """
    plain = field.allow_none and not (field.validators or field.pre_load or field.post_load)
    return field._deserialize if plain else None


def storable_json(value):
    """`value` if Postgres jsonb can hold it (no NaN/Infinity, no NUL characters)."""
    try:
        text = json_text.strict_dumps(value)
    except ValueError:
        raise RecordError({"_extra": ["contains NaN or Infinity, which JSON does not allow"]}) from None
    if "\\u0000" in text:
        raise RecordError({"_extra": ["contains a NUL character, which Postgres cannot store"]})
    return value


_NAMED = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Statement:
    """A long landing statement, turned once at import into PostgreSQL's own `$n` form.

    Profiling the receiver showed psycopg spending more per callback on our upserts than all our
    own Python: it re-rendered the Composed on every execute, and re-parsed the named
    placeholders of these 5-8 KB statements each time (its parse cache stops at 4 KB). A raw
    cursor sends `$n` text as it is.
    """

    text: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, query) -> Statement:
        text = query.as_string() if isinstance(query, sql.Composable) else query
        names: list[str] = []

        def number(match):
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        return cls(_NAMED.sub(number, text), tuple(names))

    def args(self, params: dict) -> list:
        return [params[name] for name in self.names]


def write_rows(conn, statement: Statement, params: list[dict]) -> None:
    """Run `statement` once per row: a single row directly, several in one pipeline."""
    if not params:
        return
    with psycopg.RawCursor(conn) as cur:
        if len(params) == 1:
            cur.execute(statement.text, statement.args(params[0]))
        else:
            cur.executemany(statement.text, [statement.args(p) for p in params])


def fill_columns(columns, stale: str):
    """SET items for an upsert: the newer record's non-empty values win; a stale one only fills gaps.

    `stale` is an SQL condition on EXCLUDED (the incoming row) and t (the stored row) that is true
    when the incoming record is older than what is stored (e.g. a replay of an earlier push).
    """
    return sql.SQL(", ").join(
        sql.SQL(
            "{c} = CASE WHEN {stale} THEN COALESCE(t.{c}, EXCLUDED.{c}) ELSE COALESCE(EXCLUDED.{c}, t.{c}) END"
        ).format(c=sql.Identifier(c), stale=sql.SQL(stale))
        for c in columns
    )
