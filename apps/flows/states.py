"""Run states as Prefect 3 has them: type, name, message, details, data, and the result they hold.

Pure module (no Django). A flow or task may return a state to choose its own outcome::

    from apps.flows.states import Completed, Failed

    @flow
    def my_flow():
        return Completed(data="done")      # or Failed(message="upstream was empty")

``state.result()`` gives the value: from memory when the run happened in this process, otherwise
read from the persisted result. A failed state raises its exception (or, with
``raise_on_failure=False``, returns what it holds). ``state.data`` is what Prefect keeps there: the
``ResultRecord`` of an engine's state (built on first access, so the engine pays nothing for it),
or whatever a hand-made state was given.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from apps.flows.exceptions import (
    CancelledRun,
    CrashedRun,
    FailedRun,
    MissingResult,
    PausedRun,
    UnfinishedRun,
)


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


FINAL_STATE_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
FAILURE_STATE_TYPES = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
# A cached run is Completed under this name, as in Prefect; run records keep it as their own state.
CACHED_NAME = "Cached"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class StateDetails:
    """Prefect's ``state_details``: the runs a state belongs to, its cache key and scheduling facts.

    The defaults are class attributes, so a state's details cost only the fields the engine sets.
    """

    FIELDS = (
        "flow_run_id",
        "task_run_id",
        "child_flow_run_id",
        "scheduled_time",
        "cache_key",
        "cache_expiration",
        "deferred",
        "untrackable_result",
        "pause_timeout",
        "pause_reschedule",
        "pause_key",
        "run_input_keyset",
        "refresh_cache",
        "retriable",
        "transition_id",
        "task_parameters_id",
        "traceparent",
        "deployment_concurrency_lease_id",
    )
    flow_run_id: Any = None
    task_run_id: Any = None
    child_flow_run_id: Any = None
    scheduled_time: dt.datetime | None = None
    cache_key: str | None = None
    cache_expiration: dt.datetime | None = None
    deferred: bool | None = None
    untrackable_result: bool = False
    pause_timeout: dt.datetime | None = None
    pause_reschedule: bool = False
    pause_key: str | None = None
    run_input_keyset: dict[str, str] | None = None
    refresh_cache: bool | None = None
    retriable: bool | None = None
    transition_id: Any = None
    task_parameters_id: Any = None
    traceparent: str | None = None
    deployment_concurrency_lease_id: Any = None

    def __init__(self, **fields: Any) -> None:
        unknown = set(fields).difference(self.FIELDS)
        if unknown:
            raise TypeError(f"StateDetails has no field {sorted(unknown)[0]!r}")
        self.__dict__.update(fields)

    def model_dump(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def __repr__(self) -> str:
        return f"StateDetails({', '.join(f'{name}={value!r}' for name, value in self.__dict__.items())})"


# A state's name when none is given: its type in words ("Completed", "Cancelling").
DEFAULT_NAMES = {kind: " ".join(part.capitalize() for part in kind.value.split("_")) for kind in StateType}


class State:
    """A run's state.

    The engine keeps a run's value in ``value`` (UNSET when not in memory); ``result_loader`` reads a
    persisted value and ``record_loader`` builds the ``ResultRecord`` that ``data`` shows.
    """

    __slots__ = (
        "_data",
        "_details",
        "message",
        "name",
        "record_loader",
        "reference_id",
        "result_loader",
        "timestamp",
        "type",
        "value",
    )

    def __init__(
        self,
        type: StateType | str,
        *,
        data: Any = None,
        message: str | None = None,
        name: str | None = None,
        timestamp: dt.datetime | None = None,
        state_details: StateDetails | None = None,
    ) -> None:
        self.type = type if type.__class__ is StateType else StateType(type)
        self.name = name or DEFAULT_NAMES[self.type]
        self.message = message
        self.timestamp = timestamp or dt.datetime.now(dt.UTC)
        self._data = data
        self._details = state_details
        self.value: Any = UNSET
        self.result_loader: Callable[[], Any] | None = None
        self.record_loader: Callable[[], Any] | None = None
        self.reference_id: int | None = None

    @property
    def data(self) -> Any:
        if self.record_loader is not None:
            loader, self.record_loader = self.record_loader, None
            self._data = loader()
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self.record_loader = None
        self._data = value

    @property
    def state_details(self) -> StateDetails:
        if self._details is None:
            self._details = StateDetails()
        return self._details

    @state_details.setter
    def state_details(self, details: StateDetails) -> None:
        self._details = details

    def __reduce__(self) -> tuple:
        # What a state holds, never how it would load it: loaders close over stores and connections.
        held = self.value if self.value is not UNSET else self._data
        return (
            _state_restore,
            (self.type.value, self.name, self.message, self.timestamp, self._details, held),
        )

    def is_manual(self) -> bool:
        """Made by user code, not by the engine for a run: it has neither a flow run nor a task run."""
        details = self._details
        return details is None or (details.flow_run_id is None and details.task_run_id is None)

    def __repr__(self) -> str:
        return f"{self.name}(message={self.message!r}, type={self.type.value}, result={self._data!r})"

    def __str__(self) -> str:
        display = [repr(self.message)] if self.message else []
        if self.type.value.lower() != self.name.lower():
            display.append(f"type={self.type.value}")
        return f"{self.name}({', '.join(display)})"

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_final(self) -> bool:
        return self.type in FINAL_STATE_TYPES

    def result(self, raise_on_failure: bool = True, retry_result_failure: bool = True) -> Any:
        """The run's value; a failed run raises its exception (or returns what it holds).

        In async code (an event loop runs in this thread) this returns an awaitable, as Prefect's does.
        """
        if _loop_running():
            return self.aresult(raise_on_failure=raise_on_failure)
        return state_result(self, raise_on_failure=raise_on_failure)

    async def aresult(self, raise_on_failure: bool = True, retry_result_failure: bool = True) -> Any:
        if self.value is UNSET and self.result_loader is not None:
            return await asyncio.to_thread(state_result, self, raise_on_failure=raise_on_failure)
        return state_result(self, raise_on_failure=raise_on_failure)


def _state_restore(
    type: str, name: str, message: str | None, timestamp: dt.datetime, details: StateDetails | None, held: Any
) -> State:
    state = State(type, data=held, name=name, message=message, timestamp=timestamp, state_details=details)
    state.value = held
    return state


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _held(state: State) -> Any:
    """What the state holds: the engine's value, a persisted value, a record's result, or its data."""
    if state.value is not UNSET:
        return state.value
    if state.result_loader is not None:
        state.value = state.result_loader()
        return state.value
    data = state.data
    if data_is_record(data):
        return data.result
    return data


def data_is_record(data: Any) -> bool:
    """Whether a state's data is a ResultRecord (imported on first use: most states never ask)."""
    from apps.results.records import ResultRecord

    return isinstance(data, ResultRecord)


