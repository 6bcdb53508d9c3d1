"""Real Python values as preview trees (the sandbox uses it after a restricted decode), tables included."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import fractions
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from .nodes import (
    BYTES_MAX_SHOWN,
    DEFAULT_MAX_NODES,
    Budget,
    children_note,
    node_new,
    number_value,
    qualified_name,
    scalar_node,
    scalar_text,
)

TABLE_MAX_ROWS = 50
TABLE_MAX_COLUMNS = 50

# -- Python values (used by the sandbox after a restricted decode) -----------------------------------


def value_to_preview(obj: Any, *, max_nodes: int = DEFAULT_MAX_NODES) -> dict[str, Any]:
    """The node tree of a real Python value: containers, plain values, tables, exceptions, models."""
    return _value_node(obj, key=None, budget=Budget(max_nodes), seen=set())


def _value_node(obj: Any, *, key: Any, budget: Budget, seen: set[int]) -> dict[str, Any]:
    budget.take()
    plain = scalar_node(obj, key=key)
    if plain is not None:
        return plain
    type_ = qualified_name(type(obj))
    if id(obj) in seen:
        return node_new(type_, "ref", key=key, note="a reference to a value shown above (cycle)")
    table = _table_from_value(obj)
    if table is not None:
        return node_new(_public_type_name(type_), "table", key=key, table=table)
    if isinstance(obj, BaseException):
        return node_new(
            type_,
            "exception",
            key=key,
            value=scalar_text(str(obj)),
            args=[scalar_text(repr(arg)) for arg in obj.args[:10]],
        )
    simple = _simple_value(obj)
    if simple is not None:
        return node_new(type_, "scalar", key=key, value=simple)
    seen = seen | {id(obj)}
    if isinstance(obj, Mapping):
        labelled = (
            (child_key if isinstance(child_key, str) else scalar_text(repr(child_key)), child)
            for child_key, child in obj.items()
        )
        return _with_children(
            node_new(type_, "mapping", key=key), labelled, total=len(obj), budget=budget, seen=seen
        )
    if isinstance(obj, (list, tuple, set, frozenset)) or type_ == "collections.deque":
        items = (
            sorted(obj, key=repr)
            if isinstance(obj, (set, frozenset)) and len(obj) <= max(budget.remaining, 1)
            else obj
        )
        return _with_children(
            node_new(type_, "sequence", key=key), enumerate(items), total=len(obj), budget=budget, seen=seen
        )
    fields = _object_fields(obj)
    if fields is not None:
        return _with_children(
            node_new(type_, "object", key=key), fields.items(), total=len(fields), budget=budget, seen=seen
        )
    return node_new(type_, "text", key=key, value=scalar_text(repr(obj)))


def _with_children(
    node: dict[str, Any], pairs: Any, *, total: int, budget: Budget, seen: set[int]
) -> dict[str, Any]:
    """``node`` with a child per (key, value) pair, as many as the budget allows."""
    children = []
    for child_key, child in pairs:
        if budget.exhausted:
            break
        children.append(_value_node(child, key=child_key, budget=budget, seen=seen))
    node["children"] = children
    children_note(node, shown=len(children), total=total)
    return node


def _public_type_name(type_: str) -> str:
    aliases = {
        "pandas.core.frame.DataFrame": "pandas.DataFrame",
        "pandas.core.series.Series": "pandas.Series",
    }
    return aliases.get(type_, type_)


def _simple_value(obj: Any) -> Any:
    """A JSON-safe rendering of the standard library's value types; None for other objects."""
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return str(obj)
    if isinstance(obj, decimal.Decimal | fractions.Fraction | uuid.UUID | PurePath | complex):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__name__}.{obj.name} = {scalar_text(repr(obj.value))}"
    if isinstance(obj, int | float | str | bytes):
        return number_value(obj) if isinstance(obj, int | float) else scalar_text(repr(obj))
    if type(obj).__module__ == "zoneinfo" or isinstance(obj, dt.tzinfo):
        return str(obj)
    module = type(obj).__module__ or ""
    if module.startswith("numpy") and hasattr(obj, "item") and getattr(obj, "shape", None) == ():
        item = obj.item()
        return number_value(item) if isinstance(item, int | float) else scalar_text(str(item))
    if module.startswith("pandas") and type(obj).__name__ in ("Timestamp", "Timedelta", "Period", "Interval"):
        return str(obj)
    if module.startswith("pandas") and type(obj).__name__ in ("NaTType", "NAType"):
        return str(obj)
    return None


def _object_fields(obj: Any) -> dict[str, Any] | None:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field.name: getattr(obj, field.name, None) for field in dataclasses.fields(obj)}
    model_fields = getattr(type(obj), "model_fields", None)
    if isinstance(model_fields, dict):
        return {name: getattr(obj, name, None) for name in model_fields}
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict) and not isinstance(obj, type):
        return {name: value for name, value in state.items() if isinstance(name, str)}
    return None


def _table_from_value(obj: Any) -> dict[str, Any] | None:
    module = type(obj).__module__ or ""
    if module.startswith("pandas"):
        name = type(obj).__name__
        if name == "DataFrame":
            return _dataframe_table(obj)
        if name == "Series":
            return _dataframe_table(obj.to_frame(name=obj.name if obj.name is not None else "value"))
    if module.startswith("numpy") and type(obj).__name__ == "ndarray":
        return ndarray_table(obj)
    return None


def _dataframe_table(frame: Any) -> dict[str, Any]:
    head = frame.head(TABLE_MAX_ROWS).iloc[:, :TABLE_MAX_COLUMNS]
    return {
        "shape": list(frame.shape),
        "columns": [scalar_text(str(column)) for column in head.columns],
        "dtypes": [str(dtype) for dtype in head.dtypes],
        "index": [table_cell(label) for label in head.index],
        "rows": [[table_cell(cell) for cell in row] for row in head.itertuples(index=False, name=None)],
        "rows_shown": len(head),
        "columns_shown": head.shape[1],
    }


def ndarray_table(array: Any) -> dict[str, Any]:
    """First rows of a numpy array as a table (1-D: one column; N-D: rows of the first axis)."""
    shape = list(array.shape)
    if array.ndim == 0:
        rows = [[table_cell(array.item())]]
        columns = ["value"]
    elif array.ndim == 1:
        rows = [[table_cell(item)] for item in array[:TABLE_MAX_ROWS].tolist()]
        columns = ["value"]
    else:
        flat = array.reshape(shape[0], -1)[:TABLE_MAX_ROWS, :TABLE_MAX_COLUMNS]
        rows = [[table_cell(item) for item in row] for row in flat.tolist()]
        columns = [str(index) for index in range(flat.shape[1])]
    return {
        "shape": shape,
        "columns": columns,
        "dtypes": [str(array.dtype)] * len(columns),
        "dtype": str(array.dtype),
        "rows": rows,
        "rows_shown": len(rows),
        "columns_shown": len(columns),
    }


def table_cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value if not isinstance(value, str) else scalar_text(value)
    if isinstance(value, int | float):
        return number_value(value)
    if isinstance(value, bytes):
        return value[:BYTES_MAX_SHOWN].hex()
    simple = _simple_value(value)
    return simple if simple is not None else scalar_text(str(value))
