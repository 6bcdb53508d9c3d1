"""A flow run's log lines, buffered in memory and written in batches, up to a bounded volume."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from django.conf import settings

from apps.flows.models import RunLog

LOG_FLUSH_EVERY = 1000
LOG_FLUSH_SECONDS = 2.0
INSERT_BATCH = 1000
# The logger named on the line that says how many lines a cut run dropped.
DROPPED_LOGGER = "resultdeck.run_logs"
TRUNCATED_SUFFIX = " … [line cut]"

_flushing = threading.local()


def log_writes_in_progress() -> bool:
    """Whether this thread is writing log lines now (what the database logs then is not a run's)."""
    return getattr(_flushing, "active", False)


def line_cut(message: str, *, max_bytes: int) -> str:
    """``message`` cut to at most ``max_bytes`` of UTF-8 (plus a suffix saying it was cut)."""
    if len(message) * 4 <= max_bytes:
        return message
    encoded = message.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return message
    return encoded[:max_bytes].decode("utf-8", "ignore") + TRUNCATED_SUFFIX


class RunLogBuffer:
    """The lines of one flow run not yet written, and how many the volume limit dropped.

    ``add`` may be called from any thread; ``flush`` runs in the flow's own thread (its connection
    holds the run's transaction in tests and on workers).
    """

    def __init__(self, flow_run_id: Any, *, max_lines: int | None = None, max_line_bytes: int | None = None):
        self.flow_run_id = flow_run_id
        self.max_lines = settings.RESULTDECK_RUN_LOG_MAX_LINES if max_lines is None else max_lines
        self.max_line_bytes = (
            settings.RESULTDECK_RUN_LOG_MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
        )
        self.owner_thread = threading.get_ident()
        self.kept = 0
        self.dropped = 0
        self._lines: list[tuple[Any, int, float, str, str]] = []
        self._guard = threading.Lock()
        self._last_flush = time.monotonic()

    def add(self, *, task_run_id: Any, level: int, created: float, logger: str, message: str) -> None:
        with self._guard:
            if self.kept >= self.max_lines:
                self.dropped += 1
                return
            self.kept += 1
            self._lines.append((task_run_id, level, created, logger, message))

    def is_due(self) -> bool:
        return len(self._lines) >= LOG_FLUSH_EVERY or bool(
            self._lines and time.monotonic() - self._last_flush >= LOG_FLUSH_SECONDS
        )

    def maybe_flush(self) -> None:
        if threading.get_ident() == self.owner_thread and self.is_due():
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        """Write the buffered lines; at the end of the run, the line saying how many were dropped."""
        with self._guard:
            lines, self._lines = self._lines, []
            self._last_flush = time.monotonic()
            dropped = self.dropped if final else 0
        rows = [
            RunLog(
                flow_run_id=self.flow_run_id,
                task_run_id=task_run_id,
                level=level,
                timestamp=dt.datetime.fromtimestamp(created, dt.UTC),
                logger=logger[:200],
                message=line_cut(message, max_bytes=self.max_line_bytes),
            )
            for task_run_id, level, created, logger, message in lines
        ]
        if dropped:
            rows.append(
                RunLog(
                    flow_run_id=self.flow_run_id,
                    level=logging.WARNING,
                    timestamp=dt.datetime.now(dt.UTC),
                    logger=DROPPED_LOGGER,
                    message=f"{dropped} more log line{'s' if dropped != 1 else ''} dropped: this run kept "
                    f"its first {self.max_lines} (RESULTDECK_RUN_LOG_MAX_LINES)",
                    dropped=dropped,
                )
            )
        if not rows:
            return
        _flushing.active = True
        try:
            RunLog.objects.bulk_create(rows, batch_size=INSERT_BATCH)
        finally:
            _flushing.active = False
