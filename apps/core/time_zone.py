"""Moments read in the viewer's own time zone.

The browser names its zone in a cookie (``static/js/resultdeck.js`` sets it from ``Intl``); each
request activates that zone, so ``|timestamp`` and ``|date`` render in it. Without the cookie
(first visit, no JavaScript, an unknown name) pages use TIME_ZONE, and every ``|timestamp`` names
its zone, so a moment is never ambiguous.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

TIME_ZONE_COOKIE = "resultdeck_tz"
_NAME_MAX_LENGTH = 64


@lru_cache(maxsize=256)
def time_zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of an IANA name (``Europe/Paris``), or None for anything else."""
    # zoneinfo itself refuses absolute and relative paths (ValueError) before it reads a file.
    if not name or len(name) > _NAME_MAX_LENGTH:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = time_zone_named(request.COOKIES.get(TIME_ZONE_COOKIE, ""))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
