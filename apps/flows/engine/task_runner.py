"""Task runs: a task called, submitted to the flow's pool or mapped; its attempts, cache and reuse."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import inspect
import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.flows.engine.asyncs import awaitable_run
from apps.flows.engine.context import (
    FlowRunContext,
    ReusableResult,
    TaskRunContext,
    flow_run_context_var,
    task_run_context_var,
)
from apps.flows.engine.defaults import persist_by_default
from apps.flows.engine.futures import PrefectFutureList, TaskFuture, inputs_resolve, unmapped
from apps.flows.engine.ids import fast_uuid4, worker_identity
from apps.flows.engine.returns import futures_to_states, returned_state
from apps.flows.engine.run_states import state_record_attach, state_run_ids
from apps.flows.engine.targets import ResultTarget, result_persist, target_build
from apps.flows.engine.timeouts import TaskTimeoutError, thread_timeout_call
from apps.flows.models import TaskRun
from apps.flows.parameters import parameters_jsonable
from apps.flows.rules import (
    ConfigurationError,
    PersistenceDisabledError,
    retry_delay_for,
    task_should_persist,
)
from apps.flows.states import CACHED_NAME, UNSET, State, StateType, state_result
from apps.results.references import (
    PendingReference,
    model_instance_new,
    reference_from_record,
    references_save,
)

logger = logging.getLogger("apps.flows")

CACHE_LOCK_ACQUIRE_SECONDS = 600.0
CACHE_LOCK_HOLD_SECONDS = 3600.0


def task_call(
    task: Any, args: tuple, kwargs: dict, *, return_state: bool = False, wait_for: Any = None
) -> Any:
    """A task called like a function: runs now, in this thread.

    Gives what the function returned (a state it returned as it is, as Prefect does), or raises
    what it raised; a cached or reused run gives its result.
    """
    flow_context = flow_run_context_var.get()
    prepared = _task_prepare(task, args, kwargs, flow_context=flow_context, wait_for=wait_for)
    state = _task_execute(prepared)
    if flow_context is not None:
        flow_context.recorder.maybe_flush()
    else:
        _record_orphan_task(prepared)
    if return_state:
        return state
    if prepared.returned is not UNSET and not state.is_failed():
        return prepared.returned
    if prepared.returned is not UNSET and isinstance(prepared.returned, State):
        return prepared.returned
    return state_result(state)


async def task_call_async(
    task: Any, args: tuple, kwargs: dict, *, return_state: bool = False, wait_for: Any = None
) -> Any:
    """An ``async def`` task's call: the engine runs on a thread, the body on a loop of its own."""
    return await asyncio.to_thread(
        task_call, task, args, kwargs, return_state=return_state, wait_for=wait_for
    )


def task_submit(task: Any, args: tuple, kwargs: dict, *, wait_for: Any = None) -> TaskFuture:
    """A task run on the flow's thread pool; outside a flow it runs at once and returns a done future."""
    flow_context = flow_run_context_var.get()
    if flow_context is None:
        future: Future = Future()
        future.set_result(task_call(task, args, kwargs, return_state=True, wait_for=wait_for))
        return TaskFuture(future, task_name=task.name)
    prepared = _task_prepare(task, args, kwargs, flow_context=flow_context, wait_for=wait_for)
    future = flow_context.executor.submit(contextvars.copy_context().run, _task_execute, prepared)
    # The flow's thread writes the run's log lines while it waits, so a page tails them live.
    result = TaskFuture(future, task_name=task.name, while_waiting=flow_context.recorder.logs.maybe_flush)
    flow_context.futures.append(result)
    return result


def task_map(task: Any, args: tuple, kwargs: dict, *, wait_for: Any = None) -> PrefectFutureList:
    """One submitted run per element of the iterable arguments; other arguments are passed as they are."""
    names = list(task.signature.parameters)
    bound = task.signature.bind_partial(*args, **kwargs).arguments
    iterables: dict[str, list] = {}
    static: dict[str, Any] = {}
    for name, value in bound.items():
        if isinstance(value, unmapped):
            static[name] = value.value
        elif isinstance(value, Iterable) and not isinstance(value, str | bytes | dict):
            iterables[name] = list(value)
        else:
            static[name] = value
    if not iterables:
        raise ConfigurationError(f"task {task.name!r}.map() needs at least one iterable argument")
    lengths = {len(values) for values in iterables.values()}
    if len(lengths) > 1:
        raise ConfigurationError(
            f"task {task.name!r}.map() got iterables of different lengths: "
            + ", ".join(f"{name}={len(values)}" for name, values in iterables.items())
        )
    futures = PrefectFutureList()
    for index in range(lengths.pop()):
        call_kwargs = {**static, **{name: values[index] for name, values in iterables.items()}}
        ordered = {name: call_kwargs[name] for name in names if name in call_kwargs}
        futures.append(task_submit(task, (), ordered, wait_for=wait_for))
    return futures


