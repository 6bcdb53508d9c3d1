"""Safe previews of result files: what a stored value looks like, without running anything it names.

``preview_build`` reads a bounded head of a result file with range reads (a 1 GB result never lands in
memory), detects its layout (v3-record, v3-raw, v3-metadata, v2-blob), extracts the metadata and
previews the value as a tree of JSON-safe nodes:

* JSON payloads are parsed with a plain JSON parser and then tagged: ``{"__class__": ..., "data": ...}``
  and ``{"__exc_type__": ..., "message": ...}`` become typed nodes. No class named by a file is imported.
  A cut payload (the head of a large file) is parsed as far as it goes.
* Pickle payloads are never unpickled. A symbolic machine walks the opcodes (``pickletools.genops``),
  rebuilds containers and plain values, and shows every global the pickle would import and every call
  it would make as flagged nodes, with a danger level per import. Values it recognises by structure
  (numpy arrays, datetimes, decimals, UUIDs, exceptions, model instances) are shown as such; a numpy
  buffer is decoded with ``numpy.frombuffer`` because it is data, not code.
* Anything unreadable ends in a ``Preview`` with ``error`` and the raw head (hex and text); no exception
  escapes ``preview_build``.

``value_to_preview`` turns a real Python value into the same node format; the sandboxed decoder
(``apps.results.sandbox``) uses it after a restricted unpickle.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import dataclasses
import datetime as dt
import decimal
import enum
import fractions
import io
import json
import lzma
import math
import pickletools
import re
import uuid
import zlib
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 8 * MIB
DEFAULT_MAX_NODES = 5000
METADATA_MAX_BYTES = 1 * MIB
TABLE_MAX_ROWS = 50
TABLE_MAX_COLUMNS = 50
TEXT_MAX_CHARS = 2000
BYTES_MAX_SHOWN = 64
RAW_HEAD_BYTES = 512
# Integers beyond this lose precision in a browser; they are shown as text.
JSON_SAFE_INT = 2**53

LAYOUT_V3_RECORD = "v3-record"
LAYOUT_V3_RAW = "v3-raw"
LAYOUT_V3_METADATA = "v3-metadata"
LAYOUT_V2_BLOB = "v2-blob"
LAYOUT_UNKNOWN = "unknown"

DANGER_DANGEROUS = "dangerous"
DANGER_UNKNOWN = "unknown"
DANGER_KNOWN = "known"


class PreviewError(Exception):
    """A payload cannot be previewed; the message says why in words an operator understands."""


@dataclasses.dataclass
class Preview:
    """What a result file holds, as far as it can be told without running it."""

    layout: str = LAYOUT_UNKNOWN
    size_bytes: int | None = None
    bytes_read: int = 0
    head_complete: bool = True
    metadata: dict[str, Any] | None = None
    serializer: dict[str, Any] | None = None
    format: str = "unknown"
    value: dict[str, Any] | None = None
    pickle: dict[str, Any] | None = None
    compression: dict[str, Any] | None = None
    raw_head: dict[str, Any] | None = None
    error: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- nodes ------------------------------------------------------------------------------------------


class _Budget:
    """How many more nodes the preview may hold; containers stop adding children when it runs out."""

    def __init__(self, max_nodes: int) -> None:
        self.remaining = max(1, max_nodes)

    def take(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0


def _node(type_: str, kind: str, *, key: Any = None, **fields: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": type_, "kind": kind}
    if key is not None:
        node["key"] = key if isinstance(key, str) else _scalar_text(key)
    node.update({name: value for name, value in fields.items() if value is not None})
    return node


def _children_note(node: dict[str, Any], *, shown: int, total: int | None, exact: bool = True) -> None:
    """Mark a container whose children were cut: "first N of M" (or "of at least M" when the head was cut)."""
    if total is None:
        node["note"] = f"first {shown} (the rest is beyond the previewed head)"
        node["truncated"] = None
        return
    node["length"] = total
    if shown < total or not exact:
        node["truncated"] = total - shown
        node["note"] = f"first {shown} of {'at least ' if not exact else ''}{total}"


def _scalar_text(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= TEXT_MAX_CHARS else text[:TEXT_MAX_CHARS] + "…"


def _qualified_name(kind: type) -> str:
    module = getattr(kind, "__module__", None) or "builtins"
    return f"{module}.{getattr(kind, '__qualname__', kind.__name__)}"


def _str_node(
    text: str, *, key: Any = None, type_: str = "builtins.str", cut: bool = False
) -> dict[str, Any]:
    node = _node(type_, "text", key=key, value=text[:TEXT_MAX_CHARS], length=len(text))
    if len(text) > TEXT_MAX_CHARS:
        node["truncated"] = len(text) - TEXT_MAX_CHARS
        node["note"] = f"first {TEXT_MAX_CHARS} of {len(text)} characters"
    if cut:
        node["note"] = "cut: the text continues beyond the previewed head"
    return node


def _bytes_node_from_head(head: bytes, *, total: int | None, key: Any, type_: str) -> dict[str, Any]:
    shown = head[:BYTES_MAX_SHOWN]
    node = _node(type_, "bytes", key=key, hex=shown.hex(), text=shown.decode("latin-1"), length=total)
    if total is not None and total > len(shown):
        node["truncated"] = total - len(shown)
        node["note"] = f"first {len(shown)} of {total} bytes"
    return node


def _number_value(value: int | float) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < JSON_SAFE_INT else str(value)
    if math.isfinite(value):
        return value
    return repr(value)


def _scalar_node(value: Any, *, key: Any = None) -> dict[str, Any] | None:
    """A node for a plain value (None, bool, number, text, bytes); None when ``value`` is not plain."""
    if value is None:
        return _node("builtins.NoneType", "scalar", key=key, value=None)
    if isinstance(value, bool):
        return _node("builtins.bool", "scalar", key=key, value=value)
    if isinstance(value, int) and type(value) is int:
        return _node("builtins.int", "scalar", key=key, value=_number_value(value))
    if isinstance(value, float) and type(value) is float:
        return _node("builtins.float", "scalar", key=key, value=_number_value(value))
    if isinstance(value, _CutText):
        return _str_node(str(value), key=key, cut=True)
    if type(value) is str:
        return _str_node(value, key=key)
    if type(value) in (bytes, bytearray):
        return _bytes_node_from_head(
            bytes(value[:BYTES_MAX_SHOWN]), total=len(value), key=key, type_=_qualified_name(type(value))
        )
    return None


# -- JSON values --------------------------------------------------------------------------------------


class _CutText(str):
    """A JSON string whose end lies beyond the previewed head."""


class _More:
    """Stands for the children of a container that were not materialised (node limit or cut head)."""

    __slots__ = ("count", "exact")

    def __init__(self, count: int, exact: bool) -> None:
        self.count = count
        self.exact = exact


_MORE_KEY = "\x00more"


def _json_tagged_node(value: Any, *, key: Any, budget: _Budget) -> dict[str, Any] | None:
    """The Prefect ``__class__``/``__exc_type__`` wrappers as typed nodes; None for any other value."""
    if not isinstance(value, dict):
        return None
    keys = set(value) - {_MORE_KEY}
    if keys == {"__class__", "data"} and isinstance(value["__class__"], str):
        type_ = value["__class__"]
        data = value["data"]
        inner = _json_node(data, key=None, budget=budget)
        node = _node(type_, inner["kind"] if inner["kind"] != "scalar" else "scalar", key=key)
        for name in ("value", "children", "length", "truncated", "note", "hex", "text"):
            if name in inner:
                node[name] = inner[name]
        if inner["kind"] == "text":
            node["kind"] = "scalar"
        node["encoded_as"] = inner["type"]
        return node
    if (
        "__exc_type__" in keys
        and keys <= {"__exc_type__", "message"}
        and isinstance(value["__exc_type__"], str)
    ):
        message = value.get("message")
        return _node(
            value["__exc_type__"], "exception", key=key, value=_scalar_text(message) if message else ""
        )
    return None


def _json_node(value: Any, *, key: Any, budget: _Budget) -> dict[str, Any]:
    budget.take()
    tagged = _json_tagged_node(value, key=key, budget=budget)
    if tagged is not None:
        return tagged
    plain = _scalar_node(value, key=key)
    if plain is not None:
        return plain
    if isinstance(value, dict):
        node = _node("builtins.dict", "mapping", key=key)
        children: list[dict[str, Any]] = []
        more = value.get(_MORE_KEY)
        total = len(value) - (1 if more is not None else 0)
        for child_key, child in value.items():
            if child_key == _MORE_KEY:
                continue
            if budget.exhausted:
                break
            children.append(_json_node(child, key=child_key, budget=budget))
        node["children"] = children
        extra = more.count if more is not None else 0
        _children_note(node, shown=len(children), total=total + extra, exact=more is None or more.exact)
        return node
    if isinstance(value, list):
        node = _node("builtins.list", "sequence", key=key)
        more = value[-1] if value and isinstance(value[-1], _More) else None
        items = value[:-1] if more is not None else value
        children = []
        for index, child in enumerate(items):
            if budget.exhausted:
                break
            children.append(_json_node(child, key=index, budget=budget))
        node["children"] = children
        extra = more.count if more is not None else 0
        _children_note(node, shown=len(children), total=len(items) + extra, exact=more is None or more.exact)
        return node
    return _node(_qualified_name(type(value)), "text", key=key, value=_scalar_text(repr(value)))


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_JSON_SKIP_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _JSONCut(Exception):
    """The text ended inside a value."""


class _PrefixParser:
    """A JSON parser for a text that may be cut anywhere: it returns what was parsed.

    Containers stop materialising children once ``limit`` values were built; the rest of their direct
    children are counted by a token scan, so the preview can say "first N of M".
    """

    def __init__(self, text: str, *, limit: int) -> None:
        self.text = text
        self.remaining = limit
        self.cut = False

    def parse(self) -> Any:
        position = self._skip_space(0)
        value, _ = self._value(position)
        return value

    def _skip_space(self, position: int) -> int:
        return _JSON_WHITESPACE.match(self.text, position).end()

    def _value(self, position: int) -> tuple[Any, int]:
        text = self.text
        if position >= len(text):
            raise _JSONCut
        self.remaining -= 1
        char = text[position]
        if char == "{":
            return self._object(position + 1)
        if char == "[":
            return self._array(position + 1)
        if char == '"':
            return self._string(position)
        for literal, result in (("true", True), ("false", False), ("null", None)):
            if text.startswith(literal, position):
                return result, position + len(literal)
            if literal.startswith(text[position:]):
                raise _JSONCut
        match = _JSON_NUMBER.match(text, position)
        if match is None:
            raise ValueError(f"invalid JSON at character {position}: {text[position : position + 20]!r}")
        if match.end() >= len(text):
            raise _JSONCut
        number = match.group()
        return (float(number) if any(c in number for c in ".eE") else int(number)), match.end()

    def _string(self, position: int) -> tuple[str, int]:
        try:
            return json.decoder.scanstring(self.text, position + 1)
        except json.JSONDecodeError:
            self.cut = True
            body = re.sub(r"\\(u[0-9a-fA-F]{0,3})?$", "", self.text[position + 1 :])
            try:
                partial = json.loads(f'"{body}"')
            except ValueError:
                partial = body
            raise _PartialValue(_CutText(partial)) from None

    def _array(self, position: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        position = self._skip_space(position)
        if self.text.startswith("]", position):
            return items, position + 1
        while True:
            if self.remaining <= 0:
                count, exact, position = self._count_rest(position)
                items.append(_More(count, exact))
                if not exact:
                    raise _PartialValue(items)
                return items, position
            try:
                value, position = self._value(position)
            except _PartialValue as partial:
                items.append(partial.value)
                raise _PartialValue(items) from None
            except _JSONCut:
                self.cut = True
                raise _PartialValue(items) from None
            items.append(value)
            position = self._skip_space(position)
            if position >= len(self.text):
                self.cut = True
                raise _PartialValue(items)
            if self.text[position] == "]":
                return items, position + 1
            if self.text[position] != ",":
                raise ValueError(f"invalid JSON at character {position}: expected ',' or ']'")
            position = self._skip_space(position + 1)

    def _object(self, position: int) -> tuple[dict[str, Any], int]:
        items: dict[str, Any] = {}
        position = self._skip_space(position)
        if self.text.startswith("}", position):
            return items, position + 1
        while True:
            if self.remaining <= 0:
                count, exact, position = self._count_rest(position)
                items[_MORE_KEY] = _More(count, exact)
                if not exact:
                    raise _PartialValue(items)
                return items, position
            if position >= len(self.text):
                self.cut = True
                raise _PartialValue(items)
            if self.text[position] != '"':
                raise ValueError(f"invalid JSON at character {position}: expected a key")
            try:
                key, position = json.decoder.scanstring(self.text, position + 1)
            except json.JSONDecodeError:
                self.cut = True
                raise _PartialValue(items) from None
            position = self._skip_space(position)
            if not self.text.startswith(":", position):
                if position >= len(self.text):
                    self.cut = True
                    raise _PartialValue(items)
                raise ValueError(f"invalid JSON at character {position}: expected ':'")
            position = self._skip_space(position + 1)
            try:
                value, position = self._value(position)
            except _PartialValue as partial:
                items[key] = partial.value
                raise _PartialValue(items) from None
            except _JSONCut:
                self.cut = True
                raise _PartialValue(items) from None
            items[key] = value
            position = self._skip_space(position)
            if position >= len(self.text):
                self.cut = True
                raise _PartialValue(items)
            if self.text[position] == "}":
                return items, position + 1
            if self.text[position] != ",":
                raise ValueError(f"invalid JSON at character {position}: expected ',' or '}}'")
            position = self._skip_space(position + 1)

    def _count_rest(self, position: int) -> tuple[int, bool, int]:
        """(children from ``position`` to the container's end, whether the end was seen, the end)."""
        depth = 0
        count = 1
        for match in _JSON_SKIP_TOKEN.finditer(self.text, position):
            symbol = match.group()
            if symbol in "[{":
                depth += 1
            elif symbol in "]}":
                if depth == 0:
                    return count, True, match.end()
                depth -= 1
            elif symbol == "," and depth == 0:
                count += 1
        self.cut = True
        return count, False, len(self.text)


class _PartialValue(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__("partial value")
        self.value = value


def json_text_preview(
    text: str, *, complete: bool, max_nodes: int = DEFAULT_MAX_NODES
) -> tuple[dict[str, Any], bool]:
    """(the node tree of a JSON text, whether the text was cut). No class named in the text is imported."""
    budget = _Budget(max_nodes)
    if complete:
        try:
            return _json_node(json.loads(text), key=None, budget=budget), False
        except RecursionError as error:
            raise PreviewError("the JSON value is nested too deeply to preview") from error
        except ValueError as error:
            raise PreviewError(f"the payload is not valid JSON: {error}") from error
    parser = _PrefixParser(text, limit=max_nodes)
    try:
        value = parser.parse()
    except _PartialValue as partial:
        value = partial.value
    except _JSONCut:
        raise PreviewError("the JSON payload is cut before its first value ends") from None
    except ValueError as error:
        raise PreviewError(f"the payload is not valid JSON: {error}") from error
    except RecursionError as error:
        raise PreviewError("the JSON value is nested too deeply to preview") from error
    node = _json_node(value, key=None, budget=_Budget(max_nodes))
    if parser.cut:
        node.setdefault("note", "cut: the value continues beyond the previewed head")
    return node, parser.cut


# -- Python values (used by the sandbox after a restricted decode) -----------------------------------


def value_to_preview(obj: Any, *, max_nodes: int = DEFAULT_MAX_NODES) -> dict[str, Any]:
    """The node tree of a real Python value: containers, plain values, tables, exceptions, models."""
    return _value_node(obj, key=None, budget=_Budget(max_nodes), seen=set())


def _value_node(obj: Any, *, key: Any, budget: _Budget, seen: set[int]) -> dict[str, Any]:
    budget.take()
    plain = _scalar_node(obj, key=key)
    if plain is not None:
        return plain
    type_ = _qualified_name(type(obj))
    if id(obj) in seen:
        return _node(type_, "ref", key=key, note="a reference to a value shown above (cycle)")
    table = _table_from_value(obj)
    if table is not None:
        return _node(_public_type_name(type_), "table", key=key, table=table)
    if isinstance(obj, BaseException):
        return _node(
            type_,
            "exception",
            key=key,
            value=_scalar_text(str(obj)),
            args=[_scalar_text(repr(arg)) for arg in obj.args[:10]],
        )
    simple = _simple_value(obj)
    if simple is not None:
        return _node(type_, "scalar", key=key, value=simple)
    seen = seen | {id(obj)}
    if isinstance(obj, Mapping):
        node = _node(type_, "mapping", key=key)
        children = []
        for child_key, child in obj.items():
            if budget.exhausted:
                break
            label = child_key if isinstance(child_key, str) else _scalar_text(repr(child_key))
            children.append(_value_node(child, key=label, budget=budget, seen=seen))
        node["children"] = children
        _children_note(node, shown=len(children), total=len(obj))
        return node
    if isinstance(obj, (list, tuple, set, frozenset)) or type_ == "collections.deque":
        node = _node(type_, "sequence", key=key)
        items = (
            sorted(obj, key=repr)
            if isinstance(obj, (set, frozenset)) and len(obj) <= max(budget.remaining, 1)
            else obj
        )
        children = []
        for index, child in enumerate(items):
            if budget.exhausted:
                break
            children.append(_value_node(child, key=index, budget=budget, seen=seen))
        node["children"] = children
        _children_note(node, shown=len(children), total=len(obj))
        return node
    fields = _object_fields(obj)
    if fields is not None:
        node = _node(type_, "object", key=key)
        children = []
        for name, child in fields.items():
            if budget.exhausted:
                break
            children.append(_value_node(child, key=name, budget=budget, seen=seen))
        node["children"] = children
        _children_note(node, shown=len(children), total=len(fields))
        return node
    return _node(type_, "text", key=key, value=_scalar_text(repr(obj)))


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
        return f"{type(obj).__name__}.{obj.name} = {_scalar_text(repr(obj.value))}"
    if isinstance(obj, int | float | str | bytes):
        return _number_value(obj) if isinstance(obj, int | float) else _scalar_text(repr(obj))
    if type(obj).__module__ == "zoneinfo" or isinstance(obj, dt.tzinfo):
        return str(obj)
    module = type(obj).__module__ or ""
    if module.startswith("numpy") and hasattr(obj, "item") and getattr(obj, "shape", None) == ():
        item = obj.item()
        return _number_value(item) if isinstance(item, int | float) else _scalar_text(str(item))
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
        "columns": [_scalar_text(str(column)) for column in head.columns],
        "dtypes": [str(dtype) for dtype in head.dtypes],
        "index": [_cell(label) for label in head.index],
        "rows": [[_cell(cell) for cell in row] for row in head.itertuples(index=False, name=None)],
        "rows_shown": len(head),
        "columns_shown": head.shape[1],
    }


def ndarray_table(array: Any) -> dict[str, Any]:
    """First rows of a numpy array as a table (1-D: one column; N-D: rows of the first axis)."""
    shape = list(array.shape)
    if array.ndim == 0:
        rows = [[_cell(array.item())]]
        columns = ["value"]
    elif array.ndim == 1:
        rows = [[_cell(item)] for item in array[:TABLE_MAX_ROWS].tolist()]
        columns = ["value"]
    else:
        flat = array.reshape(shape[0], -1)[:TABLE_MAX_ROWS, :TABLE_MAX_COLUMNS]
        rows = [[_cell(item) for item in row] for row in flat.tolist()]
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


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value if not isinstance(value, str) else _scalar_text(value)
    if isinstance(value, int | float):
        return _number_value(value)
    if isinstance(value, bytes):
        return value[:BYTES_MAX_SHOWN].hex()
    simple = _simple_value(value)
    return simple if simple is not None else _scalar_text(str(value))


# -- the static pickle machine ----------------------------------------------------------------------


def _names(text: str) -> frozenset[str]:
    """A set of names written as one space-separated text, so long lists stay compact."""
    return frozenset(text.split())


_SAFE_BUILTINS = _names(
    "list dict set frozenset tuple bytearray bytes str int float complex bool slice range object "
    "NoneType Ellipsis NotImplemented"
)
_DANGEROUS_MODULES = _names(
    "os posix nt subprocess sys importlib socket shutil pty signal ctypes multiprocessing runpy code "
    "codeop pickle _pickle marshal types tempfile io _io webbrowser asyncio threading _thread urllib "
    "http ftplib smtplib telnetlib platform glob fileinput pydoc timeit cProfile profile pdb bdb "
    "trace gc inspect ssl select selectors mmap resource pwd grp sqlite3 dbm shelve zipimport pkgutil "
    "sysconfig site distutils setuptools pip cloudpickle dill joblib operator functools codecs "
    "_codecs builtins __builtin__ copyreg copy_reg posixpath ntpath zipfile tarfile logging "
    "_posixsubprocess imp ast dis _ctypes cffi requests httpx boto3 botocore s3fs fsspec django "
    "celery"
)
_KNOWN_MODULES = _names(
    "datetime collections decimal _decimal _pydecimal uuid fractions zoneinfo ipaddress numpy pandas "
    "pydantic pydantic_core pathlib array enum re"
)
_KNOWN_FUNCTIONS = _names(
    "copyreg._reconstructor copyreg.__newobj__ copyreg.__newobj_ex__ copy_reg._reconstructor "
    "_codecs.encode zoneinfo.ZoneInfo._unpickle builtins.getattr"
)
# Names in a known module that read or write files, run code or reach the network.
_DANGEROUS_NAME_PARTS = _names(
    "system popen exec eval load loads loadtxt genfromtxt fromfile tofile save savez savetxt memmap "
    "open write_text write_bytes read_text read_bytes unlink rmdir mkdir touch rename replace chmod "
    "lchmod symlink_to hardlink_to link_to remove __globals__ __builtins__ __subclasses__ __import__ "
    "__reduce__ __reduce_ex__ __getattribute__ __setattr__ __delattr__ __init_subclass__ compile "
    "import_module run call check_output to_pickle read_pickle to_csv to_parquet to_excel to_sql "
    "to_hdf to_json to_feather to_stata to_html read_csv read_json read_html read_sql read_excel "
    "read_parquet read_hdf read_feather read_fwf read_table read_sas read_spss read_stata read_xml "
    "read_orc read_clipboard to_clipboard query testing f2py ctypeslib"
)
_DANGEROUS_MODULE_PARTS = frozenset(
    {"io", "testing", "f2py", "ctypeslib", "distutils", "plotting", "clipboard"}
)


def global_classify(path: str) -> tuple[str, str]:
    """(danger level, reason) of a global a pickle would import, given as ``module.qualname``."""
    module, _, name = _path_split(path)
    top = module.split(".")[0]
    parts = set(module.split(".")[1:]) | set(name.split("."))
    if path in _KNOWN_FUNCTIONS:
        return DANGER_KNOWN, "a standard unpickling helper"
    if top in ("builtins", "__builtin__"):
        base = name.split(".")[0]
        if "." not in name and (base in _SAFE_BUILTINS or _is_builtin_exception(base)):
            return DANGER_KNOWN, "a built-in data type"
        return DANGER_DANGEROUS, f"the built-in {name!r} can run code or touch the system"
    if top in _DANGEROUS_MODULES:
        if top == "cloudpickle":
            return DANGER_DANGEROUS, "rebuilds code (a function or class pickled by value)"
        return (
            DANGER_DANGEROUS,
            f"module {top!r} can run programs, touch files or the network, or import code",
        )
    if parts & _DANGEROUS_NAME_PARTS or parts & _DANGEROUS_MODULE_PARTS:
        return DANGER_DANGEROUS, "reads or writes files or runs code"
    if top in _KNOWN_MODULES:
        return DANGER_KNOWN, "a data type of the standard library, numpy, pandas or pydantic"
    return DANGER_UNKNOWN, "a class or function from a module the preview does not know"


def _is_builtin_exception(name: str) -> bool:
    import builtins

    candidate = getattr(builtins, name, None)
    return isinstance(candidate, type) and issubclass(candidate, BaseException)


def _path_split(path: str) -> tuple[str, str, str]:
    module, _, name = path.partition(" ") if " " in path else path.rpartition(".")
    return module, ".", name


class _Global:
    """A global the pickle would import (GLOBAL, STACK_GLOBAL, INST), or an attribute reached by getattr."""

    __slots__ = ("module", "name", "via")

    def __init__(self, module: str, name: str, via: str | None = None) -> None:
        self.module = module
        self.name = name
        self.via = via

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"


class _Call:
    """A call the pickle would make (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ), with what BUILD etc. add."""

    __slots__ = ("args", "dict_items", "func", "kwargs", "list_items", "opcode", "states")

    def __init__(self, func: Any, args: Any, opcode: str, kwargs: Any = None) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.opcode = opcode
        self.states: list[Any] = []
        self.list_items: list[Any] = []
        self.dict_items: list[tuple[Any, Any]] = []

    @property
    def func_path(self) -> str:
        return self.func.path if isinstance(self.func, _Global) else "<computed callable>"


class _List:
    __slots__ = ("items",)

    def __init__(self, items: list[Any] | None = None) -> None:
        self.items = items if items is not None else []


class _Dict:
    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[Any, Any]] | None = None) -> None:
        self.pairs = pairs if pairs is not None else []


