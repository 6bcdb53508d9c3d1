"""Returned states and async code, as Prefect 3.9.1 has them (the differential cases compare more)."""

from __future__ import annotations

import asyncio

import pytest

from apps.flows import flow, task
from apps.flows.exceptions import FailedRun
from apps.flows.models import FlowRun
from apps.flows.states import Completed, Failed, State


@pytest.mark.django_db
def test_a_list_holding_a_failed_state_ends_the_flow_failed():
    @task
    def maybe(x):
        if x == 2:
            raise ZeroDivisionError("two")
        return x

    @flow
    def parent():
        return [maybe(1, return_state=True), maybe(2, return_state=True)]

    state = parent(return_state=True)
    assert state.is_failed() and state.message == "1/2 states failed."
    with pytest.raises(ZeroDivisionError):
        state.result()
    held = state.result(raise_on_failure=False)
    assert [item.type.value for item in held] == ["COMPLETED", "FAILED"]
    # The call itself gives back what the flow returned, as Prefect's does.
    assert [item.is_failed() for item in parent()] == [False, True]
    assert FlowRun.objects.filter(state="FAILED", state_message="1/2 states failed.").count() == 2


@pytest.mark.django_db
def test_a_returned_task_state_is_held_not_adopted():
    @task
    def one():
        return 1

    @flow
    def parent():
        return one(return_state=True)

    state = parent(return_state=True)
    assert state.is_completed() and state.message == "All states completed."
    held = state.result()
    assert isinstance(held, State) and held.result() == 1
    assert held.state_details.task_run_id is not None


@pytest.mark.django_db
def test_hand_made_states_are_the_runs_states():
    @flow
    def refuses():
        return Failed(message="upstream was empty")

    @flow
    def done():
        return Completed(data=41, message="by hand")

    with pytest.raises(FailedRun, match="upstream was empty"):
        refuses()
    assert refuses(return_state=True).result(raise_on_failure=False) is None
    state = done(return_state=True)
    assert (state.result(), state.message, state.data.result) == (41, "by hand", 41)


@pytest.mark.django_db(transaction=True)
def test_async_flows_and_tasks_run_and_are_awaited():
    @task
    async def double(x):
        await asyncio.sleep(0)
        return x * 2

    @task
    def plus_one(x):
        return x + 1

    @flow
    async def pipeline():
        gathered = await asyncio.gather(double(1), double(2))
        mapped = double.map([3, 4]).result()
        future = double.submit(5)
        return gathered, mapped, plus_one(1), await future.aresult()

    async def main():
        state = await pipeline(return_state=True)
        return await state.aresult()

    assert asyncio.run(main()) == ([2, 4], [6, 8], 2, 10)
    run = FlowRun.objects.get()
    assert run.state == "COMPLETED" and run.task_runs.count() == 6
