"""``@flow`` and ``@task``: decorate functions to get recorded runs and persisted results.

Decorating is cheap and imports neither Django nor the result machinery; both load on the first
call: the engine's modules need Django set up, so they are imported inside the calls, after
``django_ensure``. The arguments are Prefect's, and mean what the persistence rules in DESIGN.md say.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from apps.core.django_setup import django_ensure
from apps.flows.engine.asyncs import is_async_function, loop_running, off_loop_call
from apps.flows.engine.futures import unmapped
from apps.flows.parameters import signature_parameters
from apps.flows.rules import ConfigurationError, storage_spec_kind

__all__ = ["Flow", "Task", "flow", "task", "unmapped"]


def _check_common(*, name: str, retries: int, retry_delay_seconds: Any, timeout_seconds: Any) -> None:
    if not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"{name}: retries must be a whole number >= 0, not {retries!r}")
    delays = retry_delay_seconds if isinstance(retry_delay_seconds, list | tuple) else [retry_delay_seconds]
    for delay in delays:
        if delay is not None and (not isinstance(delay, int | float) or delay < 0):
            raise ConfigurationError(
                f"{name}: retry_delay_seconds must be seconds >= 0, not {retry_delay_seconds!r}"
            )
    if timeout_seconds is not None and (not isinstance(timeout_seconds, int | float) or timeout_seconds <= 0):
        raise ConfigurationError(
            f"{name}: timeout_seconds must be a positive number, not {timeout_seconds!r}"
        )


def _check_result_options(*, name: str, persist_result: Any, result_storage: Any) -> None:
    if persist_result not in (None, True, False):
        raise ConfigurationError(
            f"{name}: persist_result must be True, False or None, not {persist_result!r}"
        )
    storage_spec_kind(result_storage)


class _Decorated:
    """What flows and tasks share: the options they check, keep and copy in ``with_options``."""

    OPTIONS: tuple[str, ...] = ()
    fn: Callable

    def _common_options_set(
        self,
        *,
        label: str,
        retries: int,
        retry_delay_seconds: float | list[float],
        persist_result: bool | None,
        result_storage: Any,
        result_serializer: Any,
        timeout_seconds: float | None,
        log_prints: bool | None,
        cache_result_in_memory: bool,
    ) -> None:
        _check_common(
            name=label,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            timeout_seconds=timeout_seconds,
        )
        _check_result_options(name=label, persist_result=persist_result, result_storage=result_storage)
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        self.timeout_seconds = timeout_seconds
        self.log_prints = log_prints
        self.cache_result_in_memory = cache_result_in_memory
        self.isasync = is_async_function(self.fn)

    def with_options(self, **options: Any):
        """A copy with some options changed, as Prefect's ``with_options``."""
        current = {option: getattr(self, option) for option in self.OPTIONS}
        current.update(options)
        return type(self)(self.fn, **current)


class Flow(_Decorated):
    """A function run as a flow. Call it to run in this process; ``.submit()`` sends it to a worker."""

    # Templates must show a flow, never run it by resolving {{ flow.name }}.
    do_not_call_in_templates = True
    OPTIONS = (
        "name",
        "retries",
        "retry_delay_seconds",
        "persist_result",
        "result_storage",
        "result_serializer",
        "timeout_seconds",
        "log_prints",
        "description",
        "cache_result_in_memory",
    )

    def __init__(
        self,
        fn: Callable,
        *,
        name: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float | list[float] = 0,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Any = None,
        timeout_seconds: float | None = None,
        log_prints: bool = False,
        description: str | None = None,
        cache_result_in_memory: bool = True,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"@flow decorates a function, not {type(fn).__name__}")
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self._common_options_set(
            label=f"flow {self.name!r}",
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            persist_result=persist_result,
            result_storage=result_storage,
            result_serializer=result_serializer,
            timeout_seconds=timeout_seconds,
            log_prints=log_prints,
            cache_result_in_memory=cache_result_in_memory,
        )
        self.description = description if description is not None else inspect.getdoc(fn) or ""
        self.signature = inspect.signature(fn)
        update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"

    def __call__(self, *args: Any, return_state: bool = False, **kwargs: Any) -> Any:
        """Run the flow; an ``async def`` flow gives an awaitable of the same."""
        django_ensure()
        from apps.flows.engine.flow_runner import flow_call, flow_call_async

        if self.isasync:
            return flow_call_async(self, args, kwargs, return_state=return_state)
        if loop_running():
            return off_loop_call(flow_call, self, args, kwargs, return_state=return_state)
        return flow_call(self, args, kwargs, return_state=return_state)

    def submit(self, **parameters: Any):
        """Send a run to a Celery worker; returns a handle with ``.id``, ``.wait()`` and ``.result()``."""
        django_ensure()
        from apps.flows.submission import flow_submit

        return flow_submit(self, parameters)

    def parameters_schema(self) -> list[dict[str, Any]]:
        """The flow's parameters: name, annotation, default and whether it is required."""
        return signature_parameters(self.signature)


