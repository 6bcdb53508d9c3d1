"""Retries: a failed task or flow runs again after retry_delay_seconds; a retried flow's completed
tasks reuse their persisted results."""

from __future__ import annotations

import time

import pytest

from apps.flows import flow, task
from apps.flows.models import FlowRun, TaskRun

pytestmark = pytest.mark.django_db


def test_a_failing_task_is_retried_after_the_delay_and_succeeds(default_storage):
    attempts = []

    @task(retries=2, retry_delay_seconds=0.2)
    def flaky():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("not yet")
        return "finally"

    @flow
    def pipeline():
        return flaky()

    assert pipeline() == "finally"
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.2 and attempts[2] - attempts[1] >= 0.2
    run = TaskRun.objects.get()
    assert run.state == "COMPLETED" and run.run_count == 3
    names = [entry["name"] for entry in run.state_history]
    assert names == ["Running", "AwaitingRetry", "Running", "AwaitingRetry", "Running", "Completed"]
    assert "ConnectionError: not yet" in run.state_history[1]["message"]
    # retries make the task persist its result
    assert default_storage.keys() == {run.result.key}


def test_a_task_out_of_retries_fails_and_fails_its_flow(default_storage):
    @task(retries=1)
    def broken():
        raise KeyError("missing")

    @flow
    def pipeline():
        broken()

    with pytest.raises(KeyError, match="missing"):
        pipeline()
    assert TaskRun.objects.get().run_count == 2
    run = FlowRun.objects.get()
    assert run.state == "FAILED" and "KeyError" in run.state_message


def test_a_list_of_delays_gives_one_delay_per_retry():
    from apps.flows.rules import retry_delay_for

    assert [retry_delay_for(retry_delay_seconds=[1, 5], attempt=n) for n in (1, 2, 3)] == [1.0, 5.0, 5.0]
    assert retry_delay_for(retry_delay_seconds=None, attempt=1) == 0.0


def test_a_retried_flow_reuses_its_completed_tasks_persisted_results(storage):
    runs_of = {"load": 0, "fragile": 0, "cheap": 0}

    @task(persist_result=True)
    def load():
        runs_of["load"] += 1
        return {"rows": 10}

    @task
    def cheap():
        runs_of["cheap"] += 1
        return "not persisted"

    @task
    def fragile(rows):
        runs_of["fragile"] += 1
        if runs_of["fragile"] == 1:
            raise RuntimeError("transient")
        return rows["rows"] * 2

    @flow(retries=1, result_storage=storage.filesystem)
    def pipeline():
        data = load()
        cheap()
        return fragile(data)

    assert pipeline() == 20
    assert runs_of == {"load": 1, "fragile": 2, "cheap": 2}
    run = FlowRun.objects.get()
    assert run.state == "COMPLETED" and run.run_count == 2
    load_runs = TaskRun.objects.filter(task_name="load").order_by("created")
    assert [r.state for r in load_runs] == ["COMPLETED", "COMPLETED"]
    assert "reused" in load_runs[1].state_message
    assert load_runs[0].result_id == load_runs[1].result_id


def test_the_flaky_example_fails_then_succeeds_on_retry(default_storage):
    from examples.retry import flaky_quote

    assert flaky_quote(symbol="XYZ", failures=1) == {"symbol": "XYZ", "price": 101.5}
    run = FlowRun.objects.get()
    assert run.run_count == 2 and run.state == "COMPLETED"
    assert (
        TaskRun.objects.filter(task_name="fetch_quote").values_list("result_id", flat=True).distinct().count()
        == 1
    )
    assert flaky_quote.with_options(retries=0)(failures=1, return_state=True).is_failed()
