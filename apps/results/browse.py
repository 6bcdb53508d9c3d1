"""Browsing result references: keyset pages, bounded counts, "all matching" selections, stored bytes.

Lists of runs and results grow without bound, so pages are keyset pages over ``(-created, -id)``
(no OFFSET, no COUNT(*)): a cursor names the last row seen, and the next page starts right after it
through the ``(created, id)`` index, as fast at row 500,000 as at row 50.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.db.models import Q, QuerySet

from .models import ResultReference

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SELECTION_COUNT_LIMIT = 10_000
# A sandboxed decode reads the whole file; beyond this it is refused rather than filling memory.
DECODE_MAX_BYTES = 256 * 1024 * 1024
STREAM_CHUNK_BYTES = 256 * 1024
# Keys of a filter querystring that are about paging or display, never about which rows match.
NON_FILTER_KEYS = frozenset({"cursor", "page_size", "select", "format"})


class InvalidCursorError(ValueError):
    """A page cursor that was not made by this server (edited, cut or from another list)."""


class InvalidFilterError(ValueError):
    """Filters that do not validate; a bulk selection must never act on a filter it misread."""


class ResultUnreadableError(Exception):
    """The stored bytes of a result cannot be reached (purged, literal, unknown storage, missing)."""


# -- keyset pages ------------------------------------------------------------------------------------


@dataclass
class KeysetPage:
    items: list[Any]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    page_size: int = PAGE_SIZE

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None


def cursor_encode(*, created: dt.datetime, pk: Any, direction: str = "next") -> str:
    marker = "n" if direction == "next" else "p"
    raw = f"{marker}|{created.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(*, cursor: str) -> tuple[str, dt.datetime, str]:
    """(direction, created, pk as text) of a cursor; InvalidCursorError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        marker, created_text, pk = raw.split("|", 2)
        created = dt.datetime.fromisoformat(created_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidCursorError(
            f"the page cursor {cursor[:40]!r} is not valid; start from the first page"
        ) from error
    if marker not in ("n", "p") or not pk or created.tzinfo is None:
        raise InvalidCursorError(f"the page cursor {cursor[:40]!r} is not valid; start from the first page")
    return ("next" if marker == "n" else "previous"), created, pk


def keyset_page(*, queryset: QuerySet, cursor: str | None = None, page_size: int = PAGE_SIZE) -> KeysetPage:
    """One page of ``queryset`` newest first, after (or before) ``cursor``.

    The bound is written as ``created <= c AND (created < c OR id < i)`` rather than a plain OR, so
    PostgreSQL starts the index scan at ``c`` instead of filtering from the newest row down.
    """
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    if not cursor:
        rows = list(queryset.order_by("-created", "-pk")[: page_size + 1])
        return _page_after(rows, page_size=page_size, came_from_cursor=False)
    direction, created, pk = cursor_decode(cursor=cursor)
    pk_value = _pk_value(queryset.model, pk)
    if direction == "next":
        rows = list(
            queryset.filter(Q(created__lt=created) | Q(pk__lt=pk_value), created__lte=created).order_by(
                "-created", "-pk"
            )[: page_size + 1]
        )
        return _page_after(rows, page_size=page_size, came_from_cursor=True)
    rows = list(
        queryset.filter(Q(created__gt=created) | Q(pk__gt=pk_value), created__gte=created).order_by(
            "created", "pk"
        )[: page_size + 1]
    )
    more_before = len(rows) > page_size
    rows = list(reversed(rows[:page_size]))
    return KeysetPage(
        items=rows,
        next_cursor=_cursor_of(rows[-1], "next") if rows else None,
        previous_cursor=_cursor_of(rows[0], "previous") if rows and more_before else None,
        page_size=page_size,
    )


def _page_after(rows: list[Any], *, page_size: int, came_from_cursor: bool) -> KeysetPage:
    more = len(rows) > page_size
    rows = rows[:page_size]
    return KeysetPage(
        items=rows,
        next_cursor=_cursor_of(rows[-1], "next") if rows and more else None,
        previous_cursor=_cursor_of(rows[0], "previous") if rows and came_from_cursor else None,
        page_size=page_size,
    )


def _cursor_of(row: Any, direction: str) -> str:
    return cursor_encode(created=row.created, pk=row.pk, direction=direction)


def _pk_value(model: Any, pk: str) -> Any:
    try:
        return model._meta.pk.to_python(pk)
    except Exception as error:
        raise InvalidCursorError("the page cursor is not valid; start from the first page") from error


def querystring_without(
    params: Mapping[str, Any], *, drop: frozenset[str] | set[str] = NON_FILTER_KEYS
) -> str:
    """The filter part of a querystring (empty values and paging keys dropped), stable in order."""
    pairs: list[tuple[str, str]] = []
    items = (
        params.lists()
        if hasattr(params, "lists")
        else ((k, v if isinstance(v, list) else [v]) for k, v in params.items())
    )
    for key, values in items:
        if key in drop:
            continue
        pairs.extend((key, str(value)) for value in values if value not in ("", None))
    return urlencode(sorted(pairs))


# -- bounded counts and selections -------------------------------------------------------------------


@dataclass
class BoundedCount:
    count: int
    limit: int
    more: bool = False

    @property
    def label(self) -> str:
        return f"{self.limit:,}+" if self.more else f"{self.count:,}"


def bounded_count(*, queryset: QuerySet, limit: int = SELECTION_COUNT_LIMIT) -> BoundedCount:
    """How many rows match, counting at most ``limit + 1`` (a LIMITed subquery, never a full COUNT)."""
    counted = queryset.order_by().values("pk")[: limit + 1].count()
    return BoundedCount(count=min(counted, limit), limit=limit, more=counted > limit)


def results_matching(filters: Mapping[str, Any]) -> QuerySet:
    """Every result reference that matches a filter querystring (a QueryDict or a plain dict).

    This is how a bulk selection of "all matching this filter" is resolved, on the page and in later
    bulk actions alike; invalid filters raise InvalidFilterError instead of widening the selection.
    """
    from .filters import ResultFilter

    data = filters
    if not hasattr(filters, "getlist"):
        from django.http import QueryDict

        data = QueryDict(mutable=True)
        for key, value in filters.items():
            if isinstance(value, (list, tuple)):
                data.setlist(key, [str(item) for item in value])
            elif value is not None:
                data[key] = str(value)
    filterset = ResultFilter(data=data, queryset=ResultReference.objects.all())
    if not filterset.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        raise InvalidFilterError(f"the filters do not validate ({problems})")
    return filterset.qs


# -- the runs that point at a result -----------------------------------------------------------------


@dataclass
class ResultUsage:
    flow_runs: list[Any] = field(default_factory=list)
    task_runs: list[Any] = field(default_factory=list)


def result_usage(*, reference: ResultReference, limit: int = 100) -> ResultUsage:
    """Flow runs and task runs whose result is ``reference`` (looked up lazily: flows depend on results)."""
    flow_run_model = apps.get_model("flows", "FlowRun")
    task_run_model = apps.get_model("flows", "TaskRun")
    return ResultUsage(
        flow_runs=list(flow_run_model.objects.filter(result=reference).order_by("-created")[:limit]),
        task_runs=list(
            task_run_model.objects.filter(result=reference)
            .select_related("flow_run")
            .order_by("-created")[:limit]
        ),
    )


# -- stored bytes ------------------------------------------------------------------------------------


def reference_uri(reference: ResultReference) -> str:
    if reference.is_literal:
        return ""
    location = reference.storage_location.rstrip("/")
    if not location and reference.block_id is not None:
        location = reference.block.points_to.rstrip("/")
    return f"{location}/{reference.key}" if location else reference.key


def reference_filesystem(reference: ResultReference) -> Any:
    """The filesystem holding a reference's file: its saved block, else its recorded local directory."""
    from apps.blocks.filesystems import LocalFileSystem

    if reference.is_literal:
        raise ResultUnreadableError("this result is a literal kept in the database; it has no stored file")
    if reference.purged_at is not None:
        raise ResultUnreadableError(f"this result was purged on {reference.purged_at:%Y-%m-%d %H:%M} UTC")
    if reference.block_id is not None:
        from apps.blocks.services import block_filesystem

        return block_filesystem(reference.block)
    location = reference.storage_location
    if location.startswith("/"):
        return LocalFileSystem(basepath=location)
    raise ResultUnreadableError(
        f"this result is stored at {location!r} through a filesystem that was not saved as a block, "
        "so its credentials are unknown here"
    )


def reference_size(reference: ResultReference) -> int:
    filesystem = reference_filesystem(reference)
    try:
        return filesystem.size(reference.key)
    except Exception as error:
        raise ResultUnreadableError(f"the stored file cannot be read: {error}") from error


def reference_stream(*, reference: ResultReference, chunk_size: int = STREAM_CHUNK_BYTES) -> Iterator[bytes]:
    """The stored bytes in chunks, read through ``open_read`` (never the whole object in memory).

    The file is opened before the first chunk is yielded, so a missing file fails before a response
    has started.
    """
    filesystem = reference_filesystem(reference)
    try:
        handle = filesystem.open_read(reference.key)
    except Exception as error:
        raise ResultUnreadableError(f"the stored file cannot be read: {error}") from error

    def chunks() -> Iterator[bytes]:
        with handle:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    return chunks()


def reference_download_name(reference: ResultReference) -> str:
    name = reference.key.rstrip("/").rpartition("/")[2] or f"result-{reference.pk}"
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in name)
    return safe[:120] or f"result-{reference.pk}"


