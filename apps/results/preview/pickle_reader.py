"""The static pickle reader: symbolic values as preview trees, values recognised by structure (numpy
arrays, datetimes, data frames, ...) and the one summary of what a pickle imports and calls."""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import math
import uuid
from typing import Any

from .nodes import (
    DANGER_DANGEROUS,
    DANGER_KNOWN,
    DANGER_UNKNOWN,
    DEFAULT_MAX_NODES,
    Budget,
    children_note,
    node_new,
    number_value,
    qualified_name,
    scalar_node,
    scalar_text,
    str_node,
)
from .pickle_machine import (
    PickledBuffer,
    PickledCall,
    PickledDict,
    PickledGlobal,
    PickledList,
    PickledMissing,
    PickledPersistent,
    PickledSet,
    PickleMachine,
    global_classify,
    is_builtin_exception,
)
from .values import TABLE_MAX_COLUMNS, TABLE_MAX_ROWS, ndarray_table, table_cell

# -- rendering symbolic values -----------------------------------------------------------------------


class PickleRenderer:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def node(self, value: Any, *, key: Any = None, active: frozenset[int] = frozenset()) -> dict[str, Any]:
        self.budget.take()
        plain = scalar_node(value, key=key)
        if plain is not None:
            return plain
        if isinstance(value, str):
            return str_node(str(value), key=key)
        if id(value) in active:
            return node_new("ref", "ref", key=key, note="a reference to a value that contains it (cycle)")
        active = active | {id(value)}
        if isinstance(value, PickledList):
            return self._sequence("builtins.list", value.items, key=key, active=active)
        if isinstance(value, tuple):
            return self._sequence("builtins.tuple", list(value), key=key, active=active)
        if isinstance(value, PickledSet):
            return self._sequence(
                "builtins.frozenset" if value.frozen else "builtins.set", value.items, key=key, active=active
            )
        if isinstance(value, PickledDict):
            return self._mapping("builtins.dict", value.pairs, key=key, active=active)
        if isinstance(value, PickledGlobal):
            level, reason = global_classify(value.path)
            return node_new(
                value.path, "global", key=key, value=f"import {value.path}", danger=level, reason=reason
            )
        if isinstance(value, PickledCall):
            return self._call(value, key=key, active=active)
        if isinstance(value, PickledBuffer):
            return node_new(
                "pickle.PickleBuffer",
                "buffer",
                key=key,
                note=f"out-of-band buffer #{value.index}: its bytes are not in the file",
            )
        if isinstance(value, PickledPersistent):
            return node_new(
                "pickle.persistent_id",
                "text",
                key=key,
                value=scalar_text(repr(value.pid)),
                note="a persistent id: the object lives outside the pickle",
            )
        if isinstance(value, PickledMissing):
            return node_new("missing", "error", key=key, value=value.reason)
        return node_new(qualified_name(type(value)), "text", key=key, value=scalar_text(repr(value)))

    def _sequence(self, type_: str, items: list[Any], *, key: Any, active: frozenset[int]) -> dict[str, Any]:
        node = node_new(type_, "sequence", key=key)
        children = []
        for index, item in enumerate(items):
            if self.budget.exhausted:
                break
            children.append(self.node(item, key=index, active=active))
        node["children"] = children
        children_note(node, shown=len(children), total=len(items))
        return node

    def _mapping(self, type_: str, pairs: list[tuple[Any, Any]], *, key: Any, active: frozenset[int]) -> dict:
        node = node_new(type_, "mapping", key=key)
        children = []
        for child_key, child in pairs:
            if self.budget.exhausted:
                break
            label = child_key if isinstance(child_key, str) else _label(child_key)
            children.append(self.node(child, key=label, active=active))
        node["children"] = children
        children_note(node, shown=len(children), total=len(pairs))
        return node

    def _call(self, call: PickledCall, *, key: Any, active: frozenset[int]) -> dict[str, Any]:
        recognised = _recognise(call)
        if recognised is not None:
            if key is not None:
                recognised["key"] = key if isinstance(key, str) else scalar_text(key)
            return recognised
        path = call.func_path
        level, reason = (
            global_classify(path) if isinstance(call.func, PickledGlobal) else (DANGER_DANGEROUS, "")
        )
        args = call.args if isinstance(call.args, tuple) else (call.args,)
        type_ = _constructed_type(call)
        kind = "object" if type_ != path or call.opcode in ("NEWOBJ", "NEWOBJ_EX") else "call"
        node = node_new(
            type_,
            kind,
            key=key,
            call=f"{path}({_args_text(args)})",
            danger=level,
            reason=reason or "the callable is computed by the pickle itself",
        )
        if call.opcode in ("NEWOBJ", "NEWOBJ_EX") or (kind == "object" and call.states):
            node["value"] = f"{_short_name(type_)} instance"
        else:
            node["value"] = f"call {path}({_args_text(args)})"
        if _is_exception_call(call):
            node["kind"] = "exception"
            node["value"] = _exception_message(args)
        children: list[dict[str, Any]] = []
        fields = _state_fields(call)
        if fields is not None and kind == "object":
            for name, field in fields:
                if self.budget.exhausted:
                    break
                children.append(self.node(field, key=name, active=active))
            total = len(fields)
        else:
            parts: list[tuple[str, Any]] = [(f"arg{index}", arg) for index, arg in enumerate(args)]
            if call.kwargs is not None:
                parts.append(("kwargs", call.kwargs))
            parts.extend(("state", state) for state in call.states)
            parts.extend((f"item{index}", item) for index, item in enumerate(call.list_items))
            parts.extend((_label(item_key), item) for item_key, item in call.dict_items)
            for name, part in parts:
                if self.budget.exhausted:
                    break
                children.append(self.node(part, key=name, active=active))
            total = len(parts)
        node["children"] = children
        children_note(node, shown=len(children), total=total)
        return node


