"""The home page: the last day of runs and the state of stored results, and the roles of the user.

Every query is bounded (a time window on an indexed column, or a LIMITed count along an index),
so the page stays fast with millions of runs and results; the window's counts, which read every
run of the last day, are shared for a few seconds (window_counts_cached).
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
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
WINDOW_CACHE_KEY = "home:window-counts:v1"


@dataclass(frozen=True)
class WindowCounts:
    """The last day's runs by state and results written, counted at ``as_of``."""

    as_of: dt.datetime
    runs_by_state: list[tuple[str, str, int]]  # (state, label, count), non-zero only
    results_written: int
    bytes_written: int


@dataclass(frozen=True)
class Overview:
    window_hours: int
    window_as_of: dt.datetime
    runs_by_state: list[tuple[str, str, int]]
    runs_total: int
    failed_recently: int
    recent_runs: list[FlowRun]
    results_written: int
    bytes_written: int
    expiring_soon_label: str
    expired_label: str
    block_count: int


def window_counts_build(*, now: dt.datetime) -> WindowCounts:
    since = now - WINDOW
    counts = dict(
        FlowRun.objects.filter(created__gte=since)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    written = (
        ResultReference.objects.filter(created__gte=since, is_literal=False)
        .order_by()
        .aggregate(n=Count("id"), size=Sum("size_bytes"))
    )
    return WindowCounts(
        as_of=now,
        runs_by_state=[
            (state.value, state.label, counts[state.value]) for state in StateType if counts.get(state)
        ],
        results_written=written["n"] or 0,
        bytes_written=written["size"] or 0,
    )


def window_counts_cached(*, now: dt.datetime | None = None) -> WindowCounts:
    """The window's counts, recounted once they are HOME_WINDOW_CACHE_SECONDS old.

    They read every run and result of the last day, so they cost with the rate of runs; shared
    in the cache, every web process counts them once per period. There is nothing to invalidate:
    the window moves on by itself, so the page says when they were counted ("as of").
    """
    now = now or timezone.now()
    max_age = dt.timedelta(seconds=settings.HOME_WINDOW_CACHE_SECONDS)
    counts = cache.get(WINDOW_CACHE_KEY)
    if not isinstance(counts, WindowCounts) or not (now - max_age < counts.as_of <= now):
        counts = window_counts_build(now=now)
        cache.set(WINDOW_CACHE_KEY, counts, timeout=settings.HOME_WINDOW_CACHE_SECONDS)
    return counts


def overview_build(*, now: dt.datetime | None = None, window: WindowCounts | None = None) -> Overview:
    """The home page's figures; the window's counts are ``window`` when given, else counted now."""
    now = now or timezone.now()
    window = window or window_counts_build(now=now)
    by_state = {state: n for state, _, n in window.runs_by_state}
    live = ResultReference.objects.live().filter(is_literal=False)
    expiring = bounded_count(
        queryset=live.filter(expiration__gt=now, expiration__lte=now + dt.timedelta(days=7))
    )
    expired = bounded_count(queryset=live.filter(expiration__lte=now))
    return Overview(
        window_hours=int(WINDOW.total_seconds() // 3600),
        window_as_of=window.as_of,
        runs_by_state=window.runs_by_state,
        runs_total=sum(by_state.values()),
        failed_recently=by_state.get(StateType.FAILED, 0) + by_state.get(StateType.CRASHED, 0),
        recent_runs=list(
            FlowRun.objects.select_related("result", "result__block").order_by("-created", "-id")[
                :RECENT_RUNS
            ]
        ),
        results_written=window.results_written,
        bytes_written=window.bytes_written,
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
            "overview": overview_build(window=window_counts_cached()),
        },
    )
