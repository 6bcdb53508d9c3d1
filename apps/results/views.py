"""Result pages: the list of every reference (filters, keyset pages, "all matching" selection), a
result's metadata with the runs that point at it, its raw bytes, its safe preview and the sandboxed
decode. With htmx only the changed fragment is swapped; without JavaScript every link and form
loads the full page.
"""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.db import bounded_count
from apps.core.pagination import InvalidCursorError, keyset_page, querystring_without
from apps.core.permissions import role_required
from apps.core.roles import Role, user_has_role
from apps.flows.browse import flow_names, result_usage, result_writers

from .contents import reference_decode, reference_download_name, reference_preview, reference_stream
from .filters import ResultFilter
from .models import ResultReference
from .references import ResultUnreadableError, reference_uri
from .selection import InvalidFilterError, results_matching


def _list_context(request) -> dict:
    params = request.GET.copy()
    filterset = ResultFilter(data=params or None, queryset=ResultReference.objects.select_related("block"))
    error = ""
    try:
        page = keyset_page(
            queryset=filterset.qs, cursor=params.get("cursor") or None, page_size=params.get("page_size")
        )
    except InvalidCursorError as exc:
        error = str(exc)
        page = keyset_page(queryset=filterset.qs)
    writers = result_writers(reference_ids=[item.pk for item in page.items])
    for item in page.items:
        item.writer = writers.get(item.pk)
    filter_query = querystring_without(params)
    context = {
        "filter": filterset,
        "page": page,
        "filter_query": filter_query,
        "filtered": bool(filter_query),
        "error": error,
        "selection": None,
        "flow_names": flow_names(),
        "can_manage": user_has_role(request.user, Role.OPERATOR),
        "can_purge": user_has_role(request.user, Role.ADMIN),
    }
    if params.get("select") == "all":
        context["selection"] = _selection(params)
    return context


def _selection(params) -> dict:
    try:
        matching = results_matching(params)
    except InvalidFilterError as exc:
        return {"error": str(exc), "query": querystring_without(params)}
    return {"count": bounded_count(queryset=matching), "query": querystring_without(params)}


@require_GET
@role_required(Role.VIEWER)
def result_list(request):
    context = _list_context(request)
    if request.htmx and request.htmx.target == "result-table":
        return render(request, "results/result_list.html#result-table", context)
    return render(request, "results/result_list.html", context)


@require_GET
@role_required(Role.VIEWER)
def result_selection(request):
    """How many results "all matching this filter" selects (bounded), as a fragment or a full page."""
    context = _list_context(request)
    context["selection"] = _selection(request.GET)
    if request.htmx:
        return render(request, "results/result_list.html#selection", context)
    return render(request, "results/result_list.html", context)


def _reference(pk: int) -> ResultReference:
    return get_object_or_404(ResultReference.objects.select_related("block", "purged_by"), pk=pk)


def _detail_context(request, reference: ResultReference) -> dict:
    return {
        "reference": reference,
        "uri": reference_uri(reference),
        "usage": result_usage(reference=reference),
        "preview": reference_preview(reference=reference),
        "can_decode": user_has_role(request.user, Role.OPERATOR),
        "decoded": None,
    }


@require_GET
@role_required(Role.VIEWER)
def result_detail(request, pk: int):
    reference = _reference(pk)
    return render(request, "results/result_detail.html", _detail_context(request, reference))


@require_GET
@role_required(Role.VIEWER)
def result_raw(request, pk: int):
    """The stored bytes as an attachment, streamed in chunks from the filesystem."""
    return raw_response(_reference(pk))


def raw_response(reference: ResultReference) -> StreamingHttpResponse:
    try:
        chunks = reference_stream(reference=reference)
    except ResultUnreadableError as exc:
        raise Http404(str(exc)) from None
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{reference_download_name(reference)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@role_required(Role.OPERATOR)
def result_decode(request, pk: int):
    """Decode for real in the sandbox (operators only); the answer replaces the static preview."""
    reference = _reference(pk)
    decoded = reference_decode(reference=reference)
    if request.htmx:
        return render(
            request,
            "results/result_detail.html#decoded",
            {"reference": reference, "decoded": decoded, "can_decode": True},
        )
    context = _detail_context(request, reference)
    context["decoded"] = decoded
    return render(request, "results/result_detail.html", context)
