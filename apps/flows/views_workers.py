"""The Workers page: live Celery workers and the queues with their lengths (see workers.py)."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.core.permissions import role_required
from apps.core.roles import Role

from .workers import workers_overview


@role_required(Role.VIEWER)
@require_safe
def worker_list(request):
    timeout = settings.WORKERS_INSPECT_TIMEOUT_SECONDS
    report, queues = workers_overview(timeout=timeout)
    return render(request, "flows/workers.html", {"report": report, "queues": queues, "timeout": timeout})
