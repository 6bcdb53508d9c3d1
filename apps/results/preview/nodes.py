"""The node tree of a preview: JSON-safe dicts that say what a value is, bounded in number."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from apps.results.format.layout import Layout

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 8 * MIB
DEFAULT_MAX_NODES = 5000
METADATA_MAX_BYTES = 1 * MIB
TEXT_MAX_CHARS = 2000
BYTES_MAX_SHOWN = 64
RAW_HEAD_BYTES = 512
# Integers beyond this lose precision in a browser; they are shown as text.
JSON_SAFE_INT = 2**53

DANGER_DANGEROUS = "dangerous"
DANGER_UNKNOWN = "unknown"
DANGER_KNOWN = "known"


class CutText(str):
    """A JSON string whose end lies beyond the previewed head."""


class PreviewError(Exception):
    """A payload cannot be previewed; the message says why in words an operator understands."""


@dataclasses.dataclass
class Preview:
    """What a result file holds, as far as it can be told without running it."""

    layout: Layout = Layout.UNKNOWN
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


class Budget:
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


def node_new(type_: str, kind: str, *, key: Any = None, **fields: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": type_, "kind": kind}
    if key is not None:
        node["key"] = key if isinstance(key, str) else scalar_text(key)
    node.update({name: value for name, value in fields.items() if value is not None})
    return node


def children_note(node: dict[str, Any], *, shown: int, total: int | None, exact: bool = True) -> None:
    """Mark a container whose children were cut: "first N of M" (or "of at least M" when the head was cut)."""
    if total is None:
        node["note"] = f"first {shown} (the rest is beyond the previewed head)"
        node["truncated"] = None
        return
    node["length"] = total
    if shown < total or not exact:
        node["truncated"] = total - shown
        node["note"] = f"first {shown} of {'at least ' if not exact else ''}{total}"


def scalar_text(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= TEXT_MAX_CHARS else text[:TEXT_MAX_CHARS] + "…"


def qualified_name(kind: type) -> str:
    module = getattr(kind, "__module__", None) or "builtins"
    return f"{module}.{getattr(kind, '__qualname__', kind.__name__)}"


def str_node(text: str, *, key: Any = None, type_: str = "builtins.str", cut: bool = False) -> dict[str, Any]:
    node = node_new(type_, "text", key=key, value=text[:TEXT_MAX_CHARS], length=len(text))
    if len(text) > TEXT_MAX_CHARS:
        node["truncated"] = len(text) - TEXT_MAX_CHARS
        node["note"] = f"first {TEXT_MAX_CHARS} of {len(text)} characters"
    if cut:
        node["note"] = "cut: the text continues beyond the previewed head"
    return node


def bytes_node_from_head(head: bytes, *, total: int | None, key: Any, type_: str) -> dict[str, Any]:
    shown = head[:BYTES_MAX_SHOWN]
    node = node_new(type_, "bytes", key=key, hex=shown.hex(), text=shown.decode("latin-1"), length=total)
    if total is not None and total > len(shown):
        node["truncated"] = total - len(shown)
        node["note"] = f"first {len(shown)} of {total} bytes"
    return node


def number_value(value: int | float) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < JSON_SAFE_INT else str(value)
    if math.isfinite(value):
        return value
    return repr(value)


def scalar_node(value: Any, *, key: Any = None) -> dict[str, Any] | None:
    """A node for a plain value (None, bool, number, text, bytes); None when ``value`` is not plain."""
    if value is None:
        return node_new("builtins.NoneType", "scalar", key=key, value=None)
    if isinstance(value, bool):
        return node_new("builtins.bool", "scalar", key=key, value=value)
    if isinstance(value, int) and type(value) is int:
        return node_new("builtins.int", "scalar", key=key, value=number_value(value))
    if isinstance(value, float) and type(value) is float:
        return node_new("builtins.float", "scalar", key=key, value=number_value(value))
    if isinstance(value, CutText):
        return str_node(str(value), key=key, cut=True)
    if type(value) is str:
        return str_node(value, key=key)
    if type(value) in (bytes, bytearray):
        return bytes_node_from_head(
            bytes(value[:BYTES_MAX_SHOWN]), total=len(value), key=key, type_=qualified_name(type(value))
        )
    return None
