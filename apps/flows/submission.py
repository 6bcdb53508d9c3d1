"""Sending flow runs to Celery workers: the dashboard's Run button, the API, ``flow.submit()``, the CLI."""

from __future__ import annotations

import time
from typing import Any

from celery import current_app as app  # the project's app: project/__init__.py makes it current
from django.db import transaction

from apps.core.bulk import rows_insert
from apps.flows.engine.flow_runner import flow_run_create
from apps.flows.models import FlowRun
from apps.flows.parameters import parameters_validate
from apps.flows.registry import flow_get, flow_name_of
from apps.flows.results import reference_metadata, reference_value_load
from apps.flows.states import FINAL_STATE_TYPES, State, StateType
from apps.flows.tasks import flow_run_execute_task, flow_runs_execute_task

SOFT_LIMIT_GRACE_SECONDS = 30
SUBMIT_CHUNK_MAX_RUNS = 8
# A batch of runs goes as at least this many messages, so its last ones do not leave workers idle.
SUBMIT_CHUNK_SPREAD = 32


class FlowRunHandle:
    """A submitted run: ``.id``, ``.state()``, ``.wait(timeout)`` and ``.result(timeout)``."""

    def __init__(self, flow_run_id: Any) -> None:
        self.id = flow_run_id

    def __repr__(self) -> str:
        return f"FlowRunHandle({self.id})"

    def run(self):
        return FlowRun.objects.get(pk=self.id)

    def state(self) -> State:
        return flow_run_state(self.run())

    def wait(self, timeout: float | None = None, poll_seconds: float = 0.1) -> State | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.state()
            if state.type in FINAL_STATE_TYPES:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(poll_seconds)

    def result(self, timeout: float | None = None) -> Any:
        state = self.wait(timeout)
        if state is None:
            raise TimeoutError(f"flow run {self.id} did not finish within {timeout} s")
        return state.result()


def flow_run_state(flow_run: Any) -> State:
    """The run's state as an SDK State; ``.result()`` reads the persisted result."""
    state = State(StateType(flow_run.state), message=flow_run.state_message)
    reference = flow_run.result
    if reference is not None:
        state.reference_id = reference.pk
        if reference.is_literal:
            state.value = reference.literal_value
        else:
            # As a state from Prefect's API: ``data`` describes the stored result, ``result()`` reads it.
            state.record_loader = lambda: reference_metadata(reference)
            state.result_loader = lambda: reference_value_load(reference)
    return state


def flow_submit(flow: Any, parameters: dict[str, Any], *, user: Any = None) -> FlowRunHandle:
    """Record a Scheduled run and queue it for a worker (after the current transaction commits)."""
    name = flow_name_of(flow)
    if name is None:
        raise LookupError(
            f"flow {flow.name!r} is not in any module of FLOW_MODULES, so a worker cannot find it; add its "
            "module to FLOW_MODULES"
        )
    parameters = parameters_validate(flow, parameters)
    return flow_run_submit(flow_name=name, parameters=parameters)


def flow_run_submit(*, flow_name: str, parameters: dict[str, Any]) -> FlowRunHandle:
    """Queue a run of the registered flow ``flow_name`` with already validated JSON ``parameters``."""
    flow = flow_get(flow_name)
    flow_run = flow_run_create(flow, parameters, parent=None, state=StateType.SCHEDULED)
    flow_run.parameters = parameters
    flow_run.worker_host = ""
    flow_run.state_record(State(StateType.SCHEDULED, message="submitted to a worker"))
    options: dict[str, Any] = {}
    if flow.timeout_seconds:
        options["time_limit"] = int(flow.timeout_seconds) + SOFT_LIMIT_GRACE_SECONDS
    flow_run.save(force_insert=True)
    run_id = str(flow_run.pk)

    def send() -> None:
        flow_run_execute_task.apply_async(args=[run_id], task_id=run_id, **options)

    transaction.on_commit(send)
    return FlowRunHandle(flow_run.pk)


def flow_runs_schedule(*, flow_name: str, parameters_list: list[dict[str, Any]]) -> list[Any]:
    """Record Scheduled runs of the registered flow ``flow_name`` (one multi-row INSERT), unsent."""
    flow = flow_get(flow_name)
    runs = []
    for parameters in parameters_list:
        run = flow_run_create(flow, parameters, parent=None, state=StateType.SCHEDULED)
        run.parameters = parameters
        run.worker_host = ""
        run.state_record(State(StateType.SCHEDULED, message="submitted to a worker"))
        runs.append(run)
    rows_insert(FlowRun, runs)
    return runs


def flow_runs_submit_many(*, flow_name: str, parameters_list: list[dict[str, Any]]) -> list[FlowRunHandle]:
    """Queue many runs of one flow: one multi-row INSERT, then the messages over one broker connection.

    Many runs travel a few to a message (see ``submit_chunk_size``); each is still its own run,
    claimed, recorded and ended on its own.
    """
    flow = flow_get(flow_name)
    runs = flow_runs_schedule(flow_name=flow_name, parameters_list=parameters_list)
    options: dict[str, Any] = {}
    if flow.timeout_seconds:
        options["time_limit"] = int(flow.timeout_seconds) + SOFT_LIMIT_GRACE_SECONDS
    run_ids = [str(run.pk) for run in runs]
    # Runs without a time limit travel several to a message: the broker, the worker's dispatch and
    # the acknowledgement are paid once per message. A time limit applies to a whole message, so
    # runs with one go alone.
    size = 1 if flow.timeout_seconds else submit_chunk_size(len(run_ids))

    def send() -> None:
        with app.producer_or_acquire() as producer:
            if size == 1:
                for run_id in run_ids:
                    flow_run_execute_task.apply_async(
                        args=[run_id], task_id=run_id, producer=producer, **options
                    )
                return
            for start in range(0, len(run_ids), size):
                flow_runs_execute_task.apply_async(args=[run_ids[start : start + size]], producer=producer)

    transaction.on_commit(send)
    return [FlowRunHandle(run.pk) for run in runs]


def submit_chunk_size(count: int) -> int:
    """Runs per message for ``count`` runs: enough messages left to keep every worker process busy."""
    return max(1, min(SUBMIT_CHUNK_MAX_RUNS, count // SUBMIT_CHUNK_SPREAD))
