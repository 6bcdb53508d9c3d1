"""Flow runs: a flow called in this process or run for a worker; its attempts, its result, its end."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from django.db import DatabaseError

# Loaded with the flow's engine, so a flow's first task does not pay for importing it.
from apps.flows.engine import task_runner  # noqa: F401
from apps.flows.engine.asyncs import awaitable_run
from apps.flows.engine.context import (
    FlowRunContext,
    ReusableResult,
    flow_run_context_var,
    setup_objects_freeze,
)
from apps.flows.engine.defaults import persist_by_default
from apps.flows.engine.ids import fast_uuid4, worker_identity
from apps.flows.engine.recorder import RunRecorder
from apps.flows.engine.returns import futures_to_states, returned_state
from apps.flows.engine.run_states import state_record_attach, state_run_ids
from apps.flows.engine.targets import result_persist
from apps.flows.engine.timeouts import FlowTimeoutError, alarm, thread_timeout_call
from apps.flows.logs.capture import run_logging_install
from apps.flows.models import FlowRun
from apps.flows.parameters import parameters_jsonable
from apps.flows.rules import PersistenceDisabledError, flow_should_persist, retry_delay_for
from apps.flows.states import UNSET, State, StateType, state_result
from apps.results.references import model_instance_new

logger = logging.getLogger("apps.flows")


class RunDatabaseError(RuntimeError):
    pass


def flow_call(
    flow: Any, args: tuple, kwargs: dict, *, return_state: bool = False, flow_run: Any = None
) -> Any:
    """A flow called like a function: its state with ``return_state``, else what Prefect's call gives.

    That is the value the flow returned (a list of states as it is, even holding failures), the
    exception it raised, or, when it returned one state, that state's result.
    """
    bound = flow.signature.bind(*args, **kwargs)
    bound.apply_defaults()
    state, returned = _flow_run(flow, dict(bound.arguments), flow_run=flow_run)
    if return_state:
        return state
    if returned is UNSET or isinstance(returned, State):
        return state_result(state)
    return returned


async def flow_call_async(flow: Any, args: tuple, kwargs: dict, *, return_state: bool = False) -> Any:
    """An ``async def`` flow's call: the engine runs on a thread, the body on a loop of its own."""
    return await asyncio.to_thread(flow_call, flow, args, kwargs, return_state=return_state)


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
    return _flow_run(flow, parameters, flow_run=flow_run, reusable=reusable, attempt_offset=attempt_offset)[0]


def _flow_run(
    flow: Any,
    parameters: dict[str, Any],
    *,
    flow_run: Any = None,
    reusable: dict[str, ReusableResult] | None = None,
    attempt_offset: int = 0,
) -> tuple[State, Any]:
    """The run's final state, and what its function returned (UNSET when it raised)."""
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
        persist_by_default=persist_by_default(),
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
    returned = UNSET
    if error is not None:
        state = _failed_state(flow, error)
    else:
        returned = value
        state = returned_state(value)
    state_run_ids(state, flow_run_id=flow_run.pk)
    target = None
    if persist or state.is_failed():
        try:
            target = context.target_for(storage_spec=None, serializer_spec=None)
        except Exception as exc:
            state, returned = _failed_state(flow, exc), UNSET
            state_run_ids(state, flow_run_id=flow_run.pk)
    if target is not None and (persist or error is not None):
        # A failed flow's exception is always written, as Prefect writes it, so the run's result
        # says why it failed; a value only when the flow persists its result.
        try:
            flow_result = result_persist(state.value, target=target, key=None)
        except Exception as exc:
            if error is not None:
                logger.warning("flow %r: its exception could not be persisted: %s", flow.name, exc)
            else:
                message = f"the flow's result could not be persisted: {exc}"
                state, returned = State(StateType.FAILED, message=message), UNSET
                state.value = exc
                state_run_ids(state, flow_run_id=flow_run.pk)
    state_record_attach(
        state,
        target=target or (lambda: context.target_for(storage_spec=None, serializer_spec=None)),
        pending=flow_result,
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
    return state, returned


def _failed_state(flow: Any, error: BaseException) -> State:
    if isinstance(error, FlowTimeoutError):
        state = State(
            StateType.FAILED,
            name="TimedOut",
            message=f"Flow run exceeded timeout of {flow.timeout_seconds:g} second(s)",
        )
    else:
        state = State(
            StateType.FAILED,
            message=f"Flow run encountered an exception: {type(error).__name__}: {error}",
        )
        state.state_details.retriable = False
    state.value = error
    return state


def _flow_body_run(flow: Any, parameters: dict[str, Any], context: FlowRunContext) -> Any:
    def body() -> Any:
        value = flow.fn(**parameters)
        if flow.isasync:
            value = awaitable_run(value, new_thread=True)
        # Tasks still running when the body returns are part of the run: wait for them.
        for future in list(context.futures):
            future.wait()
        return futures_to_states(value)

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