class _Set:
    __slots__ = ("frozen", "items")

    def __init__(self, items: list[Any] | None = None, *, frozen: bool = False) -> None:
        self.items = items if items is not None else []
        self.frozen = frozen


class _Buffer:
    __slots__ = ("index", "readonly")

    def __init__(self, index: int) -> None:
        self.index = index
        self.readonly = False


class _Persistent:
    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


class _Missing:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Mark:
    """The stack content saved by MARK; kept so a cut pickle can show what it had built so far."""

    __slots__ = ()


_MARK = _Mark()
_PUSH_ARGUMENT = _names(
    "INT BININT BININT1 BININT2 LONG LONG1 LONG4 BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 UNICODE "
    "SHORT_BINUNICODE BINUNICODE BINUNICODE8 FLOAT BINFLOAT STRING BINSTRING SHORT_BINSTRING"
)


class _PickleMachine:
    """Runs the opcodes of a pickle over symbolic values: nothing is imported, nothing is called."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.globals: list[_Global] = []
        self.calls: list[_Call] = []
        self.protocol: int | None = None
        self.opcodes = 0
        self.buffers = 0
        self.persistent_ids = 0
        self.result: Any = None
        self.complete = False
        self.problem: str | None = None
        self.cut_value: dict[str, Any] | None = None

    def run(self, data: bytes | memoryview) -> None:
        stream = io.BytesIO(data)
        next_opcode_at = 0
        try:
            for opcode, argument, position in pickletools.genops(stream):
                next_opcode_at = stream.tell()
                self.opcodes += 1
                self._step(opcode.name, argument, position)
                if opcode.name == "STOP":
                    self.complete = True
                    return
            self.problem = "the pickle ends without a STOP opcode"
        except (
            ValueError,
            EOFError,
            KeyError,
            IndexError,
            UnicodeDecodeError,
            TypeError,
            OverflowError,
        ) as error:
            self.problem = _genops_problem(error, data)
            self.cut_value = _cut_opcode_value(data, next_opcode_at)

    def _pop_mark(self) -> list[Any]:
        items = self.stack
        self.stack = self.metastack.pop() if self.metastack else []
        return items

    def _pop(self) -> Any:
        if not self.stack:
            raise IndexError("the pickle pops from an empty stack (corrupt pickle)")
        return self.stack.pop()

    def _step(self, name: str, argument: Any, position: int) -> None:
        stack = self.stack
        if name in _PUSH_ARGUMENT:
            stack.append(argument)
        elif name in ("PROTO",):
            self.protocol = argument
        elif name in ("FRAME",):
            pass
        elif name == "NONE":
            stack.append(None)
        elif name == "NEWTRUE":
            stack.append(True)
        elif name == "NEWFALSE":
            stack.append(False)
        elif name == "EMPTY_LIST":
            stack.append(_List())
        elif name == "EMPTY_DICT":
            stack.append(_Dict())
        elif name == "EMPTY_SET":
            stack.append(_Set())
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            size = int(name[-1])
            if len(stack) < size:
                raise IndexError("the pickle builds a tuple from an empty stack (corrupt pickle)")
            items = tuple(stack[-size:])
            del stack[-size:]
            stack.append(items)
        elif name == "MARK":
            self.metastack.append(self.stack)
            self.stack = []
        elif name == "TUPLE":
            items = self._pop_mark()
            self.stack.append(tuple(items))
        elif name == "LIST":
            items = self._pop_mark()
            self.stack.append(_List(list(items)))
        elif name == "DICT":
            items = self._pop_mark()
            self.stack.append(_Dict(list(zip(items[::2], items[1::2], strict=False))))
        elif name == "FROZENSET":
            items = self._pop_mark()
            self.stack.append(_Set(list(items), frozen=True))
        elif name == "APPEND":
            value = self._pop()
            self._extend(self.stack[-1] if self.stack else None, [value])
        elif name == "APPENDS":
            items = self._pop_mark()
            self._extend(self.stack[-1] if self.stack else None, items)
        elif name == "SETITEM":
            value = self._pop()
            key = self._pop()
            self._set_items(self.stack[-1] if self.stack else None, [(key, value)])
        elif name == "SETITEMS":
            items = self._pop_mark()
            self._set_items(
                self.stack[-1] if self.stack else None, list(zip(items[::2], items[1::2], strict=False))
            )
        elif name == "ADDITEMS":
            items = self._pop_mark()
            target = self.stack[-1] if self.stack else None
            if isinstance(target, _Set):
                target.items.extend(items)
            else:
                raise TypeError("ADDITEMS on a value that is not a set (corrupt pickle)")
        elif name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self._pop_mark()
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "DUP":
            self.stack.append(self.stack[-1])
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            index = int(argument)
            self.stack.append(
                self.memo[index] if index in self.memo else _Missing(f"memo entry {index} is missing")
            )
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(argument)] = self.stack[-1]
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.stack[-1]
        elif name in ("GLOBAL", "INST"):
            module, _, qualname = str(argument).partition(" ")
            found = self._global(module, qualname)
            if name == "GLOBAL":
                self.stack.append(found)
            else:
                self._call(found, tuple(self._pop_mark()), "INST")
        elif name == "STACK_GLOBAL":
            qualname = self._pop()
            module = self._pop()
            if not isinstance(module, str) or not isinstance(qualname, str):
                raise TypeError("STACK_GLOBAL needs a module and a name given as text (corrupt pickle)")
            self.stack.append(self._global(module, qualname))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.stack.append(self._global("copyreg.extension", str(argument)))
        elif name == "REDUCE":
            args = self._pop()
            func = self._pop()
            self._call(func, args, "REDUCE")
        elif name == "NEWOBJ":
            args = self._pop()
            cls = self._pop()
            self._call(cls, args, "NEWOBJ")
        elif name == "NEWOBJ_EX":
            kwargs = self._pop()
            args = self._pop()
            cls = self._pop()
            self._call(cls, args, "NEWOBJ_EX", kwargs)
        elif name == "OBJ":
            items = self._pop_mark()
            if not items:
                raise IndexError("OBJ without a class (corrupt pickle)")
            self._call(items[0], tuple(items[1:]), "OBJ")
        elif name == "BUILD":
            state = self._pop()
            target = self.stack[-1] if self.stack else None
            if isinstance(target, _Call):
                target.states.append(state)
            else:
                call = _Call(_Global("<build>", "setstate"), (target,), "BUILD")
                call.states.append(state)
                self.calls.append(call)
                self.stack[-1] = call
        elif name in ("PERSID", "BINPERSID"):
            pid = argument if name == "PERSID" else self._pop()
            self.persistent_ids += 1
            self.stack.append(_Persistent(pid))
        elif name == "NEXT_BUFFER":
            self.stack.append(_Buffer(self.buffers))
            self.buffers += 1
        elif name == "READONLY_BUFFER":
            if self.stack and isinstance(self.stack[-1], _Buffer):
                self.stack[-1].readonly = True
        elif name == "STOP":
            self.result = self._pop()
        else:
            raise ValueError(f"unsupported opcode {name}")

    def _global(self, module: str, qualname: str) -> _Global:
        found = _Global(module, qualname)
        self.globals.append(found)
        return found

    def _call(self, func: Any, args: Any, opcode: str, kwargs: Any = None) -> None:
        if (
            isinstance(func, _Global)
            and func.path in ("builtins.getattr", "__builtin__.getattr")
            and isinstance(args, tuple)
            and len(args) == 2
            and isinstance(args[0], _Global)
            and isinstance(args[1], str)
        ):
            # getattr(SomeClass, "name") is how protocol 4+ pickles reach class attributes: show the target.
            target = _Global(args[0].module, f"{args[0].name}.{args[1]}", via="builtins.getattr")
            self.globals.append(target)
            self.stack.append(target)
            return
        call = _Call(func, args, opcode, kwargs)
        self.calls.append(call)
        self.stack.append(call)

    def _extend(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, _List):
            target.items.extend(items)
        elif isinstance(target, _Call):
            target.list_items.extend(items)
        else:
            raise TypeError("APPEND on a value that is not a list (corrupt pickle)")

    def _set_items(self, target: Any, pairs: list[tuple[Any, Any]]) -> None:
        if isinstance(target, _Dict):
            target.pairs.extend(pairs)
        elif isinstance(target, _Call):
            target.dict_items.extend(pairs)
        else:
            raise TypeError("SETITEM on a value that is not a dict (corrupt pickle)")

    def partial_values(self) -> list[Any]:
        """What was on the stack when a cut pickle stopped, outermost first."""
        values: list[Any] = []
        for frame in [*self.metastack, self.stack]:
            values.extend(frame)
        return values


def _genops_problem(error: BaseException, data: bytes | memoryview) -> str:
    text = str(error) or type(error).__name__
    if "bytes" in text and ("remain" in text or "expected" in text):
        return f"the pickle is cut (a value continues beyond the previewed bytes): {text}"
    if isinstance(error, KeyError):
        return f"the pickle refers to a missing memo entry {text} (corrupt pickle)"
    return f"the pickle is corrupt or cut: {text}"


def _cut_opcode_value(data: bytes | memoryview, position: int) -> dict[str, Any] | None:
    """The declared size of a long bytes/str value that runs past the end of the previewed bytes."""
    headers = {
        0x8E: ("builtins.bytes", 8),
        0x96: ("builtins.bytearray", 8),
        0x42: ("builtins.bytes", 4),
        0x8D: ("builtins.str", 8),
        0x58: ("builtins.str", 4),
    }
    for start in (position,):
        if start >= len(data):
            break
        header = headers.get(data[start])
        if header is None:
            continue
        type_, width = header
        if start + 1 + width > len(data):
            continue
        declared = int.from_bytes(bytes(data[start + 1 : start + 1 + width]), "little")
        available = len(data) - (start + 1 + width)
        if declared > available:
            head = bytes(data[start + 1 + width : start + 1 + width + BYTES_MAX_SHOWN])
            node = _bytes_node_from_head(head, total=declared, key=None, type_=type_)
            node["note"] = f"{declared} bytes declared; {available} are in the previewed head"
            return node
    return None


# -- rendering symbolic values -----------------------------------------------------------------------


class _PickleRenderer:
    def __init__(self, budget: _Budget) -> None:
        self.budget = budget

    def node(self, value: Any, *, key: Any = None, active: frozenset[int] = frozenset()) -> dict[str, Any]:
        self.budget.take()
        plain = _scalar_node(value, key=key)
        if plain is not None:
            return plain
        if isinstance(value, str):
            return _str_node(str(value), key=key)
        if id(value) in active:
            return _node("ref", "ref", key=key, note="a reference to a value that contains it (cycle)")
        active = active | {id(value)}
        if isinstance(value, _List):
            return self._sequence("builtins.list", value.items, key=key, active=active)
        if isinstance(value, tuple):
            return self._sequence("builtins.tuple", list(value), key=key, active=active)
        if isinstance(value, _Set):
            return self._sequence(
                "builtins.frozenset" if value.frozen else "builtins.set", value.items, key=key, active=active
            )
        if isinstance(value, _Dict):
            return self._mapping("builtins.dict", value.pairs, key=key, active=active)
        if isinstance(value, _Global):
            level, reason = global_classify(value.path)
            return _node(
                value.path, "global", key=key, value=f"import {value.path}", danger=level, reason=reason
            )
        if isinstance(value, _Call):
            return self._call(value, key=key, active=active)
        if isinstance(value, _Buffer):
            return _node(
                "pickle.PickleBuffer",
                "buffer",
                key=key,
                note=f"out-of-band buffer #{value.index}: its bytes are not in the file",
            )
        if isinstance(value, _Persistent):
            return _node(
                "pickle.persistent_id",
                "text",
                key=key,
                value=_scalar_text(repr(value.pid)),
                note="a persistent id: the object lives outside the pickle",
            )
        if isinstance(value, _Missing):
            return _node("missing", "error", key=key, value=value.reason)
        return _node(_qualified_name(type(value)), "text", key=key, value=_scalar_text(repr(value)))

    def _sequence(self, type_: str, items: list[Any], *, key: Any, active: frozenset[int]) -> dict[str, Any]:
        node = _node(type_, "sequence", key=key)
        children = []
        for index, item in enumerate(items):
            if self.budget.exhausted:
                break
            children.append(self.node(item, key=index, active=active))
        node["children"] = children
        _children_note(node, shown=len(children), total=len(items))
        return node

    def _mapping(self, type_: str, pairs: list[tuple[Any, Any]], *, key: Any, active: frozenset[int]) -> dict:
        node = _node(type_, "mapping", key=key)
        children = []
        for child_key, child in pairs:
            if self.budget.exhausted:
                break
            label = child_key if isinstance(child_key, str) else _label(child_key)
            children.append(self.node(child, key=label, active=active))
        node["children"] = children
        _children_note(node, shown=len(children), total=len(pairs))
        return node

    def _call(self, call: _Call, *, key: Any, active: frozenset[int]) -> dict[str, Any]:
        recognised = _recognise(call)
        if recognised is not None:
            if key is not None:
                recognised["key"] = key if isinstance(key, str) else _scalar_text(key)
            return recognised
        path = call.func_path
        level, reason = global_classify(path) if isinstance(call.func, _Global) else (DANGER_DANGEROUS, "")
        args = call.args if isinstance(call.args, tuple) else (call.args,)
        type_ = _constructed_type(call)
        kind = "object" if type_ != path or call.opcode in ("NEWOBJ", "NEWOBJ_EX") else "call"
        node = _node(
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
        _children_note(node, shown=len(children), total=total)
        return node


def _label(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return value if isinstance(value, str) else repr(value)
    if isinstance(value, _Global):
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
        elif isinstance(arg, _Global):
            text = arg.path
        elif isinstance(arg, _Call):
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


def _constructed_type(call: _Call) -> str:
    """The class of the object a call builds, when the pickle says so; else the callable's path."""
    func = call.func
    if not isinstance(func, _Global):
        return "call"
    path = func.path
    args = call.args if isinstance(call.args, tuple) else ()
    if func.name in _CLASS_FIRST_FACTORIES and args and isinstance(args[0], _Global):
        return args[0].path
    if path.endswith("._unpickle") and "." in func.name:
        return path.rpartition(".")[0]
    return path