def state_result(state: State, *, raise_on_failure: bool = True) -> Any:
    """``state.result()`` in any context: the value, or the failure's exception raised or returned."""
    if state.type is StateType.PAUSED:
        raise PausedRun("Run is paused, its result is not available.", state=state)
    if state.type not in FINAL_STATE_TYPES:
        raise UnfinishedRun(f"Run is in {state.type.name} state, its result is not available.")
    failed = state.type in FAILURE_STATE_TYPES
    if raise_on_failure and failed:
        raise state_exception(state)
    if (
        state.value is UNSET
        and state.result_loader is None
        and state.record_loader is None
        and state._data is None
    ):
        if failed:
            return state_exception(state)
        raise MissingResult(
            "State data is missing. Typically, this occurs when result persistence is disabled and the "
            "state has been retrieved from the API."
        )
    return _held(state)


_WRAPPERS = {
    StateType.FAILED: (FailedRun, "Run failed."),
    StateType.CRASHED: (CrashedRun, "Run crashed."),
    StateType.CANCELLED: (CancelledRun, "Run cancelled."),
}


def state_exception(state: State) -> BaseException:
    """The exception a failed, crashed or cancelled state stands for (Prefect's get_state_exception)."""
    wrapper = _WRAPPERS.get(state.type)
    if wrapper is None:
        raise ValueError(f"Expected failed or crashed state got {state!r}.")
    error_class, default_message = wrapper
    held = _held(state)
    if held is None:
        return error_class(state.message or default_message)
    if isinstance(held, BaseException):
        return held
    if isinstance(held, str):
        return error_class(held)
    if isinstance(held, State):
        return state_exception(held)
    if is_state_iterable(held):
        for inner in held:
            if inner.type in FAILURE_STATE_TYPES:
                return state_exception(inner)
        raise ValueError("Failed state result was an iterable of states but none were failed.")
    raise TypeError(
        f"Unexpected result for failed state: {held!r} —— {type(held).__name__} cannot be resolved into an "
        "exception"
    )


