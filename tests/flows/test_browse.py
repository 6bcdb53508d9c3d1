"""Browsing runs: filters, keyset pages, live rows and the task-run timeline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import QueryDict

from apps.flows import browse
from tests.dashboard_data import T0, flow_run, stored_result, task_run

pytestmark = pytest.mark.django_db


def names(runs_page) -> list[str]:
    return [run.name for run in runs_page.page.items]


@pytest.fixture
def runs(tmp_path):
    json_result = stored_result(tmp_path / "store", {"total": 3}, serializer="json")
    pickle_result = stored_result(
        tmp_path / "store", [1, 2], serializer="pickle", expiration=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    return [
        flow_run(name="r1", flow_name="etl", created=T0, parameters={"region": "north"}, result=json_result),
        flow_run(name="r2", flow_name="etl", created=T0 + dt.timedelta(hours=1), state="FAILED"),
        flow_run(name="r3", flow_name="quiz", created=T0 + dt.timedelta(days=2), result=pickle_result),
        flow_run(name="r4", flow_name="quiz", created=T0 + dt.timedelta(days=3), state="RUNNING"),
    ]


def test_runs_are_listed_newest_first(runs):
    assert names(browse.runs_page(params=QueryDict())) == ["r4", "r3", "r2", "r1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("flow=etl", ["r2", "r1"]),
        ("state=FAILED", ["r2"]),
        ("state=FAILED&flow=quiz", []),
        ("created_after=2025-03-02", ["r4", "r3"]),
        ("created_before=2025-03-01", ["r2", "r1"]),
        ("created_after=2025-03-03&created_before=2025-03-03", ["r3"]),
        ("has_result=yes", ["r3", "r1"]),
        ("has_result=no", ["r4", "r2"]),
        ("serializer=json", ["r1"]),
        ("expired=yes", ["r3"]),
        ("expired=no", ["r1"]),
        ("q=north", ["r1"]),
        ("q=R3", ["r3"]),
    ],
)
def test_filters(runs, query, expected):
    assert names(browse.runs_page(params=QueryDict(query))) == expected


def test_storage_block_filter(runs, tmp_path):
    from apps.blocks.services import block_create

    block = block_create(
        block_type="local-file-system", name="archive", settings={"basepath": str(tmp_path / "b")}
    )
    reference = runs[0].result
    reference.block = block
    reference.save()
    assert names(browse.runs_page(params=QueryDict(f"block={block.pk}"))) == ["r1"]


def test_invalid_filter_values_are_ignored_and_reported_by_the_form(runs):
    result = browse.runs_page(params=QueryDict("state=SLEEPING"))
    assert names(result) == ["r4", "r3", "r2", "r1"]
    assert "state" in result.filterset.errors


def test_keyset_pages_and_live_rows(runs):
    first = browse.runs_page(params=QueryDict(), page_size=2)
    assert names(first) == ["r4", "r3"] and first.has_live_rows
    second = browse.runs_page(params=QueryDict(), cursor=first.page.next_cursor, page_size=2)
    assert names(second) == ["r2", "r1"] and not second.has_live_rows
    assert not second.page.has_next


def test_timeline_positions_bars_by_start_and_end():
    run = flow_run(duration=dt.timedelta(seconds=10))
    first = task_run(run, task_name="extract", offset=dt.timedelta(0), duration=dt.timedelta(seconds=2))
    second = task_run(run, task_name="load", offset=dt.timedelta(seconds=5), duration=dt.timedelta(seconds=5))
    tasks, more = browse.run_task_runs(run=run)
    assert tasks == [first, second] and not more
    timeline = browse.timeline_build(run=run, task_runs=tasks)
    bars = {bar.task_run.task_name: bar for bar in timeline.bars}
    assert (bars["extract"].left_pct, bars["extract"].width_pct) == (0.0, 20.0)
    assert (bars["load"].left_pct, bars["load"].width_pct) == (50.0, 50.0)
    assert timeline.duration == dt.timedelta(seconds=10)
    assert [label for _, label in timeline.ticks] == ["0ms", "2.5s", "5.0s", "7.5s", "10.0s"]


def test_a_running_task_extends_to_now_and_a_pending_one_has_no_bar():
    run = flow_run(state="RUNNING", duration=None)
    running = task_run(run, task_name="slow", duration=None, state="RUNNING")
    waiting = task_run(run, task_name="later", offset=dt.timedelta(seconds=1), duration=None, state="PENDING")
    waiting.start_time = None
    waiting.save()
    timeline = browse.timeline_build(
        run=run, task_runs=[running, waiting], now=run.start_time + dt.timedelta(seconds=8)
    )
    slow, later = timeline.bars
    assert slow.running and slow.width_pct == 100.0
    assert not later.started
