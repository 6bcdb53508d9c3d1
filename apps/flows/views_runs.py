"""Run pages: the runs list (filters in the URL, keyset pages, live rows) and a run's detail
(parameters, state history, a page of its task runs on a timeline and in a table, and its logs).

htmx swaps only the table (filters, pages) or the live rows (polling); polling is rendered only
while the page shows runs that are not final, so a page of finished runs makes no requests. On a
run's page the logs filter and page in place, and tail while the run goes on: the polled fragment
leaves its trigger out once the run is final. Without JavaScript the same querystring loads the
full page.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from apps.core.pagination import InvalidCursorError, page_size_parse, querystring_without
from apps.core.permissions import role_required
from apps.core.roles import Role

from . import browse
from .logs.browse import run_logs_page
from .models import FlowRun


@require_GET
@role_required(Role.VIEWER)
def run_list(request):
    params = request.GET
    error = ""
    try:
        runs = browse.runs_page(
            params=params, cursor=params.get("cursor"), page_size=page_size_parse(params.get("page_size"))
        )
    except InvalidCursorError as exc:
        error = str(exc)
        runs = browse.runs_page(params=params)
    filter_query = querystring_without(params)
    context = {
        "filter": runs.filterset,
        "page": runs.page,
        "live": runs.has_live_rows,
        "filtered": bool(filter_query),
        "error": error,
        "flow_names": browse.flow_names(),
    }
    htmx = request.htmx
    if htmx and not htmx.history_restore_request:
        if htmx.target == "run-rows":
            return render(request, "flows/runs/run_list.html#run-rows", context)
        return render(request, "flows/runs/run_list.html#run-table", context)
    return render(request, "flows/runs/run_list.html", context)


@require_GET
@role_required(Role.VIEWER)
def run_detail(request, pk):
    run = get_object_or_404(
        FlowRun.objects.select_related("result", "result__block", "parent_flow_run"), pk=pk
    )
    params = request.GET
    htmx = request.htmx
    target = htmx.target if htmx and not htmx.history_restore_request else None
    context = {"run": run, "logs": run_logs_page(run=run, params=params, after=params.get("logs_after"))}
    if target in ("run-logs", "log-tail"):
        return render(request, f"flows/runs/run_detail.html#{target}", context)
    task_name = params.get("task", "")
    error = ""
    try:
        task_runs, next_cursor = browse.run_task_runs(
            run=run, cursor=params.get("tasks_cursor"), task_name=task_name
        )
    except InvalidCursorError as exc:
        error = str(exc)
        task_runs, next_cursor = browse.run_task_runs(run=run, task_name=task_name)
    context.update(
        task_runs=task_runs,
        tasks_next_cursor=next_cursor,
        tasks_paged=bool(params.get("tasks_cursor")) and not error,
        task_name=task_name,
        tasks_error=error,
        task_summary=browse.run_task_summary(run=run),
        timeline=browse.timeline_build(run=run, task_runs=task_runs),
    )
    if target == "run-live":
        return render(request, "flows/runs/run_detail.html#run-live", context)
    return render(request, "flows/runs/run_detail.html", context)
