"""Updating many rows of one model in ONE statement, cheaply.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and per row and
compiles them in Python: for a hundred orders of twenty fields it spends more time compiling than
the database spends updating (measured: 1.9 s of a 2.5 s relay batch). ``update_rows`` sends the
rows as one array per column instead: ``UPDATE t SET f = v.f, … FROM unnest(…) AS v(pk, f, …)
WHERE t.pk = v.pk``, each value prepared by its own model field, each array cast to its column's
type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def _db_type(field: models.Field[Any, Any]) -> str:
    """The column's type: a key's is the type others refer to it by (``bigint``, not ``bigserial``)."""
    if field.is_relation:
        return str(field.target_field.rel_db_type(connection))  # type: ignore[attr-defined]
    if field.primary_key:
        return str(field.rel_db_type(connection))  # type: ignore[attr-defined]
    return str(field.db_type(connection))


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
        params.append([field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs])
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