def _label(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return value if isinstance(value, str) else repr(value)
    if isinstance(value, PickledGlobal):
        return value.path
    if isinstance(value, tuple):
        return "(" + ", ".join(_label(item) for item in value[:5]) + ")"
    return f"<{type(value).__name__.strip('_').lower()}>"


def _short_name(path: str) -> str:
    return path.rpartition(".")[2]


def _args_text(args: tuple[Any, ...]) -> str:
    texts = []
    for arg in args[:6]:
        if isinstance(arg, str | int | float | bool) or arg is None:
            text = repr(arg)
        elif isinstance(arg, bytes | bytearray):
            text = f"<{len(arg)} bytes>"
        elif isinstance(arg, PickledGlobal):
            text = arg.path
        elif isinstance(arg, PickledCall):
            text = f"{arg.func_path}(…)"
        else:
            text = "…"
        texts.append(text if len(text) <= 200 else text[:197] + "…")
    if len(args) > 6:
        texts.append("…")
    return ", ".join(texts)


# Unpickling helpers whose first argument is the class of the object they build.
_CLASS_FIRST_FACTORIES = frozenset(
    {
        "_reconstructor",
        "__newobj__",
        "__newobj_ex__",
        "_new_Index",
        "__pyx_unpickle_NDArrayBacked",
        "_reconstruct",
    }
)


def _constructed_type(call: PickledCall) -> str:
    """The class of the object a call builds, when the pickle says so; else the callable's path."""
    func = call.func
    if not isinstance(func, PickledGlobal):
        return "call"
    path = func.path
    args = call.args if isinstance(call.args, tuple) else ()
    if func.name in _CLASS_FIRST_FACTORIES and args and isinstance(args[0], PickledGlobal):
        return args[0].path
    if path.endswith("._unpickle") and "." in func.name:
        return path.rpartition(".")[0]
    return path


def _is_exception_call(call: PickledCall) -> bool:
    if not isinstance(call.func, PickledGlobal):
        return False
    name = call.func.name
    if call.func.module in ("builtins", "__builtin__"):
        return is_builtin_exception(name)
    return name.endswith(("Error", "Exception", "Warning"))


def _exception_message(args: tuple[Any, ...]) -> str:
    if not args:
        return ""
    first = args[0]
    if isinstance(first, str):
        return scalar_text(first)
    return _args_text(args)


def _state_fields(call: PickledCall) -> list[tuple[str, Any]] | None:
    """The named fields a BUILD state gives an object (instance __dict__, pydantic's __dict__, slots)."""
    if not call.states:
        return None
    fields: list[tuple[str, Any]] = []
    for state in call.states:
        dict_state, slot_state = state if isinstance(state, tuple) and len(state) == 2 else (state, None)
        for part in (dict_state, slot_state):
            if isinstance(part, PickledDict):
                inner = dict(_str_pairs(part.pairs))
                if "__dict__" in inner and isinstance(inner["__dict__"], PickledDict):
                    # pydantic v2 keeps the field values under __dict__ and bookkeeping beside them.
                    fields.extend(_str_pairs(inner["__dict__"].pairs))
                else:
                    fields.extend(_str_pairs(part.pairs))
            elif part is not None:
                return None
    return fields


def _str_pairs(pairs: list[tuple[Any, Any]]) -> list[tuple[str, Any]]:
    return [(key if isinstance(key, str) else _label(key), value) for key, value in pairs]


# -- values recognised by structure ------------------------------------------------------------------


def _recognise(call: PickledCall) -> dict[str, Any] | None:
    """A typed node for a call whose meaning is known (numpy arrays, datetimes, ...); None otherwise."""
    if not isinstance(call.func, PickledGlobal):
        return None
    path = call.func.path
    args = call.args if isinstance(call.args, tuple) else ()
    try:
        for prefixes, recogniser in _RECOGNISERS:
            if path in prefixes:
                return recogniser(call, args)
    except (ValueError, TypeError, OverflowError, IndexError, KeyError, ArithmeticError):
        return None
    return None


def _recognise_datetime(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    name = call.func.name
    kind = {"datetime": dt.datetime, "date": dt.date, "time": dt.time}[name]
    if not args or not isinstance(args[0], bytes | str):
        if name == "date" and len(args) == 3 and all(isinstance(arg, int) for arg in args):
            return node_new("datetime.date", "scalar", value=dt.date(*args).isoformat())
        return None
    raw = args[0].encode("latin-1") if isinstance(args[0], str) else args[0]
    # The constructors read their pickled state from bytes: a fixed layout, no code.
    value = kind(raw) if name == "date" else kind(raw, None)
    text = value.isoformat()
    zone = _zone_text(args[1]) if len(args) > 1 and args[1] is not None else None
    node = node_new(f"datetime.{name}", "scalar", value=text)
    if zone is not None:
        node["value"] = f"{text} {zone}" if not zone.startswith(("+", "-")) else text + zone
        node["zone"] = zone
    return node


def _zone_text(zone: Any) -> str:
    if isinstance(zone, PickledGlobal) and zone.path == "datetime.timezone.utc":
        return "+00:00"
    if isinstance(zone, PickledCall) and isinstance(zone.func, PickledGlobal):
        args = zone.args if isinstance(zone.args, tuple) else ()
        if zone.func.path == "zoneinfo.ZoneInfo._unpickle" and args:
            return str(args[0])
        if zone.func.path == "datetime.timezone" and args:
            offset = _timedelta_of(args[0])
            if offset is not None:
                return "+00:00" if not offset else dt.timezone(offset).tzname(None).removeprefix("UTC")
        if zone.func.path.startswith("pytz") and args:
            return str(args[0])
    return "(time zone)"


def _timedelta_of(value: Any) -> dt.timedelta | None:
    if (
        isinstance(value, PickledCall)
        and isinstance(value.func, PickledGlobal)
        and value.func.path == "datetime.timedelta"
    ):
        args = value.args if isinstance(value.args, tuple) else ()
        if all(isinstance(arg, int) for arg in args):
            return dt.timedelta(*args)
    return None


def _recognise_timedelta(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    delta = _timedelta_of(call)
    return node_new("datetime.timedelta", "scalar", value=str(delta)) if delta is not None else None


def _recognise_timezone(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    return node_new(
        call.func.path.rpartition("._unpickle")[0] or call.func.path, "scalar", value=_zone_text(call)
    )


def _recognise_decimal(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 1 and isinstance(args[0], str):
        return node_new("decimal.Decimal", "scalar", value=str(decimal.Decimal(args[0])))
    return None


def _recognise_fraction(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 1 and isinstance(args[0], str):
        return node_new("fractions.Fraction", "scalar", value=str(fractions.Fraction(args[0])))
    return None


def _recognise_uuid(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    for state in call.states:
        if isinstance(state, PickledDict):
            number = dict(_str_pairs(state.pairs)).get("int")
            if isinstance(number, int):
                return node_new("uuid.UUID", "scalar", value=str(uuid.UUID(int=number)))
    return None


def _recognise_set(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 1 and isinstance(args[0], PickledList):
        return PickleRenderer(Budget(DEFAULT_MAX_NODES)).node(
            PickledSet(args[0].items, frozen=call.func.name == "frozenset")
        )
    return None


def _recognise_codecs_encode(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return scalar_node(args[0].encode("latin-1"))
    return None


def _dtype_text(value: Any) -> str | None:
    """The dtype string of a pickled ``numpy.dtype(code, False, True)`` with its BUILD state."""
    if not (
        isinstance(value, PickledCall)
        and isinstance(value.func, PickledGlobal)
        and value.func.name == "dtype"
    ):
        return None
    args = value.args if isinstance(value.args, tuple) else ()
    if not args or not isinstance(args[0], str):
        return None
    code = args[0]
    byteorder = "|"
    for state in value.states:
        if isinstance(state, tuple) and len(state) >= 8:
            if isinstance(state[1], str):
                byteorder = state[1]
            if state[2] is not None or state[3] is not None:
                return None  # structured dtypes: shown as a call
            if len(state) >= 9 and isinstance(state[8], tuple) and len(state[8]) == 2:
                unit = state[8][1]
                if isinstance(unit, tuple) and unit and isinstance(unit[0], bytes):
                    code = f"{code}[{unit[0].decode('ascii', 'replace')}]"
    return (byteorder if byteorder in "<>" else "") + code


def _static_ndarray(*, buffer: Any, dtype_text: str | None, shape: Any, order: str) -> dict[str, Any] | None:
    """A table from the raw buffer of a pickled array: numpy.frombuffer reads data, it runs nothing."""
    if dtype_text is None or not isinstance(shape, tuple) or not all(isinstance(n, int) for n in shape):
        return None
    import numpy

    dtype = numpy.dtype(dtype_text)
    total = math.prod(shape)
    node = node_new("numpy.ndarray", "table", value=f"array {dtype} {tuple(shape)}")
    if dtype.hasobject or dtype.itemsize == 0 or not isinstance(buffer, bytes | bytearray):
        node["table"] = {
            "shape": list(shape),
            "dtype": str(dtype),
            "dtypes": [str(dtype)],
            "columns": [],
            "rows": [],
        }
        node["note"] = "the values are objects or out of band: decode in the sandbox to see them"
        return node
    available = min(total, len(buffer) // dtype.itemsize)
    flat = numpy.frombuffer(memoryview(buffer)[: available * dtype.itemsize], dtype=dtype)
    if len(shape) <= 1 or available == total:
        array = flat.reshape(shape, order="F" if order == "F" else "C") if available == total else flat
    else:
        row_size = math.prod(shape[1:])
        rows = available // row_size if order != "F" else 0
        array = flat[: rows * row_size].reshape((rows, *shape[1:]))
    table = ndarray_table(array)
    table["shape"] = list(shape)
    node["table"] = table
    if available < total:
        node["note"] = f"{available} of {total} values are in the previewed head"
    return node


def _recognise_frombuffer(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) < 3:
        return None
    order = args[3] if len(args) > 3 and isinstance(args[3], str) else "C"
    return _static_ndarray(buffer=args[0], dtype_text=_dtype_text(args[1]), shape=args[2], order=order)


def _recognise_reconstruct(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    for state in call.states:
        if isinstance(state, tuple) and len(state) == 5:
            _version, shape, dtype, fortran, raw = state
            if isinstance(raw, PickledCall):
                encoded = _recognise_codecs_encode(raw, raw.args if isinstance(raw.args, tuple) else ())
                raw = raw.args[0].encode("latin-1") if encoded is not None else raw
            return _static_ndarray(
                buffer=raw, dtype_text=_dtype_text(dtype), shape=shape, order="F" if fortran else "C"
            )
    return None


def _recognise_numpy_scalar(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 2 and isinstance(args[1], bytes):
        dtype_text = _dtype_text(args[0])
        if dtype_text is None:
            return None
        import numpy

        dtype = numpy.dtype(dtype_text)
        if dtype.hasobject or len(args[1]) != dtype.itemsize:
            return None
        item = numpy.frombuffer(args[1], dtype=dtype)[0].item()
        value = number_value(item) if isinstance(item, int | float) else scalar_text(str(item))
        return node_new(f"numpy.{dtype.name}", "scalar", value=value)
    return None


def _recognise_dataframe(call: PickledCall, args: tuple[Any, ...]) -> dict[str, Any] | None:
    """Best effort: shape, columns and dtypes of a pickled DataFrame, with rows when its blocks allow."""
    state = next((state for state in call.states if isinstance(state, PickledDict)), None)
    if state is None:
        return None
    manager = dict(_str_pairs(state.pairs)).get("_mgr")
    node = node_new("pandas.DataFrame", "table", value="DataFrame")
    manager_args = (
        manager.args if isinstance(manager, PickledCall) and isinstance(manager.args, tuple) else ()
    )
    if len(manager_args) < 2:
        node["note"] = "the frame's layout is not recognised: decode in the sandbox for a table"
        return node
    blocks, axes = manager_args[0], manager_args[1]
    axes_items = _items_of(axes)
    columns = _array_values(_index_data(axes_items[0])) if axes_items else None
    row_count = _index_length(axes_items[1]) if len(axes_items) > 1 else None
    if columns is None:
        node["note"] = "the columns are not recognised: decode in the sandbox for a table"
        return node
    dtypes: list[str | None] = [None] * len(columns)
    cells: list[list[Any] | None] = [None] * len(columns)
    for block in _items_of(blocks):
        if not (isinstance(block, PickledCall) and isinstance(block.args, tuple) and len(block.args) >= 2):
            continue
        positions = _placement_positions(block.args[1]) or []
        block_dtype, block_columns = _array_columns(block.args[0], columns=len(positions))
        for offset, position in enumerate(positions):
            if 0 <= position < len(columns):
                dtypes[position] = block_dtype
                if block_columns is not None and offset < len(block_columns):
                    cells[position] = block_columns[offset]
    table: dict[str, Any] = {
        "columns": [table_cell(column) for column in columns[:TABLE_MAX_COLUMNS]],
        "dtypes": [dtype or "unknown" for dtype in dtypes[:TABLE_MAX_COLUMNS]],
        "rows": [],
    }
    shown_cells = cells[:TABLE_MAX_COLUMNS]
    known = [column_cells for column_cells in shown_cells if column_cells is not None]
    if row_count is not None and known:
        shown = min(TABLE_MAX_ROWS, row_count, *(len(column_cells) for column_cells in known))
        table["rows"] = [
            [column_cells[row] if column_cells is not None else None for column_cells in shown_cells]
            for row in range(shown)
        ]
        table["rows_shown"] = shown
    missing = [str(columns[index]) for index, column_cells in enumerate(shown_cells) if column_cells is None]
    if missing:
        node["note"] = (
            f"the values of {', '.join(missing)} are not recognised statically: "
            "decode in the sandbox for them"
        )
    elif row_count is not None and table.get("rows_shown", 0) < min(TABLE_MAX_ROWS, row_count):
        node["note"] = "the rest of the rows is beyond the previewed head"
    if row_count is None:
        # Only known sizes go into the shape: the page formats each of them as a number.
        node["note"] = (node.get("note", "") + "; " if node.get("note") else "") + (
            "the number of rows is not recognised statically: decode in the sandbox for it"
        )
        node["value"] = f"DataFrame with {len(columns)} columns"
    else:
        table["shape"] = [row_count, len(columns)]
        node["value"] = f"DataFrame {row_count} rows x {len(columns)} columns"
    node["table"] = table
    return node


def _items_of(value: Any) -> list[Any]:
    if isinstance(value, PickledList):
        return value.items
    if isinstance(value, tuple):
        return list(value)
    return []


def _array_columns(values: Any, *, columns: int) -> tuple[str | None, list[list[Any]] | None]:
    """(dtype, the first values of each column) of a pickled block's values (shape: columns x rows)."""
    if not isinstance(values, PickledCall) or not isinstance(values.func, PickledGlobal):
        return None, None
    if values.func.name == "__pyx_unpickle_NDArrayBacked":
        state = values.states[0] if values.states and isinstance(values.states[0], tuple) else ()
        dtype, inner = (state[0], state[1]) if len(state) >= 2 else (None, None)
        dtype_text = _pandas_dtype_text(dtype)
        inner_dtype, inner_columns = _array_columns(inner, columns=columns)
        if inner_columns is not None and columns == 1 and len(inner_columns) != 1:
            # A one-dimensional extension array: all its values form the single column.
            inner_columns = [[row[0] for row in inner_columns]]
        return dtype_text or inner_dtype, inner_columns
    for state in values.states:
        if isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], PickledList):
            # An object array keeps its items in the BUILD state as a list (C order).
            items = [
                table_cell(item) if not isinstance(item, PickledCall) else _label(item)
                for item in state[4].items
            ]
            shape = state[1] if isinstance(state[1], tuple) else ()
            if len(shape) == 2 and all(isinstance(size, int) and size > 0 for size in shape):
                return "object", [items[row * shape[1] : (row + 1) * shape[1]] for row in range(shape[0])]
            return "object", [items]
    node = _recognise(values)
    if node is None or "table" not in node:
        return values.func.path, None
    table = node["table"]
    rows = table.get("rows") or []
    if len(table.get("shape") or []) == 1:
        return table.get("dtype"), [[row[0] for row in rows]] if columns == 1 else [row for row in rows]
    return table.get("dtype"), rows


def _pandas_dtype_text(dtype: Any) -> str | None:
    if not (isinstance(dtype, PickledCall) and isinstance(dtype.func, PickledGlobal)):
        return None
    if dtype.func.name == "dtype":
        return _dtype_text(dtype)
    args = dtype.args if isinstance(dtype.args, tuple) else ()
    name = dtype.func.name
    if name == "StringDtype":
        return "str"
    if name == "DatetimeTZDtype" and len(args) >= 2:
        return f"datetime64[{args[0]}, {_zone_text(args[1])}]"
    return name


def _index_data(index: Any) -> Any:
    """The ``data`` array of a pickled pandas Index (``_new_Index(cls, {"data": array, ...})``)."""
    arguments = index.args if isinstance(index, PickledCall) and isinstance(index.args, tuple) else ()
    if len(arguments) == 2 and isinstance(arguments[1], PickledDict):
        return dict(_str_pairs(arguments[1].pairs)).get("data")
    return None


def _array_values(array: Any) -> list[Any] | None:
    """The values of a pickled one-dimensional array (numeric, object or extension-backed)."""
    if not isinstance(array, PickledCall):
        return None
    _, columns = _array_columns(array, columns=1)
    return columns[0] if columns else None


def _placement_positions(placement: Any) -> list[int] | None:
    if (
        isinstance(placement, PickledCall)
        and isinstance(placement.func, PickledGlobal)
        and placement.func.name == "slice"
    ):
        args = placement.args if isinstance(placement.args, tuple) else ()
        if len(args) == 3 and all(isinstance(arg, int) or arg is None for arg in args):
            return list(range(args[0] or 0, args[1] if args[1] is not None else 0, args[2] or 1))
    values = _array_values(placement)
    return [value for value in values if isinstance(value, int)] if values is not None else None


def _index_length(index: Any) -> int | None:
    if not (isinstance(index, PickledCall) and isinstance(index.args, tuple) and len(index.args) == 2):
        return None
    attributes = dict(_str_pairs(index.args[1].pairs)) if isinstance(index.args[1], PickledDict) else {}
    if {"start", "stop"} <= set(attributes):
        start, stop, step = attributes["start"], attributes["stop"], attributes.get("step", 1) or 1
        if all(isinstance(number, int) for number in (start, stop, step)):
            return len(range(start, stop, step))
    if "codes" in attributes:
        # A MultiIndex: one code array per level, each as long as the index.
        codes = _items_of(attributes["codes"])
        return _array_length(codes[0]) if codes else None
    if "left" in attributes:
        # An IntervalIndex: as long as the index of its left bounds.
        return _index_length(attributes["left"])
    return _array_length(attributes.get("data"))


def _array_length(data: Any) -> int | None:
    for state in data.states if isinstance(data, PickledCall) else []:
        if isinstance(state, tuple) and len(state) == 5 and isinstance(state[1], tuple) and state[1]:
            return state[1][0] if isinstance(state[1][0], int) else None
    values = _array_values(data)
    return len(values) if values is not None else None


_RECOGNISERS: list[tuple[frozenset[str], Any]] = [
    (frozenset({"datetime.datetime", "datetime.date", "datetime.time"}), _recognise_datetime),
    (frozenset({"datetime.timedelta"}), _recognise_timedelta),
    (frozenset({"datetime.timezone", "zoneinfo.ZoneInfo._unpickle"}), _recognise_timezone),
    (frozenset({"decimal.Decimal", "_decimal.Decimal", "_pydecimal.Decimal"}), _recognise_decimal),
    (frozenset({"fractions.Fraction"}), _recognise_fraction),
    (frozenset({"uuid.UUID"}), _recognise_uuid),
    (
        frozenset({"builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset"}),
        _recognise_set,
    ),
    (frozenset({"_codecs.encode"}), _recognise_codecs_encode),
    (frozenset({"numpy._core.numeric._frombuffer", "numpy.core.numeric._frombuffer"}), _recognise_frombuffer),
    (
        frozenset({"numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct"}),
        _recognise_reconstruct,
    ),
    (frozenset({"numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar"}), _recognise_numpy_scalar),
    (frozenset({"pandas.DataFrame", "pandas.core.frame.DataFrame"}), _recognise_dataframe),
]


# -- pickle preview ----------------------------------------------------------------------------------


def pickle_preview(
    data: bytes | memoryview, *, max_nodes: int = DEFAULT_MAX_NODES
) -> tuple[dict[str, Any], dict]:
    """(the node tree, the disassembly summary) of a pickle, from its opcodes alone."""
    machine = PickleMachine()
    machine.run(data)
    renderer = PickleRenderer(Budget(max_nodes))
    if machine.complete:
        root = renderer.node(machine.result)
    else:
        partial = machine.partial_values()
        root = node_new(
            "pickle.partial",
            "sequence",
            value="the values the pickle had built when it stopped",
            error=machine.problem,
        )
        children = [
            renderer.node(value, key=index)
            for index, value in enumerate(partial)
            if not renderer.budget.exhausted
        ]
        if machine.cut_value is not None:
            children.append(machine.cut_value)
        root["children"] = children
        children_note(root, shown=len(children), total=len(partial) + (machine.cut_value is not None))
    summary = _pickle_summary(machine)
    return root, summary


def _pickle_summary(machine: PickleMachine) -> dict[str, Any]:
    imports: dict[str, dict[str, Any]] = {}
    getattr_targets: list[str] = []
    for found in machine.globals:
        if found.via is not None:
            getattr_targets.append(found.path)
        entry = imports.get(found.path)
        if entry is None:
            level, reason = global_classify(found.path)
            entry = {
                "module": found.module,
                "name": found.name,
                "path": found.path,
                "danger": level,
                "reason": reason,
                "count": 0,
            }
            if found.via is not None:
                entry["via"] = found.via
            imports[found.path] = entry
        entry["count"] += 1
    for path in ("builtins.getattr", "__builtin__.getattr"):
        entry = imports.get(path)
        if entry is None:
            continue
        dynamic = [
            call for call in machine.calls if isinstance(call.func, PickledGlobal) and call.func.path == path
        ]
        targets_safe = all(global_classify(target)[0] != DANGER_DANGEROUS for target in getattr_targets)
        if dynamic or not getattr_targets or not targets_safe:
            entry["danger"] = DANGER_DANGEROUS
            entry["reason"] = "getattr reaches an attribute the pickle computes, or a dangerous one"
        else:
            entry["reason"] = "resolves class attributes: " + ", ".join(sorted(set(getattr_targets)))
    calls: dict[str, int] = {}
    for call in machine.calls:
        calls[call.func_path] = calls.get(call.func_path, 0) + 1
    levels = {entry["danger"] for entry in imports.values()}
    if not all(isinstance(call.func, PickledGlobal) for call in machine.calls):
        levels.add(DANGER_DANGEROUS)
    overall = next(
        (level for level in (DANGER_DANGEROUS, DANGER_UNKNOWN, DANGER_KNOWN) if level in levels), "none"
    )
    summary: dict[str, Any] = {
        "protocol": machine.protocol,
        "opcodes": machine.opcodes,
        "complete": machine.complete,
        "danger": overall,
        "imports": list(imports.values()),
        "calls": [{"callable": path, "count": count} for path, count in calls.items()],
        "call_count": len(machine.calls),
        "out_of_band_buffers": machine.buffers,
        "persistent_ids": machine.persistent_ids,
    }
    if machine.buffers:
        summary["note"] = (
            f"the pickle expects {machine.buffers} out-of-band buffer(s) that are not stored in the file"
        )
    if machine.problem:
        summary["error"] = machine.problem
    return summary
