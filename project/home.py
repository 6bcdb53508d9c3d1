"""The home page: the last day of runs and the state of stored results, and the roles of the user.

Every query is bounded (a time window on an indexed column, or a LIMITed count), so the page
stays fast with millions of runs and results.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from apps.blocks.models import StorageBlock
from apps.core.db import bounded_count
from apps.core.permissions import role_required
from apps.core.roles import ROLE_DESCRIPTIONS, ROLE_ORDER, Role, user_roles
from apps.flows.models import FlowRun, StateType
from apps.results.models import ResultReference

WINDOW = dt.timedelta(hours=24)
RECENT_RUNS = 8


@dataclass(frozen=True)
class Overview:
    window_hours: int
    runs_by_state: list[tuple[str, str, int]]  # (state, label, count), non-zero only
    runs_total: int
    failed_recently: int
    recent_runs: list[FlowRun]
    results_written: int
    bytes_written: int
    expiring_soon_label: str
    expired_label: str
    block_count: int


def overview_build(*, now: dt.datetime | None = None) -> Overview:
    now = now or timezone.now()
    since = now - WINDOW
    counts = dict(
        FlowRun.objects.filter(created__gte=since)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    runs_by_state = [
        (state.value, state.label, counts[state.value]) for state in StateType if counts.get(state)
    ]
    written = (
        ResultReference.objects.filter(created__gte=since, is_literal=False)
        .order_by()
        .aggregate(n=Count("id"), size=Sum("size_bytes"))
    )
    live = ResultReference.objects.live().filter(is_literal=False)
    expiring = bounded_count(
        queryset=live.filter(expiration__gt=now, expiration__lte=now + dt.timedelta(days=7))
    )
    expired = bounded_count(queryset=live.filter(expiration__lte=now))
    return Overview(
        window_hours=int(WINDOW.total_seconds() // 3600),
        runs_by_state=runs_by_state,
        runs_total=sum(counts.values()),
        failed_recently=counts.get(StateType.FAILED, 0) + counts.get(StateType.CRASHED, 0),
        recent_runs=list(
            FlowRun.objects.select_related("result", "result__block").order_by("-created", "-id")[
                :RECENT_RUNS
            ]
        ),
        results_written=written["n"] or 0,
        bytes_written=written["size"] or 0,
        expiring_soon_label=expiring.label,
        expired_label=expired.label,
        block_count=StorageBlock.objects.count(),
    )


@role_required(Role.VIEWER)
@require_safe
def home(request):
    roles = user_roles(request.user)
    return render(
        request,
        "home.html",
        {
            "roles": [(role, ROLE_DESCRIPTIONS[role]) for role in ROLE_ORDER if role in roles],
            "overview": overview_build(),
        },
    )
