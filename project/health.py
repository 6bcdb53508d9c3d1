"""/healthz: the health of the parts a load balancer cares about: database, broker, default storage.

Each check runs under a timeout and reports a short reason, never a secret (URLs are shown
without credentials). The ``workers`` check (at least one Celery worker answers a ping) is
reported but does not make the status unhealthy: the web server works without workers (runs wait
in their queue), and a load balancer must not take the dashboard away because workers are down.
"""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.roles import Role, user_has_role
from apps.flows.workers import workers_ping
from apps.results.defaults import default_result_storage

_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")
# The workers check runs beside the others (a ping waits its whole timeout when no worker is up);
# its own pool, so it never waits on a thread of the pool it occupies.
_workers_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz-workers")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


def url_without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not folder.is_dir():
            raise RuntimeError(f"broker folder {folder} is missing")
        return "filesystem broker"
    from kombu import Connection

    with Connection(url, connect_timeout=settings.HEALTHZ_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.HEALTHZ_TIMEOUT_SECONDS)
    return url_without_credentials(url)


def _check_storage() -> str:
    storage = default_result_storage(create=False)
    # A real write, read and delete: a storage that lists but refuses writes is not healthy.
    storage.test_connection(timeout=settings.HEALTHZ_TIMEOUT_SECONDS)
    return storage.location


def _check_workers() -> str:
    names = workers_ping(timeout=settings.WORKERS_INSPECT_TIMEOUT_SECONDS)
    if not names:
        raise RuntimeError("no worker answered a ping")
    return f"{len(names)} worker{'s' if len(names) != 1 else ''} up"


# Reported in the body; their failure leaves the status "ok".
ADVISORY_CHECKS = frozenset({"workers"})


def _run(name: str, check: Callable[[], str], timeout: float) -> CheckResult:
    started = time.monotonic()
    future = _executor.submit(check)
    try:
        detail, ok = future.result(timeout=timeout), True
    except FutureTimeout:
        detail, ok = f"timed out after {timeout:g} s", False
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {exc}".splitlines()[0][:200], False
    return CheckResult(name, ok, detail, round(time.monotonic() - started, 3))


def health_check_all() -> list[CheckResult]:
    timeout = settings.HEALTHZ_TIMEOUT_SECONDS
    checks = {"database": _check_database, "broker": _check_broker, "storage": _check_storage}
    workers = _workers_executor.submit(_run, "workers", _check_workers, _workers_timeout())
    results = [_run(name, fn, timeout) for name, fn in checks.items()]
    return [*results, workers.result()]


def _workers_timeout() -> float:
    # The ping's own timeout, plus the time to reach the broker.
    return settings.WORKERS_INSPECT_TIMEOUT_SECONDS + settings.HEALTHZ_TIMEOUT_SECONDS


@login_not_required
@never_cache
@require_GET
def healthz(request):
    results = health_check_all()
    healthy = all(r.ok for r in results if r.name not in ADVISORY_CHECKS)
    # Details (storage path, database engine, broker address) are for signed-in users with a role.
    detailed = user_has_role(request.user, Role.VIEWER)
    body = {
        "status": "ok" if healthy else "unhealthy",
        "checks": {
            r.name: {"ok": r.ok, "detail": r.detail, "seconds": r.seconds} if detailed else {"ok": r.ok}
            for r in results
        },
    }
    return JsonResponse(body, status=200 if healthy else 503)
