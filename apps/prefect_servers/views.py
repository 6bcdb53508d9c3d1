"""Prefect connection pages, for admins. Forms post normally; htmx swaps the test result and the
sync status. A synced run's state history, read from its server, is for everyone who sees runs."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.blocks.secrets import SecretsKeyError
from apps.core.db import bounded_count
from apps.core.permissions import role_required
from apps.core.roles import Role
from apps.flows.models import FlowRun, RunSource, TaskRun

from . import history, services
from .client import ConnectionTestOutcome
from .forms import ConnectionForm, PathMappingForm
from .models import PathMapping, PrefectConnection, SyncStatus

PARTIALS = "prefect_servers/partials.html"
# The outcome of a test reads like a block's: one partial shows both.
TEST_RESULT = "blocks/partials.html#test-result"


def _connection(name: str) -> PrefectConnection:
    return get_object_or_404(PrefectConnection, name=name)


def _htmx_target(request) -> str | None:
    htmx = getattr(request, "htmx", None)
    return htmx.target if htmx else None


@role_required(Role.ADMIN)
@require_safe
def connection_list(request):
    return render(
        request, "prefect_servers/connection_list.html", {"connections": PrefectConnection.objects.all()}
    )


def _detail_context(connection: PrefectConnection, **extra):
    return {
        "connection": connection,
        # Bounded: a connection may hold millions of runs, and the page polls while a sync runs.
        "flow_runs": bounded_count(queryset=FlowRun.objects.filter(source_connection_id=connection.pk)),
        "task_runs": bounded_count(queryset=TaskRun.objects.filter(source_connection_id=connection.pk)),
        "mappings": connection.path_mappings.select_related("block"),
        "block_links": connection.block_links.select_related("block"),
        "sync_running": connection.sync_status in (SyncStatus.QUEUED, SyncStatus.RUNNING),
        "mapping_form": PathMappingForm(),
        **extra,
    }


@role_required(Role.ADMIN)
@require_safe
def connection_detail(request, name: str):
    connection = _connection(name)
    context = _detail_context(connection)
    if _htmx_target(request) in ("sync-status", MAPPINGS_TARGET):
        return render(request, f"{PARTIALS}#{_htmx_target(request)}", context)
    return render(request, "prefect_servers/connection_detail.html", context)


def _form_page(request, *, form, connection=None, test_result=None, tested=False, status=200):
    context = {"form": form, "connection": connection, "test_result": test_result, "tested": tested}
    if _htmx_target(request) == "test-result":
        return render(request, TEST_RESULT, context, status=status)
    return render(request, "prefect_servers/connection_form.html", context, status=status)


def _form_test(form: ConnectionForm):
    if not form.is_valid():
        return None
    try:
        return services.connection_test_run(connection=form.connection_unsaved())
    except SecretsKeyError as error:
        return ConnectionTestOutcome(False, str(error), "credential")


def _form_save(request, *, form: ConnectionForm, connection: PrefectConnection | None):
    data = form.cleaned_data
    try:
        return services.connection_save(
            name=data["name"],
            api_url=data["api_url"],
            ui_url=data.get("ui_url") or "",
            auth_kind=data["auth_kind"],
            credential=data.get("credential") or None,
            sync_enabled=data.get("sync_enabled", False),
            sync_interval_seconds=data["sync_interval_seconds"],
            connection=connection,
            user=request.user,
        )
    except services.ConnectionInvalidError as error:
        form.add_error(error.field if error.field in form.fields else None, str(error))
        return None


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connection_create(request):
    if request.method == "GET":
        return _form_page(request, form=ConnectionForm())
    form = ConnectionForm(request.POST)
    if request.POST.get("_action") == "test":
        return _form_page(request, form=form, test_result=_form_test(form), tested=True)
    if form.is_valid() and (connection := _form_save(request, form=form, connection=None)):
        messages.success(request, f"Prefect connection {connection.name} added.")
        return redirect("prefect_servers:connection-detail", name=connection.name)
    return _form_page(request, form=form, status=400)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connection_update(request, name: str):
    connection = _connection(name)
    if request.method == "GET":
        return _form_page(request, form=ConnectionForm(connection=connection), connection=connection)
    form = ConnectionForm(request.POST, connection=connection)
    if request.POST.get("_action") == "test":
        return _form_page(
            request, form=form, connection=connection, test_result=_form_test(form), tested=True
        )
    if form.is_valid() and (saved := _form_save(request, form=form, connection=connection)):
        messages.success(request, f"Prefect connection {saved.name} saved.")
        return redirect("prefect_servers:connection-detail", name=saved.name)
    return _form_page(request, form=form, connection=connection, status=400)


@role_required(Role.ADMIN)
@require_POST
def connection_test(request, name: str):
    connection = _connection(name)
    try:
        result = services.connection_test_run(connection=connection)
    except SecretsKeyError as error:
        result = ConnectionTestOutcome(False, str(error), "credential")
    if _htmx_target(request):
        return render(request, TEST_RESULT, {"test_result": result})
    return render(
        request, "prefect_servers/connection_detail.html", _detail_context(connection, test_result=result)
    )


@role_required(Role.ADMIN)
@require_POST
def connection_sync(request, name: str):
    from .tasks import sync_one

    connection = _connection(name)
    PrefectConnection.objects.filter(pk=connection.pk).update(sync_status=SyncStatus.QUEUED)
    sync_one.delay(str(connection.pk), full=request.POST.get("full") == "on")
    messages.info(request, f"A sync of {connection.name} is queued.")
    return redirect("prefect_servers:connection-detail", name=connection.name)


# Path mappings: edited in place on the connection page by htmx (the section is swapped); without
# JavaScript the forms post normally and the page comes back.
MAPPINGS_TARGET = "path-mappings"


def _mappings_answer(request, connection, *, status=200, note="", **extra):
    """After a mapping change: the section by htmx, else the page again (on success, a redirect)."""
    if _htmx_target(request) == MAPPINGS_TARGET:
        context = _detail_context(connection, mappings_note=note, **extra)
        return render(request, f"{PARTIALS}#path-mappings", context, status=status)
    if status == 200 and not extra:
        if note:
            messages.success(request, note)
        return redirect(
            f"{reverse('prefect_servers:connection-detail', args=[connection.name])}#path-mappings"
        )
    return render(
        request, "prefect_servers/connection_detail.html", _detail_context(connection, **extra), status=status
    )


def _mapping_save(request, *, connection, form, mapping=None) -> PathMapping | None:
    if not form.is_valid():
        return None
    try:
        return services.path_mapping_save(
            connection=connection,
            path_prefix=form.cleaned_data["path_prefix"],
            block=form.cleaned_data["block"],
            mapping=mapping,
            user=request.user,
        )
    except services.PathMappingInvalidError as error:
        form.add_error(error.field if error.field in form.fields else None, str(error))
        return None


@role_required(Role.ADMIN)
@require_POST
def mapping_create(request, name: str):
    connection = _connection(name)
    form = PathMappingForm(request.POST)
    saved = _mapping_save(request, connection=connection, form=form)
    if saved is None:
        return _mappings_answer(request, connection, status=400, mapping_form=form)
    return _mappings_answer(request, connection, note=f"{saved.path_prefix} is mapped.")


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def mapping_update(request, pk: int):
    mapping = get_object_or_404(PathMapping.objects.select_related("connection", "block"), pk=pk)
    connection = mapping.connection
    if request.method == "GET":
        form = PathMappingForm(mapping=mapping, prefix="edit")
        return _mappings_answer(request, connection, editing=mapping, edit_form=form)
    form = PathMappingForm(request.POST, prefix="edit")
    if _mapping_save(request, connection=connection, form=form, mapping=mapping) is None:
        return _mappings_answer(request, connection, status=400, editing=mapping, edit_form=form)
    return _mappings_answer(request, connection, note=f"The mapping of {mapping.path_prefix} is saved.")


@role_required(Role.ADMIN)
@require_POST
def mapping_delete(request, pk: int):
    mapping = get_object_or_404(PathMapping.objects.select_related("connection", "block"), pk=pk)
    connection = mapping.connection
    services.path_mapping_delete(mapping=mapping, user=request.user)
    return _mappings_answer(request, connection, note=f"The mapping of {mapping.path_prefix} is removed.")


@role_required(Role.VIEWER)
@require_safe
def run_states(request, pk):
    """Read a synced run's state history from its server (once it is final, then kept); the run
    page asks for it by htmx, and without JavaScript its link opens this as a page."""
    run = get_object_or_404(FlowRun, pk=pk, source=RunSource.PREFECT)
    outcome = history.run_history_read(run=run)
    context = {"run": run, "history_read": outcome}
    if _htmx_target(request) == "state-history":
        return render(request, "flows/runs/state_history.html", context)
    return render(request, "prefect_servers/run_states.html", context)
