"""Run states: what a flow or task run is doing or how it ended, with its result.

Pure module (no Django). A flow may return a state to choose its own outcome::

    from apps.flows.states import Completed, Failed

    @flow
    def my_flow():
        return Completed(data="done")      # or Failed(message="upstream was empty")

``state.result()`` gives the value: from memory when the run happened in this process, otherwise
read from the persisted result (a literal None/True/False needs no read at all).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLED = "CANCELLED"


FINAL_STATE_TYPES = frozenset(
    {StateType.COMPLETED, StateType.CACHED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)
FAILURE_STATE_TYPES = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})


class RunFailedError(Exception):
    """A run ended Failed, Crashed or Cancelled and its own exception is not available here."""

    def __init__(self, message: str, *, state: State | None = None) -> None:
        super().__init__(message)
        self.state = state


class ResultUnavailableError(RuntimeError):
    """The state has no value in memory and nothing was persisted to read it from."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class State:
    """A run's state. ``data`` is the value (in memory), ``exception`` the error of a failure."""

    __slots__ = ("data", "exception", "message", "name", "reference_id", "result_loader", "timestamp", "type")

    def __init__(
        self,
        type: StateType | str,
        *,
        data: Any = UNSET,
        message: str | None = None,
        name: str | None = None,
        exception: BaseException | None = None,
        timestamp: dt.datetime | None = None,
    ) -> None:
        self.type = StateType(type)
        self.name = name or self.type.value.title()
        self.data = data
        self.message = message or ""
        self.exception = exception
        self.timestamp = timestamp or dt.datetime.now(dt.UTC)
        # Reads the persisted value when `data` is not in memory (set by the engine).
        self.result_loader: Callable[[], Any] | None = None
        self.reference_id: int | None = None

    def __repr__(self) -> str:
        message = f", message={self.message!r}" if self.message else ""
        return f"{self.name}({self.type.value}{message})"

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        """Completed or Cached: the run produced a value."""
        return self.type in (StateType.COMPLETED, StateType.CACHED)

    def is_cached(self) -> bool:
        return self.type is StateType.CACHED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_final(self) -> bool:
        return self.type in FINAL_STATE_TYPES

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's value; for a failed run its exception is raised (or returned)."""
        if self.type in FAILURE_STATE_TYPES:
            error = self.exception or RunFailedError(self.message or f"the run ended {self.name}", state=self)
            if raise_on_failure:
                raise error
            return error
        if self.data is not UNSET:
            return self.data
        if self.result_loader is not None:
            self.data = self.result_loader()
            return self.data
        if self.is_completed():
            raise ResultUnavailableError(
                "this run's result was not persisted and is not in memory; "
                "set persist_result=True on the task or flow to keep it"
            )
        raise ResultUnavailableError(f"a {self.name} run has no result yet")


def Scheduled(**kwargs: Any) -> State:
    return State(StateType.SCHEDULED, **kwargs)


def Pending(**kwargs: Any) -> State:
    return State(StateType.PENDING, **kwargs)


def Running(**kwargs: Any) -> State:
    return State(StateType.RUNNING, **kwargs)


def Completed(**kwargs: Any) -> State:
    return State(StateType.COMPLETED, **kwargs)


def Cached(**kwargs: Any) -> State:
    return State(StateType.CACHED, **kwargs)


def Failed(**kwargs: Any) -> State:
    return State(StateType.FAILED, **kwargs)


def Crashed(**kwargs: Any) -> State:
    return State(StateType.CRASHED, **kwargs)


def Cancelled(**kwargs: Any) -> State:
    return State(StateType.CANCELLED, **kwargs)


def AwaitingRetry(**kwargs: Any) -> State:
    kwargs.setdefault("name", "AwaitingRetry")
    return State(StateType.SCHEDULED, **kwargs)
