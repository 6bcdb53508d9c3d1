"""The rows of the expiring-soon table, rendered in Python.

The page lists up to 200 results, and through template nodes each row cost as much as the rest of
the page (a URL, a timestamp with its relative time as a title, the relative time again, a size and
a storage label per row); here a row is one ``format_html``, which escapes every value, and the
relative time is computed once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django import template
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timeuntil

from apps.core.templatetags.display import TIMESTAMP_FORMAT, short_location, size_short
from apps.results.models import ResultReference

register = template.Library()

KEY_SHOWN_CHARS = 48
# What a row reads: the page loads only these columns of its 200 results and their blocks.
ROW_FIELDS = (
    "key",
    "value_type",
    "storage_location",
    "size_bytes",
    "expiration",
    "block__block_type",
    "block__name",
)
ROW = (
    '<tr><td class="result-key"><a href="{}"><code title="{}">{}</code></a></td>'
    '<td><span class="type-tag">{}</span></td><td>{}</td><td class="num">{}</td>'
    '<td class="nowrap"><time datetime="{}">{}</time> <span class="muted">(in {})</span></td></tr>'
)


def _storage_html(result: ResultReference) -> SafeString:
    if result.block_id:
        return format_html(
            '<span class="badge type-{}">{}</span>', result.block.block_type, result.block.slug
        )
    return format_html("<code>{}</code>", short_location(result.storage_location))


def _moment(value: dt.datetime) -> tuple[str, str]:
    """The page's timestamp (the configured zone, to the minute) without the relative title that
    ``display.timestamp`` computes: the row shows the time left beside it."""
    local = timezone.localtime(value)
    return local.isoformat(), date_format(local, TIMESTAMP_FORMAT)


@register.simple_tag
def expiring_rows(results: Iterable[ResultReference], now: dt.datetime) -> SafeString:
    """One ``<tr>`` per result: key (linked), value type, storage, size, expiration and time left."""
    return format_html_join(
        "\n",
        ROW,
        (
            (
                reverse("results:result-detail", args=[result.pk]),
                result.key,
                truncatechars(result.key, KEY_SHOWN_CHARS),
                result.value_type or "?",
                _storage_html(result),
                size_short(result.size_bytes) or "?",
                *_moment(result.expiration),
                timeuntil(result.expiration, now),
            )
            for result in results
        ),
    )
