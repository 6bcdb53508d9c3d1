"""Celery tasks: run a submitted flow on a worker, and sweep runs whose worker died.

Messages carry only flow run ids (JSON): one (``flows.run``) or several submitted together
(``flows.run_many``); parameters are read from the FlowRun row. A worker claims a Scheduled run and
loads it with one ``UPDATE ... RETURNING``, so no two deliveries ever start the same run, and
records its end with one more statement: two round trips for a small run. With ``acks_late`` and
``reject_on_worker_lost``, a message whose worker died is delivered again. The redelivered task then
finds its run in RUNNING, owned by a process that is gone: it restarts the run when the flow has
retries left (completed tasks reuse their persisted results) and otherwise ends it Crashed with the
reason. ``flow_runs_sweep_orphans`` (Celery beat) catches runs stuck in RUNNING whose worker is gone
and whose message will not come back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import uuid

from celery import current_app as app  # the project's app: project/__init__.py makes it current
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.db import connections, router, transaction

from apps.core.bulk import instance_from_row, returning_columns
from apps.flows.engine.context import ReusableResult
from apps.flows.engine.flow_runner import flow_run_execute
from apps.flows.engine.ids import worker_identity
from apps.flows.engine.recorder import DATABASE_UNAVAILABLE_ERRORS
from apps.flows.engine.timeouts import FlowTimeoutError
from apps.flows.models import FlowRun
from apps.flows.models import StateType as RunStateType
from apps.flows.registry import FlowNotFoundError, flow_get, flow_registry
from apps.flows.states import FINAL_STATE_TYPES, UNSET, State, StateType
from apps.results.references import PendingReference

logger = logging.getLogger(__name__)

ORPHAN_GRACE_SECONDS = 60
# A message that finds the database down is retried this often, for about half an hour.
DATABASE_RETRY_SECONDS = 2.0
DATABASE_RETRIES = 900


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_is_alive(worker_host: str, *, active_task_ids: set[str] | None = None, run_id: str = "") -> bool:
    """Whether the process recorded as running a flow (``host:pid``) still exists.

    ``run_id`` is the id of the Celery message that started the run (one run, or several).
    """
    host, _, pid_text = worker_host.rpartition(":")
    if not host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if host == socket.gethostname():
        return _pid_alive(pid)
    # Another machine: alive if some worker reports the run among its active tasks.
    return active_task_ids is not None and run_id in active_task_ids


def _active_task_ids(*, exclude_worker: str = "") -> set[str] | None:
    """Ids of the tasks the live workers are running (None when they cannot be asked)."""
    try:
        replies = app.control.inspect(timeout=1.0).active() or {}
    except Exception:
        return None
    return {task["id"] for worker, tasks in replies.items() if worker != exclude_worker for task in tasks}


@shared_task(bind=True, name="flows.run", acks_late=True, reject_on_worker_lost=True)
def flow_run_execute_task(self, flow_run_id: str) -> str:
    try:
        return flow_run_deliver(
            flow_run_id=flow_run_id,
            celery_task_id=self.request.id or "",
            worker_name=self.request.hostname or "",
        )
    except DATABASE_UNAVAILABLE_ERRORS as exc:
        raise _database_retry(self, exc) from exc


def _database_retry(task, exc: Exception):
    """The message again, later: with the database down a run can be neither claimed nor ended,
    and acknowledging the message would leave the run Scheduled forever."""
    logger.warning(
        "the database is unavailable (%s); the message is retried in %g s", exc, DATABASE_RETRY_SECONDS
    )
    _connections_recycle()
    return task.retry(exc=exc, countdown=DATABASE_RETRY_SECONDS, max_retries=DATABASE_RETRIES)


@shared_task(bind=True, name="flows.run_many", acks_late=True, reject_on_worker_lost=True)
def flow_runs_execute_task(self, flow_run_ids: list[str]) -> list[str]:
    """Several submitted runs, one after another: one message instead of one per run.

    A redelivered message (its worker died) finds the runs that ended and skips them, and the run
    that was going on is handled as in ``flows.run``. The claim is atomic, so even two live
    deliveries of one message split its runs rather than run any twice.
    """
    outcomes = []
    for index, flow_run_id in enumerate(flow_run_ids):
        if index:
            _connections_recycle()
        try:
            outcomes.append(
                flow_run_deliver(
                    flow_run_id=flow_run_id,
                    celery_task_id=self.request.id or "",
                    worker_name=self.request.hostname or "",
                )
            )
        except DATABASE_UNAVAILABLE_ERRORS as exc:
            # Runs that ended are skipped when the message comes back; the rest run then.
            raise _database_retry(self, exc) from exc
        except Exception as exc:  # the other runs of the message must still run
            logger.exception("flow run %s could not be run", flow_run_id)
            outcomes.append(_crash_after_engine_error(flow_run_id, exc))
    return outcomes


def _connections_recycle() -> None:
    """Between runs, what Celery does between tasks: drop connections that are broken or too old.

    A connection inside a transaction (the caller's own, as in a test) is left alone.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _crash_after_engine_error(flow_run_id: str, exc: Exception) -> str:
    try:
        _connections_recycle()
        run = FlowRun.objects.filter(pk=flow_run_id).first()
        if run is None or StateType(run.state) in FINAL_STATE_TYPES:
            return "missing" if run is None else run.state
        _end(run, State(StateType.CRASHED, message=f"the engine failed: {type(exc).__name__}: {exc}"))
        return run.state
    except Exception:
        logger.exception("flow run %s could not be marked Crashed", flow_run_id)
        return "error"


def flow_run_deliver(*, flow_run_id: str, celery_task_id: str, worker_name: str) -> str:
    """Run a submitted flow run on this worker, or decide it must not run (ended, running elsewhere)."""
    run = flow_run_claim(flow_run_id=flow_run_id, celery_task_id=celery_task_id)
    if run is not None:
        try:
            flow = flow_get(run.flow_name)
        except FlowNotFoundError as exc:
            _end(run, State(StateType.FAILED, message=str(exc)))
            return run.state
        return _execute(run, flow=flow, reusable=None, attempt_offset=0)
    # Not Scheduled (a redelivery of a run that started or ended, or a database without the
    # one-statement claim): look at the run and decide.
    run = FlowRun.objects.filter(pk=flow_run_id).first() if _is_uuid(flow_run_id) else None
    if run is None:
        logger.warning("flow run %s does not exist (deleted?); nothing to do", flow_run_id)
        return "missing"
    if StateType(run.state) in FINAL_STATE_TYPES:
        return run.state  # a duplicate delivery of a finished run
    try:
        flow = flow_get(run.flow_name)
    except FlowNotFoundError as exc:
        _end(run, State(StateType.FAILED, message=str(exc)))
        return run.state
    attempt_offset = 0
    reusable = None
    if run.state == StateType.RUNNING.value:
        remote_owner = not run.worker_host.startswith(socket.gethostname() + ":")
        active = _active_task_ids(exclude_worker=worker_name) if remote_owner else None
        if (
            run.worker_host
            and run.worker_host != worker_identity()
            and owner_is_alive(
                run.worker_host, active_task_ids=active, run_id=run.celery_task_id or flow_run_id
            )
        ):
            logger.info(
                "flow run %s is running in live process %s; not starting it twice", run.pk, run.worker_host
            )
            return "running-elsewhere"
        reason = f"the worker running it ({run.worker_host or 'unknown'}) was lost"
        if run.run_count > flow.retries:
            _end(run, State(StateType.CRASHED, message=f"{reason}; no retries left"))
            return run.state
        run.state_record(State(StateType.CRASHED, message=f"{reason}; restarting"))
        attempt_offset = run.run_count
        reusable = reusable_results_of(run)
    run.celery_task_id = celery_task_id
    run.state = StateType.RUNNING.value
    run.start_time = run.start_time or dt.datetime.now(dt.UTC)
    run.worker_host = worker_identity()
    run.run_count = attempt_offset + 1
    run.state_record(State(StateType.RUNNING))
    run.save(
        update_fields=[
            "celery_task_id",
            "state",
            "state_message",
            "state_history",
            "start_time",
            "worker_host",
            "run_count",
        ]
    )
    return _execute(run, flow=flow, reusable=reusable, attempt_offset=attempt_offset)


def _execute(run, *, flow, reusable: dict | None, attempt_offset: int) -> str:
    try:
        state = flow_run_execute(
            flow, dict(run.parameters), flow_run=run, reusable=reusable, attempt_offset=attempt_offset
        )
    except (SoftTimeLimitExceeded, FlowTimeoutError) as exc:
        _end(run, State(StateType.FAILED, message=f"timed out: {exc}"))
        return run.state
    return state.type.value


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


def flow_run_claim(*, flow_run_id: str, celery_task_id: str):
    """Mark a Scheduled run Running and load it in one round trip; None when it is not Scheduled.

    Only one delivery of a message can claim a run, so two workers never both start it. Other
    databases than PostgreSQL (and runs in any other state) take the general path: read, decide,
    save.
    """
    connection = connections[router.db_for_write(FlowRun)]
    if connection.vendor != "postgresql" or not _is_uuid(flow_run_id):
        return None
    running = State(StateType.RUNNING)
    entry = {
        "state": running.type.value,
        "name": running.name,
        "message": "",
        "timestamp": running.timestamp.isoformat(),
    }
    quote = connection.ops.quote_name
    table = quote(FlowRun._meta.db_table)
    # Names come from the model and are quoted; every value is a parameter.
    sql = (
        f"UPDATE {table} SET state = %s, state_message = '', "  # noqa: S608
        "state_history = state_history || %s::jsonb, start_time = COALESCE(start_time, %s), "
        "worker_host = %s, run_count = 1, celery_task_id = %s "
        f"WHERE id = %s AND state = %s RETURNING {returning_columns(FlowRun, connection=connection)}"
    )
    params = [
        StateType.RUNNING.value,
        json.dumps([entry]),
        running.timestamp,
        worker_identity(),
        celery_task_id[:64],
        flow_run_id,
        StateType.SCHEDULED.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else instance_from_row(FlowRun, row, connection=connection)


def reusable_results_of(run) -> dict:
    """Completed task runs of an earlier attempt whose results were persisted, by task key."""
    reusable = {}
    completed = run.task_runs.filter(
        state__in=[RunStateType.COMPLETED, RunStateType.CACHED], result__isnull=False
    ).select_related("result")
    for task_run in completed:
        if task_run.task_key:
            reusable[task_run.task_key] = ReusableResult(
                value=UNSET, pending=PendingReference(task_run.result)
            )
    return reusable


def _end(run, state: State) -> None:
    run.state_record(state)
    run.end_time = dt.datetime.now(dt.UTC)
    run.save(update_fields=["state", "state_message", "state_history", "end_time"])


@shared_task(name="flows.sweep_orphans", acks_late=True)
def flow_runs_sweep_orphans(grace_seconds: int = ORPHAN_GRACE_SECONDS) -> int:
    """End Crashed the runs stuck in RUNNING whose process is gone; returns how many."""
    return flow_runs_crash_orphans(grace_seconds=grace_seconds)


def flow_runs_crash_orphans(*, grace_seconds: int = ORPHAN_GRACE_SECONDS, active_task_ids=None) -> int:
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=grace_seconds)
    candidates = list(FlowRun.objects.filter(state=StateType.RUNNING, start_time__lt=cutoff))
    if not candidates:
        return 0
    remote = any(not run.worker_host.startswith(socket.gethostname() + ":") for run in candidates)
    if active_task_ids is None and remote:
        active_task_ids = _active_task_ids()
        if active_task_ids is None:
            return 0  # cannot ask the workers: better late than wrongly crashed
    crashed = 0
    for run in candidates:
        message_id = run.celery_task_id or str(run.pk)
        if owner_is_alive(run.worker_host, active_task_ids=active_task_ids, run_id=message_id):
            continue
        with transaction.atomic():
            locked = FlowRun.objects.select_for_update().filter(pk=run.pk, state=StateType.RUNNING).first()
            if locked is None:
                continue
            _end(
                locked,
                State(
                    StateType.CRASHED,
                    message=f"the process running it ({locked.worker_host or 'unknown'}) is gone",
                ),
            )
            crashed += 1
    return crashed


@worker_process_init.connect
def _worker_process_warm(**kwargs) -> None:
    """Load the flows in each new worker process, before its first message."""
    try:
        flow_registry()
    except Exception:  # a broken flow module is reported by the run that needs it
        logger.exception("could not load the flows while starting a worker process")
