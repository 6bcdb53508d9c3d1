"""Keyset pages over ``(-created, -id)`` and the filter part of a list's querystring.

Lists of runs and results grow without bound, so pages are keyset pages (no OFFSET, no COUNT(*)): a
cursor names the last row seen, and the next page starts right after it through the ``(created, id)``
index, as fast at row 500,000 as at row 50.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Keys of a filter querystring that are about paging or display, never about which rows match.
NON_FILTER_KEYS = frozenset({"cursor", "page_size", "select", "format"})


class InvalidCursorError(ValueError):
    """A page cursor that was not made by this server (edited, cut or from another list)."""


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


def page_size_parse(value: Any) -> int:
    """A requested page size, clamped to 1..MAX_PAGE_SIZE; anything unreadable gives the default."""
    try:
        size = int(value) if value not in (None, "") else PAGE_SIZE
    except (TypeError, ValueError):
        return PAGE_SIZE
    return max(1, min(size, MAX_PAGE_SIZE))


def keyset_page(*, queryset: QuerySet, cursor: str | None = None, page_size: Any = PAGE_SIZE) -> KeysetPage:
    """One page of ``queryset`` newest first, after (or before) ``cursor``.

    The bound is written as ``created <= c AND (created < c OR id < i)`` rather than a plain OR, so
    PostgreSQL starts the index scan at ``c`` instead of filtering from the newest row down.
    """
    page_size = page_size_parse(page_size)
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
