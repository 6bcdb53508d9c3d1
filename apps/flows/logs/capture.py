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
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from django.conf import settings

from apps.flows.engine.context import flow_run_context_var, task_run_context_var
from apps.flows.exceptions import MissingContextError
from apps.flows.logs.buffer import log_writes_in_progress
from apps.flows.logs.echo import echo_enqueue, echo_record

FLOW_RUN_LOGGER = "resultdeck.flow_runs"
TASK_RUN_LOGGER = "resultdeck.task_runs"

_install_guard = threading.Lock()
_installed: dict[str, Any] = {}


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


class RunLoggerAdapter(logging.LoggerAdapter):
    """Adds the run's ids and names to each record, merged with the call's own ``extra``.

    A plain call (no keyword arguments) under the usual logging set-up (no filters, only the run
    log handler and plain stream handlers whose format does not name the caller) skips the record
    and the handler chain: the line goes to the run's buffer, its console echo to the echo thread,
    with what the record would have given them. Anything else is logged as usual.
    """

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        if kwargs or not _line_direct(self, level, msg, args):
            # One frame more than LoggerAdapter's: the record still names the caller.
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
            super().log(level, msg, *args, **kwargs)


def _line_direct(adapter: RunLoggerAdapter, level: int, msg: Any, args: tuple) -> bool:
    """Keep and echo a line as the handler chain would; False where only the chain knows how."""
    logger = adapter.logger
    if (
        type(logger) is not logging.Logger
        or logger.disabled
        or logging.getLogRecordFactory() is not logging.LogRecord
    ):
        return False
    route = _handlers_route(logger)
    if route is None or (len(args) == 1 and isinstance(args[0], Mapping) and args[0]):
        return False  # a lone mapping argument is formatted by key, as LogRecord does
    try:
        message = str(msg) % args if args else str(msg)
    except Exception:
        return False  # logging reports the bad format string as it does
    created = time.time()
    keepers, echoers = route
    for handler in keepers:
        if level >= handler.level:
            try:
                handler.line_keep(level=level, created=created, name=logger.name, message=message)
            except Exception:
                record = echo_record(
                    name=logger.name, level=level, message=message, created=created, extra=adapter.extra
                )
                handler.handleError(record)
    echoing = [handler for handler in echoers if level >= handler.level]
    if echoing:
        echo_enqueue(echoing, (logger.name, level, message, created, adapter.extra))
    return True


def _handlers_route(logger: logging.Logger) -> tuple[list[RunLogHandler], list[logging.Handler]] | None:
    """The run log handlers and echoable stream handlers a record of ``logger`` reaches, or None
    when a filter, another kind of handler or none at all would see it."""
    keepers: list[RunLogHandler] = []
    echoers: list[logging.Handler] = []
    current: Any = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if handler.filters:
                return None
            if isinstance(handler, RunLogHandler):
                keepers.append(handler)
            elif type(handler) is logging.StreamHandler and formatter_echoable(handler.formatter):
                echoers.append(handler)
            else:
                return None
        if not current.propagate:
            break
        current = current.parent
    return (keepers, echoers) if keepers or echoers else None


_echoable: dict[logging.Formatter, bool] = {}
RUN_EXTRA_NAMES = ("flow_run_id", "flow_run_name", "flow_name", "task_run_id", "task_run_name", "task_name")


def formatter_echoable(formatter: logging.Formatter | None) -> bool:
    """Whether ``formatter`` gives the same line for a record made on another thread, far from the
    call: it names no caller field (path, function, line, thread, process, relative time)."""
    if formatter is None:
        return True
    known = _echoable.get(formatter)
    if known is None:
        try:
            known = _probe_format(formatter, "/one/a.py", 1) == _probe_format(formatter, "/two/b.py", 2)
        except Exception:
            known = False
        _echoable[formatter] = known
    return known


def _probe_format(formatter: logging.Formatter, path: str, number: int) -> str:
    record = logging.LogRecord("probe", logging.INFO, path, number, "probe", None, None, func=path)
    record.created, record.msecs = 1.5, 500.0
    record.relativeCreated = float(number)
    record.thread, record.threadName, record.process, record.processName = number, path, number, path
    record.taskName = path
    record.__dict__.update(dict.fromkeys(RUN_EXTRA_NAMES, "probe"))
    return formatter.format(record)


class RunLogHandler(logging.Handler):
    """Keeps records logged inside a flow run in that run's buffer (one append per record)."""

    def emit(self, record: logging.LogRecord) -> None:
        flow_context = flow_run_context_var.get()
        if (
            flow_context is None
            or log_writes_in_progress()
            or record.levelno < flow_context.recorder.logs.level
        ):
            return
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self.line_keep(level=record.levelno, created=record.created, name=record.name, message=message)
        except Exception:
            self.handleError(record)

    def line_keep(self, *, level: int, created: float, name: str, message: str) -> None:
        """Keep a line in the current run's buffer (nothing outside a run or below the level)."""
        flow_context = flow_run_context_var.get()
        if flow_context is None or log_writes_in_progress() or level < flow_context.recorder.logs.level:
            return
        task_context = _current_task_context()
        logs = flow_context.recorder.logs
        logs.add(
            task_run_id=task_context.task_run.pk if task_context is not None else None,
            level=level,
            created=created,
            logger=name,
            message=message,
        )
        # Raised to the caller's handleError: a logging call must not raise into the run's code, and
        # the run's end writes again.
        logs.maybe_flush()


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
