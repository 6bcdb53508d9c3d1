from rest_framework.pagination import CursorPagination, PageNumberPagination


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
