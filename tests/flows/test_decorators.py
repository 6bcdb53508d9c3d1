"""@flow and @task: names, options, validation, calling, submit/map futures, subflows, light import."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.flows import flow, task
from apps.flows.decorators import Flow, Task, unmapped
from apps.flows.models import FlowRun, TaskRun
from apps.flows.rules import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def test_names_follow_prefect_flow_dashes_task_function_name():
    @flow
    def my_etl_flow():
        return 1

    @task
    def load_rows():
        return 1

    assert isinstance(my_etl_flow, Flow) and my_etl_flow.name == "my-etl-flow"
    assert isinstance(load_rows, Task) and load_rows.name == "load_rows"
    assert flow(name="custom")(lambda: 1).name == "custom"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be"),
        ({"retry_delay_seconds": "soon"}, "retry_delay_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"persist_result": "yes"}, "persist_result must be"),
        ({"result_storage": 42}, "result_storage must be"),
        ({"cache_key_fn": "key"}, "cache_key_fn must be"),
        ({"cache_expiration": 60}, "timedelta"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(options, message):
    with pytest.raises(ConfigurationError, match=message):
        task(**options)(lambda: 1)


def test_importing_the_sdk_does_not_import_django_or_the_result_machinery():
    code = (
        "import sys; from apps.flows import flow, task\n"
        "@flow\ndef f():\n    return 1\n"
        "heavy = [m for m in ('django.db', 'apps.results.store', 'celery', 'pandas') if m in sys.modules]\n"
        "print(heavy)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


@pytest.mark.django_db
def test_calling_a_flow_runs_it_and_records_runs_with_parameters():
    @task
    def double(x: int) -> int:
        return 2 * x

    @flow
    def doubler(x: int, label: str = "n"):
        return {label: double(x)}

    assert doubler(21) == {"n": 42}
    run = FlowRun.objects.get()
    assert run.flow_name == "doubler" and run.state == "COMPLETED"
    assert run.parameters == {"x": 21, "label": "n"}
    assert run.start_time <= run.end_time and run.duration is not None
    assert run.run_count == 1 and run.worker_host
    assert [h["state"] for h in run.state_history] == ["RUNNING", "COMPLETED"]
    task_run = TaskRun.objects.get()
    assert task_run.flow_run == run and task_run.parameters == {"x": 21} and task_run.task_key == "double-0"


@pytest.mark.django_db
def test_large_and_non_json_parameters_are_truncated_in_the_record():
    @flow
    def takes(big: list, odd: object):
        return len(big)

    takes(list(range(10_000)), object())
    parameters = FlowRun.objects.get().parameters
    assert parameters["big"]["__truncated__"] is True and parameters["big"]["type"] == "builtins.list"
    assert len(parameters["big"]["preview"]) <= 500
    assert parameters["odd"].startswith("<object object")


@pytest.mark.django_db
def test_submit_runs_tasks_concurrently_and_futures_give_results():
    @task
    def slow(x):
        time.sleep(0.2)
        return x * 10

    @flow
    def fan_out():
        futures = [slow.submit(i) for i in range(5)]
        assert futures[0].wait() is not None
        return [future.result() for future in futures]

    started = time.monotonic()
    assert fan_out() == [0, 10, 20, 30, 40]
    assert time.monotonic() - started < 0.8
    assert TaskRun.objects.filter(state="COMPLETED").count() == 5


@pytest.mark.django_db
def test_map_runs_over_iterables_with_unmapped_arguments():
    @task
    def scale(value, factor):
        return value * factor

    @flow
    def mapped():
        return scale.map([1, 2, 3], factor=unmapped(10)).result()

    assert mapped() == [10, 20, 30]
    assert sorted(TaskRun.objects.values_list("task_key", flat=True)) == ["scale-0", "scale-1", "scale-2"]


@pytest.mark.django_db
def test_map_refuses_iterables_of_different_lengths():
    @task
    def pair(a, b):
        return a, b

    @flow
    def mapped():
        return pair.map([1, 2], [1, 2, 3])

    with pytest.raises(ConfigurationError, match="different lengths"):
        mapped()


@pytest.mark.django_db
def test_futures_passed_to_tasks_are_resolved_to_values():
    @task
    def make():
        return 5

    @task
    def add_one(x):
        return x + 1

    @flow
    def chain():
        return add_one.submit(make.submit()).result()

    assert chain() == 6


@pytest.mark.django_db
def test_a_flow_called_inside_a_flow_is_a_subflow():
    @flow
    def child(n: int):
        return n + 1

    @flow
    def parent():
        return child(1) + child(2)

    assert parent() == 5
    parent_run = FlowRun.objects.get(flow_name="parent")
    children = FlowRun.objects.filter(flow_name="child")
    assert children.count() == 2
    assert {run.parent_flow_run_id for run in children} == {parent_run.pk}


@pytest.mark.django_db
def test_a_task_timeout_fails_the_task_with_timed_out():
    @task(timeout_seconds=0.2)
    def stuck():
        time.sleep(2)

    @flow
    def pipeline():
        state = stuck(return_state=True)
        return state.type.value, state.name, state.message

    # Prefect's words for it: a Failed state named TimedOut.
    kind, name, message = pipeline()
    assert kind == "FAILED" and name == "TimedOut" and message.startswith("Task run exceeded timeout of")
    assert TaskRun.objects.get().state == "FAILED"


@pytest.mark.django_db
def test_a_flow_timeout_fails_the_run_with_timed_out():
    @flow(timeout_seconds=0.3)
    def stuck():
        time.sleep(3)

    started = time.monotonic()
    state = stuck(return_state=True)
    assert time.monotonic() - started < 2
    assert state.is_failed() and state.name == "TimedOut"
    assert state.message == "Flow run exceeded timeout of 0.3 second(s)"
    assert FlowRun.objects.get().state_message == state.message


@pytest.mark.django_db
def test_log_prints_sends_print_to_the_flow_logger(caplog):
    @flow(log_prints=True)
    def chatty():
        print("hello from the flow")

    with caplog.at_level("INFO", logger="apps.flows.run.chatty"):
        chatty()
    assert "hello from the flow" in caplog.text


@pytest.mark.django_db
def test_many_tasks_are_recorded_in_bulk_not_one_query_each(django_assert_max_num_queries):
    @task
    def small(i):
        return {"i": i}

    @flow
    def many():
        return [small(i) for i in range(300)]

    with django_assert_max_num_queries(12):
        assert len(many()) == 300
    assert TaskRun.objects.count() == 300


@pytest.mark.django_db
def test_resultdeck_package_re_exports_the_sdk():
    import resultdeck

    assert resultdeck.flow is flow and resultdeck.task is task
    assert resultdeck.states.Completed is not None
    assert resultdeck.S3.__name__ == "S3" and resultdeck.LocalFileSystem.__name__ == "LocalFileSystem"