@dataclass
class PreparedTask:
    task: Any
    args: tuple
    kwargs: dict
    flow_context: FlowRunContext | None
    wait_for: Any
    run: Any
    task_key: str
    persist: bool
    target: ResultTarget | None
    reusable: ReusableResult | None
    # The result's reference, a Future of it (written on a writer thread) or None (not persisted).
    result: PendingReference | Future | None = None
    # What the task's function returned, when it ran and returned.
    returned: Any = UNSET


def _task_prepare(
    task: Any, args: tuple, kwargs: dict, *, flow_context: FlowRunContext | None, wait_for: Any
):
    task_key = flow_context.next_task_key(task.name) if flow_context else f"{task.name}-0"
    persist = task_should_persist(
        persist_result=task.persist_result,
        has_cache_key_fn=task.cache_key_fn is not None,
        retries=task.retries,
        flow_persist_result=flow_context.flow.persist_result if flow_context else None,
        persist_by_default=persist_by_default(),
    )
    needs_target = persist or task.cache_key_fn is not None
    target = None
    if needs_target and task.persist_result is not False:
        if flow_context is not None:
            target = flow_context.target_for(
                storage_spec=task.result_storage, serializer_spec=task.result_serializer
            )
        else:
            target = target_build(storage_spec=task.result_storage, serializer_spec=task.result_serializer)
    run_id = fast_uuid4()
    run = model_instance_new(
        TaskRun,
        id=run_id,
        flow_run_id=flow_context.flow_run.pk if flow_context else None,
        name=f"{task.name}-{run_id.hex[:8]}",
        task_name=task.name,
        task_key=task_key,
        state=StateType.PENDING.value,
        state_history=[],
        created=dt.datetime.now(dt.UTC),
    )
    reusable = flow_context.reusable.get(task_key) if flow_context else None
    return PreparedTask(
        task=task,
        args=args,
        kwargs=kwargs,
        flow_context=flow_context,
        wait_for=wait_for,
        run=run,
        task_key=task_key,
        persist=persist,
        target=target,
        reusable=reusable,
    )


def _task_execute(prepared: PreparedTask) -> State:
    task, run = prepared.task, prepared.run
    try:
        state = _task_execute_inner(prepared)
    except BaseException as exc:  # an engine error still ends the run with a recorded state
        state = State(StateType.CRASHED, message=f"{type(exc).__name__}: {exc}")
        state.value = exc
        run.state_record(state)
        if not isinstance(exc, Exception):
            raise
    run.end_time = dt.datetime.now(dt.UTC)
    if run.start_time is None:
        run.start_time = run.end_time
    flow_context = prepared.flow_context
    state_run_ids(state, flow_run_id=flow_context.flow_run.pk if flow_context else None, task_run_id=run.id)
    if prepared.target is not None:
        state_record_attach(state, target=prepared.target, pending=prepared.result)
    elif flow_context is not None:
        storage_spec, serializer_spec = task.result_storage, task.result_serializer
        state_record_attach(
            state,
            target=lambda: flow_context.target_for(
                storage_spec=storage_spec, serializer_spec=serializer_spec
            ),
            pending=None,
        )
    if flow_context is not None:
        flow_context.recorder.task_run_done(run, prepared.result)
        if state.is_completed() and prepared.result is not None:
            flow_context.completed[prepared.task_key] = ReusableResult(
                value=state.value, pending=prepared.result
            )
    logger.debug("task %s ended %s", task.name, state.type.value)
    return state


