"""Updating many rows of one model in ONE statement, cheaply.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and per row and
compiles them in Python: for a hundred orders of twenty fields it spends more time compiling than
the database spends updating (measured: 1.9 s of a 2.5 s relay batch). ``update_rows`` sends the
rows as one array per column instead: ``UPDATE t SET f = v.f, … FROM unnest(…) AS v(pk, f, …)
WHERE t.pk = v.pk``, each value prepared by its own model field, each array cast to its column's
type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def _db_type(field: models.Field[Any, Any]) -> str:
    """The column's type: a key's is the type others refer to it by (``bigint``, not ``bigserial``)."""
    if field.is_relation:
        return str(field.target_field.rel_db_type(connection))  # type: ignore[attr-defined]
    if field.primary_key:
        return str(field.rel_db_type(connection))  # type: ignore[attr-defined]
    return str(field.db_type(connection))


#: values of these exact types need no preparation for these field types on PostgreSQL (Django's
#: own preparation would return them unchanged, after copying): sent as they are, which halves the
#: Python cost of a batch's update. Anything else goes through the field's ``get_db_prep_save``.
_AS_IS: dict[str, type] = {
    "BigIntegerField": int,
    "IntegerField": int,
    "PositiveIntegerField": int,
    "PositiveBigIntegerField": int,
    "SmallIntegerField": int,
    "PositiveSmallIntegerField": int,
    "BigAutoField": int,
    "AutoField": int,
    "CharField": str,
    "TextField": str,
    "BooleanField": bool,
}


def _preparer(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    """A function preparing one value of ``field`` for the database, as ``get_db_prep_save``."""
    target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
    kind = target.get_internal_type()

    def prepare(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    if kind == "DecimalField":

        def decimal(value: Any) -> Any:
            if type(value) is Decimal and value.is_finite():
                return value
            return prepare(value)

        return decimal
    if kind == "DateTimeField":

        def moment(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is not None:
                return value
            return prepare(value)

        return moment
    plain = _AS_IS.get(kind)
    if plain is not None:

        def as_is(value: Any) -> Any:
            if value is None or type(value) is plain:
                return value
            return prepare(value)

        return as_is
    return prepare


def update_rows(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of ``objs`` (instances of one model, each saved before) in one statement;
    returns the number of rows updated."""
    if not objs:
        return 0
    meta = objs[0]._meta
    pk = meta.pk
    assert pk is not None
    columns = [meta.get_field(name) for name in fields]
    params: list[Any] = [[pk.get_db_prep_value(obj.pk, connection) for obj in objs]]
    casts = [f"%s::{_db_type(pk)}[]"]
    names = []
    for field in columns:
        assert isinstance(field, models.Field) and field.concrete and not field.primary_key, field
        prepare, attname = _preparer(field), field.attname
        params.append([prepare(getattr(obj, attname)) for obj in objs])
        casts.append(f"%s::{_db_type(field)}[]")
        names.append(connection.ops.quote_name(str(field.column)))
    table, key = connection.ops.quote_name(meta.db_table), connection.ops.quote_name(str(pk.column))
    assignments = ", ".join(f"{name} = v.{name}" for name in names)
    # Identifiers come from the model's metadata (quoted); every value is a parameter.
    sql = f"UPDATE {table} AS t SET {assignments} FROM unnest({', '.join(casts)}) AS v({key}, {', '.join(names)})"  # noqa: S608
    sql += f" WHERE t.{key} = v.{key}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def select_list(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns as ``alias.col, …``, in the order ``instances`` reads them."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(str(f.column))}" for f in model._meta.concrete_fields)


def instances(model: type[M], sql: str, params: Sequence[Any]) -> list[M]:
    """Run ``sql`` (selecting ``select_list(model, …)`` first) and build the instances as a
    queryset would (``Model.from_db``), without ``RawQuerySet``'s per-row column mapping, which
    cost about four times the query on a batch's few hundred ledger accounts. Only for models whose fields need
    no ``from_db_value`` conversion (asserted)."""
    fields = model._meta.concrete_fields
    assert not any(hasattr(f, "from_db_value") for f in fields), model
    names = [f.attname for f in fields]
    width = len(names)
    db = connection.alias
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [model.from_db(db, names, row[:width]) for row in cursor.fetchall()]