def _is_exception_call(call: _Call) -> bool:
    if not isinstance(call.func, _Global):
        return False
    name = call.func.name
    if call.func.module in ("builtins", "__builtin__"):
        return _is_builtin_exception(name)
    return name.endswith(("Error", "Exception", "Warning"))


def _exception_message(args: tuple[Any, ...]) -> str:
    if not args:
        return ""
    first = args[0]
    if isinstance(first, str):
        return _scalar_text(first)
    return _args_text(args)


def _state_fields(call: _Call) -> list[tuple[str, Any]] | None:
    """The named fields a BUILD state gives an object (instance __dict__, pydantic's __dict__, slots)."""
    if not call.states:
        return None
    fields: list[tuple[str, Any]] = []
    for state in call.states:
        dict_state, slot_state = state if isinstance(state, tuple) and len(state) == 2 else (state, None)
        for part in (dict_state, slot_state):
            if isinstance(part, _Dict):
                inner = dict(_str_pairs(part.pairs))
                if "__dict__" in inner and isinstance(inner["__dict__"], _Dict):
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


def _recognise(call: _Call) -> dict[str, Any] | None:
    """A typed node for a call whose meaning is known (numpy arrays, datetimes, ...); None otherwise."""
    if not isinstance(call.func, _Global):
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


