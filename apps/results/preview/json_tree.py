"""JSON payloads as preview trees: tagged ``__class__``/``__exc_type__`` values, and a prefix
parser that reads a cut payload as far as it goes. No class named by a file is imported."""

from __future__ import annotations

import json
import re
from typing import Any

from .nodes import (
    DEFAULT_MAX_NODES,
    Budget,
    CutText,
    PreviewError,
    children_note,
    node_new,
    qualified_name,
    scalar_node,
    scalar_text,
)

# -- JSON values --------------------------------------------------------------------------------------


class _More:
    """Stands for the children of a container that were not materialised (node limit or cut head)."""

    __slots__ = ("count", "exact")

    def __init__(self, count: int, exact: bool) -> None:
        self.count = count
        self.exact = exact


_MORE_KEY = "\x00more"


def _json_tagged_node(value: Any, *, key: Any, budget: Budget) -> dict[str, Any] | None:
    """The Prefect ``__class__``/``__exc_type__`` wrappers as typed nodes; None for any other value."""
    if not isinstance(value, dict):
        return None
    keys = set(value) - {_MORE_KEY}
    if keys == {"__class__", "data"} and isinstance(value["__class__"], str):
        type_ = value["__class__"]
        data = value["data"]
        inner = json_node(data, key=None, budget=budget)
        node = node_new(type_, inner["kind"] if inner["kind"] != "scalar" else "scalar", key=key)
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
        return node_new(
            value["__exc_type__"], "exception", key=key, value=scalar_text(message) if message else ""
        )
    return None


def json_node(value: Any, *, key: Any, budget: Budget) -> dict[str, Any]:
    budget.take()
    tagged = _json_tagged_node(value, key=key, budget=budget)
    if tagged is not None:
        return tagged
    plain = scalar_node(value, key=key)
    if plain is not None:
        return plain
    if isinstance(value, dict):
        node = node_new("builtins.dict", "mapping", key=key)
        children: list[dict[str, Any]] = []
        more = value.get(_MORE_KEY)
        total = len(value) - (1 if more is not None else 0)
        for child_key, child in value.items():
            if child_key == _MORE_KEY:
                continue
            if budget.exhausted:
                break
            children.append(json_node(child, key=child_key, budget=budget))
        node["children"] = children
        extra = more.count if more is not None else 0
        children_note(node, shown=len(children), total=total + extra, exact=more is None or more.exact)
        return node
    if isinstance(value, list):
        node = node_new("builtins.list", "sequence", key=key)
        more = value[-1] if value and isinstance(value[-1], _More) else None
        items = value[:-1] if more is not None else value
        children = []
        for index, child in enumerate(items):
            if budget.exhausted:
                break
            children.append(json_node(child, key=index, budget=budget))
        node["children"] = children
        extra = more.count if more is not None else 0
        children_note(node, shown=len(children), total=len(items) + extra, exact=more is None or more.exact)
        return node
    return node_new(qualified_name(type(value)), "text", key=key, value=scalar_text(repr(value)))


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
            raise _PartialValue(CutText(partial)) from None

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
    budget = Budget(max_nodes)
    if complete:
        try:
            return json_node(json.loads(text), key=None, budget=budget), False
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
    node = json_node(value, key=None, budget=Budget(max_nodes))
    if parser.cut:
        node.setdefault("note", "cut: the value continues beyond the previewed head")
    return node, parser.cut
