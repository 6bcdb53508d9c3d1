"""Time limits of flows and tasks (pure): SIGALRM in the main thread, a watched thread elsewhere."""

from __future__ import annotations

import contextlib
import contextvars
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


class FlowTimeoutError(TimeoutError):
    pass


class TaskTimeoutError(TimeoutError):
    pass


def thread_timeout_call(fn: Callable[[], Any], *, seconds: float, what: str, error: type) -> Any:
    """``fn()`` on a thread of its own; raises ``error`` when it has not returned after ``seconds``.

    The thread cannot be stopped: it is a daemon, left to finish or to end with the process.
    """
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(fn)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"timeout-{what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise error(f"{what} timed out after {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextlib.contextmanager
def alarm(seconds: float | None, *, what: str) -> Iterator[bool]:
    """Raise FlowTimeoutError in the main thread after ``seconds`` (SIGALRM); elsewhere a no-op.

    Yields whether the alarm is armed.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def on_alarm(signum, frame):
        raise FlowTimeoutError(f"{what} timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
