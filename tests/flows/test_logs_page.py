"""A run's Logs section: level filter and text search (htmx fragment or full page), keyset pages,
a live tail that stops when the run is final, each task run's lines from its row, the cut notice;
and the same lines in the API with the roles of runs."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.flows.logs.browse import LOG_PAGE_SIZE
from apps.flows.models import FlowRun, RunLog, TaskRun
from tests.dashboard_data import T0, flow_run, task_run

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def log(run: FlowRun, message: str, *, level: int = logging.INFO, task: TaskRun | None = None, **fields):
    return RunLog.objects.create(
        flow_run=run,
        task_run=task,
        level=level,
        timestamp=T0,
        logger="resultdeck.task_runs" if task else "resultdeck.flow_runs",
        message=message,
        **fields,
    )


@pytest.fixture
def logged_run():
    run = flow_run(name="noisy-otter")
    extract = task_run(run, task_name="extract")
    log(run, "flow starting")
    log(run, "reading rows", task=extract)
    log(run, "slow disk", level=logging.WARNING, task=extract)
    log(run, "gave up on shard 3", level=logging.ERROR)
    return run, extract


def page(client, run, **params):
    return client.get(reverse("flows:run-detail", args=[run.pk]), params).content.decode()


def messages(html: str) -> list[str]:
    candidates = ["flow starting", "reading rows", "slow disk", "gave up on shard 3"]
    return [text for text in candidates if f'<span class="log-message">{text}</span>' in html]


def test_the_run_page_shows_every_line_with_its_level_time_and_task_run(viewer_client, logged_run):
    run, extract = logged_run
    html = page(viewer_client, run)
    assert messages(html) == ["flow starting", "reading rows", "slow disk", "gave up on shard 3"]
    assert '<span class="log-level">WARNING</span>' in html
    assert ">2025-03-01 </span>12:00:00.000</time>" in html
    assert f">{extract.name}</a>" in html
    assert 'hx-trigger="every 2s"' not in html  # a final run is not tailed


def test_level_filter_keeps_lines_at_or_above_it_as_a_fragment_or_a_full_page(viewer_client, logged_run):
    run, _ = logged_run
    full = page(viewer_client, run, level=logging.WARNING)
    assert messages(full) == ["slow disk", "gave up on shard 3"]
    assert "<html" in full and '<option value="30" selected>' in full
    url = reverse("flows:run-detail", args=[run.pk])
    fragment = viewer_client.get(url, {"level": "error"}, HTTP_HX_TARGET="run-logs", **HTMX).content.decode()
    assert messages(fragment) == ["gave up on shard 3"]
    assert "<html" not in fragment and fragment.lstrip().startswith('<article class="panel" id="run-logs">')
    assert "Timeline" not in fragment


def test_text_search_and_an_invalid_level(viewer_client, logged_run):
    run, _ = logged_run
    assert messages(page(viewer_client, run, q="SHARD")) == ["gave up on shard 3"]
    assert "No log lines match" in page(viewer_client, run, q="nothing like this")
    html = page(viewer_client, run, level="loud")
    assert "Select a valid choice" in html
    assert len(messages(html)) == 4


def test_each_task_run_row_links_to_its_lines(viewer_client, logged_run):
    run, extract = logged_run
    html = page(viewer_client, run)
    link = f"?task_run={extract.pk}#logs"
    assert f'<a class="task-logs" href="{link}"' in html
    only = page(viewer_client, run, task_run=str(extract.pk))
    assert messages(only) == ["reading rows", "slow disk"]
    assert f"of task run {extract.name}" in only and "all lines</a>" in only


def test_lines_come_in_keyset_pages(viewer_client):
    run = flow_run()
    RunLog.objects.bulk_create(
        RunLog(flow_run=run, level=logging.INFO, timestamp=T0, logger="x", message=f"line {i}")
        for i in range(LOG_PAGE_SIZE + 5)
    )
    html = page(viewer_client, run)
    assert f">line {LOG_PAGE_SIZE - 1}<" in html and f">line {LOG_PAGE_SIZE}<" not in html
    last = RunLog.objects.order_by("id")[LOG_PAGE_SIZE - 1]
    assert f'href="?logs_after={last.pk}#logs"' in html and "Next lines" in html
    following = page(viewer_client, run, logs_after=last.pk)
    assert ">line 0<" not in following and f">line {LOG_PAGE_SIZE + 4}<" in following
    assert "Next lines" not in following and "From the first line" in following


def test_a_running_run_is_tailed_every_2s_until_it_is_final(viewer_client):
    run = flow_run(state="RUNNING", duration=None)
    first = log(run, "first")
    url = reverse("flows:run-detail", args=[run.pk])
    html = viewer_client.get(url).content.decode()
    assert f'hx-get="?logs_after={first.pk}" hx-trigger="every 2s"' in html

    second = log(run, "second")
    tail = viewer_client.get(
        url, {"logs_after": first.pk}, HTTP_HX_TARGET="log-tail", **HTMX
    ).content.decode()
    assert messages_in(tail) == ["second"]
    assert f'hx-get="?logs_after={second.pk}" hx-trigger="every 2s"' in tail

    log(run, "last words")
    run.state, run.end_time = "COMPLETED", T0 + dt.timedelta(seconds=5)
    run.save()
    tail = viewer_client.get(
        url, {"logs_after": second.pk}, HTTP_HX_TARGET="log-tail", **HTMX
    ).content.decode()
    assert messages_in(tail) == ["last words"]
    assert "hx-trigger" not in tail


def messages_in(html: str) -> list[str]:
    return [part.split("</span>")[0] for part in html.split('<span class="log-message">')[1:]]


def test_a_cut_run_says_how_many_lines_were_dropped(viewer_client, logged_run):
    run, _ = logged_run
    assert "were cut" not in page(viewer_client, run)
    log(run, "1200 more log lines dropped", level=logging.WARNING, dropped=1200)
    assert "logs were cut at the volume limit: 1200 more lines were dropped" in page(viewer_client, run)


def test_the_api_pages_a_runs_lines_filtered_by_level_and_task_run(api, logged_run):
    run, extract = logged_run
    url = f"/api/runs/{run.pk}/logs/"
    body = api("viewer").get(url).json()
    assert [line["message"] for line in body["results"]] == [
        "flow starting",
        "reading rows",
        "slow disk",
        "gave up on shard 3",
    ]
    assert body["results"][2]["level"] == 30 and body["results"][2]["level_name"] == "WARNING"
    assert body["results"][1]["task_run"] == str(extract.pk)
    warning = api("viewer").get(url, {"level": "warning"}).json()["results"]
    assert [line["message"] for line in warning] == ["slow disk", "gave up on shard 3"]
    of_task = api("viewer").get(url, {"task_run": str(extract.pk), "level": 30}).json()["results"]
    assert [line["message"] for line in of_task] == ["slow disk"]
    first = api("viewer").get(url, {"page_size": 3}).json()
    rest = api("viewer").get(first["next"]).json()
    assert [line["message"] for line in rest["results"]] == ["gave up on shard 3"]
    assert api("viewer").get(url, {"level": "loud"}).status_code == 400


def test_the_api_of_logs_has_the_roles_of_runs(api, logged_run):
    run, _ = logged_run
    url = f"/api/runs/{run.pk}/logs/"
    assert APIClient().get(url).status_code == 401
    assert api(None).get(url).status_code == 403
    assert api("viewer").get(url).status_code == 200
    assert api("viewer").post(url, {}).status_code in (403, 405)
