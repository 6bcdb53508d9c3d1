"""Background cleanup jobs: purges, expiration changes, indexing and orphan scans.

A job is a ``CleanupJob`` row (what to do, progress, outcome) and a Celery message carrying only
its id (JSON). ``job_start`` queues it; with ``CELERY_TASK_ALWAYS_EAGER`` (the embedded default's
tests and demos) it runs in a thread instead, so the page that started it can still poll it.
Purges are safe to run twice or concurrently: batches are claimed with row locks.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import traceback
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.formatting import duration_parse

from .models import CleanupJob
from .selection import results_matching

logger = logging.getLogger(__name__)

PERIODIC_SOURCE = "beat"
# A running job on another host whose heartbeat is older than this is taken for dead: every runner
# beats at least once a batch, and no batch takes anywhere near this long.
JOB_STALE_AFTER = dt.timedelta(hours=1)


def job_create(
    *, kind: str, params: dict[str, Any] | None = None, user: Any = None, source: str = "page"
) -> CleanupJob:
    return CleanupJob.objects.create(
        kind=kind,
        params=params or {},
        source=source,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def job_start(job: CleanupJob) -> CleanupJob:
    """Queue the job for a worker (or run it in a thread when Celery runs tasks eagerly).

    Only once the job's row is committed: a worker must find it.
    """

    def start() -> None:
        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            thread = threading.Thread(
                target=_job_run_in_thread, args=(job.pk,), daemon=True, name=f"cleanup-job-{job.pk}"
            )
            thread.start()
        else:
            cleanup_job_run.apply_async(
                args=[job.pk], queue=getattr(settings, "RESULTS_JOBS_QUEUE", "celery")
            )

    transaction.on_commit(start)
    return job


def _job_run_in_thread(job_id: int) -> None:
    try:
        job_run(job_id=job_id)
    finally:
        close_old_connections()


def _user_of(job: CleanupJob) -> Any:
    return job.created_by


def _progress_update(job: CleanupJob, **fields: Any) -> None:
    CleanupJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now(), **fields)


def job_runner_alive(*, job: CleanupJob, now: dt.datetime | None = None) -> bool:
    """Whether the process running ``job`` still exists.

    On the runner's own host its process id is checked; elsewhere a heartbeat within
    JOB_STALE_AFTER is taken as a sign of life.
    """
    runner = job.outcome.get("runner") or {}
    if runner.get("host") == socket.gethostname() and runner.get("pid"):
        try:
            os.kill(int(runner["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # a process of another user holds that id: alive, as far as can be told
        return True
    beat = job.heartbeat_at or job.started_at or job.created_at
    return beat > (now or timezone.now()) - JOB_STALE_AFTER


def jobs_abandoned_fail(*, exclude: int | None = None) -> list[int]:
    """Mark Failed, with the counts they reached, the running jobs whose process is gone.

    A killed purge, index or expiration job otherwise stays "running" forever; its remaining work
    is done by the next job of its kind, which calls this first.
    """
    failed = []
    now = timezone.now()
    for job in CleanupJob.objects.filter(status=CleanupJob.Status.RUNNING).exclude(pk=exclude):
        if job_runner_alive(job=job, now=now):
            continue
        runner = job.outcome.get("runner") or {}
        where = f"{runner['host']} process {runner['pid']}" if runner else "its process"
        message = (
            f"interrupted: {where} stopped before the job finished; {job.processed} processed, "
            f"{job.deleted} deleted, {job.missing} already gone, {job.error_count} error(s) by then"
        )
        updated = CleanupJob.objects.filter(pk=job.pk, status=CleanupJob.Status.RUNNING).update(
            status=CleanupJob.Status.FAILED, finished_at=now, message=message
        )
        if updated:
            logger.warning("cleanup job %s %s", job.pk, message)
            failed.append(job.pk)
    return failed


def job_run(*, job_id: int) -> CleanupJob:
    """Run a job to its end. A job already finished is left alone; an interrupted one resumes.

    Running jobs whose process is gone are marked Failed first.
    """
    jobs_abandoned_fail(exclude=job_id)
    job = CleanupJob.objects.select_related("created_by").get(pk=job_id)
    if job.is_finished:
        return job
    job.outcome["runner"] = {"host": socket.gethostname(), "pid": os.getpid()}
    CleanupJob.objects.filter(pk=job.pk).update(
        status=CleanupJob.Status.RUNNING,
        started_at=job.started_at or timezone.now(),
        heartbeat_at=timezone.now(),
        outcome=job.outcome,
    )
    try:
        message = _RUNNERS[job.kind](job)
    except Exception as exc:
        logger.exception("cleanup job %s failed", job.pk)
        CleanupJob.objects.filter(pk=job.pk).update(
            status=CleanupJob.Status.FAILED,
            finished_at=timezone.now(),
            message=f"{type(exc).__name__}: {exc}",
            error_count=F("error_count") + 1,
        )
        job.refresh_from_db()
        job.outcome["traceback"] = traceback.format_exc()[-4000:]
        CleanupJob.objects.filter(pk=job.pk).update(outcome=job.outcome)
    else:
        CleanupJob.objects.filter(pk=job.pk).update(
            status=CleanupJob.Status.DONE, finished_at=timezone.now(), message=message or ""
        )
    job.refresh_from_db()
    return job


def _block(job: CleanupJob):
    from apps.blocks.models import StorageBlock

    slug = job.params.get("block")
    return StorageBlock.objects.get_by_slug(slug) if slug else None


def _run_purge_expired(job: CleanupJob) -> str:
    from .purge import expired_candidates, expired_purge

    block = _block(job)
    older_than = dt.timedelta(seconds=job.params["older_than_s"]) if job.params.get("older_than_s") else None
    ids = job.params.get("ids")
    batch_size = int(job.params.get("batch_size") or settings.RESULTS_PURGE_BATCH_SIZE)
    if ids is not None:
        from .purge import claimed_purge

        def candidates(now):
            return expired_candidates(now=now, block=block, older_than=older_than).filter(pk__in=ids)
    else:

        def candidates(now):
            return expired_candidates(now=now, block=block, older_than=older_than)

    remaining = candidates(timezone.now()).count()
    _progress_update(job, total=job.processed + remaining)
    if ids is not None:
        from .models import ResultReference

        kept = ResultReference.objects.live().filter(pk__in=ids).count() - remaining
        CleanupJob.objects.filter(pk=job.pk).update(skipped=kept)
        report = claimed_purge(
            candidates=candidates, user=_user_of(job), batch_size=batch_size, source=job.source, job=job
        )
        report.skipped = kept
    else:
        report = expired_purge(
            user=_user_of(job),
            block=block,
            older_than=older_than,
            batch_size=batch_size,
            source=job.source,
            job=job,
        )
    return _purge_message(report)


def _purge_message(report) -> str:
    text = (
        f"{report.purged} result(s) purged: {report.deleted} object(s) deleted, {report.missing} already gone"
    )
    if report.skipped:
        text += f", {report.skipped} not expired (kept)"
    if report.errors:
        text += f", {len(report.errors)} error(s)"
    return text


def _run_purge_selected(job: CleanupJob) -> str:
    from .models import ResultReference
    from .purge import selected_candidates, selected_purge

    ids = job.params.get("ids") or []
    remaining = selected_candidates(ids=ids).count()
    _progress_update(job, total=job.processed + remaining)
    kept = ResultReference.objects.live().filter(pk__in=ids).count() - remaining
    CleanupJob.objects.filter(pk=job.pk).update(skipped=kept)
    report = selected_purge(
        ids=ids,
        user=_user_of(job),
        batch_size=int(job.params.get("batch_size") or settings.RESULTS_PURGE_BATCH_SIZE),
        source=job.source,
        job=job,
    )
    text = _purge_message(report)
    return text.replace("not expired (kept)", "still valid cache entries (kept until they expire)")


def _run_expiration(job: CleanupJob) -> str:
    from .expiration import references_expiration_bulk

    params = job.params
    queryset = results_matching(_query_dict(params.get("filters", "")))
    if params.get("ids"):
        from .models import ResultReference

        queryset = ResultReference.objects.filter(pk__in=params["ids"])
    at = dt.datetime.fromisoformat(params["at"]) if params.get("at") else None
    by = duration_parse(params["by"]) if params.get("by") else None
    _progress_update(job, total=queryset.live().count())

    def progress(report, batch_count):
        _progress_update(job, processed=F("processed") + batch_count)

    report = references_expiration_bulk(
        queryset=queryset, action=params["action"], at=at, by=by, user=_user_of(job), progress=progress
    )
    job.refresh_from_db(fields=["outcome"])
    job.outcome.update(
        {
            "changed": report.changed,
            "files_written": report.files_written,
            "file_errors": list(report.file_errors.items())[:20],
        }
    )
    CleanupJob.objects.filter(pk=job.pk).update(outcome=job.outcome, error_count=len(report.file_errors))
    return f"{report.changed} result(s) changed; {report.files_written} record file(s) rewritten"


def _query_dict(query: str):
    from django.http import QueryDict

    return QueryDict(query or "")


def _run_index(job: CleanupJob) -> str:
    from .indexing import block_index

    def progress(done: int, total: int) -> None:
        _progress_update(job, processed=done, total=total)

    report = block_index(block=_block(job), prefix=job.params.get("prefix", ""), progress=progress)
    CleanupJob.objects.filter(pk=job.pk).update(
        outcome={**job.outcome, **report.as_dict()}, error_count=len(report.errors)
    )
    skipped = sum(report.skipped.values())
    return f"{report.added} result file(s) added, {report.already_known} already known, {skipped} skipped"


def _run_orphan_scan(job: CleanupJob) -> str:
    from .orphans import orphans_scan

    report = orphans_scan(block=_block(job))
    CleanupJob.objects.filter(pk=job.pk).update(
        outcome={**job.outcome, **report.as_dict()}, total=report.listed, processed=report.listed
    )
    return (
        f"{report.object_count} unreferenced object(s), {report.missing_count} reference(s) without an object"
    )


def _run_orphan_clean(job: CleanupJob) -> str:
    from .orphans import missing_references_mark, orphan_objects_delete

    block = _block(job)
    params = job.params
    if params.get("keys"):
        report = orphan_objects_delete(
            block=block, keys=params["keys"], user=_user_of(job), source=job.source
        )
        _progress_update(
            job,
            total=len(params["keys"]),
            processed=len(params["keys"]),
            deleted=report.deleted,
            missing=report.missing,
            skipped=report.skipped,
            error_count=len(report.errors),
        )
        return f"{report.deleted} unreferenced object(s) deleted, {report.skipped} now referenced (kept)"
    report = missing_references_mark(
        block=block, ids=params.get("ids", []), user=_user_of(job), source=job.source
    )
    _progress_update(
        job,
        total=len(params.get("ids", [])),
        processed=len(params.get("ids", [])),
        missing=report.missing,
        skipped=report.skipped,
    )
    return (
        f"{report.purged} reference(s) without an object marked purged, {report.skipped} found again (kept)"
    )


_RUNNERS = {
    CleanupJob.Kind.PURGE_EXPIRED: _run_purge_expired,
    CleanupJob.Kind.PURGE_SELECTED: _run_purge_selected,
    CleanupJob.Kind.EXPIRATION: _run_expiration,
    CleanupJob.Kind.INDEX: _run_index,
    CleanupJob.Kind.ORPHAN_SCAN: _run_orphan_scan,
    CleanupJob.Kind.ORPHAN_CLEAN: _run_orphan_clean,
}


@shared_task(name="results.cleanup_job_run", acks_late=True)
def cleanup_job_run(job_id: int) -> None:
    job_run(job_id=job_id)


@shared_task(name="results.purge_expired")
def purge_expired_periodic() -> int:
    """The periodic purge of every expired result (the beat entry ``results-purge-expired``)."""
    job = job_create(kind=CleanupJob.Kind.PURGE_EXPIRED, source=PERIODIC_SOURCE)
    return job_run(job_id=job.pk).pk


@shared_task(name="results.sweep_leftovers")
def leftovers_sweep_periodic() -> dict[str, Any]:
    """The periodic sweep (the beat entry ``results-sweep-leftovers``) of what killed processes
    leave: temporary files of unfinished writes, and cleanup jobs still marked running."""
    from .purge import temp_files_sweep

    swept = temp_files_sweep()
    return {"temp_files": sum(len(paths) for paths in swept.values()), "jobs_failed": jobs_abandoned_fail()}


def periodic_purge_last() -> CleanupJob | None:
    return CleanupJob.objects.filter(kind=CleanupJob.Kind.PURGE_EXPIRED, source=PERIODIC_SOURCE).first()


def periodic_purge_schedule_text() -> str:
    """How often the periodic purge runs, as configured in settings."""
    entry = settings.CELERY_BEAT_SCHEDULE.get("results-purge-expired")
    if not entry:
        return "not scheduled"
    schedule = entry["schedule"]
    if isinstance(schedule, int | float):
        seconds = int(schedule)
        if seconds % 3600 == 0:
            return f"every {seconds // 3600} hour(s)"
        if seconds % 60 == 0:
            return f"every {seconds // 60} minute(s)"
        return f"every {seconds} second(s)"
    if hasattr(schedule, "_orig_minute"):
        fields = [
            schedule._orig_minute,
            schedule._orig_hour,
            schedule._orig_day_of_month,
            schedule._orig_month_of_year,
            schedule._orig_day_of_week,
        ]
        return "cron " + " ".join(str(value) for value in fields)
    return str(schedule)
