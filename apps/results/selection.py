"""Bulk selections of results: every reference matching a filter querystring."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from .filters import ResultFilter
from .models import ResultReference


class InvalidFilterError(ValueError):
    """Filters that do not validate; a bulk selection must never act on a filter it misread."""


def results_matching(filters: Mapping[str, Any]) -> QuerySet:
    """Every result reference that matches a filter querystring (a QueryDict or a plain dict).

    This is how a bulk selection of "all matching this filter" is resolved, on the page and in later
    bulk actions alike; invalid filters raise InvalidFilterError instead of widening the selection.
    """
    data = filters
    if not hasattr(filters, "getlist"):
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


class NothingChosenError(ValueError):
    """A bulk action posted with no ticked row and no "all matching" selection."""


@dataclass(frozen=True)
class ResultChoice:
    """What a bulk action acts on: the ticked rows (``ids``), or every result matching ``query``."""

    ids: list[int] | None
    query: str
    queryset: QuerySet

    @property
    def job_params(self) -> dict[str, Any]:
        """How a cleanup job is told what to act on."""
        return {"ids": self.ids} if self.ids is not None else {"filters": self.query}


def results_chosen(*, data: Mapping[str, Any]) -> ResultChoice:
    """The results a bulk form names: ``selection`` (a filter querystring, "all matching") wins over
    ticked ``ids``; either way only live references. Raises InvalidFilterError or NothingChosenError."""
    if "selection" in data:
        query = data.get("selection") or ""
        return ResultChoice(ids=None, query=query, queryset=results_matching(QueryDict(query)).live())
    ids = sorted({int(value) for value in _list(data, "ids") if str(value).isdigit()})
    if not ids:
        raise NothingChosenError("no result was selected: tick some rows, or select all matching")
    return ResultChoice(ids=ids, query="", queryset=ResultReference.objects.live().filter(pk__in=ids))


def _list(data: Mapping[str, Any], name: str) -> list:
    if hasattr(data, "getlist"):
        return data.getlist(name)
    value = data.get(name)
    return list(value) if isinstance(value, (list, tuple)) else ([] if value is None else [value])