def reference_bytes_for_decode(*, reference: ResultReference, max_bytes: int = DECODE_MAX_BYTES) -> bytes:
    size = reference_size(reference)
    if size > max_bytes:
        raise ResultUnreadableError(
            f"the stored file is {size:,} bytes; the sandbox decodes files up to {max_bytes:,} bytes"
        )
    return b"".join(reference_stream(reference=reference))


# -- previews ----------------------------------------------------------------------------------------


def reference_preview(*, reference: ResultReference) -> dict[str, Any]:
    """The safe, static preview of a reference as a dict (``Preview.to_dict()``); never raises.

    Literals are shown from the database. Nothing here unpickles: see ``apps.results.preview``.
    """
    from .preview import Preview, preview_build, raw_head, value_to_preview

    if reference.is_literal:
        preview = Preview(layout=ResultReference.Layout.LITERAL, format="literal", size_bytes=0)
        preview.value = value_to_preview(reference.literal_value)
        preview.notes.append("a literal result: the value is kept in the database, with no file")
        return preview.to_dict()
    try:
        filesystem = reference_filesystem(reference)
    except ResultUnreadableError as error:
        return Preview(error=str(error)).to_dict()
    serializer = reference.serializer_config if reference.layout == ResultReference.Layout.V3_RAW else None
    preview = preview_build(fs=filesystem, key=reference.key, serializer=serializer)
    if preview.error and preview.raw_head is None:
        preview.raw_head = raw_head(b"")
    return preview.to_dict()


