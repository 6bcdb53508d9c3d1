"""A process killed (SIGKILL) in the middle of an index job or a bulk expiration job: the job is
never left Running. Killed in a web process (where jobs may run on a thread), the periodic sweep
ends it Failed with the counts it reached; killed on a worker, its message comes back to the next
worker and the job resumes and finishes.

Each job is held in the middle by a named pipe among its files: reading it blocks until the test
removes it, so the kill always lands mid-job."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys

import pytest
from django.utils import timezone

from apps.blocks import services
from apps.results.models import CleanupJob, ResultReference
from apps.results.tasks import job_create, leftovers_sweep_periodic
from tests.flows.test_celery import database_url

from .conftest import ROOT, child_env, process_stop, wait_for, worker_argv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUN_JOB = "from apps.results.tasks import job_run; job_run(job_id={job_id})"


def index_job_with_a_stall(tmp_path) -> tuple[CleanupJob, str]:
    root = tmp_path / "block"
    root.mkdir()
    record = b'{"metadata": {"serializer": {"type": "json"}, "storage_key": "k"}, "result": "1"}'
    for number in range(450):
        (root / f"r{number:04d}").write_bytes(record)
    os.mkfifo(root / "zz-stall")  # sorted last: 400 files are counted before it blocks
    block = services.block_create(
        block_type="local-file-system", name="stall", settings={"basepath": str(root)}
    )
    job = job_create(kind=CleanupJob.Kind.INDEX, params={"block": block.slug}, source="page")
    return job, str(root / "zz-stall")


def expiration_job_with_a_stall(tmp_path) -> tuple[CleanupJob, str]:
    ResultReference.objects.bulk_create(
        ResultReference(is_literal=True, literal_value=True, layout=ResultReference.Layout.LITERAL)
        for _ in range(500)
    )
    stall = tmp_path / "stall"
    stall.mkdir()
    os.mkfifo(stall / "record")
    ResultReference.objects.create(
        storage_location=str(stall), key="record", layout=ResultReference.Layout.V3_RECORD
    )
    at = (timezone.now() + dt.timedelta(days=3)).isoformat()
    job = job_create(
        kind=CleanupJob.Kind.EXPIRATION, params={"action": "set", "at": at, "filters": ""}, source="page"
    )
    return job, str(stall / "record")


JOBS = {"index": index_job_with_a_stall, "expiration": expiration_job_with_a_stall}


def stalled(job: CleanupJob) -> bool:
    job.refresh_from_db()
    return job.status == CleanupJob.Status.RUNNING and job.processed >= 400


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_a_job_killed_in_the_web_process_ends_failed_with_its_counts(kind, tmp_path):
    job, stall = JOBS[kind](tmp_path)
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", RUN_JOB.format(job_id=job.pk)],
        cwd=ROOT,
        env=child_env(DATABASE_URL=database_url(), RESULTDECK_VAR_DIR=str(tmp_path / "var")),
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: stalled(job) or runner.poll() is not None,
            timeout=60,
            what=f"the {kind} job to reach its stall",
        )
        assert runner.poll() is None, "the job's process ended by itself"
    finally:
        process_stop(runner, sig=signal.SIGKILL)
    os.unlink(stall)

    outcome = leftovers_sweep_periodic()

    job.refresh_from_db()
    assert outcome["jobs_failed"] == [job.pk]
    assert job.status == CleanupJob.Status.FAILED
    assert job.finished_at is not None
    assert f"{job.processed} processed" in job.message and job.processed >= 400, job.message


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_a_job_killed_on_a_worker_resumes_on_the_next_worker(kind, tmp_path, redis_server, start_process):
    job, stall = JOBS[kind](tmp_path)
    env = {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_server.url,
        "CELERY_VISIBILITY_TIMEOUT": "3",
    }
    first = start_process("first", worker_argv("first", concurrency=1), **env)
    from apps.results.tasks import cleanup_job_run
    from project.celery import app

    with app.connection_for_write(redis_server.url) as connection:
        cleanup_job_run.apply_async(args=[job.pk], connection=connection)
    wait_for(lambda: stalled(job), timeout=60, what=f"the {kind} job to reach its stall", log=first.log_path)
    process_stop(first, sig=signal.SIGKILL)
    os.unlink(stall)

    second = start_process("second", worker_argv("second", concurrency=1), **env)

    def finished() -> bool:
        job.refresh_from_db()
        return job.is_finished

    wait_for(finished, timeout=90, what=f"the {kind} job to finish", log=second.log_path)
    assert job.status == CleanupJob.Status.DONE, job.message
    if kind == "index":
        assert ResultReference.objects.filter(storage_location__endswith="/block").count() == 450
    else:
        assert ResultReference.objects.filter(expiration__isnull=True).count() == 0