def _task_execute_inner(prepared: PreparedTask) -> State:
    task, run = prepared.task, prepared.run
    if prepared.wait_for:
        for upstream in (
            prepared.wait_for if isinstance(prepared.wait_for, list | tuple) else [prepared.wait_for]
        ):
            if isinstance(upstream, TaskFuture):
                upstream.wait()
    args = tuple(inputs_resolve(arg) for arg in prepared.args)
    kwargs = {name: inputs_resolve(value) for name, value in prepared.kwargs.items()}
    bound = task.signature.bind(*args, **kwargs)
    bound.apply_defaults()
    parameters = dict(bound.arguments)
    run.parameters = parameters_jsonable(parameters)
    run.start_time = dt.datetime.now(dt.UTC)

    if prepared.reusable is not None:
        return _task_reuse(prepared)

    cache_key = None
    if task.cache_key_fn is not None:
        context = TaskRunContext(
            task=task,
            task_run=run,
            flow_run=prepared.flow_context.flow_run if prepared.flow_context else None,
            parameters=parameters,
        )
        cache_key = task.cache_key_fn(context, parameters)
        if cache_key is not None:
            if task.persist_result is False:
                raise_state = _fail(
                    run,
                    PersistenceDisabledError(
                        f"task {task.name!r} has a cache key ({cache_key!r}) but persist_result=False: "
                        "a cached result must be stored to be reused; remove persist_result=False or the "
                        "cache_key_fn"
                    ),
                )
                return raise_state
            cache_key = str(cache_key)
            run.cache_key = cache_key[:256]

    if cache_key is None:
        return _task_attempts(prepared, bound, key=_storage_key_for(prepared, parameters), cache_key="")

    store = prepared.target.locking_store
    if not task.refresh_cache:
        cached = _cache_lookup(prepared, cache_key)
        if cached is not None:
            return cached
    holder = f"{worker_identity()}:{run.id.hex}"
    acquired = store.lock_manager is not None and store.lock_manager.acquire_lock(
        cache_key, holder, acquire_timeout=CACHE_LOCK_ACQUIRE_SECONDS, hold_timeout=CACHE_LOCK_HOLD_SECONDS
    )
    try:
        if not task.refresh_cache:
            # Whoever held the lock may have just computed it.
            cached = _cache_lookup(prepared, cache_key, holder=holder if acquired else None)
            if cached is not None:
                return cached
        return _task_attempts(
            prepared, bound, key=cache_key, cache_key=cache_key, holder=holder if acquired else None
        )
    finally:
        if acquired and store.lock_manager.is_lock_holder(cache_key, holder):
            store.lock_manager.release_lock(cache_key, holder)


def task_target(prepared: PreparedTask) -> ResultTarget:
    """Where the task's results go, resolved even when it persists nothing."""
    if prepared.target is not None:
        return prepared.target
    task = prepared.task
    if prepared.flow_context is not None:
        return prepared.flow_context.target_for(
            storage_spec=task.result_storage, serializer_spec=task.result_serializer
        )
    return target_build(storage_spec=task.result_storage, serializer_spec=task.result_serializer)


def _storage_key_for(prepared: PreparedTask, parameters: dict[str, Any]) -> str | None:
    template = prepared.task.result_storage_key
    if not template:
        return None
    flow_context = prepared.flow_context
    try:
        return template.format(
            parameters=parameters,
            task_run=prepared.run,
            flow_run=flow_context.flow_run if flow_context else None,
            **parameters,
        )
    except (KeyError, AttributeError, IndexError) as exc:
        raise ConfigurationError(
            f"result_storage_key {template!r} of task {prepared.task.name!r} could not be formatted: {exc}"
        ) from exc


def _cache_lookup(prepared: PreparedTask, cache_key: str, holder: str | None = None) -> State | None:
    store = prepared.target.locking_store
    if not store.exists(cache_key):
        return None
    try:
        # The lock's holder reads without waiting for its own lock.
        record = store.read(cache_key, holder=holder) if holder else store.read(cache_key)
    except Exception as exc:  # a record that vanished or broke since exists(): compute instead
        logger.warning("cached result %r could not be read (%s); running the task", cache_key, exc)
        return None
    value = record.result
    reference = reference_from_record(
        record=record,
        storage=prepared.target.storage,
        block=prepared.target.block_id,
        value=value,
        cache_key=cache_key,
    )
    prepared.result = PendingReference(reference, reused=True)
    state = State(StateType.COMPLETED, name=CACHED_NAME)
    state.value = value
    prepared.run.state_record(state)
    return state


def _task_reuse(prepared: PreparedTask) -> State:
    reusable = prepared.reusable
    if isinstance(reusable.pending, Future):
        reusable.pending = reusable.pending.result()
    reference = reusable.pending.reference
    value = reusable.value
    if value is UNSET:
        if reference.is_literal:
            value = reference.literal_value
        else:
            value = prepared.target.store.read(reference.key).result
    prepared.result = PendingReference(reference, reused=True)
    state = State(StateType.COMPLETED, message="result reused from an earlier attempt of the flow")
    state.value = value
    prepared.run.state_record(state)
    return state