def reference_decode(*, reference: ResultReference, timeout: float | None = None) -> dict[str, Any]:
    """Decode a reference for real in the sandboxed process; a JSON-safe answer, never an exception."""
    from .format.layout import layout_detect
    from .preview import value_to_preview
    from .preview.sandbox import DEFAULT_TIMEOUT_S, sandbox_decode

    if reference.is_literal:
        value = value_to_preview(reference.literal_value)
        return {"ok": True, "format": "literal", "type": value["type"], "value": value}
    try:
        data = reference_bytes_for_decode(reference=reference)
    except ResultUnreadableError as error:
        return {"ok": False, "error_kind": "unreadable", "error": str(error)}
    layout = reference.layout
    if layout in (ResultReference.Layout.UNKNOWN, ResultReference.Layout.LITERAL):
        layout = layout_detect(data)
    serializer = reference.serializer_config if layout == ResultReference.Layout.V3_RAW else None
    return sandbox_decode(
        data=data, serializer_config=serializer, layout=layout, timeout=timeout or DEFAULT_TIMEOUT_S
    )


# -- display -----------------------------------------------------------------------------------------


def duration_text(duration: dt.timedelta | None) -> str:
    """Short, readable durations for dense tables: 850ms, 4.2s, 3m 05s, 2h 07m, 3d 4h."""
    if duration is None:
        return ""
    seconds = duration.total_seconds()
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
