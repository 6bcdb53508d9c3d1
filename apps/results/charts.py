"""The cleanup page's charts, drawn as inline SVG: the geometry is computed here, the template only
places the shapes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.blocks.models import StorageBlock

from .models import ResultReference

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 200, 40
CHART_COLORS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2"]


@dataclass
class Series:
    label: str
    color: str
    points: str
    last: int


def chart_storage_over_time(*, days: int) -> dict:
    """Bytes stored per block at the end of each of the last ``days`` days."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    stored = ResultReference.objects.filter(is_literal=False)
    blocks = {block.pk: block.slug for block in StorageBlock.objects.all()}
    added: dict = {}
    for row in (
        stored.annotate(day=TruncDate("created")).values("block_id", "day").annotate(total=Sum("size_bytes"))
    ):
        added.setdefault(row["block_id"], {})[row["day"]] = row["total"] or 0
    removed: dict = {}
    for row in (
        stored.filter(purged_at__isnull=False)
        .annotate(day=TruncDate("purged_at"))
        .values("block_id", "day")
        .annotate(total=Sum("size_bytes"))
    ):
        removed.setdefault(row["block_id"], {})[row["day"]] = row["total"] or 0
    series_values: dict = {}
    for block_id in set(added) | set(removed):
        level = 0
        values = []
        for day in sorted(set(added.get(block_id, {})) | set(removed.get(block_id, {})) | {start}):
            if day >= start:
                break
            level += added.get(block_id, {}).get(day, 0) - removed.get(block_id, {}).get(day, 0)
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            level += added.get(block_id, {}).get(day, 0) - removed.get(block_id, {}).get(day, 0)
            values.append(max(level, 0))
        if any(values):
            series_values[blocks.get(block_id, "no block (detached)")] = values
    peak = max((max(values) for values in series_values.values()), default=0) or 1
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    series = []
    for index, (label, values) in enumerate(sorted(series_values.items())):
        step = inner_w / max(days - 1, 1)
        points = " ".join(
            f"{CHART_PAD + i * step:.1f},{CHART_PAD + inner_h - inner_h * value / peak:.1f}"
            for i, value in enumerate(values)
        )
        series.append(
            Series(label=label, color=CHART_COLORS[index % len(CHART_COLORS)], points=points, last=values[-1])
        )
    return {
        "series": series,
        "peak": peak,
        "start": start,
        "end": today,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": CHART_PAD,
        "axis_y": CHART_HEIGHT - CHART_PAD,
        "axis_x": CHART_WIDTH - CHART_PAD,
    }


def chart_bytes_by_expiration() -> dict:
    """Live stored bytes by when they expire: already expired, each of the next 7 days, later, never."""
    now = timezone.now()
    today = timezone.localdate()
    live = ResultReference.objects.live().filter(is_literal=False)
    buckets: list[tuple[str, int, int]] = []

    def add(label: str, queryset) -> None:
        row = queryset.aggregate(total=Sum("size_bytes"), count=Count("id"))
        buckets.append((label, row["total"] or 0, row["count"]))

    add("expired", live.filter(expiration__lte=now))
    for offset in range(7):
        day = today + dt.timedelta(days=offset)
        add(day.strftime("%a %d"), live.filter(expiration__gt=now, expiration__date=day))
    add("later", live.filter(expiration__date__gte=today + dt.timedelta(days=7)))
    add("never", live.filter(expiration__isnull=True))
    peak = max((total for _, total, _ in buckets), default=0) or 1
    inner_h = CHART_HEIGHT - 2 * CHART_PAD
    slot = (CHART_WIDTH - 2 * CHART_PAD) / len(buckets)
    bars = []
    for index, (label, total, count) in enumerate(buckets):
        height = inner_h * total / peak
        bars.append(
            {
                "label": label,
                "bytes": total,
                "count": count,
                "x": CHART_PAD + index * slot + slot * 0.15,
                "width": slot * 0.7,
                "y": CHART_PAD + inner_h - height,
                "height": height,
                "text_x": CHART_PAD + index * slot + slot / 2,
                "kind": "expired" if label == "expired" else "never" if label == "never" else "future",
            }
        )
    return {
        "bars": bars,
        "peak": peak,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "axis_y": CHART_HEIGHT - CHART_PAD,
    }
