"""A run's log lines for its page and the API: the filters (level, text, task run) and keyset pages.

Lines are shown oldest first, paged by id (``after`` is the last id seen), through the
``(flow_run, id)`` and ``(flow_run, level, id)`` indexes: as fast at line 100,000 as at line 50.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import django_filters
from django import forms

from apps.core.pagination import querystring_without
from apps.flows.models import FlowRun, RunLog, TaskRun

LOG_PAGE_SIZE = 200
LOG_FILTER_KEYS = ("level", "q", "task_run")
LEVEL_CHOICES = [
    (logging.DEBUG, "Debug and above"),
    (logging.INFO, "Info and above"),
    (logging.WARNING, "Warning and above"),
    (logging.ERROR, "Error and above"),
    (logging.CRITICAL, "Critical"),
]


class LevelFilter(django_filters.ChoiceFilter):
    """A minimum level: lines at or above it. Accepts a number or a level name (``warning``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=LEVEL_CHOICES, empty_label="All levels", **kwargs)

    def filter(self, queryset, value):
        if value in (None, ""):
            return queryset
        return queryset.filter(level__gte=int(value))


class RunLogFilter(django_filters.FilterSet):
    level = LevelFilter(label="Level")
    q = django_filters.CharFilter(
        field_name="message",
        lookup_expr="icontains",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "text in the message"}),
    )
    task_run = django_filters.UUIDFilter(field_name="task_run_id", label="Task run", widget=forms.HiddenInput)

    class Meta:
        model = RunLog
        fields: list[str] = []

    def __init__(self, data: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
        names = logging.getLevelNamesMapping()
        if data is not None and str(data.get("level", "")).strip().upper() in names:
            data = {**data, "level": str(names[str(data["level"]).strip().upper()])}
        super().__init__(data, *args, **kwargs)


@dataclass
class LogsPage:
    """One page of a run's lines, with what the page needs to go on from it."""

    filterset: RunLogFilter
    lines: list[RunLog]
    has_more: bool
    # The id the next page (or the live tail) starts after.
    last_id: int
    task_run: TaskRun | None
    dropped: int
    filter_query: str

    @property
    def filtered(self) -> bool:
        return bool(self.filter_query)


def run_logs_filterset(*, run: FlowRun, params: Mapping[str, Any]) -> RunLogFilter:
    """The filters of ``params`` over ``run``'s lines; invalid values are left out (the form says why)."""
    queryset = RunLog.objects.filter(flow_run=run).select_related("task_run")
    return RunLogFilter(data=log_params(params) or None, queryset=queryset)


def log_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The log filters of a querystring (the run page's other keys are about other sections)."""
    return {key: params.get(key) for key in LOG_FILTER_KEYS if params.get(key) not in (None, "")}


def after_parse(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def run_logs_page(
    *, run: FlowRun, params: Mapping[str, Any], after: Any = None, page_size: int = LOG_PAGE_SIZE
) -> LogsPage:
    """The lines of ``run`` matching ``params`` after line id ``after``, oldest first."""
    filterset = run_logs_filterset(run=run, params=params)
    after_id = after_parse(after)
    rows = list(filterset.qs.filter(id__gt=after_id).order_by("id")[: page_size + 1])
    lines = rows[:page_size]
    task_run = None
    task_run_id = filterset.form.cleaned_data.get("task_run") if filterset.is_valid() else None
    if task_run_id is not None:
        task_run = TaskRun.objects.filter(pk=task_run_id, flow_run=run).first()
    return LogsPage(
        filterset=filterset,
        lines=lines,
        has_more=len(rows) > page_size,
        last_id=lines[-1].pk if lines else after_id,
        task_run=task_run,
        dropped=run_logs_dropped(run=run),
        filter_query=querystring_without(log_params(params)),
    )


def run_logs_dropped(*, run: FlowRun) -> int:
    """How many lines the volume limit dropped from ``run`` (0 when none)."""
    return RunLog.objects.filter(flow_run=run, dropped__gt=0).values_list("dropped", flat=True).first() or 0
