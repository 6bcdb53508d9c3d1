"""Large runs: the run page shows one page of task runs (table and timeline) with a summary per task
name, and serves with the same number of queries at 100 and at 2,000 task runs."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.flows.browse import TASK_RUNS_SHOWN
from apps.flows.models import FlowRun, RunLog, TaskRun
from tests.dashboard_data import flow_run

pytestmark = pytest.mark.django_db


def tasks_add(run: FlowRun, count: int, *, names: tuple[str, ...] = ("extract", "load")) -> None:
    start = TaskRun.objects.filter(flow_run=run).count()
    TaskRun.objects.bulk_create(
        TaskRun(
            flow_run=run,
            task_name=names[i % len(names)],
            name=f"{names[i % len(names)]}-{i:05d}",
            state="FAILED" if i % 97 == 0 else "COMPLETED",
            created=run.start_time + dt.timedelta(milliseconds=i),
            start_time=run.start_time + dt.timedelta(milliseconds=i),
            end_time=run.start_time + dt.timedelta(milliseconds=i + 5),
            run_count=1,
        )
        for i in range(start, start + count)
    )


def queries_for(client, run: FlowRun, **params) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("flows:run-detail", args=[run.pk]), params)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_page_shows_one_page_of_task_runs_and_a_summary_by_task_name(viewer_client):
    run = flow_run(duration=dt.timedelta(seconds=10))
    tasks_add(run, 301)
    html = queries_for(viewer_client, run)[1]
    assert html.count('<tr id="task-') == TASK_RUNS_SHOWN
    assert html.count('class="gantt-row"') == TASK_RUNS_SHOWN
    assert f"{TASK_RUNS_SHOWN} of 301 task runs" in html
    extract_row = '<a href="?task=extract#tasks">extract</a></td><td class="num">151</td><td class="num">'
    assert extract_row + '<span class="error">2</span>' in html
    assert '<a href="?task=load#tasks">load</a></td><td class="num">150</td>' in html
    assert "Next 100 ›" in html and "« First" not in html  # noqa: RUF001
    cursor = html.split('href="?tasks_cursor=')[1].split("#tasks")[0]
    second = queries_for(viewer_client, run, tasks_cursor=cursor)[1]
    assert "extract-00100" in second and "extract-00098" not in second and "« First" in second


def test_task_runs_can_be_shown_for_one_task_name(viewer_client):
    run = flow_run(duration=dt.timedelta(seconds=10))
    tasks_add(run, 10)
    html = queries_for(viewer_client, run, task="load")[1]
    assert html.count('<tr id="task-') == 5 and "extract-00000" not in html
    assert "all tasks</a>" in html


def test_a_bad_task_page_cursor_shows_the_first_page_with_an_error(viewer_client):
    run = flow_run()
    tasks_add(run, 3)
    html = queries_for(viewer_client, run, tasks_cursor="nonsense")[1]
    assert "is not valid; start from the first page" in html
    assert html.count('<tr id="task-') == 3


def test_the_run_page_makes_as_many_queries_at_2000_task_runs_as_at_100(viewer_client):
    run = flow_run(duration=dt.timedelta(seconds=60))
    tasks_add(run, 100)
    RunLog.objects.bulk_create(
        RunLog(flow_run=run, level=logging.INFO, timestamp=run.start_time, logger="x", message=f"line {i}")
        for i in range(300)
    )
    small, _ = queries_for(viewer_client, run)
    tasks_add(run, 1900)
    large, html = queries_for(viewer_client, run)
    assert "100 of 2000 task runs" in html
    assert large == small
    assert small <= 12
