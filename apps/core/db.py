"""Database helpers every app may use: bounded counts for tables that grow without bound."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

COUNT_LIMIT = 10_000


@dataclass
class BoundedCount:
    count: int
    limit: int
    more: bool = False

    @property
    def label(self) -> str:
        return f"{self.limit:,}+" if self.more else f"{self.count:,}"


def bounded_count(*, queryset: QuerySet, limit: int = COUNT_LIMIT) -> BoundedCount:
    """How many rows match, counting at most ``limit + 1`` (a LIMITed subquery, never a full COUNT)."""
    counted = queryset.order_by().values("pk")[: limit + 1].count()
    return BoundedCount(count=min(counted, limit), limit=limit, more=counted > limit)
