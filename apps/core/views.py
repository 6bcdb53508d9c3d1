from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

from .health import health_check_all
from .permissions import role_required
from .roles import ROLE_DESCRIPTIONS, ROLE_ORDER, Role, user_has_role, user_roles


@login_not_required
@never_cache
@require_GET
def healthz(request):
    results = health_check_all()
    healthy = all(r.ok for r in results)
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


@role_required(Role.VIEWER)
@require_safe
def home(request):
    from .overview import overview_build

    roles = user_roles(request.user)
    return render(
        request,
        "core/home.html",
        {
            "roles": [(role, ROLE_DESCRIPTIONS[role]) for role in ROLE_ORDER if role in roles],
            "overview": overview_build(),
        },
    )