# Prefect's name for it.
get_state_exception = state_exception


def raise_state_exception(state: State) -> None:
    """Raise the exception of a failed, crashed or cancelled state; other states pass."""
    if state.type in FAILURE_STATE_TYPES:
        raise state_exception(state)


def is_state_iterable(value: Any) -> bool:
    """A non-empty list, tuple or set made only of states (dicts and other iterables are not)."""
    return (
        isinstance(value, list | tuple | set)
        and bool(value)
        and all(isinstance(item, State) for item in value)
    )


def states_aggregate(states: Iterable[State]) -> tuple[StateType, str]:
    """The type and message of a run that returned these states (Prefect's aggregate rule)."""
    states = list(states)
    counts = Counter(state.type for state in states)
    total = len(states)
    if counts[StateType.COMPLETED] == total:
        return StateType.COMPLETED, "All states completed."
    if counts[StateType.CANCELLED]:
        return StateType.CANCELLED, f"{counts[StateType.CANCELLED]}/{total} states cancelled."
    if counts[StateType.PAUSED]:
        return StateType.PAUSED, f"{counts[StateType.PAUSED]}/{total} states paused."
    failed = counts[StateType.FAILED] + counts[StateType.CRASHED]
    if failed:
        return StateType.FAILED, f"{failed}/{total} states failed."
    not_final = sum(state.type not in FINAL_STATE_TYPES for state in states)
    if not_final:
        return StateType.FAILED, f"{not_final}/{total} states are not final."
    given = ", ".join(
        [f"total={total}", *(f"{kind.value!r}={count}" for kind, count in counts.items() if count)]
    )
    return StateType.FAILED, "Given states: " + given


def Scheduled(*, scheduled_time: dt.datetime | None = None, **kwargs: Any) -> State:
    state = State(StateType.SCHEDULED, **kwargs)
    state.state_details.scheduled_time = scheduled_time or dt.datetime.now(dt.UTC)
    return state


def Pending(**kwargs: Any) -> State:
    return State(StateType.PENDING, **kwargs)


def Running(**kwargs: Any) -> State:
    return State(StateType.RUNNING, **kwargs)


def Completed(**kwargs: Any) -> State:
    return State(StateType.COMPLETED, **kwargs)


def Cached(**kwargs: Any) -> State:
    kwargs.setdefault("name", CACHED_NAME)
    return State(StateType.COMPLETED, **kwargs)


def Failed(**kwargs: Any) -> State:
    return State(StateType.FAILED, **kwargs)


def Crashed(**kwargs: Any) -> State:
    return State(StateType.CRASHED, **kwargs)


def Cancelling(**kwargs: Any) -> State:
    return State(StateType.CANCELLING, **kwargs)


def Cancelled(**kwargs: Any) -> State:
    return State(StateType.CANCELLED, **kwargs)


def Paused(**kwargs: Any) -> State:
    return State(StateType.PAUSED, **kwargs)


def AwaitingRetry(**kwargs: Any) -> State:
    kwargs.setdefault("name", "AwaitingRetry")
    return Scheduled(**kwargs)


def Retrying(**kwargs: Any) -> State:
    kwargs.setdefault("name", "Retrying")
    return State(StateType.RUNNING, **kwargs)


def Late(**kwargs: Any) -> State:
    kwargs.setdefault("name", "Late")
    return Scheduled(**kwargs)
