"""Run records: finished task runs and their result references, buffered and written in bulk."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from django.db import InterfaceError, OperationalError, connections, router, transaction

from apps.core.bulk import (
    ids_reserve,
    insert_statement,
    rows_insert,
    single_statement_supported,
    statements_run_as_one,
    update_statement,
)
from apps.flows.logs.buffer import RunLogBuffer
from apps.flows.models import FlowRun, TaskRun
from apps.flows.states import State, StateType
from apps.results.models import ResultReference
from apps.results.references import PendingReference, references_save
from apps.results.retention import references_retention_apply

RECORD_FLUSH_EVERY = 500
RECORD_FLUSH_SECONDS = 2.0
# The run's end waits this long for a database that went away (a restart, a failover) to come back;
# only then does the run give up, since nothing can record its end meanwhile.
RECORD_DATABASE_WAIT_SECONDS = 300.0
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)

logger = logging.getLogger(__name__)


class RunRecorder:
    """Buffers finished task runs and their result references; writes them in bulk.

    A task's result is a PendingReference, a Future of one (written on a writer thread) or None.
    """

    def __init__(self, flow_run: Any) -> None:
        self.flow_run = flow_run
        self.owner_thread = threading.get_ident()
        self._pending: list[tuple[Any, PendingReference | Future | None]] = []
        self._guard = threading.Lock()
        self._last_flush = time.monotonic()
        self.logs = RunLogBuffer(flow_run.pk)

    def task_run_done(self, run: Any, pending: PendingReference | Future | None) -> None:
        with self._guard:
            self._pending.append((run, pending))
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if threading.get_ident() != self.owner_thread:
            return
        self.logs.maybe_flush()
        with self._guard:
            due = len(self._pending) >= RECORD_FLUSH_EVERY or (
                self._pending and time.monotonic() - self._last_flush >= RECORD_FLUSH_SECONDS
            )
        if due:
            try:
                self.flush()
            except DATABASE_UNAVAILABLE_ERRORS as exc:
                # Kept for the next flush; the run goes on, and its end waits for the database.
                logger.warning("flow run %s: task runs not recorded yet: %s", self.flow_run.pk, exc)
                _connection_drop()

    def first_failed_write(self) -> BaseException | None:
        """An error for the first buffered task run whose result could not be written, if any."""
        with self._guard:
            pending = list(self._pending)
        for run, result in pending:
            if isinstance(result, Future) and result.exception() is not None:
                exc = result.exception()
                return RuntimeError(
                    f"the result of task run {run.name} could not be persisted: {type(exc).__name__}: {exc}"
                )
        return None

    def flush_waiting(
        self,
        *,
        flow_run_fields: list[str],
        flow_result: PendingReference | None = None,
        wait_seconds: float = RECORD_DATABASE_WAIT_SECONDS,
    ) -> None:
        """``flush``, retried while the database is unreachable, for up to ``wait_seconds``."""
        deadline = time.monotonic() + wait_seconds
        delay = 0.2
        while True:
            try:
                self.flush(flow_run_fields=flow_run_fields, flow_result=flow_result)
                return
            except DATABASE_UNAVAILABLE_ERRORS as exc:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning(
                    "flow run %s: the database is unavailable (%s); retrying in %.1f s",
                    self.flow_run.pk,
                    exc,
                    delay,
                )
                _connection_drop()
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def flush(
        self, *, flow_run_fields: list[str] | None = None, flow_result: PendingReference | None = None
    ) -> None:
        """Write the buffered task runs; with ``flow_run_fields``, the flow run's end in the same go.

        Log lines go first, so once the run's state is final all its lines are readable. When the
        write fails, the task runs stay buffered and the references get no id, so a later flush
        writes them all again.
        """
        self.logs.flush(final=bool(flow_run_fields))
        with self._guard:
            buffered, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        runs = [(run, pending_resolve(run, result)) for run, result in buffered]
        unsaved = [
            result.reference for _, result in runs if result is not None and result.reference.pk is None
        ]
        if flow_result is not None and flow_result.reference.pk is None:
            unsaved.append(flow_result.reference)
        try:
            self._write(runs, flow_run_fields=flow_run_fields, flow_result=flow_result)
        except BaseException:
            for reference in unsaved:
                reference.pk = None
                reference._state.adding = True
            with self._guard:
                self._pending[:0] = runs
            raise

    def _write(
        self,
        runs: list[tuple[Any, PendingReference | None]],
        *,
        flow_run_fields: list[str] | None,
        flow_result: PendingReference | None,
    ) -> None:
        pending = [result for _, result in runs if result is not None]
        if flow_result is not None:
            pending.append(flow_result)
        references_retention_apply(
            references=[item.reference for item in pending], flow_name=self.flow_run.flow_name
        )
        flow_run_values = None
        if flow_run_fields:
            if flow_result is not None:
                flow_run_fields = [*flow_run_fields, "result"]
            flow_run_values = lambda: {  # noqa: E731 - read after the references have their ids
                name: getattr(self.flow_run, name) for name in _field_attnames(flow_run_fields)
            }
        flow_reference = None if flow_result is None else flow_result.reference
        connection = connections[router.db_for_write(TaskRun)]
        if single_statement_supported(connection) and all(map(_insertable_as_is, pending)):
            records_write_as_one(
                runs=[(run, None if result is None else result.reference) for run, result in runs],
                references=[item.reference for item in pending],
                flow_run=self.flow_run if flow_run_values else None,
                flow_reference=flow_reference,
                flow_run_values=flow_run_values,
                connection=connection,
            )
            return
        with transaction.atomic():
            references_save(pending=pending)
            task_runs = []
            for run, result in runs:
                if result is not None:
                    run.result_id = result.reference.pk
                task_runs.append(run)
            if task_runs:
                rows_insert(TaskRun, task_runs)
            if flow_run_values:
                if flow_reference is not None:
                    self.flow_run.result_id = flow_reference.pk
                FlowRun.objects.filter(pk=self.flow_run.pk).update(**flow_run_values())


def _connection_drop() -> None:
    """Close the broken connection (outside a transaction), so the next query opens a new one."""
    connection = connections[router.db_for_write(TaskRun)]
    if not connection.in_atomic_block:
        connection.close()


def _insertable_as_is(pending: PendingReference) -> bool:
    """Saved already, or new under a fresh key (or a literal): nothing to look up before inserting."""
    reference = pending.reference
    return reference.pk is not None or reference.is_literal or pending.fresh_key


def records_write_as_one(
    *,
    runs: list[tuple[Any, Any]],
    references: list[Any],
    flow_run: Any,
    flow_reference: Any,
    flow_run_values: Callable[[], dict[str, Any]] | None,
    connection: Any,
) -> None:
    """References, task runs and the flow run's new state in one atomic statement (one round trip).

    ``runs`` holds (task run, its ResultReference or None).
    """
    new_references, seen = [], set()
    for ref in references:
        if ref.pk is None and id(ref) not in seen:
            seen.add(id(ref))
            new_references.append(ref)
    for ref, pk in zip(
        new_references, ids_reserve(ResultReference, len(new_references), connection=connection), strict=True
    ):
        ref.pk = pk
    task_runs = []
    for run, reference in runs:
        if reference is not None:
            run.result_id = reference.pk
        task_runs.append(run)
    statements = []
    if new_references:
        statements.append(insert_statement(ResultReference, new_references, connection=connection))
    if task_runs:
        statements.append(insert_statement(TaskRun, task_runs, connection=connection))
    if flow_run is not None:
        if flow_reference is not None:
            flow_run.result_id = flow_reference.pk
        statements.append(update_statement(FlowRun, flow_run.pk, flow_run_values(), connection=connection))
    statements_run_as_one(statements, connection=connection)
    for obj in (*new_references, *task_runs):
        obj._state.adding = False
        obj._state.db = connection.alias


def pending_resolve(run: Any, result: PendingReference | Future | None) -> PendingReference | None:
    """The reference of a result written on a writer thread; its run ends Failed if the write failed."""
    if not isinstance(result, Future):
        return result
    try:
        return result.result()
    except Exception as exc:
        run.state_record(
            State(StateType.FAILED, message=f"the result could not be persisted: {type(exc).__name__}: {exc}")
        )
        return None


def _field_attnames(names: list[str]) -> list[str]:
    return [
        f"{name}_id" if name in ("result", "parent_flow_run", "parent_task_run") else name for name in names
    ]
