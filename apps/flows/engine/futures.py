"""Futures of submitted and mapped tasks, and how arguments made of them become values (pure)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from apps.flows.engine.asyncs import loop_running
from apps.flows.states import State, StateType, state_result


class unmapped:
    """Wrap an iterable argument of ``task.map()`` that must be passed whole to every run."""

    def __init__(self, value: Any) -> None:
        self.value = value


# How often a thread waiting for a task does its own work meanwhile (the flow's: writing log lines).
WAIT_SLICE_SECONDS = 1.0


class TaskFuture:
    """A task submitted to the flow's thread pool: ``.result()``, ``.wait()``, ``.state``.

    ``while_waiting`` is called about every WAIT_SLICE_SECONDS while a caller waits for the task.
    """

    def __init__(
        self, future: Future, *, task_name: str, while_waiting: Callable[[], None] | None = None
    ) -> None:
        self._future = future
        self.task_name = task_name
        self.while_waiting = while_waiting

    def _outcome(self, timeout: float | None) -> State:
        # In async code the flow's records are not this thread's to write (see engine.asyncs).
        if self.while_waiting is None or self._future.done() or loop_running():
            return self._future.result(timeout=timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = WAIT_SLICE_SECONDS if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                return self._future.result(timeout=min(WAIT_SLICE_SECONDS, remaining))
            except FutureTimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                self.while_waiting()

    def wait(self, timeout: float | None = None) -> State | None:
        try:
            return self._outcome(timeout)
        except FutureTimeoutError:
            return None

    @property
    def state(self) -> State:
        if not self._future.done():
            return State(StateType.RUNNING)
        return self._future.result()

    def final_state(self) -> State:
        """The task's state once it has ended (waiting for it)."""
        return self._outcome(None)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        try:
            state = self._outcome(timeout)
        except FutureTimeoutError:
            raise TimeoutError(f"task {self.task_name!r} did not finish within {timeout} s") from None
        return state_result(state, raise_on_failure=raise_on_failure)

    async def aresult(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """``result()`` for async code: waits without blocking the event loop."""
        return await asyncio.to_thread(self.result, timeout=timeout, raise_on_failure=raise_on_failure)

    def __repr__(self) -> str:
        return f"TaskFuture({self.task_name!r}, done={self._future.done()})"


class PrefectFutureList(list):
    """What ``task.map()`` returns: futures, with ``.result()`` and ``.wait()`` over all of them."""

    def wait(self, timeout: float | None = None) -> None:
        for future in self:
            future.wait(timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        return [future.result(timeout=timeout, raise_on_failure=raise_on_failure) for future in self]


def inputs_resolve(value: Any, depth: int = 0) -> Any:
    """Futures and states passed as arguments become their values (one container level deep)."""
    if isinstance(value, TaskFuture):
        return value.result()
    if isinstance(value, State):
        return state_result(value)
    if depth == 0:
        if type(value) is list:
            return [inputs_resolve(item, 1) for item in value]
        if type(value) is tuple:
            return tuple(inputs_resolve(item, 1) for item in value)
        if type(value) is dict:
            return {key: inputs_resolve(item, 1) for key, item in value.items()}
    return value