def _recognise_datetime(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    name = call.func.name
    kind = {"datetime": dt.datetime, "date": dt.date, "time": dt.time}[name]
    if not args or not isinstance(args[0], bytes | str):
        if name == "date" and len(args) == 3 and all(isinstance(arg, int) for arg in args):
            return _node("datetime.date", "scalar", value=dt.date(*args).isoformat())
        return None
    raw = args[0].encode("latin-1") if isinstance(args[0], str) else args[0]
    # The constructors read their pickled state from bytes: a fixed layout, no code.
    value = kind(raw) if name == "date" else kind(raw, None)
    text = value.isoformat()
    zone = _zone_text(args[1]) if len(args) > 1 and args[1] is not None else None
    node = _node(f"datetime.{name}", "scalar", value=text)
    if zone is not None:
        node["value"] = f"{text} {zone}" if not zone.startswith(("+", "-")) else text + zone
        node["zone"] = zone
    return node


def _zone_text(zone: Any) -> str:
    if isinstance(zone, _Global) and zone.path == "datetime.timezone.utc":
        return "+00:00"
    if isinstance(zone, _Call) and isinstance(zone.func, _Global):
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
        isinstance(value, _Call)
        and isinstance(value.func, _Global)
        and value.func.path == "datetime.timedelta"
    ):
        args = value.args if isinstance(value.args, tuple) else ()
        if all(isinstance(arg, int) for arg in args):
            return dt.timedelta(*args)
    return None


