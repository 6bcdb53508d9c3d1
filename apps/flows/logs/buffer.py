"""A flow run's log lines, buffered in memory and written in batches, up to a bounded volume."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, router, transaction

from apps.core.bulk import adaptation_plan
from apps.flows.logs.echo import echo_drain
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
        # Read when the run starts (not fixed at install), so a changed setting applies to the next run.
        self.level = logging.getLevelName(settings.RESULTDECK_RUN_LOG_LEVEL)
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
        """A periodic write; while the database is away the lines wait for the run's final write."""
        if threading.get_ident() == self.owner_thread and self.is_due():
            # flush() keeps the lines when it fails; the run's end retries until the database is back.
            with contextlib.suppress(OperationalError, InterfaceError):
                self.flush()

    def flush(self, *, final: bool = False) -> None:
        """Write the buffered lines; at the end of the run, the line saying how many were dropped.

        The run's end also waits for its lines' console echo, so they are shown before it returns.
        """
        if final:
            echo_drain()
        with self._guard:
            lines, self._lines = self._lines, []
            self._last_flush = time.monotonic()
            dropped = self.dropped if final else 0
        rows = [
            (self.flow_run_id, task_run_id, level, dt.datetime.fromtimestamp(created, dt.UTC), logger[:200],
             line_cut(message, max_bytes=self.max_line_bytes), 0)
            for task_run_id, level, created, logger, message in lines
        ]  # fmt: skip
        if dropped:
            rows.append(
                (
                    self.flow_run_id,
                    None,
                    logging.WARNING,
                    dt.datetime.now(dt.UTC),
                    DROPPED_LOGGER,
                    f"{dropped} more log line{'s' if dropped != 1 else ''} dropped: this run kept its first "
                    f"{self.max_lines} (RESULTDECK_RUN_LOG_MAX_LINES)",
                    dropped,
                )
            )
        if not rows:
            return
        _flushing.active = True
        try:
            log_rows_insert(rows)
        except Exception:
            # Kept for the next flush (the run's end), in order.
            with self._guard:
                self._lines[:0] = lines
            raise
        finally:
            _flushing.active = False


ROW_FIELDS = ("flow_run_id", "task_run_id", "level", "timestamp", "logger", "message", "dropped")


def log_rows_insert(rows: list[tuple]) -> None:
    """Insert RunLog rows given as tuples in ROW_FIELDS order: COPY on PostgreSQL, else executemany.

    COPY costs a few microseconds a line where building model instances for bulk_create cost ten
    times more, and the flow's thread waits for it.
    """
    connection = connections[router.db_for_write(RunLog)]
    meta = RunLog._meta
    quote = connection.ops.quote_name
    field_of = {field.attname: field for field in meta.concrete_fields}
    columns = ", ".join(quote(field_of[name].column) for name in ROW_FIELDS)
    if connection.vendor != "postgresql":
        values = log_rows_adapt(rows, connection=connection)
        placeholders = ", ".join(["%s"] * len(ROW_FIELDS))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608 - names from the model
        # Outside a transaction SQLite commits every row of an executemany on its own, which cost
        # the flow's thread most of a line's price; one transaction per batch writes them at once.
        with (
            contextlib.nullcontext()
            if connection.in_atomic_block
            else transaction.atomic(using=connection.alias),
            connection.cursor() as cursor,
        ):
            for start in range(0, len(values), INSERT_BATCH):
                cursor.executemany(sql, values[start : start + INSERT_BATCH])
        return
    # The raw cursor's COPY bypasses Django's error wrapper: wrap it, so a database that went away
    # raises Django's OperationalError, which the run's end waits out, not psycopg's.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def log_rows_adapt(rows: list[tuple], *, connection: Any) -> list[tuple]:
    """The rows' values as each field's ``get_db_prep_save`` gives them, through the bulk inserts'
    fast adapters where a value's type has one (field by field, that call cost more than the insert)."""
    plan = {
        attname: (field, types, adapter)
        for attname, field, types, adapter in adaptation_plan(RunLog, connection)
    }
    if not rows:
        return []
    # Column by column: a comprehension per column costs less than a generator per row.
    columns = [
        [
            None
            if value is None and adapter is not None
            else adapter(value, field, connection)
            if type(value) in types
            else field.get_db_prep_save(value, connection)
            for value in values
        ]
        for (field, types, adapter), values in zip(
            [plan[name] for name in ROW_FIELDS], zip(*rows, strict=True), strict=True
        )
    ]
    return list(zip(*columns, strict=True))
