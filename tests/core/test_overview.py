"""The dashboard home page summarises the last day of runs and the state of stored results."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.flows.models import FlowRun, StateType
from apps.results.models import ResultReference
from project.home import overview_build, window_counts_cached

pytestmark = pytest.mark.django_db


def _run(state: StateType, *, age: dt.timedelta = dt.timedelta(minutes=5), result=None) -> FlowRun:
    return FlowRun.objects.create(
        name=f"r-{state.lower()}", flow_name="etl", state=state, created=timezone.now() - age, result=result
    )


def test_overview_counts_the_last_day_of_runs_by_state():
    _run(StateType.COMPLETED)
    _run(StateType.COMPLETED)
    _run(StateType.FAILED)
    _run(StateType.CRASHED)
    _run(StateType.COMPLETED, age=dt.timedelta(days=2))  # outside the window

    overview = overview_build()

    assert overview.runs_total == 4
    assert overview.failed_recently == 2
    assert ("COMPLETED", "Completed", 2) in overview.runs_by_state
    assert len(overview.recent_runs) == 5


def test_overview_reports_written_bytes_and_expiration():
    now = timezone.now()
    ResultReference.objects.create(
        storage_location="/s", key="a", size_bytes=1000, expiration=now - dt.timedelta(hours=1)
    )
    ResultReference.objects.create(
        storage_location="/s", key="b", size_bytes=500, expiration=now + dt.timedelta(days=2)
    )
    ResultReference.objects.create(
        storage_location="/s", key="c", size_bytes=1, created=now - dt.timedelta(days=3)
    )

    overview = overview_build()

    assert overview.results_written == 2
    assert overview.bytes_written == 1500
    assert overview.expired_label == "1"
    assert overview.expiring_soon_label == "1"


def test_home_page_shows_recent_runs_with_links(viewer_client):
    run = _run(StateType.FAILED)
    html = viewer_client.get("/").content.decode()
    assert f"/runs/{run.pk}/" in html
    assert "Failed or crashed" in html
    assert "Recent runs" in html


def test_home_page_guides_a_new_user_when_nothing_ran(viewer_client):
    html = viewer_client.get("/").content.decode()
    assert "No runs yet" in html
    assert "@flow" in html


def test_window_counts_are_shared_until_they_are_older_than_the_setting(settings):
    settings.HOME_WINDOW_CACHE_SECONDS = 10
    counted_at = timezone.now()
    first = window_counts_cached(now=counted_at)
    _run(StateType.FAILED)

    within = window_counts_cached(now=counted_at + dt.timedelta(seconds=9))
    assert within.as_of == counted_at
    assert within.runs_by_state == first.runs_by_state == []

    later = window_counts_cached(now=counted_at + dt.timedelta(seconds=10))
    assert later.as_of == counted_at + dt.timedelta(seconds=10)
    assert later.runs_by_state == [("FAILED", "Failed", 1)]


def test_window_counts_from_the_future_are_recounted(settings):
    """A clock set back (or counts left by a process with a fast clock) never pins the figures."""
    settings.HOME_WINDOW_CACHE_SECONDS = 10
    now = timezone.now()
    window_counts_cached(now=now + dt.timedelta(minutes=5))
    _run(StateType.COMPLETED)

    assert window_counts_cached(now=now).runs_by_state == [("COMPLETED", "Completed", 1)]


def test_home_page_says_when_the_window_was_counted(viewer_client, settings):
    settings.HOME_WINDOW_CACHE_SECONDS = 10
    counts = window_counts_cached()
    _run(StateType.COMPLETED)

    html = viewer_client.get("/").content.decode()

    assert f"as of {timezone.localtime(counts.as_of):%H:%M:%S}" in html
    assert "Completed 1" not in html  # counted before the run: the shared counts are shown
    assert "r-completed" in html  # while the recent runs are read for every request
