"""The run logger, the handler that keeps what is logged inside a run, and ``log_prints``.

As in Prefect 3: ``get_run_logger()`` inside a flow gives an adapter on ``resultdeck.flow_runs``,
inside a task one on ``resultdeck.task_runs``; their records carry ``flow_run_id``,
``flow_run_name``, ``flow_name`` (and ``task_run_id``, ``task_run_name``, ``task_name``). Every
record logged inside a run at or above ``RESULTDECK_RUN_LOG_LEVEL``, by any logger, is kept with
the run. With ``log_prints=True`` on the flow (inherited by its tasks unless they say otherwise)
or on a task, ``print()`` inside the run logs at INFO instead.
"""

from __future__ import annotations

import builtins
import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

from django.conf import settings

from apps.flows.engine.context import flow_run_context_var, task_run_context_var
from apps.flows.exceptions import MissingContextError
from apps.flows.logs.buffer import log_writes_in_progress

FLOW_RUN_LOGGER = "resultdeck.flow_runs"
TASK_RUN_LOGGER = "resultdeck.task_runs"

_install_guard = threading.Lock()
_installed: dict[str, Any] = {}


class RunLoggerAdapter(logging.LoggerAdapter):
    """Adds the run's ids and names to each record, merged with the call's own ``extra``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}
        return msg, kwargs


def _current_task_context() -> Any:
    """The task run context of this call, unless a subflow runs inside that task."""
    task_context = task_run_context_var.get()
    if task_context is None:
        return None
    flow_context = flow_run_context_var.get()
    if flow_context is not None and task_context.task_run.flow_run_id != flow_context.flow_run.pk:
        return None
    return task_context


def get_run_logger(**extra: Any) -> logging.LoggerAdapter:
    """The logger of the current flow or task run; MissingContextError outside one."""
    flow_context = flow_run_context_var.get()
    task_context = _current_task_context()
    if task_context is None and flow_context is None:
        raise MissingContextError("there is no active flow or task run: get_run_logger() works inside one")
    run_extra: dict[str, Any] = {}
    if flow_context is not None:
        flow_run = flow_context.flow_run
        run_extra.update(
            flow_run_id=str(flow_run.pk), flow_run_name=flow_run.name, flow_name=flow_context.flow.name
        )
    if task_context is not None:
        task_run = task_context.task_run
        run_extra.update(
            task_run_id=str(task_run.pk), task_run_name=task_run.name, task_name=task_context.task.name
        )
    name = TASK_RUN_LOGGER if task_context is not None else FLOW_RUN_LOGGER
    return RunLoggerAdapter(logging.getLogger(name), {**run_extra, **extra})


class RunLogHandler(logging.Handler):
    """Keeps records logged inside a flow run in that run's buffer (one append per record)."""

    def emit(self, record: logging.LogRecord) -> None:
        flow_context = flow_run_context_var.get()
        if flow_context is None or log_writes_in_progress():
            return
        # Read on each record (not fixed at install), so a changed setting applies to the next run.
        if record.levelno < logging.getLevelName(settings.RESULTDECK_RUN_LOG_LEVEL):
            return
        task_context = _current_task_context()
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        logs = flow_context.recorder.logs
        logs.add(
            task_run_id=task_context.task_run.pk if task_context is not None else None,
            level=record.levelno,
            created=record.created,
            logger=record.name,
            message=message,
        )
        try:
            logs.maybe_flush()
        except Exception:
            # A logging call must not raise into the run's code; the run's end writes again.
            self.handleError(record)


def prints_logged() -> bool:
    """Whether print() in this context logs: the task's log_prints, else its flow's."""
    task_context = _current_task_context()
    if task_context is not None and task_context.task.log_prints is not None:
        return task_context.task.log_prints
    flow_context = flow_run_context_var.get()
    return flow_context is not None and bool(flow_context.flow.log_prints)


def _print_as_log(*args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush=False):
    if (file is None or file is sys.stdout) and prints_logged():
        get_run_logger().info((" " if sep is None else sep).join(str(arg) for arg in args))
        return
    _installed["print"](*args, sep=sep, end=end, file=file, flush=flush)


def run_logging_install() -> None:
    """Once per process: the handler on the root logger and the print() that honours log_prints.

    The run loggers get the run log level when nobody configured theirs, so run logger calls at
    that level are kept even under a stricter root logger.
    """
    if _installed:
        return
    with _install_guard:
        if _installed:
            return
        handler = RunLogHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger().addHandler(handler)
        for name in (FLOW_RUN_LOGGER, TASK_RUN_LOGGER):
            run_logger = logging.getLogger(name)
            if run_logger.level == logging.NOTSET:
                run_logger.setLevel(settings.RESULTDECK_RUN_LOG_LEVEL)
        _installed["print"] = builtins.print
        _installed["handler"] = handler
        builtins.print = _print_as_log
