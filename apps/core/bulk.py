"""Fast multi-row INSERTs for run records.

``QuerySet.bulk_create`` compiles every field of every row through the SQL compiler, which costs
more than running the flow's tasks. Run records need none of that machinery (no signals, no
conflict handling), so rows are adapted as each field's ``get_db_prep_save`` would (directly, for
values whose adaptation is known) and sent as one multi-row INSERT per batch, with RETURNING for
generated ids where the database has it.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from typing import Any

from django.db import connections, router
from django.db.backends.utils import CursorWrapper
from django.db.models import AutoField, BigAutoField, JSONField, SmallAutoField

BATCH_ROWS = 400
_AUTO_FIELDS = (AutoField, BigAutoField, SmallAutoField)


def records_cursor(connection: Any) -> Any:
    """A cursor for writing run records: Django's, without DEBUG's query log.

    Under DEBUG (the default for scripts), every statement is logged with its parameters quoted
    into the SQL; on SQLite that quoting is an extra query per 999 parameters, which costs more than
    a multi-row INSERT of run records itself. Errors are still wrapped and execute wrappers still
    run; when queries are captured on purpose (``force_debug_cursor``, as tests do), they are logged.
    """
    if connection.force_debug_cursor:
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        return CursorWrapper(connection.create_cursor(), connection)


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
    plan = [entry for entry in adaptation_plan(model, connection) if entry[1] in fields]
    with records_cursor(connection) as cursor:
        for start in range(0, len(objects), BATCH_ROWS):
            batch = objects[start : start + BATCH_ROWS]
            params = rows_params(plan, batch, connection=connection)
            sql = head + ", ".join([row_placeholder] * len(batch)) + returning
            cursor.execute(sql, params)
            if auto_pk:
                for obj, row in zip(batch, cursor.fetchall(), strict=True):
                    obj.pk = row[0]
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


# --------------------------------------------------------------------------------------------------
# One statement for the whole end of a run (PostgreSQL)
#
# Ending a run used to cost BEGIN, an INSERT of references, an INSERT of task runs, an UPDATE of
# the flow run and COMMIT: five round trips. On PostgreSQL the same writes go as one statement
# (data-modifying CTEs), which is atomic on its own. Task runs point at their results' references,
# so reference ids are reserved beforehand from the table's sequence, a block at a time per process.

ID_BLOCK = 200
_reserved_ids: dict[tuple[int, str, str], list[int]] = {}
_reserved_ids_guard = threading.Lock()


def single_statement_supported(connection: Any) -> bool:
    return connection.vendor == "postgresql"


def ids_reserve(model: Any, count: int, *, connection: Any) -> list[int]:
    """``count`` fresh values of ``model``'s id sequence (kept per process: forks never share them;
    flows on several threads of one process take distinct ones)."""
    key = (os.getpid(), connection.alias, model._meta.db_table)
    with _reserved_ids_guard:
        pool = _reserved_ids.setdefault(key, [])
        if len(pool) < count:
            with records_cursor(connection) as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [model._meta.db_table, model._meta.pk.column, max(ID_BLOCK, count - len(pool))],
                )
                pool.extend(row[0] for row in cursor.fetchall())
        taken, pool[:] = pool[:count], pool[count:]
    return taken


def insert_statement(model: Any, objects: list[Any], *, connection: Any) -> tuple[str, list[Any]]:
    """A multi-row INSERT of ``objects`` (primary keys set) as (sql, params), not executed."""
    meta = model._meta
    fields = list(meta.concrete_fields)
    for obj in objects:
        if obj.pk is None:
            raise ValueError(f"insert_statement needs primary keys set ({meta.label} has none)")
        for field in fields:
            if getattr(obj, field.attname) is None and field.has_default():
                setattr(obj, field.attname, field.get_default())
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = rows_params(adaptation_plan(model, connection), objects, connection=connection)
    # Names come from the model and are quoted; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
        + ", ".join([row_placeholder] * len(objects))
    )
    return sql, params


# Field types whose values the database driver takes as they are (exact types only).
_PLAIN_TYPES = {
    "AutoField": (int,),
    "BigAutoField": (int,),
    "BigIntegerField": (int,),
    "IntegerField": (int,),
    "PositiveBigIntegerField": (int,),
    "PositiveIntegerField": (int,),
    "PositiveSmallIntegerField": (int,),
    "SmallIntegerField": (int,),
    "BooleanField": (bool,),
    "CharField": (str,),
    "TextField": (str,),
}
_plans: dict[tuple[Any, str, str], list[tuple[str, Any, tuple, Any]]] = {}


def _as_is(value: Any, field: Any, connection: Any) -> Any:
    return value


def _aware_as_is(value: Any, field: Any, connection: Any) -> Any:
    return value if value.tzinfo is not None else field.get_db_prep_save(value, connection)


def _uuid_hex(value: Any, field: Any, connection: Any) -> Any:
    return value.hex  # what UUIDField stores where the database has no uuid type


def _utc_text(value: Any, field: Any, connection: Any) -> Any:
    # What SQLite's adapt_datetimefield_value gives for a UTC datetime on a UTC connection.
    if value.tzinfo is dt.UTC:
        return str(value.replace(tzinfo=None))
    return field.get_db_prep_save(value, connection)


# What json.dumps gives for the empty containers most JSON fields of run records hold.
_EMPTY_JSON = {list: "[]", dict: "{}"}


def _json_value(value: Any, field: Any, connection: Any) -> Any:
    # JSONField.get_db_prep_save without its layers of calls; empty values skip the encoder.
    if type(field) is not JSONField:
        return field.get_db_prep_save(value, connection)
    if not value and field.encoder is None and connection.vendor == "sqlite":
        return _EMPTY_JSON[type(value)]
    return connection.ops.adapt_json_value(value, field.encoder)


def _fast_adapters(connection: Any) -> dict[str, tuple[tuple, Any]]:
    """{field type: (value types, adapter)} for values whose adaptation is known for this database."""
    from django.conf import settings

    if connection.vendor not in ("postgresql", "sqlite"):
        return {}
    adapters = {name: (types, _as_is) for name, types in _PLAIN_TYPES.items()}
    adapters["JSONField"] = ((list, dict), _json_value)
    type_map = getattr(connection.ops, "integerfield_type_map", {})
    for name, wrapper in type_map.items():
        # psycopg's typed integers (Int4, Int8...), as Django's PostgreSQL backend sends them.
        adapters[name] = ((int,), lambda value, field, connection, wrapper=wrapper: wrapper(value))
    if connection.vendor == "postgresql":
        adapters["UUIDField"] = ((uuid.UUID,), _as_is)
        adapters["DateTimeField"] = ((dt.datetime,), _aware_as_is)
    else:
        adapters["UUIDField"] = ((uuid.UUID,), _uuid_hex)
        if settings.USE_TZ and connection.timezone_name == "UTC":
            adapters["DateTimeField"] = ((dt.datetime,), _utc_text)
    return adapters


def adaptation_plan(model: Any, connection: Any) -> list[tuple[str, Any, tuple, Any]]:
    """(attname, field, value types with a fast adapter, that adapter) per concrete field."""
    key = (model, connection.vendor, connection.alias)
    plan = _plans.get(key)
    if plan is None:
        adapters = _fast_adapters(connection)
        plan = []
        for field in model._meta.concrete_fields:
            target = field.target_field if field.is_relation else field
            types, adapter = adapters.get(target.get_internal_type(), ((), None))
            plan.append((field.attname, field, types, adapter))
        _plans[key] = plan
    return plan


def rows_params(plan: list[tuple[str, Any, tuple, Any]], objects: list[Any], *, connection: Any) -> list[Any]:
    """The parameters of a multi-row INSERT of ``objects``, adapted as ``get_db_prep_save`` would.

    Values of the exact types a field's fast adapter knows skip ``get_db_prep_save`` (an enum
    member or any other type still goes through it): that is most of the cost of many rows.
    """
    params: list[Any] = []
    append = params.append
    for obj in objects:
        for attname, field, types, adapter in plan:
            value = getattr(obj, attname)
            if value is None and adapter is not None:
                append(None)  # SQL NULL for every field type with a fast adapter
            elif type(value) in types:
                append(adapter(value, field, connection))
            else:
                append(field.get_db_prep_save(value, connection))
    return params


def update_statement(
    model: Any, pk: Any, values: dict[str, Any], *, connection: Any
) -> tuple[str, list[Any]]:
    """UPDATE one row by primary key with {attname: value} as (sql, params), not executed."""
    meta = model._meta
    quote = connection.ops.quote_name
    assignments, params = [], []
    for attname, value in values.items():
        field = meta.get_field(attname)  # accepts attnames ("result_id") too
        assignments.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    params.append(meta.pk.get_db_prep_save(pk, connection))
    sql = f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    return sql, params


def statements_run_as_one(statements: list[tuple[str, list[Any]]], *, connection: Any) -> None:
    """Run INSERT/UPDATE statements as one statement: every one but the last becomes a CTE."""
    statements = [statement for statement in statements if statement[0]]
    if not statements:
        return
    *leading, (last_sql, last_params) = statements
    params: list[Any] = []
    parts = []
    for index, (sql, statement_params) in enumerate(leading):
        parts.append(f"w{index} AS ({sql})")
        params.extend(statement_params)
    sql = (f"WITH {', '.join(parts)} " if parts else "") + last_sql
    params.extend(last_params)
    with records_cursor(connection) as cursor:
        cursor.execute(sql, params)


def returning_columns(model: Any, *, connection: Any) -> str:
    """The model's columns, in ``instance_from_row``'s order, for a RETURNING clause."""
    quote = connection.ops.quote_name
    return ", ".join(quote(field.column) for field in model._meta.concrete_fields)


def instance_from_row(model: Any, row: tuple, *, connection: Any) -> Any:
    """A model instance from a row of ``returning_columns`` (converted as the ORM would)."""
    values = list(row)
    for index, field in enumerate(model._meta.concrete_fields):
        from_db_value = getattr(field, "from_db_value", None)
        if from_db_value is not None:
            values[index] = from_db_value(values[index], None, connection)
    return model.from_db(connection.alias, [field.attname for field in model._meta.concrete_fields], values)
