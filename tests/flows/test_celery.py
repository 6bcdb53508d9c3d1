"""Flows on real Celery workers (Redis broker, PostgreSQL): many runs end Completed with readable
results, sent one per message or several per message; a worker SIGKILLed mid-run (also in the
middle of a message of several runs) leaves no run in RUNNING once a new worker starts; a time
limit ends a run Failed, "exceeded timeout"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from apps.flows.models import FlowRun
from apps.flows.submission import (
    FlowRunHandle,
    flow_run_state,
    flow_run_submit,
    flow_runs_schedule,
    flow_runs_submit_many,
)
from tests.celery_workers import celery_worker_argv

ROOT = Path(__file__).resolve().parents[2]
FLOW_MODULES = ["examples.flows", "tests.flows.worker_flows"]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def database_url() -> str:
    """The URL of the database this test uses, so a worker process sees the same rows."""
    s = connection.settings_dict
    assert s["ENGINE"].endswith("postgresql"), "the worker tests need PostgreSQL (DATABASE_URL)"
    credentials = f"{quote(s['USER'])}:{quote(s['PASSWORD'] or '')}@" if s["USER"] else ""
    return f"postgres://{credentials}{s['HOST']}:{s['PORT']}/{s['NAME']}"


BROKER_DB = 11  # a Redis database of its own: no other suite's worker may take these messages


def _producer_pools_reset(app) -> None:
    # New pools for the new URL (the old ones stay open for whoever holds them).
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_url(redis_url):
    import redis

    from project.celery import app

    url = f"{redis_url.rsplit('/', 1)[0]}/{BROKER_DB}"
    redis.Redis.from_url(url).flushdb()
    names = ("broker_url", "broker_write_url", "broker_read_url")
    previous = {name: app.conf[name] for name in names}
    app.conf.update(dict.fromkeys(names, url))
    _producer_pools_reset(app)
    yield url
    app.conf.update(previous)
    _producer_pools_reset(app)


@pytest.fixture
def worker_settings(settings, tmp_path):
    from apps.flows.registry import flow_registry_reset

    settings.FLOW_MODULES = FLOW_MODULES
    settings.RESULTS_LOCAL_STORAGE_PATH = str(tmp_path / "storage")
    flow_registry_reset()
    yield settings
    flow_registry_reset()


@pytest.fixture
def start_worker(broker_url, worker_settings, tmp_path):
    """start_worker(name, concurrency=2, **env) -> Popen of `celery -A project worker`, stopped at the end."""
    workers: list[subprocess.Popen] = []

    def start(name: str, *, concurrency: int = 2, **extra_env: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "FLOW_MODULES": ",".join(FLOW_MODULES),
            "RESULTDECK_VAR_DIR": str(tmp_path / "var"),
            "RESULTS_LOCAL_STORAGE_PATH": worker_settings.RESULTS_LOCAL_STORAGE_PATH,
            "DJANGO_DEBUG": "on",
            **extra_env,
        }
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            celery_worker_argv(name, concurrency=concurrency),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = tmp_path / f"{name}.log"
        workers.append(process)
        return process

    yield start
    for process in workers:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until(predicate, *, timeout: float, what: str, workers=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    logs = "\n".join(p.log_path.read_text()[-3000:] for p in workers)
    runs = list(
        FlowRun.objects.values_list("flow_name", "state", "run_count", "worker_host", "state_history")[:5]
    )
    raise AssertionError(f"timed out waiting for {what}\nruns: {runs}\n{logs}")


def test_two_hundred_submitted_flows_all_complete_with_readable_results(start_worker):
    worker = start_worker("many", concurrency=2)
    handles = [flow_run_submit(flow_name="sum-numbers", parameters={"count": i}) for i in range(200)]
    ids = [h.id for h in handles]
    wait_until(
        lambda: (
            FlowRun.objects.filter(pk__in=ids, state="COMPLETED").count() == 200
            or FlowRun.objects.filter(pk__in=ids, state__in=["FAILED", "CRASHED"]).exists()
        ),
        timeout=60,
        what="200 runs to complete",
        workers=[worker],
    )
    runs = {run.pk: run for run in FlowRun.objects.filter(pk__in=ids).select_related("result")}
    assert {run.state for run in runs.values()} == {"COMPLETED"}
    for index, run_id in enumerate(ids):
        assert flow_run_state(runs[run_id]).result() == sum(range(index))
    assert all(run.worker_host and run.run_count == 1 for run in runs.values())
    assert FlowRunHandle(ids[0]).result(timeout=1) == 0


def test_runs_submitted_together_travel_several_to_a_message_and_all_complete(start_worker):
    worker = start_worker("batch", concurrency=2)
    handles = flow_runs_submit_many(
        flow_name="sum-numbers", parameters_list=[{"count": i} for i in range(200)]
    )
    ids = [h.id for h in handles]
    wait_until(
        lambda: (
            FlowRun.objects.filter(pk__in=ids, state__in=["COMPLETED", "FAILED", "CRASHED"]).count() == 200
        ),
        timeout=60,
        what="200 runs to end",
        workers=[worker],
    )
    runs = {run.pk: run for run in FlowRun.objects.filter(pk__in=ids).select_related("result")}
    assert {run.state for run in runs.values()} == {"COMPLETED"}
    for index, run_id in enumerate(ids):
        assert flow_run_state(runs[run_id]).result() == sum(range(index))
    assert all(run.run_count == 1 for run in runs.values())
    messages = {run.celery_task_id for run in runs.values()}
    assert 1 < len(messages) < 200  # several runs per message, and more than one message


def test_a_worker_process_keeps_its_database_connection_from_run_to_run(start_worker):
    # Celery's Django fixup would otherwise open a new connection for every task.
    worker = start_worker("steady", concurrency=1)
    handles = [flow_run_submit(flow_name="database-backend", parameters={}) for _ in range(10)]
    backends = {handle.result(timeout=30) for handle in handles}
    assert len(backends) == 1, (backends, worker.log_path.read_text()[-2000:])


def test_a_time_limit_ends_the_run_failed_timed_out(start_worker):
    worker = start_worker("limits", concurrency=1)
    handle = flow_run_submit(flow_name="too-slow", parameters={})
    state = None
    deadline = time.monotonic() + 30
    while state is None and time.monotonic() < deadline:
        state = handle.wait(timeout=1)
    assert state is not None, worker.log_path.read_text()
    assert state.is_failed() and "exceeded timeout" in state.message


def test_a_worker_killed_mid_run_leaves_no_run_running(start_worker):
    first = start_worker("doomed", concurrency=2, CELERY_VISIBILITY_TIMEOUT="2")
    retried = flow_run_submit(flow_name="survives-worker-loss", parameters={"seconds": 60})
    lost = flow_run_submit(flow_name="lost-with-worker", parameters={"seconds": 60})
    wait_until(
        lambda: FlowRun.objects.filter(pk__in=[retried.id, lost.id], state="RUNNING").count() == 2,
        timeout=30,
        what="both runs to start",
        workers=[first],
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert FlowRun.objects.filter(pk__in=[retried.id, lost.id], state="RUNNING").count() == 2

    second = start_worker("rescuer", concurrency=2, CELERY_VISIBILITY_TIMEOUT="2")
    wait_until(
        lambda: (
            not FlowRun.objects.filter(pk__in=[retried.id, lost.id], state="RUNNING").exists()
            and not FlowRun.objects.filter(pk__in=[retried.id, lost.id], state="SCHEDULED").exists()
        ),
        timeout=60,
        what="the runs to end after the worker loss",
        workers=[first, second],
    )
    restarted = FlowRun.objects.get(pk=retried.id)
    assert restarted.state == "COMPLETED", restarted.state_history
    assert restarted.run_count == 2
    assert any(h["state"] == "CRASHED" and "was lost" in h["message"] for h in restarted.state_history)
    assert FlowRunHandle(retried.id).result() == {"label": "kept"}
    crashed = FlowRun.objects.get(pk=lost.id)
    assert crashed.state == "CRASHED"
    assert "was lost" in crashed.state_message and "no retries left" in crashed.state_message


def test_a_worker_killed_in_the_middle_of_a_message_of_several_runs(start_worker):
    from apps.flows.tasks import flow_runs_execute_task

    (before,) = flow_runs_schedule(flow_name="sum-numbers", parameters_list=[{"count": 4}])
    (during,) = flow_runs_schedule(flow_name="survives-worker-loss", parameters_list=[{"seconds": 60}])
    (after,) = flow_runs_schedule(flow_name="sum-numbers", parameters_list=[{"count": 5}])
    ids = [before.pk, during.pk, after.pk]
    first = start_worker("doomed-batch", concurrency=1, CELERY_VISIBILITY_TIMEOUT="2")
    flow_runs_execute_task.apply_async(args=[[str(run_id) for run_id in ids]])
    wait_until(
        lambda: FlowRun.objects.filter(pk=during.pk, state="RUNNING").exists(),
        timeout=30,
        what="the second run of the message to start",
        workers=[first],
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert FlowRun.objects.get(pk=before.pk).state == "COMPLETED"
    assert FlowRun.objects.get(pk=after.pk).state == "SCHEDULED"

    second = start_worker("rescuer-batch", concurrency=1, CELERY_VISIBILITY_TIMEOUT="2")
    wait_until(
        lambda: not FlowRun.objects.filter(pk__in=ids, state__in=["RUNNING", "SCHEDULED"]).exists(),
        timeout=60,
        what="the message's runs to end after the worker loss",
        workers=[first, second],
    )
    runs = {run.pk: run for run in FlowRun.objects.filter(pk__in=ids)}
    assert runs[before.pk].state == "COMPLETED" and runs[before.pk].run_count == 1  # not run again
    restarted = runs[during.pk]
    assert restarted.state == "COMPLETED" and restarted.run_count == 2, restarted.state_history
    assert any(h["state"] == "CRASHED" and "was lost" in h["message"] for h in restarted.state_history)
    assert runs[after.pk].state == "COMPLETED" and FlowRunHandle(after.pk).result() == 10


def test_the_sweep_crashes_running_runs_whose_process_is_gone():
    from apps.flows.tasks import flow_runs_crash_orphans

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import datetime as dt
    import socket

    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    orphan = FlowRun.objects.create(
        name="o",
        flow_name="x",
        state="RUNNING",
        start_time=started,
        worker_host=f"{socket.gethostname()}:{dead.pid}",
    )
    alive = FlowRun.objects.create(
        name="a",
        flow_name="x",
        state="RUNNING",
        start_time=started,
        worker_host=f"{socket.gethostname()}:{os.getpid()}",
    )
    assert flow_runs_crash_orphans(grace_seconds=60, active_task_ids=set()) == 1
    orphan.refresh_from_db()
    alive.refresh_from_db()
    assert orphan.state == "CRASHED" and "is gone" in orphan.state_message and orphan.end_time
    assert alive.state == "RUNNING"


def test_the_sweep_is_scheduled_with_celery_beat():
    from project.celery import app

    assert app.conf.beat_schedule["flows-sweep-orphans"]["task"] == "flows.sweep_orphans"
    assert "flows.sweep_orphans" in app.tasks and "flows.run" in app.tasks
