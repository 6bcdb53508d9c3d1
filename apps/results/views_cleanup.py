"""Cleanup pages: expiration (inline and bulk), retention policies, expiring soon, storage charts,
background jobs with progress, orphans and indexing.

Operators manage expiration and policies; admins purge, index and clean up orphans.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.blocks.models import StorageBlock
from apps.core.db import bounded_count
from apps.core.formatting import DurationInvalidError, duration_parse
from apps.core.pagination import querystring_without
from apps.core.permissions import role_required
from apps.core.roles import Role, user_has_role
from apps.flows.browse import flow_names_known, flow_result_ids, result_flow_name

from .charts import chart_bytes_by_expiration, chart_storage_over_time
from .expiration import (
    ExpirationError,
    expiration_compute,
    expiration_info,
    expiring_soon,
    expiring_totals,
    reference_expiration_set,
)
from .forms import RetentionPolicyForm
from .models import CleanupJob, PurgeAuditEntry, ResultReference, RetentionPolicy
from .purge import expired_candidates, purge_plan, selected_candidates
from .retention import RetentionPolicyError, retention_apply, retention_cache_clear, retention_policy_save
from .selection import InvalidFilterError, NothingChosenError, ResultChoice, results_chosen
from .tasks import job_create, job_start, periodic_purge_last, periodic_purge_schedule_text

# What a form error says of a date pushed past what a datetime holds (extending a far expiration).
EXPIRATION_TOO_LATE = "that expiration would be after the year 9999"
# The expiring-soon page lists this many of the soonest (the totals above them count them all).
EXPIRING_SHOWN = 50
# What a row reads: the page loads only these columns of its results and their blocks.
EXPIRING_ROW_FIELDS = (
    "key",
    "value_type",
    "storage_location",
    "size_bytes",
    "expiration",
    "block__block_type",
    "block__name",
)


# --------------------------------------------------------------------------------------------------
# Overview


def _overview_context(request, *, policy_form: RetentionPolicyForm | None = None) -> dict:
    expired = expired_candidates()
    return {
        "schedule": periodic_purge_schedule_text(),
        "last_periodic": periodic_purge_last(),
        "expired_plan": purge_plan(expired),
        "jobs": CleanupJob.objects.select_related("created_by")[:12],
        "audit": PurgeAuditEntry.objects.all()[:8],
        "policies": RetentionPolicy.objects.select_related("block"),
        "policy_form": policy_form or RetentionPolicyForm(flow_names=flow_names_known()),
        "blocks": StorageBlock.objects.all(),
        "storage_chart": chart_storage_over_time(days=30),
        "expiration_chart": chart_bytes_by_expiration(),
        "can_manage": user_has_role(request.user, Role.OPERATOR),
        "can_purge": user_has_role(request.user, Role.ADMIN),
        "expiring_count": bounded_count(queryset=expiring_soon()),
    }


@require_GET
@role_required(Role.VIEWER)
def cleanup_overview(request):
    return render(request, "results/cleanup/overview.html", _overview_context(request))


@require_POST
@role_required(Role.ADMIN)
def purge_expired_start(request):
    params = {}
    if request.POST.get("block"):
        params["block"] = request.POST["block"]
    job = job_start(job_create(kind=CleanupJob.Kind.PURGE_EXPIRED, params=params, user=request.user))
    return redirect("results:cleanup-job", pk=job.pk)


# --------------------------------------------------------------------------------------------------
# Jobs


@require_GET
@role_required(Role.VIEWER)
def cleanup_job(request, pk: int):
    job = get_object_or_404(CleanupJob.objects.select_related("created_by"), pk=pk)
    context = {"job": job, "can_purge": user_has_role(request.user, Role.ADMIN), "blocks_by_slug": None}
    if request.htmx:
        return render(request, "results/cleanup/job.html#job-status", context)
    return render(request, "results/cleanup/job.html", context)


# --------------------------------------------------------------------------------------------------
# Expiration: one result inline, many after confirmation


def _live_reference(pk: int) -> ResultReference:
    return get_object_or_404(ResultReference.objects.select_related("block", "retention_policy"), pk=pk)


def _parse_datetime(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ExpirationError(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@require_http_methods(["GET", "POST"])
@role_required(Role.VIEWER)
def result_expiration(request, pk: int):
    """The expiration cell of a result: shown, or (operators) edited inline with htmx."""
    reference = _live_reference(pk)
    can_edit = user_has_role(request.user, Role.OPERATOR) and reference.purged_at is None
    context = {"reference": reference, "can_edit": can_edit, "editing": False, "error": "", "note": ""}
    if request.method == "GET":
        context["editing"] = can_edit and request.GET.get("edit") == "1"
    else:
        if not user_has_role(request.user, Role.OPERATOR):
            raise PermissionDenied("Changing an expiration needs the operator role.")
        if not can_edit:
            raise Http404("this result was purged; its expiration can no longer change")
        action = request.POST.get("action", "set")
        try:
            at = _parse_datetime(request.POST["at"]) if action == "set" and request.POST.get("at") else None
            by = duration_parse(request.POST.get("by", "")) if action == "extend" else None
            new = expiration_compute(action=action, current=reference.expiration, at=at, by=by)
            change = reference_expiration_set(reference=reference, expiration=new, user=request.user)
        except (ExpirationError, DurationInvalidError) as exc:
            context.update(editing=True, error=str(exc))
        except OverflowError:
            context.update(editing=True, error=EXPIRATION_TOO_LATE)
        else:
            context["note"] = (
                change.file_error and f"Saved; the file was not updated: {change.file_error}"
            ) or (f"Saved ({change.file_note}).")
    context["info"] = expiration_info(reference, flow_name=result_flow_name(reference=reference))
    if request.htmx:
        return render(request, "results/cleanup/expiration_page.html#expiration", context)
    if request.method == "POST" and not context["error"]:
        messages.success(request, context["note"])
        return redirect("results:result-detail", pk=reference.pk)
    return render(request, "results/cleanup/expiration_page.html", context)


def _bulk_choice(request) -> ResultChoice | None:
    """The results a bulk page acts on; None (with a message) when the form names none or misreads.

    A GET without ``selection`` or ``ids`` takes its own querystring as the filter ("all matching").
    """
    data = request.POST if request.method == "POST" else request.GET
    if request.method == "GET" and "selection" not in data and not data.getlist("ids"):
        data = {"selection": querystring_without(request.GET)}
    try:
        return results_chosen(data=data)
    except (InvalidFilterError, NothingChosenError) as exc:
        messages.error(request, str(exc))
        return None


def _list_url(request) -> str:
    back = request.POST.get("back", "") or request.GET.get("back", "")
    return back if back.startswith("/results/") else reverse("results:result-list")


@require_http_methods(["GET", "POST"])
@role_required(Role.OPERATOR)
def expiration_bulk(request):
    """Change the expiration of every result matching a filter: confirm, then a background job."""
    source = request.POST if request.method == "POST" else request.GET
    choice = _bulk_choice(request)
    if choice is None:
        return redirect(_list_url(request))
    matching = choice.queryset
    context = {
        "choice": choice,
        "query": choice.query,
        "count": bounded_count(queryset=matching, limit=1_000_000),
        "plan": purge_plan(matching),
        "error": "",
        "action": source.get("action", "extend"),
        "at": source.get("at", ""),
        "by": source.get("by", "30d"),
    }
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        action = request.POST.get("action", "")
        try:
            params = {**choice.job_params, "action": action}
            if action == "set":
                params["at"] = _parse_datetime(request.POST.get("at", "")).isoformat()
            if action == "extend":
                duration_parse(request.POST.get("by", ""))
                params["by"] = request.POST["by"]
            expiration_compute(
                action=action,
                current=None,
                at=dt.datetime.fromisoformat(params["at"]) if "at" in params else None,
                by=duration_parse(params["by"]) if "by" in params else None,
            )
        except (ExpirationError, DurationInvalidError) as exc:
            context["error"] = str(exc)
        except OverflowError:
            context["error"] = EXPIRATION_TOO_LATE
        else:
            job = job_start(job_create(kind=CleanupJob.Kind.EXPIRATION, params=params, user=request.user))
            return redirect("results:cleanup-job", pk=job.pk)
    return render(request, "results/cleanup/expiration_bulk.html", context)


# A deletion names its results one by one (a purge of selected results is given their ids).
DELETE_SELECTION_LIMIT = 100_000


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def results_delete(request):
    """Delete the chosen results and their stored objects: the counts first, then a background job.

    The same purge as the admin's "Delete selected results and their stored objects": cache entries
    still valid are kept until they expire, and the runs keep their history.
    """
    choice = _bulk_choice(request)
    if choice is None:
        return redirect(_list_url(request))
    ids = choice.ids
    if ids is None:
        ids = list(choice.queryset.order_by("id").values_list("pk", flat=True)[: DELETE_SELECTION_LIMIT + 1])
    if len(ids) > DELETE_SELECTION_LIMIT:
        messages.error(
            request,
            f"more than {DELETE_SELECTION_LIMIT:,} results are selected: narrow the filter, or give them "
            "an expiration and let the purge of expired results remove them",
        )
        return redirect(_list_url(request))
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        job = job_start(
            job_create(kind=CleanupJob.Kind.PURGE_SELECTED, params={"ids": ids}, user=request.user)
        )
        return redirect("results:cleanup-job", pk=job.pk)
    plan = purge_plan(selected_candidates(ids=ids))
    context = {"choice": choice, "ids": ids, "count": len(ids), "plan": plan, "kept": len(ids) - plan.count}
    return render(request, "results/cleanup/delete_confirm.html", context)


@require_GET
@role_required(Role.VIEWER)
def results_expiring(request):
    text = request.GET.get("within", "7d")
    try:
        within = duration_parse(text)
    except DurationInvalidError as exc:
        messages.error(request, str(exc))
        within, text = dt.timedelta(days=7), "7d"
    queryset = expiring_soon(within=within)
    page = list(queryset.only(*EXPIRING_ROW_FIELDS)[:EXPIRING_SHOWN])
    return render(
        request,
        "results/cleanup/expiring.html",
        {
            "results": page,
            "totals": expiring_totals(queryset=queryset),
            "within": text,
            "choices": ["1d", "7d", "30d", "90d"],
            "can_manage": user_has_role(request.user, Role.OPERATOR),
            "now": timezone.now(),
        },
    )


# --------------------------------------------------------------------------------------------------
# Retention policies


@require_POST
@role_required(Role.OPERATOR)
def policy_save(request):
    """Save a policy; a refused one shows the overview again with what was typed and the errors."""
    form = RetentionPolicyForm(request.POST, flow_names=flow_names_known())
    if form.is_valid():
        try:
            policy = retention_policy_save(
                block=form.cleaned_data["block"],
                flow_name=form.cleaned_data["flow_name"],
                expire_after=form.cleaned_data["expire_after"],
                user=request.user,
            )
        except RetentionPolicyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Policy saved: {policy.scope_label} expire {policy.expire_after_text} after creation.",
            )
            return redirect(reverse("results:cleanup") + "#policies")
    context = _overview_context(request, policy_form=form)
    return render(request, "results/cleanup/overview.html", context, status=400)


@require_POST
@role_required(Role.OPERATOR)
def policy_delete(request, pk: int):
    policy = get_object_or_404(RetentionPolicy, pk=pk)
    policy.delete()
    retention_cache_clear()
    messages.success(request, "Policy removed; results keep the expiration they already have.")
    return redirect(reverse("results:cleanup") + "#policies")


@require_POST
@role_required(Role.OPERATOR)
def policy_apply(request, pk: int):
    policy = get_object_or_404(RetentionPolicy, pk=pk)
    changed = retention_apply(
        policy=policy,
        flow_result_ids=flow_result_ids(flow_name=policy.flow_name) if policy.flow_name else None,
        only_unset=request.POST.get("only_unset", "yes") == "yes",
    )
    messages.success(request, f"{changed:,} existing result(s) now expire by this policy.")
    return redirect(reverse("results:cleanup") + "#policies")


# --------------------------------------------------------------------------------------------------
# Indexing and orphans


def _block_from_post(request) -> StorageBlock:
    try:
        return StorageBlock.objects.get_by_slug(request.POST.get("block", ""))
    except StorageBlock.DoesNotExist as exc:
        raise Http404(str(exc)) from None


@require_POST
@role_required(Role.ADMIN)
def block_index_start(request):
    block = _block_from_post(request)
    job = job_start(job_create(kind=CleanupJob.Kind.INDEX, params={"block": block.slug}, user=request.user))
    return redirect("results:cleanup-job", pk=job.pk)


@require_POST
@role_required(Role.ADMIN)
def orphan_scan_start(request):
    block = _block_from_post(request)
    job = job_start(
        job_create(kind=CleanupJob.Kind.ORPHAN_SCAN, params={"block": block.slug}, user=request.user)
    )
    return redirect("results:cleanup-job", pk=job.pk)


@require_POST
@role_required(Role.ADMIN)
def orphan_clean_start(request):
    block = _block_from_post(request)
    params: dict = {"block": block.slug}
    if request.POST.get("what") == "objects":
        params["keys"] = request.POST.getlist("keys")
    else:
        params["ids"] = [int(value) for value in request.POST.getlist("ids") if value.isdigit()]
    if not params.get("keys") and not params.get("ids"):
        messages.warning(request, "Nothing was selected.")
        return redirect(request.POST.get("back") or reverse("results:cleanup"))
    job = job_start(job_create(kind=CleanupJob.Kind.ORPHAN_CLEAN, params=params, user=request.user))
    return redirect("results:cleanup-job", pk=job.pk)
