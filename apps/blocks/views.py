"""Block pages. Every form posts normally; htmx only swaps parts (type fields, test results)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.core.permissions import role_required
from apps.core.roles import Role, user_has_role
from apps.results import block_removal

from . import services
from .forms import BlockDeleteForm, BlockTypeChoiceForm, block_form_class
from .models import BlockType, StorageBlock
from .secrets import SecretsKeyError

FORM_TEMPLATE = "blocks/block_form.html"
PARTIALS = "blocks/partials.html"


def _block(block_type: str, name: str) -> StorageBlock:
    return get_object_or_404(StorageBlock, block_type=block_type, name=name)


def _htmx_target(request) -> str | None:
    htmx = getattr(request, "htmx", None)
    return htmx.target if htmx else None


@role_required(Role.VIEWER)
@require_safe
def block_list(request):
    blocks = list(StorageBlock.objects.select_related("created_by"))
    usage = block_removal.blocks_usage()
    rows = [(block, usage.get(block.pk, block_removal.BlockUsage())) for block in blocks]
    return render(
        request,
        "blocks/block_list.html",
        {"rows": rows, "can_manage": user_has_role(request.user, Role.ADMIN), "types": BlockType},
    )


@role_required(Role.VIEWER)
@require_safe
def block_detail(request, block_type: str, name: str):
    return _detail_page(request, block=_block(block_type, name))


def _detail_page(request, *, block: StorageBlock, test_result=None):
    try:
        settings = services.block_settings_masked(block)
        secrets_problem = ""
    except SecretsKeyError as exc:
        settings, secrets_problem = block.settings, str(exc)
    return render(
        request,
        "blocks/block_detail.html",
        {
            "storage_block": block,
            "settings_rows": _settings_rows(settings),
            "secrets_problem": secrets_problem,
            "usage": block_removal.block_usage(block=block),
            "can_manage": user_has_role(request.user, Role.ADMIN),
            "test_result": test_result,
        },
    )


def _settings_rows(settings: dict) -> list[tuple]:
    """(name, value, names of the options set): an options dict shows its names, never its values."""
    return [
        (name, value, services.secret_paths(value) if isinstance(value, dict) else [])
        for name, value in sorted(settings.items())
    ]


def _form_page(request, *, form, block=None, test_result=None, tested=False, status=200):
    context = {
        "form": form,
        "storage_block": block,
        "type_form": BlockTypeChoiceForm(initial={"block_type": form.block_type}),
        "block_type": form.block_type,
        "block_type_label": BlockType(form.block_type).label,
        "test_result": test_result,
        "tested": tested,
    }
    target = _htmx_target(request)
    if target == "type-fields":
        # The usage snippet names the type too: it comes along as an out-of-band swap.
        fields = render_to_string(f"{FORM_TEMPLATE}#type-fields", context, request=request)
        usage = render_to_string(
            f"{FORM_TEMPLATE}#usage-code", {**context, "usage_code_oob": True}, request=request
        )
        return HttpResponse(fields + usage)
    if target == "test-result":
        return render(request, f"{PARTIALS}#test-result", context, status=status)
    return render(request, FORM_TEMPLATE, context, status=status)


def _form_save(form, save):
    """The block ``save()`` returns, or None with the refusal shown beside its field."""
    try:
        return save()
    except services.BlockValidationError as exc:
        form.add_error(form.error_field(exc.field), exc.message)
        return None


def _form_test(form) -> services.ConnectionTestResult | None:
    if not form.is_valid():
        return None
    return services.block_test_connection(filesystem=form.filesystem)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def block_create(request):
    data = request.POST if request.method == "POST" else request.GET
    form_class = block_form_class(data.get("block_type"))
    action = request.POST.get("_action", "save")
    if request.method == "GET" or action == "choose":
        # Choosing a type (the no-script "Continue" or an htmx swap) keeps the name typed so far.
        return _form_page(request, form=form_class(initial={"name": data.get("name", "")}))
    form = form_class(request.POST)
    if action == "test":
        return _form_page(request, form=form, test_result=_form_test(form), tested=True)
    if form.is_valid():
        created = _form_save(
            form,
            lambda: services.block_create(
                block_type=form.block_type,
                name=form.cleaned_data["name"],
                settings=form.settings_submitted(),
                user=request.user,
            ),
        )
        if created is not None:
            messages.success(
                request, f'Storage block {created.slug} created. Use it in code as "{created.slug}".'
            )
            return redirect("blocks:block-detail", block_type=created.block_type, name=created.name)
    return _form_page(request, form=form, status=400)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def block_update(request, block_type: str, name: str):
    block = _block(block_type, name)
    form_class = block_form_class(block.block_type)
    action = request.POST.get("_action", "save")
    if request.method == "GET":
        return _form_page(request, form=form_class(block=block), block=block)
    form = form_class(request.POST, block=block)
    if action == "test":
        return _form_page(request, form=form, block=block, test_result=_form_test(form), tested=True)
    if form.is_valid():
        saved = _form_save(
            form,
            lambda: services.block_update(
                block=block,
                name=form.cleaned_data["name"],
                settings=form.settings_submitted(),
                user=request.user,
            ),
        )
        if saved is not None:
            messages.success(request, f"Storage block {saved.slug} saved.")
            return redirect("blocks:block-detail", block_type=saved.block_type, name=saved.name)
    return _form_page(request, form=form, block=block, status=400)


@role_required(Role.ADMIN)
@require_POST
def block_test(request, block_type: str, name: str):
    block = _block(block_type, name)
    result = services.block_test_connection(block=block)
    if _htmx_target(request):
        return render(request, f"{PARTIALS}#test-result", {"test_result": result, "storage_block": block})
    return _detail_page(request, block=block, test_result=result)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def block_delete(request, block_type: str, name: str):
    block = _block(block_type, name)
    usage = block_removal.block_usage(block=block)
    form = BlockDeleteForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        has_references = usage.results or usage.purged
        choice = form.cleaned_data.get("references") or ("detach" if not has_references else "")
        if not choice:
            error = "Choose what happens to the results stored through this block."
        else:
            try:
                report = block_removal.block_delete_with_results(
                    block=block, references=choice, user=request.user
                )
            except services.BlockError as exc:
                error = str(exc)
            else:
                messages.success(request, _deleted_message(report))
                return redirect(reverse("blocks:block-list"))
    return render(
        request,
        "blocks/block_confirm_delete.html",
        {"storage_block": block, "usage": usage, "form": form, "error": error},
        status=400 if error else 200,
    )


def _deleted_message(report: block_removal.BlockDeleteReport) -> str:
    message = f"Storage block {report.slug} deleted."
    if report.purge is not None:
        purge = report.purge
        message += (
            f" Purged {purge.purged} result(s): {purge.deleted} object(s) deleted, "
            f"{purge.missing} already gone."
        )
    elif report.detached:
        message += f" {report.detached} result(s) kept without a block; they stay browsable."
    return message
