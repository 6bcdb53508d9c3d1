"""The runs pages: list with filters in the URL, keyset pages, live polling, htmx fragments; run detail."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.flows.models import FlowRun
from tests.dashboard_data import T0, flow_run, literal_result, stored_result, task_run

pytestmark = pytest.mark.django_db
RUNS = reverse("flows:run-list")


def test_anonymous_users_are_sent_to_login(client):
    run = flow_run()
    for url in (RUNS, reverse("flows:run-detail", args=[run.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_user_without_a_role_is_refused(client, make_user):
    client.force_login(make_user(None, username="no-role-user"))
    assert client.get(RUNS).status_code == 403


def test_empty_state(viewer_client):
    response = viewer_client.get(RUNS)
    assert response.status_code == 200
    assert "No runs yet" in response.content.decode()


def test_list_shows_state_flow_duration_start_and_result_badge(viewer_client, tmp_path):
    reference = stored_result(tmp_path, {"rows": 3}, serializer="json")
    flow_run(name="brave-otter", flow_name="etl", result=reference, duration=dt.timedelta(seconds=75))
    flow_run(name="calm-heron", flow_name="quiz", state="FAILED", result=literal_result(None))
    html = viewer_client.get(RUNS).content.decode()
    assert "brave-otter" in html and "calm-heron" in html
    assert "state-completed" in html and "state-failed" in html
    assert "1m 15s" in html
    assert '<time datetime="2025-03-01T12:00:00+00:00"' in html and "2025-03-01 12:00 UTC" in html
    assert reverse("results:result-detail", args=[reference.pk]) in html
    assert ">dict<" in html and ">json<" in html  # value type and serializer in the badge
    assert "literal" in html
    assert 'hx-trigger="every' not in html  # nothing is running: no polling


def test_filters_live_in_the_url_and_keep_their_values(viewer_client):
    flow_run(name="keep", flow_name="etl", state="FAILED")
    flow_run(name="drop", flow_name="etl", created=T0 + dt.timedelta(minutes=1))
    response = viewer_client.get(RUNS, {"flow": "etl", "state": "FAILED"})
    html = response.content.decode()
    assert "keep" in html and "drop" not in html
    assert 'value="etl"' in html and '<option value="FAILED" selected>' in html
    assert 'method="get"' in html


def test_invalid_filters_show_an_error_not_a_500(viewer_client):
    response = viewer_client.get(RUNS, {"state": "SLEEPING", "created_after": "soon"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_keyset_pager_links_and_a_bad_cursor(viewer_client):
    for minute in range(5):
        flow_run(name=f"otter{minute}", created=T0 + dt.timedelta(minutes=minute))
    html = viewer_client.get(RUNS, {"page_size": 2}).content.decode()
    assert "otter4" in html and "otter2" not in html
    assert "Older" in html and "cursor=" in html
    bad = viewer_client.get(RUNS, {"cursor": "not-a-cursor"})
    assert bad.status_code == 200 and "not valid" in bad.content.decode()


def test_running_rows_poll_and_the_poll_returns_only_the_rows(viewer_client):
    flow_run(name="busy", state="RUNNING", duration=None)
    html = viewer_client.get(RUNS).content.decode()
    assert 'id="run-rows"' in html and 'hx-trigger="every 3s"' in html
    rows = viewer_client.get(RUNS, headers={"HX-Request": "true", "HX-Target": "run-rows"})
    fragment = rows.content.decode()
    assert fragment.lstrip().startswith("<tbody") and "<html" not in fragment
    FlowRun.objects.update(state="COMPLETED", end_time=T0 + dt.timedelta(seconds=3))
    done = viewer_client.get(RUNS, headers={"HX-Request": "true", "HX-Target": "run-rows"}).content.decode()
    assert "hx-trigger" not in done  # the last run finished: polling stops


def test_htmx_filter_requests_get_the_table_fragment(viewer_client):
    flow_run()
    response = viewer_client.get(
        RUNS, {"flow": "etl"}, headers={"HX-Request": "true", "HX-Target": "run-table"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="run-table"') and "<html" not in html


def test_detail_shows_parameters_history_timeline_and_task_results(viewer_client, tmp_path):
    reference = stored_result(tmp_path, 42, serializer="pickle")
    run = flow_run(name="brave-otter", parameters={"rows": 100, "region": "north"})
    task_run(run, task_name="extract", result=reference, cache_key="abc123cachekey")
    task_run(run, task_name="transform", offset=dt.timedelta(seconds=2), state="FAILED")
    html = viewer_client.get(reverse("flows:run-detail", args=[run.pk])).content.decode()
    assert "&quot;region&quot;: &quot;north&quot;" in html
    assert "Pending" in html and "Running" in html
    assert 'class="gantt-bar state-completed' in html and "left: 0.0%; width: 16.667%" in html
    assert "abc123cachekey" in html
    assert reverse("results:result-detail", args=[reference.pk]) in html
    assert 'hx-trigger="every' not in html


def test_detail_of_a_running_run_polls_its_live_part(viewer_client):
    run = flow_run(state="RUNNING", duration=None)
    url = reverse("flows:run-detail", args=[run.pk])
    assert 'hx-trigger="every 3s"' in viewer_client.get(url).content.decode()
    fragment = viewer_client.get(
        url, headers={"HX-Request": "true", "HX-Target": "run-live"}
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="run-live"')


def test_detail_of_an_unknown_run_is_404(viewer_client):
    assert (
        viewer_client.get(
            reverse("flows:run-detail", args=["8d5b8f8e-7a53-4bd8-9b7c-4a0d1b0b7f00"])
        ).status_code
        == 404
    )


def test_parameters_are_escaped(viewer_client):
    flow_run(parameters={"x": "<script>alert(1)</script>"})
    html = viewer_client.get(RUNS).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
