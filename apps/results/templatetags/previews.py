"""The preview tree and table of a result page.

The preview tree is rendered in Python rather than by a recursive template include: a preview holds
up to thousands of nodes, and every piece of text in it comes from a stored file, so it is escaped
here in one place. Containers are ``<details>``/``<summary>``, which fold without any JavaScript.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from apps.core.templatetags.display import PLAIN_TYPES

register = template.Library()

OPEN_DEPTH = 2
TIMES = "\u00d7"
MAX_DEPTH = 120
CONTAINER_KINDS = {"mapping", "sequence", "object", "call", "exception", "global"}


@register.simple_tag
def preview_tree(node: dict[str, Any] | None) -> SafeString:
    if not node:
        return mark_safe('<p class="muted">No value to show.</p>')
    return mark_safe(f'<div class="tree" data-tree>{_node_html(node, depth=0)}</div>')  # noqa: S308 - escaped below


@register.simple_tag
def preview_table(table: dict[str, Any] | None) -> SafeString:
    return mark_safe(_table_html(table or {}))  # noqa: S308 - escaped below


def _type_tag(node: dict[str, Any]) -> str:
    type_ = str(node.get("type", ""))
    plain = PLAIN_TYPES.get(type_)
    encoded_as = node.get("encoded_as")
    if plain is not None and not encoded_as:
        return f'<span class="t">{escape(plain)}</span>'
    title = f" (encoded as {PLAIN_TYPES.get(encoded_as, encoded_as)})" if encoded_as else ""
    return f'<span class="t t-class" title="{escape(type_ + title)}">{escape(type_)}</span>'


def _key_html(node: dict[str, Any]) -> str:
    if "key" not in node:
        return ""
    return f'<span class="k">{escape(node["key"])}</span><span class="colon">:</span> '


def _note_html(node: dict[str, Any]) -> str:
    parts = []
    if node.get("note"):
        parts.append(f'<span class="note">{escape(node["note"])}</span>')
    if node.get("danger") in ("dangerous", "unknown"):
        level = node["danger"]
        reason = node.get("reason") or ""
        parts.append(
            f'<span class="badge danger-{escape(level)}" title="{escape(reason)}">{escape(level)}</span>'
        )
    if node.get("error"):
        parts.append(f'<span class="error">{escape(node["error"])}</span>')
    return " ".join(parts)


def _scalar_html(node: dict[str, Any]) -> str:
    kind = node.get("kind")
    value = node.get("value")
    if kind == "bytes":
        hex_text = node.get("hex", "")
        grouped = " ".join(hex_text[i : i + 2] for i in range(0, len(hex_text), 2))
        return f'<code class="v v-bytes">{escape(grouped)}</code>'
    if kind == "text" and isinstance(value, str) and node.get("type") == "builtins.str":
        return f'<span class="v v-str">"{escape(value)}"</span>'
    if value is None:
        if kind == "scalar" and node.get("type") == "builtins.NoneType":
            return '<span class="v v-none">None</span>'
        return ""
    if isinstance(value, bool):
        return f'<span class="v v-bool">{value}</span>'
    if isinstance(value, int | float):
        return f'<span class="v v-num">{escape(repr(value))}</span>'
    css = "v-str" if kind in ("scalar", "text") and node.get("encoded_as") == "builtins.str" else f"v-{kind}"
    return f'<span class="v {escape(css)}">{escape(value)}</span>'


def _count_html(node: dict[str, Any]) -> str:
    length = node.get("length")
    if length is None:
        length = len(node.get("children") or [])
    return f'<span class="len">{length:,} {"item" if length == 1 else "items"}</span>'


def _node_html(node: dict[str, Any], *, depth: int) -> str:
    kind = node.get("kind")
    if depth >= MAX_DEPTH:
        note = f'<span class="note">nested deeper than {MAX_DEPTH} levels</span>'
        return f'<div class="leaf">{_key_html(node)}{note}</div>'
    if kind == "table":
        table = node.get("table") or {}
        shape = escape(f" {TIMES} ".join(str(n) for n in table.get("shape", [])))
        return (
            f'<details class="node" open><summary>{_key_html(node)}{_type_tag(node)} '
            f'<span class="len">{shape}</span></summary>'
            f"{_table_html(table)}</details>"
        )
    children = node.get("children")
    if kind in CONTAINER_KINDS and children:
        opened = " open" if depth < OPEN_DEPTH else ""
        summary_value = ""
        if kind in ("call", "exception", "global") or (
            kind == "object" and node.get("danger") == "dangerous"
        ):
            summary_value = " " + _scalar_html(node)
        items = "".join(f"<li>{_node_html(child, depth=depth + 1)}</li>" for child in children)
        danger = f" danger-{escape(node['danger'])}" if node.get("danger") in ("dangerous", "unknown") else ""
        return (
            f'<details class="node kind-{escape(kind)}{danger}"{opened}>'
            f"<summary>{_key_html(node)}{_type_tag(node)} "
            f"{_count_html(node)}{summary_value} {_note_html(node)}</summary><ul>{items}</ul></details>"
        )
    if kind in ("mapping", "sequence", "object") and not children:
        empty = "{}" if kind == "mapping" else "[]"
        return (
            f'<div class="leaf">{_key_html(node)}{_type_tag(node)} '
            f'<span class="v v-empty">{empty}</span> {_note_html(node)}</div>'
        )
    if kind == "exception":
        return (
            f'<div class="leaf leaf-exception">{_key_html(node)}'
            f'<span class="t t-exc">{escape(node.get("type", ""))}</span> '
            f'<span class="v v-exc">{escape(node.get("value") or "")}</span> {_note_html(node)}</div>'
        )
    if kind in ("call", "global"):
        return (
            f'<div class="leaf leaf-{escape(kind)}">{_key_html(node)}{_type_tag(node)} '
            f'<code class="v v-call">{escape(node.get("call") or node.get("value") or "")}</code> '
            f"{_note_html(node)}</div>"
        )
    if kind == "error":
        message = escape(node.get("value") or "")
        return f'<div class="leaf">{_key_html(node)}<span class="error">{message}</span></div>'
    return (
        f'<div class="leaf">{_key_html(node)}{_scalar_html(node)} {_type_tag(node)} {_note_html(node)}</div>'
    )


def _table_html(table: dict[str, Any]) -> str:
    columns = table.get("columns") or []
    dtypes = table.get("dtypes") or []
    rows = table.get("rows") or []
    index = table.get("index")
    shape = table.get("shape") or []
    head_cells = "".join(
        format_html(
            '<th>{}<br><span class="dtype">{}</span></th>', column, dtypes[i] if i < len(dtypes) else ""
        )
        for i, column in enumerate(columns)
    )
    index_head = "<th></th>" if index is not None else ""
    body = []
    for row_number, row in enumerate(rows):
        label = (
            format_html('<th class="idx">{}</th>', index[row_number])
            if index is not None and row_number < len(index)
            else ""
        )
        cells = "".join(
            format_html(
                '<td class="{}">{}</td>',
                "num" if isinstance(cell, int | float) and not isinstance(cell, bool) else "",
                _cell_text(cell),
            )
            for cell in row
        )
        body.append(f"<tr>{label}{cells}</tr>")
    total_rows = shape[0] if shape else len(rows)
    total_columns = shape[1] if len(shape) > 1 else len(columns)
    caption = f"shape {f' {TIMES} '.join(f'{n:,}' for n in shape)}" if shape else ""
    if len(rows) < (total_rows or 0):
        caption += f" · first {len(rows):,} of {total_rows:,} rows"
    if len(columns) < (total_columns or 0):
        caption += f" · first {len(columns):,} of {total_columns:,} columns"
    return (
        f'<div class="table-wrap preview-table"><table class="data"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{index_head}{head_cells}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell_text(cell: Any) -> str:
    if cell is None:
        return "None"
    return str(cell)
