"""Cleanup pages: expiration (inline and bulk), retention policies, expiring soon, storage charts,
background jobs with progress, orphans and indexing.

Operators manage expiration and policies; admins purge, index and clean up orphans.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
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
from apps.flows.browse import flow_result_ids, result_flow_name

from .charts import chart_bytes_by_expiration, chart_storage_over_time
from .expiration import (
    ExpirationError,
    expiration_compute,
    expiration_info,
    expiring_soon,
    expiring_totals,
    reference_expiration_set,
)
from .models import CleanupJob, PurgeAuditEntry, ResultReference, RetentionPolicy
from .purge import expired_candidates, purge_plan
from .retention import RetentionPolicyError, retention_apply, retention_cache_clear, retention_policy_save
from .selection import InvalidFilterError, results_matching
from .tasks import job_create, job_start, periodic_purge_last, periodic_purge_schedule_text

# What a form error says of a date pushed past what a datetime holds (extending a far expiration).
EXPIRATION_TOO_LATE = "that expiration would be after the year 9999"


# --------------------------------------------------------------------------------------------------
# Overview


@require_GET
@role_required(Role.VIEWER)
def cleanup_overview(request):
    expired = expired_candidates()
    context = {
        "schedule": periodic_purge_schedule_text(),
        "last_periodic": periodic_purge_last(),
        "expired_plan": purge_plan(expired),
        "jobs": CleanupJob.objects.select_related("created_by")[:12],
        "audit": PurgeAuditEntry.objects.all()[:8],
        "policies": RetentionPolicy.objects.select_related("block"),
        "blocks": StorageBlock.objects.all(),
        "storage_chart": chart_storage_over_time(days=30),
        "expiration_chart": chart_bytes_by_expiration(),
        "can_manage": user_has_role(request.user, Role.OPERATOR),
        "can_purge": user_has_role(request.user, Role.ADMIN),
        "expiring_count": bounded_count(queryset=expiring_soon()),
    }
    return render(request, "results/cleanup/overview.html", context)


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


@require_http_methods(["GET", "POST"])
@role_required(Role.OPERATOR)
def expiration_bulk(request):
    """Change the expiration of every result matching a filter: confirm, then a background job."""
    source = request.POST if request.method == "POST" else request.GET
    query = source.get("selection", None)
    if query is None:
        query = querystring_without(request.GET)
    try:
        matching = results_matching(QueryDict(query)).live()
    except InvalidFilterError as exc:
        messages.error(request, str(exc))
        return redirect("results:result-list")
    context = {
        "query": query,
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
            params = {"filters": query, "action": action}
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
    page = list(queryset[:200])
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
    block = None
    if request.POST.get("block"):
        block = get_object_or_404(StorageBlock, pk=request.POST["block"])
    try:
        policy = retention_policy_save(
            block=block,
            flow_name=request.POST.get("flow_name", ""),
            expire_after=duration_parse(request.POST.get("expire_after", "")),
            user=request.user,
        )
    except (RetentionPolicyError, DurationInvalidError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Policy saved: {policy.scope_label} expire {policy.expire_after_text} after creation.",
        )
    return redirect(reverse("results:cleanup") + "#policies")


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
