"""Browsing runs: filtered keyset pages of flow runs, a run's task runs and their timeline, and the
runs (and the flow) behind a result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.core.formatting import duration_short
from apps.core.pagination import PAGE_SIZE, KeysetPage, cursor_decode, cursor_encode, keyset_page
from apps.results.models import ResultReference

from .filters import FlowRunFilter
from .models import FINAL_STATES, FlowRun, TaskRun
from .registry import FlowRegistryError, flow_registry

# A run page shows one page of task runs (table and timeline) and a summary per task name, so a run
# of 10,000 task runs serves as fast as one of 10.
TASK_RUNS_SHOWN = 100
TASK_GROUPS_SHOWN = 50
# A bar narrower than this is invisible; very short tasks still get a sliver.
BAR_MIN_WIDTH_PCT = 0.4


def flow_names() -> list[str]:
    """Registered flows, offered as suggestions in flow filters (no DISTINCT over the runs table).

    A FLOW_MODULES entry that does not import only loses the suggestions, never the page.
    """
    try:
        return sorted(flow_registry())
    except FlowRegistryError:
        return []


# Flow names seen in runs, at most: a bound on the DISTINCT a form's choices cost.
FLOW_NAMES_SEEN_LIMIT = 1000


def flow_names_known() -> list[str]:
    """Registered flows and every flow name seen in runs: what a form may let a user choose."""
    seen = FlowRun.objects.order_by("flow_name").values_list("flow_name", flat=True).distinct()
    return sorted(set(flow_names()) | set(seen[:FLOW_NAMES_SEEN_LIMIT]))


@dataclass
class RunsPage:
    filterset: FlowRunFilter
    page: KeysetPage

    @property
    def has_live_rows(self) -> bool:
        return any(run.state not in FINAL_STATES for run in self.page.items)


def runs_filterset(*, params: Mapping[str, Any]) -> FlowRunFilter:
    queryset = FlowRun.objects.select_related("result", "result__block")
    return FlowRunFilter(data=params or None, queryset=queryset)


def runs_page(
    *, params: Mapping[str, Any], cursor: str | None = None, page_size: int = PAGE_SIZE
) -> RunsPage:
    """The flow runs matching ``params`` (the filter querystring), newest first, one keyset page.

    Invalid filter values are left out (the form shows their errors) rather than failing the page.
    """
    filterset = runs_filterset(params=params)
    page = keyset_page(queryset=filterset.qs, cursor=cursor, page_size=page_size)
    return RunsPage(filterset=filterset, page=page)


def runs_by_ids(*, ids: list[str]) -> list[FlowRun]:
    """Rows refreshed by live polling, newest first."""
    return list(
        FlowRun.objects.select_related("result", "result__block")
        .filter(pk__in=ids)
        .order_by("-created", "-id")
    )


def run_task_runs(
    *, run: FlowRun, limit: int = TASK_RUNS_SHOWN, cursor: str | None = None, task_name: str = ""
) -> tuple[list[TaskRun], str | None]:
    """(a page of ``run``'s task runs in start order, the cursor of the next page or None).

    ``cursor`` (from an earlier page) starts after that page's last row; ``task_name`` keeps one
    task's runs. InvalidCursorError for a cursor this server did not make.
    """
    queryset = run.task_runs.select_related("result", "result__block")
    if task_name:
        queryset = queryset.filter(task_name=task_name)
    if cursor:
        _, created, pk = cursor_decode(cursor=cursor)
        queryset = queryset.filter(Q(created__gt=created) | Q(pk__gt=pk), created__gte=created)
    rows = list(queryset.order_by("created", "id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor_encode(created=rows[-1].created, pk=rows[-1].pk) if more else None


@dataclass
class TaskGroup:
    task_name: str
    count: int
    failed: int
    running: int


@dataclass
class TaskSummary:
    total: int
    groups: list[TaskGroup]
    more_groups: bool


def run_task_summary(*, run: FlowRun, limit: int = TASK_GROUPS_SHOWN) -> TaskSummary:
    """How many task runs ``run`` has, in all and per task name (with failed and unfinished ones)."""
    not_final = Q(state__in=[state.value for state in FINAL_STATES])
    rows = list(
        run.task_runs.order_by()
        .values("task_name")
        .annotate(
            count=Count("id"),
            failed=Count("id", filter=Q(state__in=["FAILED", "CRASHED"])),
            running=Count("id", filter=~not_final),
        )
        .order_by("task_name")[: limit + 1]
    )
    groups = [TaskGroup(**row) for row in rows[:limit]]
    more = len(rows) > limit
    total = run.task_runs.count() if more else sum(group.count for group in groups)
    return TaskSummary(total=total, groups=groups, more_groups=more)


@dataclass
class TimelineBar:
    task_run: TaskRun
    left_pct: float
    width_pct: float
    running: bool
    started: bool


@dataclass
class Timeline:
    start: dt.datetime | None
    end: dt.datetime | None
    bars: list[TimelineBar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)

    @property
    def duration(self) -> dt.timedelta | None:
        if self.start is None or self.end is None:
            return None
        return max(self.end - self.start, dt.timedelta(0))


def timeline_build(*, run: FlowRun, task_runs: list[TaskRun], now: dt.datetime | None = None) -> Timeline:
    """Bars positioned by start and end time as percentages of the run's span (running tasks end now)."""
    now = now or timezone.now()
    starts = [task.start_time for task in task_runs if task.start_time] + (
        [run.start_time] if run.start_time else []
    )
    if not starts:
        return Timeline(start=None, end=None)
    start = min(starts)
    ends = [task.end_time or now for task in task_runs if task.start_time]
    ends.append(run.end_time or (now if run.start_time and not run.is_final else start))
    end = max(ends)
    span = max((end - start).total_seconds(), 1e-6)
    timeline = Timeline(start=start, end=end)
    for task in task_runs:
        if task.start_time is None:
            timeline.bars.append(TimelineBar(task, 0.0, 0.0, running=False, started=False))
            continue
        finish = task.end_time or now
        left = (task.start_time - start).total_seconds() / span * 100
        width = max((finish - task.start_time).total_seconds() / span * 100, BAR_MIN_WIDTH_PCT)
        left = min(max(left, 0.0), 100.0 - BAR_MIN_WIDTH_PCT)
        width = min(width, 100.0 - left)
        timeline.bars.append(
            TimelineBar(task, round(left, 3), round(width, 3), running=not task.is_final, started=True)
        )
    timeline.ticks = [
        (pct, duration_short(dt.timedelta(seconds=span * pct / 100))) for pct in (0, 25, 50, 75, 100)
    ]
    return timeline


@dataclass
class ResultUsage:
    flow_runs: list[FlowRun] = field(default_factory=list)
    task_runs: list[TaskRun] = field(default_factory=list)


def result_usage(*, reference: ResultReference, limit: int = 100) -> ResultUsage:
    """Flow runs and task runs whose result is ``reference``, newest first."""
    return ResultUsage(
        flow_runs=list(FlowRun.objects.filter(result=reference).order_by("-created")[:limit]),
        task_runs=list(
            TaskRun.objects.filter(result=reference).select_related("flow_run").order_by("-created")[:limit]
        ),
    )


def result_flow_name(*, reference: ResultReference) -> str | None:
    """The flow whose run (or whose task run) produced the result, if any run points at it."""
    name = FlowRun.objects.filter(result=reference).values_list("flow_name", flat=True).first()
    if name:
        return name
    return (
        TaskRun.objects.filter(result=reference, flow_run__isnull=False)
        .values_list("flow_run__flow_name", flat=True)
        .first()
    )


def flow_result_ids(*, flow_name: str) -> QuerySet:
    """The ids of the results of ``flow_name``'s runs and of their task runs, as a subquery."""
    flow_results = FlowRun.objects.filter(flow_name=flow_name, result__isnull=False).values("result_id")
    task_results = TaskRun.objects.filter(flow_run__flow_name=flow_name, result__isnull=False).values(
        "result_id"
    )
    return ResultReference.objects.filter(Q(pk__in=flow_results) | Q(pk__in=task_results)).values("pk")


@dataclass(frozen=True)
class ResultWriter:
    """The run that wrote a result: a task run of ``flow_name`` (``task_name`` set) or the flow run."""

    flow_name: str
    flow_run_id: Any
    task_name: str = ""


def result_writers(*, reference_ids: list[int]) -> dict[int, ResultWriter]:
    """{result id: its writer} for a page of results, in two queries.

    A result a task wrote and its flow returned is the task's; a result several task runs point at
    (cache hits) is the first one's. Results no run points at are left out.
    """
    writers: dict[int, ResultWriter] = {}
    task_rows = (
        TaskRun.objects.filter(result_id__in=reference_ids)
        .order_by("created", "id")
        .values_list("result_id", "task_name", "flow_run__flow_name", "flow_run_id")
    )
    for result_id, task_name, flow_name, run_id in task_rows:
        writers.setdefault(result_id, ResultWriter(flow_name or "", run_id, task_name))
    flow_rows = (
        FlowRun.objects.filter(result_id__in=reference_ids)
        .order_by("created", "id")
        .values_list("result_id", "flow_name", "pk")
    )
    for result_id, flow_name, run_id in flow_rows:
        writers.setdefault(result_id, ResultWriter(flow_name, run_id))
    return writers
