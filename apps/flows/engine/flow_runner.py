"""Flow runs: a flow called in this process or run for a worker; its attempts, its result, its end."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError

# Loaded with the flow's engine, so a flow's first task does not pay for importing it.
from apps.flows.engine import task_runner  # noqa: F401
from apps.flows.engine.context import (
    FlowRunContext,
    ReusableResult,
    flow_run_context_var,
    setup_objects_freeze,
)
from apps.flows.engine.futures import TaskFuture
from apps.flows.engine.ids import fast_uuid4, worker_identity
from apps.flows.engine.recorder import RunRecorder
from apps.flows.engine.targets import result_persist
from apps.flows.engine.timeouts import FlowTimeoutError, alarm, thread_timeout_call
from apps.flows.logs.capture import run_logging_install
from apps.flows.models import FlowRun
from apps.flows.parameters import parameters_jsonable
from apps.flows.rules import PersistenceDisabledError, flow_should_persist, retry_delay_for
from apps.flows.states import UNSET, State, StateType
from apps.results.references import model_instance_new


class RunDatabaseError(RuntimeError):
    pass


class FlowRunFailed(Exception):
    """Raised by a flow call when the flow returned a failed state without an exception of its own."""


def flow_call(
    flow: Any, args: tuple, kwargs: dict, *, return_state: bool = False, flow_run: Any = None
) -> Any:
    bound = flow.signature.bind(*args, **kwargs)
    bound.apply_defaults()
    state = flow_run_execute(flow, dict(bound.arguments), flow_run=flow_run)
    if return_state:
        return state
    return state.result()


def flow_run_create(
    flow: Any, parameters: dict[str, Any], *, parent: FlowRunContext | None, state: StateType
):
    run_id = fast_uuid4()
    return model_instance_new(
        FlowRun,
        id=run_id,
        name=f"{flow.name}-{run_id.hex[:8]}",
        flow_name=flow.name,
        parameters=parameters_jsonable(parameters),
        state=state.value,
        state_history=[],
        created=dt.datetime.now(dt.UTC),
        parent_flow_run_id=parent.flow_run.pk if parent else None,
        worker_host=worker_identity(),
    )


def flow_run_execute(
    flow: Any,
    parameters: dict[str, Any],
    *,
    flow_run: Any = None,
    reusable: dict[str, ReusableResult] | None = None,
    attempt_offset: int = 0,
) -> State:
    """Run ``flow`` with ``parameters``, recording it in ``flow_run`` (created when not given)."""
    run_logging_install()
    setup_objects_freeze()
    parent = flow_run_context_var.get()
    if flow_run is None:
        flow_run = flow_run_create(flow, parameters, parent=parent, state=StateType.RUNNING)
        flow_run.start_time = dt.datetime.now(dt.UTC)
        flow_run.state_record(State(StateType.RUNNING))
        try:
            flow_run.save(force_insert=True)
        except DatabaseError as exc:
            raise RunDatabaseError(
                f"cannot record the flow run in the database ({exc}); if the tables are missing, run "
                "`python manage.py migrate`"
            ) from exc
    else:
        flow_run.start_time = flow_run.start_time or dt.datetime.now(dt.UTC)
        flow_run.worker_host = worker_identity()
    persist = flow_should_persist(
        persist_result=flow.persist_result,
        retries=flow.retries,
        result_storage=flow.result_storage,
        result_serializer=flow.result_serializer,
        persist_by_default=settings.RESULTS_PERSIST_BY_DEFAULT,
    )
    recorder = RunRecorder(flow_run)
    context = FlowRunContext(
        flow=flow,
        flow_run=flow_run,
        parameters=parameters,
        persist=persist,
        recorder=recorder,
        parent=parent,
        reusable=dict(reusable or {}),
    )
    attempt = attempt_offset
    flow_result = None
    while True:
        attempt += 1
        flow_run.run_count = attempt
        if attempt > attempt_offset + 1 or flow_run.state != StateType.RUNNING.value:
            flow_run.state_record(State(StateType.RUNNING))
        context.task_counters = {}
        token = flow_run_context_var.set(context)
        try:
            value = _flow_body_run(flow, parameters, context)
            error = None
        except Exception as exc:
            value, error = None, exc
        finally:
            flow_run_context_var.reset(token)
        if error is not None and attempt - attempt_offset <= flow.retries:
            if flow.persist_result is False:
                error = PersistenceDisabledError(
                    f"flow {flow.name!r} failed ({type(error).__name__}: {error}) and cannot be retried: "
                    "it has "
                    f"retries={flow.retries} but persist_result=False, and a retry needs results persisted; "
                    "remove persist_result=False or the retries"
                )
            else:
                delay = retry_delay_for(
                    retry_delay_seconds=flow.retry_delay_seconds, attempt=attempt - attempt_offset
                )
                flow_run.state_record(
                    State(
                        StateType.SCHEDULED,
                        name="AwaitingRetry",
                        message=f"retry {attempt - attempt_offset} of {flow.retries} in {delay:g} s after "
                        f"{type(error).__name__}: {error}",
                    ),
                )
                context.reusable = dict(context.reusable)
                context.reusable.update(context.completed)
                if delay:
                    time.sleep(delay)
                continue
        break
    context.shutdown()
    write_error = recorder.first_failed_write()
    if error is None and write_error is not None:
        error = write_error
    if error is not None:
        timed_out = isinstance(error, FlowTimeoutError)
        message = f"timed out: {error}" if timed_out else f"{type(error).__name__}: {error}"
        state = State(StateType.FAILED, message=message, exception=error)
    elif isinstance(value, State):
        state = value
        if state.is_completed() and state.data is UNSET:
            state.data = None
        if state.is_failed() and state.exception is None:
            state.exception = FlowRunFailed(state.message or f"flow {flow.name!r} returned a Failed state")
    else:
        state = State(StateType.COMPLETED, data=value)
    state = State(
        state.type, data=state.data, message=state.message, exception=state.exception, name=state.name
    )
    if state.is_completed() and persist:
        try:
            target = context.target_for(storage_spec=None, serializer_spec=None)
            flow_result = result_persist(state.data, target=target, key=None)
        except Exception as exc:
            state = State(
                StateType.FAILED, message=f"the flow's result could not be persisted: {exc}", exception=exc
            )
    flow_run.state_record(state)
    flow_run.end_time = dt.datetime.now(dt.UTC)
    recorder.flush_waiting(
        flow_run_fields=[
            "state",
            "state_message",
            "state_history",
            "start_time",
            "end_time",
            "run_count",
            "worker_host",
        ],
        flow_result=flow_result,
    )
    if flow_result is not None:
        state.reference_id = flow_result.reference.pk
    return state


def _flow_body_run(flow: Any, parameters: dict[str, Any], context: FlowRunContext) -> Any:
    def body() -> Any:
        value = flow.fn(**parameters)
        # Tasks still running when the body returns are part of the run: wait for them.
        for future in list(context.futures):
            future.wait()
        if isinstance(value, TaskFuture):
            return value.result()
        return value

    if flow.timeout_seconds:
        with alarm(flow.timeout_seconds, what=f"flow {flow.name!r}") as armed:
            if armed:
                return body()
        return thread_timeout_call(
            body,
            seconds=flow.timeout_seconds,
            what=f"flow {flow.name!r}",
            error=FlowTimeoutError,
        )
    return body()
