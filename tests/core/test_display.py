"""The shared display filters: one timestamp format, in the configured zone, with relative time."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template
from django.utils import timezone

from apps.core.templatetags.display import moment_relative


def render(source: str, **context) -> str:
    return Template("{% load display %}" + source).render(Context(context))


def test_a_timestamp_reads_in_the_configured_zone_with_the_relative_time_as_title(settings):
    settings.TIME_ZONE = "Europe/Paris"
    moment = timezone.now().replace(month=1, day=15, hour=12, minute=30, second=0, microsecond=0)
    moment = moment.replace(year=timezone.now().year - 1)
    html = render("{{ when|timestamp }}", when=moment)
    local = moment.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert html.startswith(f'<time datetime="{local.isoformat()}" title="')
    assert html.endswith(f' ago">{local:%Y-%m-%d} 13:30 CET</time>')


def test_relative_time_says_ago_or_in():
    now = timezone.now()
    assert moment_relative(now - dt.timedelta(minutes=5), now=now) == "5\xa0minutes ago"
    assert moment_relative(now + dt.timedelta(days=3, hours=1), now=now) == "in 3\xa0days, 1\xa0hour"
    assert render("{{ nothing|timestamp }}", nothing=None) == ""


def test_a_timestamp_reads_an_iso_string_and_can_show_seconds(settings):
    settings.TIME_ZONE = "UTC"
    html = render('{{ when|timestamp:"seconds" }}', when="2025-03-10T12:34:56.789012Z")
    assert html.startswith('<time datetime="2025-03-10T12:34:56.789012+00:00" title="')
    assert html.endswith(">2025-03-10 12:34:56 UTC</time>")
    assert render("{{ when|timestamp }}", when="not a time") == ""
    assert ">2025-03-10 12:34 UTC</time>" in render("{{ when|timestamp }}", when="2025-03-10T12:34:56")


def test_spaced_reads_a_snake_case_key_as_words():
    assert render("{{ key|spaced }}", key="flow_runs") == "flow runs"


@pytest.mark.django_db
def test_a_result_not_yet_read_shows_no_question_marks():
    from apps.results.models import ResultReference

    unread = ResultReference.objects.create(storage_location="/srv/r", key="abc", serializer_type="pickle")
    html = render("{% result_badge result %}", result=unread)
    assert '<span class="rb-type">result</span>' in html
    assert "?" not in html.replace(f"/results/{unread.pk}/", "")