def _fail(run: Any, exc: BaseException) -> State:
    state = State(StateType.FAILED, message=f"Task run encountered an exception {type(exc).__name__}: {exc}")
    state.value = exc
    state.state_details.retriable = False
    run.state_record(state)
    return state


def _task_fn_call(task: Any, bound: inspect.BoundArguments) -> Any:
    value = task.fn(*bound.args, **bound.kwargs)
    if task.isasync:
        return awaitable_run(value)
    return value


def _task_attempts(
    prepared: PreparedTask,
    bound: inspect.BoundArguments,
    *,
    key: str | None,
    cache_key: str,
    holder: str | None = None,
) -> State:
    task, run = prepared.task, prepared.run
    attempt = 0
    while True:
        attempt += 1
        run.run_count = attempt
        run.state_record(State(StateType.RUNNING))
        token = task_run_context_var.set(
            TaskRunContext(
                task=task, task_run=run, flow_run=None, parameters=bound.arguments, prepared=prepared
            )
        )
        try:
            if task.timeout_seconds:
                value = thread_timeout_call(
                    lambda: _task_fn_call(task, bound),
                    seconds=task.timeout_seconds,
                    what=f"task {task.name!r}",
                    error=TaskTimeoutError,
                )
            else:
                value = _task_fn_call(task, bound)
            if isinstance(value, State) and value.is_failed() and attempt <= task.retries:
                # A task that returns a Failed state is retried as one that raised.
                raise _ReturnedFailure(value)
        except Exception as exc:
            if attempt <= task.retries:
                if task.persist_result is False:
                    return _fail(
                        run,
                        PersistenceDisabledError(
                            f"task {task.name!r} failed ({type(exc).__name__}: {exc}) and cannot be retried: "
                            "it has "
                            f"retries={task.retries} but persist_result=False, and a retry needs its result "
                            "persisted; remove persist_result=False or the retries"
                        ),
                    )
                delay = retry_delay_for(retry_delay_seconds=task.retry_delay_seconds, attempt=attempt)
                run.state_record(
                    State(
                        StateType.SCHEDULED,
                        name="AwaitingRetry",
                        message=f"retry {attempt} of {task.retries} in {delay:g} s after "
                        f"{type(exc).__name__}: {exc}",
                    ),
                )
                if delay:
                    time.sleep(delay)
                continue
            if isinstance(exc, TaskTimeoutError):
                state = State(
                    StateType.FAILED,
                    name="TimedOut",
                    message=f"Task run exceeded timeout of {task.timeout_seconds:g} second(s)",
                )
                state.value = exc
                run.state_record(state)
                return state
            state = _fail(run, exc)
            if prepared.persist and prepared.target is not None:
                _failure_persist(prepared, exc)
            return state
        finally:
            task_run_context_var.reset(token)
        break
    prepared.returned = value
    state = returned_state(futures_to_states(value))
    if not state.is_completed():
        if prepared.persist and prepared.target is not None:
            _failure_persist(prepared, state.value)
        run.state_record(state)
        return state
    value = state.value
    if prepared.persist:
        expiration = (
            dt.datetime.now(dt.UTC) + task.cache_expiration if task.cache_expiration is not None else None
        )
        flow_context = prepared.flow_context
        if flow_context is not None and not cache_key:
            # Written on the flow's writer threads: file I/O overlaps the next tasks. The flow waits
            # for every write before it ends, and a failed write fails the task run and the flow.
            prepared.result = flow_context.writer.submit(
                result_persist, value, target=prepared.target, key=key, expiration=expiration
            )
        else:
            prepared.result = result_persist(
                value,
                target=prepared.target,
                key=key,
                expiration=expiration,
                cache_key=cache_key,
                holder=holder,
            )
    run.state_record(state)
    return state


class _ReturnedFailure(Exception):
    def __init__(self, state: State) -> None:
        super().__init__(state.message)
        self.state = state


def _failure_persist(prepared: PreparedTask, value: Any) -> None:
    """A persisted task's failure keeps what it failed with, as Prefect writes it (never as a cache key)."""
    try:
        prepared.result = result_persist(value, target=prepared.target, key=None)
    except Exception as exc:
        logger.warning("task %r: its failure could not be persisted: %s", prepared.task.name, exc)


def _record_orphan_task(prepared: PreparedTask) -> None:
    """A task called outside any flow is recorded on its own, at once."""
    with transaction.atomic():
        if prepared.result is not None:
            references_save(pending=[prepared.result])
            prepared.run.result_id = prepared.result.reference.pk
        prepared.run.save(force_insert=True)