class Task(_Decorated):
    """A function run as a task: call it, ``.submit()`` it to the flow's pool or ``.map()`` it."""

    do_not_call_in_templates = True
    OPTIONS = (
        "name",
        "retries",
        "retry_delay_seconds",
        "persist_result",
        "result_storage",
        "result_serializer",
        "cache_key_fn",
        "cache_expiration",
        "refresh_cache",
        "result_storage_key",
        "timeout_seconds",
        "log_prints",
        "cache_result_in_memory",
    )

    def __init__(
        self,
        fn: Callable,
        *,
        name: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float | list[float] = 0,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Any = None,
        cache_key_fn: Callable[[Any, dict], str | None] | None = None,
        cache_expiration: dt.timedelta | None = None,
        refresh_cache: bool = False,
        result_storage_key: str | None = None,
        timeout_seconds: float | None = None,
        log_prints: bool | None = None,
        cache_result_in_memory: bool = True,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"@task decorates a function, not {type(fn).__name__}")
        self.fn = fn
        self.name = name or fn.__name__
        label = f"task {self.name!r}"
        # log_prints None: as the task's flow says.
        self._common_options_set(
            label=label,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            persist_result=persist_result,
            result_storage=result_storage,
            result_serializer=result_serializer,
            timeout_seconds=timeout_seconds,
            log_prints=log_prints,
            cache_result_in_memory=cache_result_in_memory,
        )
        if cache_key_fn is not None and not callable(cache_key_fn):
            raise ConfigurationError(f"{label}: cache_key_fn must be a function (context, parameters) -> str")
        if cache_expiration is not None and not isinstance(cache_expiration, dt.timedelta):
            raise ConfigurationError(f"{label}: cache_expiration must be a datetime.timedelta")
        if result_storage_key is not None and not isinstance(result_storage_key, str):
            raise ConfigurationError(f"{label}: result_storage_key must be a string template")
        self.cache_key_fn = cache_key_fn
        self.cache_expiration = cache_expiration
        self.refresh_cache = refresh_cache
        self.result_storage_key = result_storage_key
        self.signature = inspect.signature(fn)
        update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    def __call__(self, *args: Any, return_state: bool = False, wait_for: Any = None, **kwargs: Any) -> Any:
        """Run the task now; an ``async def`` task gives an awaitable of the same."""
        django_ensure()
        from apps.flows.engine.task_runner import task_call, task_call_async

        if self.isasync:
            return task_call_async(self, args, kwargs, return_state=return_state, wait_for=wait_for)
        if loop_running():
            return off_loop_call(task_call, self, args, kwargs, return_state=return_state, wait_for=wait_for)
        return task_call(self, args, kwargs, return_state=return_state, wait_for=wait_for)

    def submit(self, *args: Any, wait_for: Any = None, **kwargs: Any):
        django_ensure()
        from apps.flows.engine.task_runner import task_submit

        if loop_running():
            return off_loop_call(task_submit, self, args, kwargs, wait_for=wait_for)
        return task_submit(self, args, kwargs, wait_for=wait_for)

    def map(self, *args: Any, wait_for: Any = None, **kwargs: Any):
        django_ensure()
        from apps.flows.engine.task_runner import task_map

        if loop_running():
            return off_loop_call(task_map, self, args, kwargs, wait_for=wait_for)
        return task_map(self, args, kwargs, wait_for=wait_for)


def flow(__fn: Callable | None = None, **options: Any):
    """``@flow`` or ``@flow(name=..., retries=..., persist_result=..., result_storage=..., ...)``."""
    if __fn is not None:
        return Flow(__fn, **options)
    return lambda fn: Flow(fn, **options)


def task(__fn: Callable | None = None, **options: Any):
    """``@task`` or ``@task(retries=..., cache_key_fn=..., persist_result=..., ...)``."""
    if __fn is not None:
        return Task(__fn, **options)
    return lambda fn: Task(fn, **options)
