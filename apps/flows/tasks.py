"""Celery tasks: run a submitted flow on a worker, and sweep runs whose worker died.

Messages carry only the flow run's id (JSON); parameters are read from the FlowRun row. With
``acks_late`` and ``reject_on_worker_lost``, a message whose worker died is delivered again. The
redelivered task then finds its run in RUNNING, owned by a process that is gone: it restarts the run
when the flow has retries left (completed tasks reuse their persisted results) and otherwise ends
it Crashed with the reason. ``flow_runs_sweep_orphans`` (Celery beat) catches runs stuck in RUNNING
whose worker is gone and whose message will not come back.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from apps.flows.states import State, StateType

logger = logging.getLogger(__name__)

ORPHAN_GRACE_SECONDS = 60


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_is_alive(worker_host: str, *, active_task_ids: set[str] | None = None, run_id: str = "") -> bool:
    """Whether the process recorded as running a flow (``host:pid``) still exists."""
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
    from project.celery import app

    try:
        replies = app.control.inspect(timeout=1.0).active() or {}
    except Exception:
        return None
    return {task["id"] for worker, tasks in replies.items() if worker != exclude_worker for task in tasks}


@shared_task(bind=True, name="flows.run", acks_late=True, reject_on_worker_lost=True)
def flow_run_execute_task(self, flow_run_id: str) -> str:
    from apps.flows.engine import FlowTimeoutError, _history_add, flow_run_execute
    from apps.flows.models import FlowRun
    from apps.flows.registry import FlowNotFoundError, flow_get
    from apps.flows.states import FINAL_STATE_TYPES

    run = FlowRun.objects.filter(pk=flow_run_id).first()
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
        from apps.flows.engine import worker_identity as current_identity

        remote_owner = not run.worker_host.startswith(socket.gethostname() + ":")
        active = _active_task_ids(exclude_worker=self.request.hostname or "") if remote_owner else None
        if (
            run.worker_host
            and run.worker_host != current_identity()
            and owner_is_alive(run.worker_host, active_task_ids=active, run_id=flow_run_id)
        ):
            logger.info(
                "flow run %s is running in live process %s; not starting it twice", run.pk, run.worker_host
            )
            return "running-elsewhere"
        reason = f"the worker running it ({run.worker_host or 'unknown'}) was lost"
        if run.run_count > flow.retries:
            _end(run, State(StateType.CRASHED, message=f"{reason}; no retries left"))
            return run.state
        _history_add(run, State(StateType.CRASHED, message=f"{reason}; restarting"))
        attempt_offset = run.run_count
        reusable = reusable_results_of(run)
    run.celery_task_id = self.request.id or ""
    run.state = StateType.RUNNING.value
    run.start_time = run.start_time or dt.datetime.now(dt.UTC)
    from apps.flows.engine import worker_identity

    run.worker_host = worker_identity()
    run.run_count = attempt_offset + 1
    _history_add(run, State(StateType.RUNNING))
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
    try:
        state = flow_run_execute(
            flow, dict(run.parameters), flow_run=run, reusable=reusable, attempt_offset=attempt_offset
        )
    except (SoftTimeLimitExceeded, FlowTimeoutError) as exc:
        _end(run, State(StateType.FAILED, message=f"timed out: {exc}"))
        return run.state
    return state.type.value


def reusable_results_of(run) -> dict:
    """Completed task runs of an earlier attempt whose results were persisted, by task key."""
    from apps.flows.engine import ReusableResult
    from apps.flows.states import UNSET

    reusable = {}
    completed = run.task_runs.filter(
        state__in=[StateType.COMPLETED, StateType.CACHED], result__isnull=False
    ).select_related("result")
    for task_run in completed:
        if task_run.task_key:
            reusable[task_run.task_key] = ReusableResult(
                value=UNSET, reference=task_run.result, key=task_run.result.key
            )
    return reusable


def _end(run, state: State) -> None:
    from apps.flows.engine import _history_add

    _history_add(run, state)
    run.end_time = dt.datetime.now(dt.UTC)
    run.save(update_fields=["state", "state_message", "state_history", "end_time"])


@shared_task(name="flows.sweep_orphans", acks_late=True)
def flow_runs_sweep_orphans(grace_seconds: int = ORPHAN_GRACE_SECONDS) -> int:
    """End Crashed the runs stuck in RUNNING whose process is gone; returns how many."""
    return flow_runs_crash_orphans(grace_seconds=grace_seconds)


def flow_runs_crash_orphans(*, grace_seconds: int = ORPHAN_GRACE_SECONDS, active_task_ids=None) -> int:
    from django.db import transaction

    from apps.flows.models import FlowRun

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
        if owner_is_alive(run.worker_host, active_task_ids=active_task_ids, run_id=str(run.pk)):
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
