"""Async flows and tasks on the sync engine (pure: no Django).

The engine is synchronous: its database and storage calls block. An ``async def`` body runs to its
end with ``asyncio.run`` on a thread of its own; the engine's entry points (calling, submitting or
mapping a task, calling a flow) that find an event loop running in their thread do their work on a
helper thread and wait for it, so no database call ever runs inside a loop (Django refuses that),
and a sync task blocks an async flow exactly as it does in Prefect.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections.abc import Callable
from typing import Any


def loop_running() -> bool:
    """Whether an event loop runs in this thread (the caller is async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def off_loop_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on a helper thread with this context, waited for (blocking the loop)."""
    return thread_call(contextvars.copy_context().run, fn, *args, **kwargs)


def thread_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on a new thread; its value returned or its exception raised here."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, fn(*args, **kwargs)))
        except BaseException as exc:  # handed to the caller's thread, which raises it
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="resultdeck-async", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def awaitable_run(awaitable: Any, *, new_thread: bool = False) -> Any:
    """Run what an ``async def`` body returned to its end, with its own loop.

    On a thread of its own when ``new_thread`` or when this thread runs a loop already; a flow's
    body always is, so the flow's thread (which writes the run's records) never runs a loop.
    """
    if new_thread or loop_running():
        return thread_call(contextvars.copy_context().run, asyncio.run, _awaited(awaitable))
    return asyncio.run(_awaited(awaitable))


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def is_async_function(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn)
