"""Statements written once per process for the hottest paths (bearer tokens, single posts, votes).

Compiling a `select_related` query or a model `INSERT` with the ORM costs more CPU than
PostgreSQL spends running it. These helpers build the SQL text once from the models' own
fields (so a new column is picked up without touching the statement) and turn raw rows back
into model instances with the same converters the ORM applies, so callers get ordinary model
objects. Use them only where a profile shows the ORM's compile cost; everything else stays ORM.

On PostgreSQL they run on a server-side-binding cursor that prepares every statement
(`prepared_cursor`, also used by deliveries and the inbox INSERT): psycopg prepares it once
per connection and PostgreSQL stops planning it
on every execution (planning the vote path's statements cost more than executing them).
Django's own queries keep client-side binding and no prepares (its default). Behind a
transaction-pooling PgBouncer, use PgBouncer ≥ 1.21 with `max_prepared_statements` set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import (
    Field,
    Model,
    signals,  # noqa: TID251 (read only: `instance` notifies whom `Model.__init__` would)
)
from django.db.models.base import ModelState


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A Django cursor (error translation, query logging, execute wrappers) whose statements
    PostgreSQL may keep prepared; a plain `connection.cursor()` on other databases, and while
    queries are logged (debug, tests counting queries), since a prepared execution leaves no
    SQL text for the log."""
    db = connections[DEFAULT_DB_ALIAS]  # once: every `connection.x` is a context-local lookup
    if db.vendor != "postgresql" or db.queries_logged:
        with db.cursor() as cursor:
            yield cursor
        return
    db.ensure_connection()
    pg = db.connection
    # Django turns psycopg's prepares off for the whole connection (None, for poolers' sake);
    # a threshold of 0 while this server-side-binding cursor runs prepares its statements only
    # (Django's own cursors are client-side and never prepare).
    threshold = pg.prepare_threshold
    pg.prepare_threshold = 0
    try:
        with db.wrap_database_errors:
            raw = psycopg.Cursor(pg)
        cursor = db._prepare_cursor(raw)
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        pg.prepare_threshold = threshold


def fetchone(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple[Any, ...] | None:
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def execute(sql: str, params: Sequence[Any] | dict[str, Any]) -> None:
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)


def quoted_table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass(frozen=True)
class ModelColumns:
    """Every concrete column of a model under a table alias, with its value converters."""

    model: type[Model]
    alias: str
    attnames: tuple[str, ...]
    converters: tuple[tuple[Any, tuple[Any, ...]], ...]
    #: The select list, `alias."column", ...` in field order.
    select: str
    #: (index, column, converters) of the columns that need converting.
    converting: tuple[tuple[int, Any, tuple[Any, ...]], ...] = ()
    #: The model keeps Django's own `from_db` and `__init__` and nobody listens to `pre_init`:
    #: `instance` may fill the instance directly.
    plain: bool = False

    def __len__(self) -> int:
        return len(self.attnames)

    def instance(self, values: Sequence[Any]) -> Model | None:
        """The model instance for these column values (None for an outer join's empty side).

        What `Model.from_db` gives for a full row, built without `Model.__init__`'s per-field
        loop: the converted values go straight into the instance's `__dict__` (as `__init__`
        stores them on a fresh instance), the state says "loaded from the default database",
        and `post_init` is sent if anything listens (models whose `from_db` or `__init__` is
        their own take the ordinary path)."""
        if values[0] is None:
            return None
        db = connections[DEFAULT_DB_ALIAS]
        converted = list(values)
        for index, col, converters in self.converting:
            value = converted[index]
            for converter in converters:
                value = converter(value, col, db)
            converted[index] = value
        model = self.model
        if not self.plain:
            return model.from_db(DEFAULT_DB_ALIAS, list(self.attnames), converted)
        obj = model.__new__(model)
        state = obj._state = ModelState()
        state.adding, state.db = False, DEFAULT_DB_ALIAS
        obj.__dict__.update(zip(self.attnames, converted, strict=True))
        if signals.post_init.has_listeners(model):
            signals.post_init.send(sender=model, instance=obj)
        return obj


@cache
def model_columns(model: type[Model], alias: str) -> ModelColumns:
    fields = list(model._meta.concrete_fields)
    converters = []
    for field in fields:
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        converters.append((col, tuple(found)))
    quote = connection.ops.quote_name
    return ModelColumns(
        model=model,
        alias=alias,
        attnames=tuple(f.attname for f in fields),
        converters=tuple(converters),
        select=", ".join(f"{alias}.{quote(f.column)}" for f in fields),
        converting=tuple((i, col, found) for i, (col, found) in enumerate(converters) if found),
        plain=(
            model.from_db.__func__ is Model.from_db.__func__  # type: ignore[attr-defined]
            and model.__init__ is Model.__init__
            and not signals.pre_init.has_listeners(model)
        ),
    )


def split_row(row: Sequence[Any], *parts: ModelColumns) -> tuple[list[Model | None], int]:
    """Instances for consecutive column groups of `row`, and the index after the last group."""
    objects, start = [], 0
    for part in parts:
        objects.append(part.instance(row[start : start + len(part)]))
        start += len(part)
    return objects, start


#: Field classes whose database value is the attribute itself when it already has this
#: Python type (their `get_db_prep_save` only converts or checks it). Exact classes only: a
#: subclass may convert differently.
_AS_IS: dict[type[Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.URLField: str,
    models.SlugField: str,
    models.BooleanField: bool,
    models.FloatField: float,
    models.SmallIntegerField: int,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.AutoField: int,
    models.BigAutoField: int,
}


def _as_is_type(field: Field) -> type | None:
    """The Python type whose values `field` stores unchanged (None: always convert)."""
    if isinstance(field, models.ForeignKey) and type(field) is models.ForeignKey:
        field = field.target_field
    return _AS_IS.get(type(field))


@dataclass(frozen=True)
class InsertStatement:
    """`INSERT INTO table (columns) VALUES (%s, ...)` for a model's concrete fields."""

    columns: str
    placeholders: str
    table: str
    fields: tuple[Field, ...]
    #: Per field: (attname, the type its values pass unchanged, or None).
    plan: tuple[tuple[str, type | None], ...]

    @property
    def sql(self) -> str:
        return f"INSERT INTO {self.table} ({self.columns}) VALUES ({self.placeholders})"

    def values(self, obj: Model) -> list[Any]:
        """The database values of `obj`, prepared as `Model.save(force_insert=True)` would.

        A value that already has its field's plain type (a str for a CharField, an int for a
        bigint key, None) goes as it is, as `get_db_prep_save` would return it; anything else
        goes through the field (JSON, dates, conversions)."""
        out = []
        for field, (attname, as_is) in zip(self.fields, self.plan, strict=True):
            value = getattr(obj, attname)
            if as_is is None or (value is not None and type(value) is not as_is):
                value = field.get_db_prep_save(field.pre_save(obj, True), connection)
            out.append(value)
        return out


@cache
def insert_statement(model: type[Model], *, with_pk: bool = True) -> InsertStatement:
    """The INSERT of every concrete field (without the primary key when the database makes it)."""
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    quote = connection.ops.quote_name
    return InsertStatement(
        columns=", ".join(quote(f.column) for f in fields),
        placeholders=", ".join(["%s"] * len(fields)),
        table=quoted_table(model),
        fields=tuple(fields),
        plan=tuple((f.attname, _as_is_type(f)) for f in fields),
    )
