import re

from django.http import Http404
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class KeysetPagination(CursorPagination):
    """For tables that grow without bound: no COUNT(*), stable under inserts."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created", "-id")


# Django's get_object_or_404 says "No ResultReference matches the given query.": a model name is
# ours, not the API's. Other 404s say something meant for the caller and keep it.
MODEL_NOT_FOUND = re.compile(r"No \w+ matches the given query\.")


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, with a missing object reported as plain "Not found."."""
    if isinstance(exc, Http404) and MODEL_NOT_FOUND.fullmatch(str(exc)):
        exc = NotFound()
    return exception_handler(exc, context)
