"""States: flows returning states, return_state=True, and state.result() reading persisted values."""

from __future__ import annotations

import pytest

from apps.flows import flow, task
from apps.flows.exceptions import FailedRun, MissingResult
from apps.flows.models import FlowRun
from apps.flows.states import (
    Cached,
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    Paused,
    Pending,
    Running,
    Scheduled,
    State,
    StateType,
)
from apps.flows.submission import flow_run_state

pytestmark = pytest.mark.django_db


def test_every_state_constructor_has_its_type():
    constructors = [Scheduled, Pending, Running, Completed, Failed, Cancelled, Crashed, Paused, Cancelling]
    assert [c().type for c in constructors] == list(StateType)
    # Cached is Completed by another name, as in Prefect 3.
    assert Cached(data=1).type is StateType.COMPLETED and Cached().name == "Cached"
    assert Completed(data=1).is_completed() and Cached(data=1).is_completed()
    assert Failed(message="x").is_final() and not Running().is_final() and not Cancelling().is_final()


def test_a_flow_returning_completed_gives_its_data_and_persists_it(storage):
    @flow(persist_result=True, result_storage=storage.filesystem)
    def foo():
        return Completed(data="completed", message="all good")

    assert foo() == "completed"
    run = FlowRun.objects.get()
    assert run.state == "COMPLETED" and run.state_message == "all good"
    assert storage.keys() == {run.result.key}


def test_a_flow_returning_failed_fails_with_its_message():
    @flow
    def refuses():
        return Failed(message="upstream was empty")

    with pytest.raises(Exception, match="upstream was empty"):
        refuses()
    state = refuses(return_state=True)
    assert state.is_failed() and state.message == "upstream was empty"
    assert FlowRun.objects.filter(state="FAILED", state_message="upstream was empty").count() == 2


def test_return_state_gives_the_state_of_a_task_and_a_flow():
    @task
    def ok():
        return 7

    @task
    def bad():
        raise ValueError("nope")

    @flow
    def pipeline():
        good, failed = ok(return_state=True), bad(return_state=True)
        return good.result(), failed.is_failed(), type(failed.result(raise_on_failure=False)).__name__

    assert pipeline() == (7, True, "ValueError")
    state = pipeline(return_state=True)
    assert isinstance(state, State) and state.is_completed() and state.result() == (7, True, "ValueError")


def test_state_result_reads_the_persisted_value_when_not_in_memory(storage):
    @flow(persist_result=True, result_storage=storage.filesystem)
    def numbers():
        return [1, 2, 3]

    numbers()
    state = flow_run_state(FlowRun.objects.select_related("result").get())
    assert state.data is not None  # not loaded yet
    if storage.kind == "local":
        assert state.result() == [1, 2, 3]


def test_state_result_of_a_literal_needs_no_storage():
    @flow(persist_result=True)
    def nothing():
        return None

    nothing()
    state = flow_run_state(FlowRun.objects.select_related("result").get())
    assert state.result() is None


def test_state_result_without_persistence_says_so():
    @flow
    def unkept():
        return "gone"

    unkept()
    state = flow_run_state(FlowRun.objects.select_related("result").get())
    with pytest.raises(MissingResult, match="persistence is disabled"):
        state.result()


def test_a_failed_state_without_exception_raises_run_failed():
    with pytest.raises(FailedRun, match="bad input"):
        Failed(message="bad input").result()
