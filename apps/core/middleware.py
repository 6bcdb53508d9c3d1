"""503 Service Unavailable, with a clear message, while the database cannot be reached.

A page or API call that finds the database down (refused, restarted under it, connection lost)
would otherwise answer 500 with a traceback. The error can come from a view or from a middleware
(the session, the signed-in user), and Django turns each into a 500 response where it happens; so
the ``got_request_exception`` signal marks the request and this middleware, outermost, replaces that
response. Django drops a broken connection at the end of the request (and checks a reused one at
the start, with CONN_HEALTH_CHECKS), so pages recover as soon as the database is back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable right now. Try again in a moment."
RETRY_AFTER_SECONDS = 5
_MARK = "database_unavailable"


def database_error_mark(sender=None, *, request: HttpRequest | None = None, **kwargs) -> None:
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, OperationalError | InterfaceError):
        setattr(request, _MARK, error)


got_request_exception.connect(database_error_mark, dispatch_uid="apps.core.middleware.database_error_mark")


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 answer: JSON for the API, a small page (no template, no database) for the rest."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": DATABASE_UNAVAILABLE_MESSAGE}, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><title>Database unavailable</title>"
            f"<h1>Service unavailable</h1><p>{DATABASE_UNAVAILABLE_MESSAGE}</p>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except (OperationalError, InterfaceError):
            return database_unavailable_response(request)  # raised where Django did not catch it
        if getattr(request, _MARK, None) is not None:
            return database_unavailable_response(request)
        return response
