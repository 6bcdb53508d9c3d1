"""The Celery workers and queues, as the Workers page, its API and /healthz see them.

Every question to the workers is a broadcast with a short timeout: a ping names the live workers,
then ``stats``, ``active`` and ``active_queues`` go to exactly those and return as soon as each
has answered. With no broker or no worker, the answer says so instead of waiting. Queue lengths are
read from the broker itself (Redis ``LLEN``, or the message files of the filesystem broker).

Workers do not send heartbeat events unless started with ``-E``, so a worker's "last heartbeat" is
the last time it answered here; the times are kept in the cache, so a worker that stopped is still
listed, as gone, with the time it was last seen.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from celery import current_app as app  # the project's app: project/__init__.py makes it current
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from .states import StateType

LAST_SEEN_CACHE_KEY = "flows:workers:last-seen"
LAST_SEEN_KEEP_SECONDS = 24 * 3600
WAITING_CACHE_KEY = "flows:workers:waiting:{queue}"
# Kombu's Redis transport keeps a message of priority p > 0 in the list "<queue>\x06\x16<p>".
REDIS_PRIORITY_SEPARATOR = "\x06\x16"
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)
WAITING_STATES = (StateType.SCHEDULED, StateType.PENDING)
CONTROL_MESSAGE_MAX_AGE_SECONDS = 60.0


class BrokerUnreachableError(Exception):
    pass


@dataclass(frozen=True)
class ActiveTask:
    task_id: str
    task_name: str
    run_ids: list[str]
    started: dt.datetime | None


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    host: str
    online: bool
    last_seen: dt.datetime | None
    concurrency: int | None = None
    pid: int | None = None
    queues: list[str] = field(default_factory=list)
    active: list[ActiveTask] = field(default_factory=list)

    @property
    def is_busy(self) -> bool:
        return self.concurrency is not None and len(self.active) >= self.concurrency


@dataclass(frozen=True)
class WorkersReport:
    """The workers that answered (and those seen before that did not); ``error`` when none could be asked."""

    workers: list[WorkerInfo]
    error: str = ""
    checked: dt.datetime = field(default_factory=timezone.now)

    @property
    def online(self) -> list[WorkerInfo]:
        return [worker for worker in self.workers if worker.online]

    def consumers(self, queue: str) -> list[WorkerInfo]:
        return [worker for worker in self.online if queue in worker.queues]


@dataclass(frozen=True)
class QueueLength:
    name: str
    length: int | None
    consumers: int
    error: str = ""


def broker_read_url() -> str:
    # Celery's broker_url gives CELERY_BROKER_URL from the environment precedence over the
    # configuration; the read URL is the one its consumers use.
    return str(app.conf.broker_read_url or "")


def broker_is_filesystem() -> bool:
    return broker_read_url().startswith("filesystem://")


def _replies(replies: list[dict] | dict | None) -> dict:
    if isinstance(replies, dict):
        return replies
    merged: dict = {}
    for reply in replies or []:
        merged.update(reply)
    return merged


def broker_control_sweep(*, older_than: float = CONTROL_MESSAGE_MAX_AGE_SECONDS) -> int:
    """Delete the filesystem broker's stale broadcast files; how many went.

    That transport never unbinds a stopped worker's control queue nor expires messages, so each
    ping or inspect leaves a file per stopped worker (and replies that came too late) in the
    messages folder. A control message still useful is read within a second; older ones only pile up.
    """
    if not broker_is_filesystem():
        return 0
    folder = Path(app.conf.broker_transport_options["data_folder_in"])
    cutoff = time.time() - older_than
    removed = 0
    for path in folder.glob("*.pidbox.msg"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # consumed meanwhile
    return removed


def workers_ping(*, timeout: float) -> list[str]:
    """Names of the workers that answer a ping within ``timeout`` seconds."""
    broker_control_sweep()
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            replies = app.control.ping(timeout=timeout, connection=connection)
    except Exception as exc:  # any transport error: the broker could not be asked
        raise BrokerUnreachableError(f"{type(exc).__name__}: {exc}".splitlines()[0][:200]) from exc
    return sorted(_replies(replies))


def _active_task(task: dict) -> ActiveTask:
    args = task.get("args") or []
    first = args[0] if args else None
    run_ids = [str(item) for item in first] if isinstance(first, list) else [str(first)] if first else []
    started = task.get("time_start")
    return ActiveTask(
        task_id=task.get("id", ""),
        task_name=task.get("name", ""),
        run_ids=run_ids if task.get("name", "").startswith("flows.run") else [],
        started=dt.datetime.fromtimestamp(started, tz=dt.UTC) if started else None,
    )


def _last_seen_update(names: Iterable[str], now: dt.datetime) -> dict[str, dt.datetime]:
    seen = {
        name: dt.datetime.fromisoformat(at) for name, at in (cache.get(LAST_SEEN_CACHE_KEY) or {}).items()
    }
    seen.update(dict.fromkeys(names, now))
    cutoff = now - dt.timedelta(seconds=LAST_SEEN_KEEP_SECONDS)
    seen = {name: at for name, at in seen.items() if at >= cutoff}
    cache.set(
        LAST_SEEN_CACHE_KEY, {name: at.isoformat() for name, at in seen.items()}, LAST_SEEN_KEEP_SECONDS
    )
    return seen


def workers_inspect(*, timeout: float) -> WorkersReport:
    """The live workers: host, concurrency, consumed queues and active runs; plus those seen before."""
    now = timezone.now()
    try:
        names = workers_ping(timeout=timeout)
    except BrokerUnreachableError as exc:
        return WorkersReport(workers=[], error=f"the broker cannot be reached ({exc})", checked=now)
    stats = active = queues = {}
    if names:
        # Addressed to the workers that answered and limited to their number: returns at once.
        inspect = app.control.inspect(destination=names, timeout=timeout, limit=len(names))
        stats = inspect.stats() or {}
        active = inspect.active() or {}
        queues = inspect.active_queues() or {}
    seen = _last_seen_update(names, now)
    workers = [
        WorkerInfo(
            name=name,
            host=name.partition("@")[2] or name,
            online=True,
            last_seen=now,
            concurrency=(stats.get(name) or {}).get("pool", {}).get("max-concurrency"),
            pid=(stats.get(name) or {}).get("pid"),
            queues=sorted(queue["name"] for queue in queues.get(name) or []),
            active=[_active_task(task) for task in active.get(name) or []],
        )
        for name in names
    ]
    workers += [
        WorkerInfo(name=name, host=name.partition("@")[2] or name, online=False, last_seen=at)
        for name, at in sorted(seen.items())
        if name not in names
    ]
    return WorkersReport(workers=workers, checked=now)


def flow_runs_queue() -> str:
    """The queue flow runs are sent to (the project routes none elsewhere, but a deployment may)."""
    route = app.amqp.router.route({}, "flows.run", args=(), kwargs={})
    queue = route.get("queue")
    return getattr(queue, "name", None) or str(queue or app.conf.task_default_queue)


def queues_known(*, report: WorkersReport) -> list[str]:
    """The queues the project sends to, and those any live worker consumes."""
    names = {flow_runs_queue(), app.conf.task_default_queue, settings.RESULTS_JOBS_QUEUE}
    names.update(queue for worker in report.online for queue in worker.queues)
    return sorted(names)


def _queue_length_redis(client, name: str) -> int:
    keys = [name if step == 0 else f"{name}{REDIS_PRIORITY_SEPARATOR}{step}" for step in REDIS_PRIORITY_STEPS]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    return sum(pipe.execute())


def _queue_length_filesystem(folder: Path, name: str) -> int:
    suffix = f".{name}.msg"
    return sum(1 for path in folder.iterdir() if path.name.endswith(suffix))


def queues_lengths(*, queues: list[str], report: WorkersReport, timeout: float) -> list[QueueLength]:
    """How many messages wait in each queue, read from the broker (``length`` None: unreadable)."""
    try:
        if broker_is_filesystem():
            folder = Path(app.conf.broker_transport_options["data_folder_in"])
            lengths = {name: _queue_length_filesystem(folder, name) for name in queues}
        else:
            import redis

            client = redis.Redis.from_url(
                broker_read_url(), socket_connect_timeout=timeout, socket_timeout=timeout
            )
            try:
                lengths = {name: _queue_length_redis(client, name) for name in queues}
            finally:
                client.close()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return [QueueLength(name, None, len(report.consumers(name)), error) for name in queues]
    return [QueueLength(name, lengths[name], len(report.consumers(name))) for name in queues]


def workers_overview(*, timeout: float) -> tuple[WorkersReport, list[QueueLength]]:
    """The workers and the lengths of every known queue: what the Workers page and its API show."""
    report = workers_inspect(timeout=timeout)
    return report, queues_lengths(queues=queues_known(report=report), report=report, timeout=timeout)


def flow_run_waiting_reason(*, report: WorkersReport, queue: str, queued: int | None) -> str:
    """Why a run waits in ``queue``: no broker, no worker, no consumer of the queue, or busy workers."""
    if report.error:
        return f"{report.error[0].upper()}{report.error[1:]}"
    if not report.online:
        return "No worker is up"
    consumers = report.consumers(queue)
    if not consumers:
        return f"No worker consumes queue {queue}"
    busy = [worker for worker in consumers if worker.is_busy]
    if len(busy) == len(consumers):
        return f"{len(busy)} worker{'s' if len(busy) != 1 else ''} busy"
    if queued:
        return f"{queued} message{'s' if queued != 1 else ''} waiting in queue {queue}"
    return f"Waiting for a worker on queue {queue}"


def flow_run_is_stale(*, run, now: dt.datetime | None = None) -> bool:
    """A run still waiting for a worker longer than FLOWS_WAITING_WARNING_SECONDS."""
    if run.state not in WAITING_STATES:
        return False
    age = (now or timezone.now()) - run.created
    return age.total_seconds() > settings.FLOWS_WAITING_WARNING_SECONDS


def queue_waiting_reason(*, queue: str) -> str:
    """``flow_run_waiting_reason`` for ``queue`` now, reused for WORKERS_REPORT_CACHE_SECONDS: a runs
    list of waiting runs (polled every few seconds) asks the workers once, not once per row."""
    key = WAITING_CACHE_KEY.format(queue=queue)
    reason = cache.get(key)
    if reason is None:
        timeout = settings.WORKERS_INSPECT_TIMEOUT_SECONDS
        report = workers_inspect(timeout=timeout)
        queued = None
        if not report.error:
            queued = queues_lengths(queues=[queue], report=report, timeout=timeout)[0].length
        reason = flow_run_waiting_reason(report=report, queue=queue, queued=queued)
        cache.set(key, reason, settings.WORKERS_REPORT_CACHE_SECONDS)
    return reason


def flow_run_waiting_explain(*, run) -> str:
    """Why ``run`` has not started, or "" while it is young or no longer waiting."""
    if not flow_run_is_stale(run=run):
        return ""
    return queue_waiting_reason(queue=flow_runs_queue())
