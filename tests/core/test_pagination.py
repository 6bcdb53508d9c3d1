"""Keyset pages, cursors, bounded counts and the filter part of a querystring."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from apps.core import db, pagination
from apps.results.models import ResultReference
from tests.dashboard_data import references_bulk as references

pytestmark = pytest.mark.django_db


def walk(queryset, *, page_size: int) -> list[int]:
    seen, cursor = [], None
    while True:
        page = pagination.keyset_page(queryset=queryset, cursor=cursor, page_size=page_size)
        seen += [row.pk for row in page.items]
        if not page.has_next:
            return seen
        cursor = page.next_cursor


def test_pages_walk_every_row_once_newest_first_even_when_timestamps_tie():
    references(23, same_time=True)
    references(7)
    expected = list(ResultReference.objects.order_by("-created", "-id").values_list("pk", flat=True))
    assert walk(ResultReference.objects.all(), page_size=5) == expected


def test_previous_cursor_returns_the_page_before():
    references(12)
    first = pagination.keyset_page(queryset=ResultReference.objects.all(), page_size=5)
    second = pagination.keyset_page(
        queryset=ResultReference.objects.all(), cursor=first.next_cursor, page_size=5
    )
    back = pagination.keyset_page(
        queryset=ResultReference.objects.all(), cursor=second.previous_cursor, page_size=5
    )
    assert [r.pk for r in back.items] == [r.pk for r in first.items]
    assert not back.has_previous and back.has_next
    assert not first.has_previous and second.has_previous


def test_a_page_uses_no_offset_and_no_count():
    references(30)
    first = pagination.keyset_page(queryset=ResultReference.objects.all(), page_size=10)
    with CaptureQueriesContext(connection) as queries:
        pagination.keyset_page(queryset=ResultReference.objects.all(), cursor=first.next_cursor, page_size=10)
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert len(queries.captured_queries) == 1
    assert "OFFSET" not in sql and "COUNT(" not in sql


@pytest.mark.parametrize("cursor", ["garbage", "bnx8fHw", "", "bnwyMDI1LTAxLTAxfDE"])
def test_edited_cursors_are_refused_with_a_clear_error(cursor):
    if not cursor:
        assert pagination.keyset_page(queryset=ResultReference.objects.all()).items == []
        return
    with pytest.raises(pagination.InvalidCursorError, match="not valid"):
        pagination.keyset_page(queryset=ResultReference.objects.all(), cursor=cursor)


def test_bounded_count_stops_counting_at_the_limit():
    references(25)
    small = db.bounded_count(queryset=ResultReference.objects.all(), limit=10)
    assert (small.count, small.more, small.label) == (10, True, "10+")
    exact = db.bounded_count(queryset=ResultReference.objects.all(), limit=100)
    assert (exact.count, exact.more, exact.label) == (25, False, "25")
    assert db.COUNT_LIMIT == 10_000
    assert db.BoundedCount(count=10_000, limit=10_000, more=True).label == "10,000+"


def test_querystring_without_drops_paging_and_empty_values():
    assert (
        pagination.querystring_without(QueryDict("cursor=abc&flow=etl&state=&select=all&block=x"))
        == "block=x&flow=etl"
    )
