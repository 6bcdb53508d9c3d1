"""Display filters and tags every page shares: durations, sizes, storage locations, value types,
compact JSON and the one-pill summary of a result.

The result pill is rendered in Python because list pages show one per row; everything in it is
escaped here.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince, timeuntil

from apps.core import formatting

register = template.Library()

PLAIN_TYPES = {
    "builtins.dict": "dict",
    "builtins.list": "list",
    "builtins.tuple": "tuple",
    "builtins.set": "set",
    "builtins.frozenset": "frozenset",
    "builtins.str": "str",
    "builtins.int": "int",
    "builtins.float": "float",
    "builtins.bool": "bool",
    "builtins.NoneType": "None",
    "builtins.bytes": "bytes",
    "builtins.bytearray": "bytearray",
}


@register.filter
def duration_short(value) -> str:
    return formatting.duration_short(value)


@register.filter
def size_short(value) -> str:
    return formatting.size_short(value)


@register.filter
def short_location(value: str) -> str:
    return formatting.location_short(value)


@register.filter
def short_type(value: str) -> str:
    if not value:
        return ""
    return PLAIN_TYPES.get(
        value, PLAIN_TYPES.get(f"builtins.{value}", value.rpartition(".")[2] if "." in value else value)
    )


# The one way a moment reads on every page: in the viewer's zone (apps/core/time_zone.py), to the minute.
TIMESTAMP_FORMAT = "Y-m-d H:i T"
TIMESTAMP_SECONDS_FORMAT = "Y-m-d H:i:s T"


def moment_relative(value, *, now=None) -> str:
    """ "5 minutes ago" or "in 3 days"."""
    now = now or timezone.now()
    if value <= now:
        return f"{timesince(value, now)} ago"
    return f"in {timeuntil(value, now)}"


@register.filter
def timestamp(value, precision: str = "") -> SafeString | str:
    """A ``<time>`` in the active (viewer's) zone, named, with the relative time as its title.

    ``value`` is a datetime or an ISO 8601 string (as Prefect's API gives); ``|timestamp:"seconds"``
    shows the seconds too, where moments are close together (a run's state history).
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    if not value:
        return ""
    if timezone.is_naive(value):  # Prefect's API and our own records mean UTC
        value = timezone.make_aware(value, dt.UTC)
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        moment_relative(value),
        date_format(local, TIMESTAMP_SECONDS_FORMAT if precision == "seconds" else TIMESTAMP_FORMAT),
    )


@register.filter
def spaced(name: str) -> str:
    """A snake_case key as words: ``flow_runs`` reads "flow runs"."""
    return str(name).replace("_", " ")


@register.filter
def written_by(prefect_version: str) -> str:
    """Who wrote a result file, from its ``prefect_version`` ("resultdeck-0.1.0" is ours)."""
    if not prefect_version:
        return ""
    ours, _, version = prefect_version.partition("resultdeck-")
    if not ours and version:
        return f"Resultdeck {version}"
    return f"Prefect {prefect_version}"


@register.filter
def json_text(value: Any, max_chars: int | None = None) -> str:
    """Compact JSON of a (JSON-safe) value; cut to ``max_chars`` with an ellipsis."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    if max_chars and len(text) > int(max_chars):
        return text[: int(max_chars) - 1] + "\u2026"
    return text


@register.filter
def json_text_pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


@register.simple_tag
def result_badge(result: Any) -> SafeString:
    """One compact pill per result: type, size, serializer, storage, expiration."""
    if result is None:
        return mark_safe('<span class="muted" title="no result persisted">\u2014</span>')
    # A result not yet read (synced from Prefect, or indexed) has no type or size yet: say "result"
    # and leave the size out rather than show question marks.
    parts = [f'<span class="rb-type">{escape(short_type(result.value_type) or "result")}</span>']
    if result.is_literal:
        literal = "None" if result.literal_value is None else str(result.literal_value)
        parts.append(f'<span class="rb-part rb-literal">{escape(literal)}</span>')
        parts.append('<span class="rb-part muted">literal</span>')
        title = "literal kept in the database"
    else:
        storage = result.block.slug if result.block_id else short_location(result.storage_location)
        if result.size_bytes is not None:
            parts.append(f'<span class="rb-part">{escape(size_short(result.size_bytes))}</span>')
        parts.append(f'<span class="rb-part">{escape(result.serializer_type or "?")}</span>')
        parts.append(f'<span class="rb-part rb-storage">{escape(storage)}</span>')
        title = str(result)
    state = ""
    if result.purged_at:
        purged_on = escape(date_format(timezone.localtime(result.purged_at), "Y-m-d"))
        parts.append(f'<span class="rb-part rb-bad" title="result purged">purged on {purged_on}</span>')
        state = " is-purged"
    elif result.is_expired:
        parts.append('<span class="rb-part rb-bad">expired</span>')
        state = " is-expired"
    elif result.expiration:
        when = escape(date_format(timezone.localtime(result.expiration), TIMESTAMP_FORMAT))
        remaining = escape(timeuntil(result.expiration))
        parts.append(f'<span class="rb-part rb-exp" title="expires {when}">exp {remaining}</span>')
    url = reverse("results:result-detail", args=[result.pk])
    return mark_safe(  # noqa: S308 - every part is escaped above
        f'<a class="result-badge{state}" href="{url}" title="{escape(title)}">{"".join(parts)}</a>'
    )
