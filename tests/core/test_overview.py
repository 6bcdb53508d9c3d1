"""The dashboard home page summarises the last day of runs and the state of stored results."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.flows.models import FlowRun, StateType
from apps.results.models import ResultReference
from project.home import overview_build

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
