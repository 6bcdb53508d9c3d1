"""Bulk selections of results: every reference matching a filter querystring."""

from __future__ import annotations

from collections.abc import Mapping
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