def _recognise_timedelta(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    delta = _timedelta_of(call)
    return _node("datetime.timedelta", "scalar", value=str(delta)) if delta is not None else None


def _recognise_timezone(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    return _node(
        call.func.path.rpartition("._unpickle")[0] or call.func.path, "scalar", value=_zone_text(call)
    )


def _recognise_decimal(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 1 and isinstance(args[0], str):
        return _node("decimal.Decimal", "scalar", value=str(decimal.Decimal(args[0])))
    return None


def _recognise_fraction(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 1 and isinstance(args[0], str):
        return _node("fractions.Fraction", "scalar", value=str(fractions.Fraction(args[0])))
    return None


def _recognise_uuid(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    for state in call.states:
        if isinstance(state, _Dict):
            number = dict(_str_pairs(state.pairs)).get("int")
            if isinstance(number, int):
                return _node("uuid.UUID", "scalar", value=str(uuid.UUID(int=number)))
    return None


def _recognise_set(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 1 and isinstance(args[0], _List):
        return _PickleRenderer(_Budget(DEFAULT_MAX_NODES)).node(
            _Set(args[0].items, frozen=call.func.name == "frozenset")
        )
    return None


def _recognise_codecs_encode(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return _scalar_node(args[0].encode("latin-1"))
    return None


def _dtype_text(value: Any) -> str | None:
    """The dtype string of a pickled ``numpy.dtype(code, False, True)`` with its BUILD state."""
    if not (isinstance(value, _Call) and isinstance(value.func, _Global) and value.func.name == "dtype"):
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
    node = _node("numpy.ndarray", "table", value=f"array {dtype} {tuple(shape)}")
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


def _recognise_frombuffer(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) < 3:
        return None
    order = args[3] if len(args) > 3 and isinstance(args[3], str) else "C"
    return _static_ndarray(buffer=args[0], dtype_text=_dtype_text(args[1]), shape=args[2], order=order)


def _recognise_reconstruct(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    for state in call.states:
        if isinstance(state, tuple) and len(state) == 5:
            _version, shape, dtype, fortran, raw = state
            if isinstance(raw, _Call):
                encoded = _recognise_codecs_encode(raw, raw.args if isinstance(raw.args, tuple) else ())
                raw = raw.args[0].encode("latin-1") if encoded is not None else raw
            return _static_ndarray(
                buffer=raw, dtype_text=_dtype_text(dtype), shape=shape, order="F" if fortran else "C"
            )
    return None


def _recognise_numpy_scalar(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if len(args) == 2 and isinstance(args[1], bytes):
        dtype_text = _dtype_text(args[0])
        if dtype_text is None:
            return None
        import numpy

        dtype = numpy.dtype(dtype_text)
        if dtype.hasobject or len(args[1]) != dtype.itemsize:
            return None
        item = numpy.frombuffer(args[1], dtype=dtype)[0].item()
        value = _number_value(item) if isinstance(item, int | float) else _scalar_text(str(item))
        return _node(f"numpy.{dtype.name}", "scalar", value=value)
    return None


def _recognise_dataframe(call: _Call, args: tuple[Any, ...]) -> dict[str, Any] | None:
    """Best effort: shape, columns and dtypes of a pickled DataFrame, with rows when its blocks allow."""
    state = next((state for state in call.states if isinstance(state, _Dict)), None)
    if state is None:
        return None
    manager = dict(_str_pairs(state.pairs)).get("_mgr")
    node = _node("pandas.DataFrame", "table", value="DataFrame")
    manager_args = manager.args if isinstance(manager, _Call) and isinstance(manager.args, tuple) else ()
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
        if not (isinstance(block, _Call) and isinstance(block.args, tuple) and len(block.args) >= 2):
            continue
        positions = _placement_positions(block.args[1]) or []
        block_dtype, block_columns = _array_columns(block.args[0], columns=len(positions))
        for offset, position in enumerate(positions):
            if 0 <= position < len(columns):
                dtypes[position] = block_dtype
                if block_columns is not None and offset < len(block_columns):
                    cells[position] = block_columns[offset]
    table: dict[str, Any] = {
        "shape": [row_count, len(columns)],
        "columns": [_cell(column) for column in columns[:TABLE_MAX_COLUMNS]],
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
    node["table"] = table
    node["value"] = f"DataFrame {row_count} rows x {len(columns)} columns"
    return node


def _items_of(value: Any) -> list[Any]:
    if isinstance(value, _List):
        return value.items
    if isinstance(value, tuple):
        return list(value)
    return []


def _array_columns(values: Any, *, columns: int) -> tuple[str | None, list[list[Any]] | None]:
    """(dtype, the first values of each column) of a pickled block's values (shape: columns x rows)."""
    if not isinstance(values, _Call) or not isinstance(values.func, _Global):
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
        if isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], _List):
            # An object array keeps its items in the BUILD state as a list (C order).
            items = [_cell(item) if not isinstance(item, _Call) else _label(item) for item in state[4].items]
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
    if not (isinstance(dtype, _Call) and isinstance(dtype.func, _Global)):
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
    arguments = index.args if isinstance(index, _Call) and isinstance(index.args, tuple) else ()
    if len(arguments) == 2 and isinstance(arguments[1], _Dict):
        return dict(_str_pairs(arguments[1].pairs)).get("data")
    return None


def _array_values(array: Any) -> list[Any] | None:
    """The values of a pickled one-dimensional array (numeric, object or extension-backed)."""
    if not isinstance(array, _Call):
        return None
    _, columns = _array_columns(array, columns=1)
    return columns[0] if columns else None


def _placement_positions(placement: Any) -> list[int] | None:
    if (
        isinstance(placement, _Call)
        and isinstance(placement.func, _Global)
        and placement.func.name == "slice"
    ):
        args = placement.args if isinstance(placement.args, tuple) else ()
        if len(args) == 3 and all(isinstance(arg, int) or arg is None for arg in args):
            return list(range(args[0] or 0, args[1] if args[1] is not None else 0, args[2] or 1))
    values = _array_values(placement)
    return [value for value in values if isinstance(value, int)] if values is not None else None


def _index_length(index: Any) -> int | None:
    if not (isinstance(index, _Call) and isinstance(index.args, tuple) and len(index.args) == 2):
        return None
    attributes = dict(_str_pairs(index.args[1].pairs)) if isinstance(index.args[1], _Dict) else {}
    if {"start", "stop"} <= set(attributes):
        start, stop, step = attributes["start"], attributes["stop"], attributes.get("step", 1) or 1
        if all(isinstance(number, int) for number in (start, stop, step)):
            return len(range(start, stop, step))
    data = attributes.get("data")
    for state in data.states if isinstance(data, _Call) else []:
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
    machine = _PickleMachine()
    machine.run(data)
    renderer = _PickleRenderer(_Budget(max_nodes))
    if machine.complete:
        root = renderer.node(machine.result)
    else:
        partial = machine.partial_values()
        root = _node(
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
        _children_note(root, shown=len(children), total=len(partial) + (machine.cut_value is not None))
    summary = _pickle_summary(machine)
    return root, summary


def _pickle_summary(machine: _PickleMachine) -> dict[str, Any]:
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
            call for call in machine.calls if isinstance(call.func, _Global) and call.func.path == path
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
    if not all(isinstance(call.func, _Global) for call in machine.calls):
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


# -- payload decoding --------------------------------------------------------------------------------

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# bytes.translate drops line breaks in one pass; a regex substitution would hold a list entry per match.
_BASE64_JUNK = bytes(byte for byte in range(256) if byte not in _BASE64_ALPHABET)


def base64_prefix_decode(text: bytes) -> tuple[bytes, bool]:
    """(decoded bytes, whether the input was complete base64) of base64 that may be cut anywhere."""
    compact = bytes(text).translate(None, _BASE64_JUNK)
    whole = len(compact) - len(compact) % 4
    padding = compact.find(b"=")
    if 0 <= padding < whole:
        whole = padding - padding % 4 + (4 if padding % 4 else 0)
        whole = min(whole, len(compact) - len(compact) % 4)
    try:
        return base64.b64decode(compact[:whole], validate=True), whole == len(compact)
    except binascii.Error as error:
        raise PreviewError(f"the payload is not valid base64: {error}") from error


def decompress_bounded(data: bytes, *, compressionlib: str, max_output: int) -> tuple[bytes, bool]:
    """(up to ``max_output`` decompressed bytes, whether the output was cut): a small bomb stays small."""
    try:
        if compressionlib in ("zlib", "gzip"):
            decompressor = zlib.decompressobj(wbits=47)  # 47: accept both zlib and gzip headers
            output = decompressor.decompress(data, max_output)
            return output, bool(decompressor.unconsumed_tail) or not decompressor.eof
        if compressionlib == "bz2":
            decompressor = bz2.BZ2Decompressor()
        elif compressionlib == "lzma":
            decompressor = lzma.LZMADecompressor()
        else:
            raise PreviewError(
                f"unknown compression library {compressionlib!r} (known: lzma, zlib, bz2, gzip)"
            )
        output = decompressor.decompress(data, max_output)
        return output, not decompressor.eof
    except (lzma.LZMAError, OSError, zlib.error, EOFError, ValueError) as error:
        raise PreviewError(f"the {compressionlib} payload cannot be decompressed: {error}") from error


def payload_preview(
    payload: bytes,
    *,
    serializer: dict[str, Any] | None,
    complete: bool,
    max_bytes: int,
    max_nodes: int,
    preview: Preview,
) -> None:
    """Fill ``preview`` with the value of serializer output ``payload`` (maybe only its head)."""
    if serializer is None:
        serializer = _serializer_guess(payload)
        preview.notes.append(f"no serializer is recorded with this file; it looks like {serializer['type']}")
    kind = serializer.get("type") if isinstance(serializer, dict) else None
    if kind == "compressed/pickle":
        serializer = {"type": "compressed", "compressionlib": "lzma", "serializer": {"type": "pickle"}}
        kind = "compressed"
    elif kind == "compressed/json":
        serializer = {"type": "compressed", "compressionlib": "lzma", "serializer": {"type": "json"}}
        kind = "compressed"
    if kind == "compressed":
        library = serializer.get("compressionlib") or "lzma"
        compressed, whole = base64_prefix_decode(payload)
        inner, cut = decompress_bounded(compressed, compressionlib=library, max_output=max_bytes)
        preview.compression = {
            "library": library,
            "compressed_bytes": len(compressed),
            "decompressed_bytes": len(inner),
            "decompressed_cut": cut,
        }
        inner_serializer = serializer.get("serializer") or {"type": "pickle"}
        if isinstance(inner_serializer, str):
            inner_serializer = {"type": inner_serializer}
        payload_preview(
            inner,
            serializer=inner_serializer,
            complete=complete and whole and not cut,
            max_bytes=max_bytes,
            max_nodes=max_nodes,
            preview=preview,
        )
        return
    if kind == "pickle":
        data, whole = base64_prefix_decode(payload)
        preview.format = "pickle"
        preview.value, preview.pickle = pickle_preview(data, max_nodes=max_nodes)
        if not preview.pickle["complete"] and complete and whole:
            preview.error = preview.pickle.get("error") or "the pickle is corrupt"
        return
    if kind == "json":
        preview.format = "json"
        text = payload.decode("utf-8", errors="replace" if not complete else "strict")
        preview.value, cut = json_text_preview(text, complete=complete, max_nodes=max_nodes)
        if cut:
            preview.notes.append("the JSON value is cut at the end of the previewed head")
        return
    raise PreviewError(f"unknown serializer type {kind!r}; the payload is not previewed")


def _serializer_guess(payload: bytes) -> dict[str, Any]:
    """A bare payload without metadata: pickle is base64 of 0x80, compression has magic bytes."""
    stripped = payload[:256].lstrip()
    try:
        decoded, _ = base64_prefix_decode(stripped[:128])
    except PreviewError:
        decoded = b""
    if decoded[:1] == b"\x80":
        return {"type": "pickle"}
    for magic, library in ((b"\xfd7zXZ", "lzma"), (b"BZh", "bz2"), (b"\x1f\x8b", "gzip"), (b"\x78", "zlib")):
        if decoded.startswith(magic):
            return {"type": "compressed", "compressionlib": library, "serializer": {"type": "pickle"}}
    return {"type": "json"}


# -- file layouts ------------------------------------------------------------------------------------

_KEY_PATTERN = re.compile(rb'\s*,?\s*"([^"\\]*)"\s*:\s*')
_JSON_DECODER = json.JSONDecoder()
_METADATA_KEYS = {"storage_key", "expiration", "serializer", "prefect_version", "storage_block_id"}


def layout_detect_head(head: bytes) -> str:
    """The layout of a result file from its first bytes (the rest may be cut)."""
    start = head[:4096].lstrip()
    if not start.startswith(b"{"):
        return LAYOUT_V3_RAW if start else LAYOUT_UNKNOWN
    keys = [
        match.decode("utf-8", "replace") for match in re.findall(rb'[{,]\s*"([A-Za-z_]+)"\s*:', start[:2048])
    ]
    first = keys[0] if keys else None
    if first == "metadata" or {"metadata", "result"} <= set(keys):
        return LAYOUT_V3_RECORD
    if first == "serializer" and ("data" in keys or b'"data"' in head[:65536]):
        return LAYOUT_V2_BLOB
    if first in _METADATA_KEYS and "storage_key" in keys and "result" not in keys and "data" not in keys:
        return LAYOUT_V3_METADATA
    return LAYOUT_V3_RAW


def _head_fields(head: bytes, *, payload_key: str) -> tuple[dict[str, Any], int | None]:
    """The complete top-level fields before ``payload_key``, and where that key's string value starts."""
    fields: dict[str, Any] = {}
    position = head.find(b"{") + 1
    while True:
        match = _KEY_PATTERN.match(head, position)
        if match is None:
            return fields, None
        key, position = match.group(1).decode("utf-8", "replace"), match.end()
        if key == payload_key:
            if head[position : position + 1] == b'"':
                return fields, position
            # A payload that is not a string: the JSON value itself (only "null" occurs).
            return fields, None
        text, end = _json_value_at(head, position)
        if end is None:
            return fields, None
        fields[key] = text
        position = end


def _json_value_at(head: bytes, position: int) -> tuple[Any, int | None]:
    """A complete JSON value starting at ``position`` (metadata are small): (value, end) or (None, None)."""
    window = head[position : position + METADATA_MAX_BYTES].decode("utf-8", "replace")
    try:
        value, end = _JSON_DECODER.raw_decode(window)
    except ValueError:
        return None, None
    return value, position + len(window[:end].encode("utf-8"))


def _payload_from_string(head: bytes, start: int, *, base64_payload: bool) -> tuple[bytes, bool]:
    """(the content of the JSON string at ``start``, whether its closing quote is in ``head``).

    Base64 payloads hold no escapes but ``\\n``, so their bytes are taken directly; others are decoded.
    """
    if base64_payload:
        end = head.find(b'"', start + 1)
        body = head[start + 1 : end if end >= 0 else len(head)]
        return body.replace(b"\\n", b"\n"), end >= 0
    text = head[start:].decode("utf-8", "replace")
    try:
        value, _ = json.decoder.scanstring(text, 1)
        return value.encode("utf-8"), True
    except json.JSONDecodeError:
        body = re.sub(r"\\(u[0-9a-fA-F]{0,3})?$", "", text[1:])
        try:
            return json.loads(f'"{body}"').encode("utf-8"), False
        except ValueError:
            return body.encode("utf-8"), False


def _serializer_is_base64(serializer: dict[str, Any] | None) -> bool:
    kind = serializer.get("type") if isinstance(serializer, dict) else None
    return kind in ("pickle", "compressed", "compressed/pickle", "compressed/json")


def metadata_summary(metadata: dict[str, Any]) -> dict[str, Any]:
    names = ("storage_key", "expiration", "serializer", "prefect_version", "storage_block_id")
    return {name: metadata.get(name) for name in names}


def raw_head(data: bytes) -> dict[str, Any]:
    head = bytes(data[:RAW_HEAD_BYTES])
    return {"hex": head.hex(" ", 1), "text": head.decode("utf-8", errors="replace"), "length": len(head)}


def preview_from_bytes(
    data: bytes,
    *,
    total_size: int | None,
    metadata: dict[str, Any] | None = None,
    serializer: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Preview:
    """A preview of a result file's head ``data``; ``total_size`` tells whether the head is the whole file.

    ``metadata`` (split metadata stored beside a raw payload) or ``serializer`` (known from the flow's
    configuration) say how a raw payload was written. Never raises: problems end up in ``error``.
    """
    preview = Preview(size_bytes=total_size, bytes_read=len(data))
    complete = total_size is None or len(data) >= total_size
    preview.head_complete = complete
    try:
        _preview_fill(
            preview,
            bytes(data),
            complete=complete,
            metadata=metadata,
            serializer=serializer,
            max_bytes=max_bytes,
            max_nodes=max_nodes,
        )
    except PreviewError as error:
        preview.error = str(error)
    except RecursionError:
        preview.error = "the value is nested too deeply to preview"
    except MemoryError:
        preview.error = "the value is too large to preview"
    except Exception as error:
        preview.error = f"the file cannot be previewed ({type(error).__name__}: {error})"
    if preview.error or preview.format == "unknown":
        preview.raw_head = raw_head(data)
    return preview


def _preview_fill(
    preview: Preview,
    data: bytes,
    *,
    complete: bool,
    metadata: dict[str, Any] | None,
    serializer: dict[str, Any] | None,
    max_bytes: int,
    max_nodes: int,
) -> None:
    if not data:
        preview.layout = LAYOUT_UNKNOWN
        raise PreviewError("the file is empty")
    layout = layout_detect_head(data)
    preview.layout = layout
    if layout == LAYOUT_V3_METADATA:
        fields = _whole_json(data, complete=complete)
        preview.metadata = metadata_summary(fields)
        preview.serializer = fields.get("serializer")
        preview.format = "metadata"
        preview.notes.append("this file holds metadata only; the value is stored at its storage_key")
        return
    if layout in (LAYOUT_V3_RECORD, LAYOUT_V2_BLOB):
        payload_key = "result" if layout == LAYOUT_V3_RECORD else "data"
        fields, start = _head_fields(data, payload_key=payload_key)
        if layout == LAYOUT_V3_RECORD:
            record_metadata = fields.get("metadata") if isinstance(fields.get("metadata"), dict) else {}
            preview.metadata = metadata_summary(record_metadata)
            file_serializer = record_metadata.get("serializer")
        else:
            file_serializer = fields.get("serializer")
            preview.metadata = {
                "serializer": file_serializer,
                "prefect_version": fields.get("prefect_version"),
                "storage_key": None,
                "expiration": None,
                "storage_block_id": None,
            }
        preview.serializer = serializer or file_serializer
        if start is None:
            whole = _whole_json(data, complete=complete) if complete else {}
            if payload_key in whole and whole[payload_key] is None:
                preview.format = "json"
                preview.value = _json_node(None, key=None, budget=_Budget(1))
                return
            raise PreviewError(f"the {layout} file has no readable {payload_key!r} field")
        payload, closed = _payload_from_string(
            data, start, base64_payload=_serializer_is_base64(preview.serializer)
        )
        del data
        payload_preview(
            payload,
            serializer=preview.serializer,
            complete=closed,
            max_bytes=max_bytes,
            max_nodes=max_nodes,
            preview=preview,
        )
        return
    if metadata is not None:
        preview.metadata = metadata_summary(metadata)
    preview.serializer = serializer or (metadata or {}).get("serializer")
    payload_preview(
        data,
        serializer=preview.serializer,
        complete=complete,
        max_bytes=max_bytes,
        max_nodes=max_nodes,
        preview=preview,
    )


def _whole_json(data: bytes, *, complete: bool) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as error:
        if not complete:
            raise PreviewError("the metadata file is larger than the previewed head") from error
        raise PreviewError(f"the file is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise PreviewError("the file is JSON but not an object")
    return value


def preview_build(
    *,
    fs: Any,
    key: str,
    metadata_fs: Any = None,
    metadata_key: str | None = None,
    serializer: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Preview:
    """A safe preview of the result stored at ``key`` in ``fs`` (a WritableFileSystem).

    Reads at most ``max_bytes`` with a range read. A raw payload's serializer comes from the split
    metadata (``metadata_fs``/``metadata_key``) or ``serializer``. Never raises.
    """
    try:
        size = fs.size(key)
        head = fs.read_range(key, 0, min(size, max_bytes)) if size else b""
    except Exception as error:
        return Preview(error=f"cannot read {key!r}: {error}", format="unknown")
    metadata = None
    if metadata_fs is not None and metadata_key:
        try:
            metadata_size = metadata_fs.size(metadata_key)
            raw = metadata_fs.read_range(metadata_key, 0, min(metadata_size, METADATA_MAX_BYTES))
            metadata = json.loads(raw)
            if not isinstance(metadata, dict):
                raise ValueError("the metadata file is not a JSON object")
        except Exception as error:
            preview = preview_from_bytes(
                head, total_size=size, serializer=serializer, max_bytes=max_bytes, max_nodes=max_nodes
            )
            preview.notes.append(f"the metadata at {metadata_key!r} cannot be read: {error}")
            return preview
    return preview_from_bytes(
        head,
        total_size=size,
        metadata=metadata,
        serializer=serializer,
        max_bytes=max_bytes,
        max_nodes=max_nodes,
    )
