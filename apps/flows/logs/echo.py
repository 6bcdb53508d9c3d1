"""The console echo of run logger lines, written on a thread of its own.

A run logger line goes to the run's buffer at once; its echo on the console (the stream handlers
of the logging configuration, as Prefect shows run logs) is formatted and written here, in
batches with one flush each, so the run's thread pays a queue put instead of building a record,
formatting a time and writing a stream per line. The run's end waits for its echo to be written.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
from typing import Any

# How long a run's end waits for its lines to reach the console (a stream that blocks, such as a
# full pipe nobody reads, must not hold the run).
DRAIN_WAIT_SECONDS = 5.0
# The echo thread writes what is queued this often, or as soon as this many lines wait: waking it
# for every line cost the run's thread a thread switch per line.
ECHO_INTERVAL_SECONDS = 0.1
ECHO_WAKE_LINES = 1000


class EchoQueue:
    """Lines waiting for the echo thread: an append per line, a wake-up per interval or batch."""

    def __init__(self) -> None:
        self.lines: collections.deque = collections.deque()
        self.wake = threading.Event()

    def put(self, item: tuple[Any, Any]) -> None:
        self.lines.append(item)
        if len(self.lines) >= ECHO_WAKE_LINES:
            self.wake.set()

    def take(self) -> list[tuple[Any, Any]]:
        self.wake.wait(ECHO_INTERVAL_SECONDS)
        self.wake.clear()
        taken = []
        with contextlib.suppress(IndexError):
            while True:
                taken.append(self.lines.popleft())
        return taken


# (process id, the echo thread's queue): a forked child makes its own, and never echoes lines its
# parent had queued.
_writer: tuple[int, EchoQueue] | None = None
_writer_guard = threading.Lock()


def echo_record(
    *, name: str, level: int, message: str, created: float, extra: dict[str, Any]
) -> logging.LogRecord:
    """The record a formatter sees for an echoed line (what the logging call would have made)."""
    record = logging.LogRecord(name, level, "", 0, message, None, None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    record.__dict__.update(extra)
    return record


def echo_enqueue(handlers: list[logging.Handler], line: tuple[str, int, str, float, dict[str, Any]]) -> None:
    """Echo ``line`` (name, level, message, created, extra) through ``handlers`` on the echo thread."""
    _writer_queue().put((handlers, line))


def echo_drain(*, timeout: float = DRAIN_WAIT_SECONDS) -> bool:
    """Wait until every line queued so far has been written; False if that took over ``timeout``."""
    if _writer is None or _writer[0] != os.getpid():
        return True
    done = threading.Event()
    _writer[1].put((None, done))
    _writer[1].wake.set()
    return done.wait(timeout)


def _writer_queue() -> EchoQueue:
    global _writer
    writer = _writer
    if writer is not None and writer[0] == os.getpid():
        return writer[1]
    with _writer_guard:
        if _writer is None or _writer[0] != os.getpid():
            lines = EchoQueue()
            # Daemon: a process that exits does not wait for its console echo (a run's end does).
            threading.Thread(target=_echo_loop, args=(lines,), name="run-log-echo", daemon=True).start()
            _writer = (os.getpid(), lines)
        return _writer[1]


def _echo_loop(lines: EchoQueue) -> None:
    while True:
        batch = lines.take()
        if batch:
            _batch_write(batch)


def _batch_write(batch: list[tuple[Any, Any]]) -> None:
    by_handler: dict[logging.Handler, list[logging.LogRecord]] = {}
    waiting: list[threading.Event] = []
    for handlers, line in batch:
        if handlers is None:
            waiting.append(line)
            continue
        name, level, message, created, extra = line
        record = echo_record(name=name, level=level, message=message, created=created, extra=extra)
        for handler in handlers:
            by_handler.setdefault(handler, []).append(record)
    for handler, records in by_handler.items():
        _handler_write(handler, records)
    for done in waiting:
        done.set()


def _handler_write(handler: Any, records: list[logging.LogRecord]) -> None:
    """What StreamHandler.emit does for each record, in one write and one flush for them all."""
    with handler.lock:
        text = []
        for record in records:
            try:
                text.append(handler.format(record) + handler.terminator)
            except Exception:
                handler.handleError(record)
        try:
            handler.stream.write("".join(text))
            handler.flush()
        except Exception:
            handler.handleError(records[-1])
