"""Fast multi-row INSERTs for run records.

``QuerySet.bulk_create`` compiles every field of every row through the SQL compiler, which costs
more than running the flow's tasks. Run records need none of that machinery (no signals, no
conflict handling), so rows are adapted with each field's own ``get_db_prep_save`` and sent as one
multi-row INSERT per batch, with RETURNING for generated ids where the database has it.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.db.models import AutoField, BigAutoField, SmallAutoField

BATCH_ROWS = 400
_AUTO_FIELDS = (AutoField, BigAutoField, SmallAutoField)


def rows_insert(model: Any, objects: list[Any]) -> None:
    """INSERT ``objects``; generated primary keys are set on the objects afterwards."""
    if not objects:
        return
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    auto_pk = isinstance(meta.pk, _AUTO_FIELDS)
    fields = [f for f in meta.concrete_fields if not (auto_pk and f.primary_key)]
    if auto_pk and not connection.features.can_return_rows_from_bulk_insert:
        model.objects.bulk_create(objects, batch_size=BATCH_ROWS)
        return
    for field in fields:
        if field.has_default() or not field.null:
            for obj in objects:
                if getattr(obj, field.attname) is None and field.has_default():
                    setattr(obj, field.attname, field.get_default())
    quote = connection.ops.quote_name
    # Table and column names come from the model and are quoted; every value is a parameter.
    columns = ", ".join(quote(field.column) for field in fields)
    head = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returning = (" RETURNING " + quote(meta.pk.column)) if auto_pk else ""
    with connection.cursor() as cursor:
        for start in range(0, len(objects), BATCH_ROWS):
            batch = objects[start : start + BATCH_ROWS]
            params: list[Any] = []
            for obj in batch:
                params.extend(
                    field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields
                )
            sql = head + ", ".join([row_placeholder] * len(batch)) + returning
            cursor.execute(sql, params)
            if auto_pk:
                for obj, row in zip(batch, cursor.fetchall(), strict=True):
                    obj.pk = row[0]
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias
