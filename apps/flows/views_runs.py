"""Run pages: the runs list (filters in the URL, keyset pages, live rows) and a run's detail
(parameters, state history, a timeline of its task runs and their results).

htmx swaps only the table (filters, pages) or the live rows (polling); polling is rendered only
while the page shows runs that are not final, so a page of finished runs makes no requests.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from apps.core.pagination import InvalidCursorError, page_size_parse, querystring_without
from apps.core.permissions import role_required
from apps.core.roles import Role

from . import browse
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
    task_runs, more = browse.run_task_runs(run=run)
    context = {
        "run": run,
        "task_runs": task_runs,
        "more_task_runs": more,
        "timeline": browse.timeline_build(run=run, task_runs=task_runs),
    }
    htmx = request.htmx
    if htmx and not htmx.history_restore_request and htmx.target == "run-live":
        return render(request, "flows/runs/run_detail.html#run-live", context)
    return render(request, "flows/runs/run_detail.html", context)
