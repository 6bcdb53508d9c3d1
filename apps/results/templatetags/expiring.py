"""The rows of the expiring-soon table, rendered in Python.

The page lists up to 200 results, and through template nodes each row cost as much as the rest of
the page (a URL, a timestamp with its relative time as a title, the relative time again, a size and
a storage label per row). Here a row is one f-string: every value in it is escaped here (the same
``html.escape`` Django's escaping calls), the detail URL is reversed once for the whole table, and
the relative time is computed once a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from html import escape

from django import template
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timeuntil

from apps.core.templatetags.display import TIMESTAMP_FORMAT, short_location, size_short
from apps.results.models import ResultReference

register = template.Library()

KEY_SHOWN_CHARS = 48
# What a row reads: the page loads only these columns of its results and their blocks.
ROW_FIELDS = (
    "key",
    "value_type",
    "storage_location",
    "size_bytes",
    "expiration",
    "block__block_type",
    "block__name",
)
# A primary key no result has, reversed once and replaced by each row's own.
PK_PLACEHOLDER = 987654321


def _storage_html(result: ResultReference) -> str:
    if result.block_id:
        block = result.block
        return f'<span class="badge type-{escape(block.block_type)}">{escape(block.slug)}</span>'
    return f"<code>{escape(short_location(result.storage_location))}</code>"


def _row_html(result: ResultReference, *, url: str, now: dt.datetime) -> str:
    # The page's timestamp (the configured zone, to the minute) without the relative title that
    # display.timestamp adds: the row shows the time left beside it.
    local = timezone.localtime(result.expiration)
    return (
        f'<tr><td class="result-key"><a href="{escape(url)}"><code title="{escape(result.key)}">'
        f"{escape(truncatechars(result.key, KEY_SHOWN_CHARS))}</code></a></td>"
        f'<td><span class="type-tag">{escape(result.value_type or "?")}</span></td>'
        f"<td>{_storage_html(result)}</td>"
        f'<td class="num">{escape(size_short(result.size_bytes) or "?")}</td>'
        f'<td class="nowrap"><time datetime="{escape(local.isoformat())}">'
        f"{escape(date_format(local, TIMESTAMP_FORMAT))}</time> "
        f'<span class="muted">(in {escape(timeuntil(result.expiration, now))})</span></td></tr>'
    )


@register.simple_tag
def expiring_rows(results: Iterable[ResultReference], now: dt.datetime) -> SafeString:
    """One ``<tr>`` per result: key (linked), value type, storage, size, expiration and time left."""
    detail = reverse("results:result-detail", args=[PK_PLACEHOLDER])
    placeholder = str(PK_PLACEHOLDER)
    rows = (_row_html(result, url=detail.replace(placeholder, str(result.pk)), now=now) for result in results)
    return mark_safe("\n".join(rows))  # noqa: S308 - every value is escaped in _row_html
