"""Purging in claimed batches: only expired results go, cache entries wait for their expiration,
every pass is audited, and a purge SIGKILLed midway finishes on the next run with counts that add up."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from apps.blocks import services
from apps.results.block_removal import block_delete_with_results
from apps.results.models import CleanupJob, PurgeAuditEntry, ResultReference
from apps.results.purge import expired_purge, references_purge, selected_purge
from apps.results.tasks import job_create, job_run

ROOT = Path(__file__).resolve().parents[2]
PAST = dt.timedelta(days=1)


def stored_results(block, root: Path, *, expired: int, unexpired: int, size: int = 10, prefix: str = "r"):
    now = timezone.now()
    rows = []
    for index in range(expired + unexpired):
        key = f"{prefix}{index:05d}"
        (root / key).write_bytes(b"x" * size)
        is_expired = index < expired
        rows.append(
            ResultReference(
                block=block,
                storage_location=str(root),
                key=key,
                size_bytes=size,
                expiration=now - PAST if is_expired else now + dt.timedelta(days=30),
            )
        )
    ResultReference.objects.bulk_create(rows, batch_size=2000)


@pytest.fixture
def local_block(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    return services.block_create(
        block_type="local-file-system", name="purge", settings={"basepath": str(root)}
    )


@pytest.mark.django_db
def test_expired_purge_deletes_only_expired_objects_and_audits_each_batch(local_block, make_user):
    root = Path(local_block.settings["basepath"])
    stored_results(local_block, root, expired=25, unexpired=5)
    (root / "r00003").unlink()  # already gone: counted as missing, still purged
    user = make_user("admin")
    report = expired_purge(user=user, batch_size=10, source="test")
    assert (report.purged, report.deleted, report.missing, report.bytes_freed, report.batches) == (
        25,
        24,
        1,
        240,
        3,
    )
    assert sorted(path.name for path in root.iterdir()) == [f"r{index:05d}" for index in range(25, 30)]
    audit = PurgeAuditEntry.objects.get(pk=report.audit_id)
    assert (audit.purged, audit.deleted, audit.missing, audit.batches, audit.username) == (
        25,
        24,
        1,
        3,
        user.username,
    )
    assert audit.block_slugs == [local_block.slug]
    purged = ResultReference.objects.filter(purged_at__isnull=False)
    assert purged.count() == 25 and set(purged.values_list("purged_by", flat=True)) == {user.pk}


@pytest.mark.django_db
def test_older_than_and_block_narrow_the_purge(local_block, tmp_path):
    root = Path(local_block.settings["basepath"])
    stored_results(local_block, root, expired=4, unexpired=0)
    ResultReference.objects.filter(key__in=["r00000", "r00001"]).update(
        expiration=timezone.now() - dt.timedelta(days=40)
    )
    report = expired_purge(older_than=dt.timedelta(days=30), block=local_block)
    assert report.purged == 2 and set(ResultReference.objects.live().values_list("key", flat=True)) == {
        "r00002",
        "r00003",
    }


@pytest.mark.django_db
def test_selected_purge_keeps_valid_cache_entries_until_they_expire(local_block):
    root = Path(local_block.settings["basepath"])
    stored_results(local_block, root, expired=1, unexpired=2)
    cached_live, plain_live = ResultReference.objects.filter(key__in=["r00001", "r00002"]).order_by("key")
    cached_live.cache_key = "abc"
    cached_live.save()
    cached_expired = ResultReference.objects.get(key="r00000")
    cached_expired.cache_key = "def"
    cached_expired.save()
    report = selected_purge(ids=[cached_live.pk, plain_live.pk, cached_expired.pk])
    assert (report.purged, report.skipped) == (2, 1)
    assert (root / "r00001").exists() and not (root / "r00002").exists() and not (root / "r00000").exists()


@pytest.mark.django_db
def test_references_purge_still_serves_block_delete_and_is_audited(local_block):
    root = Path(local_block.settings["basepath"])
    stored_results(local_block, root, expired=0, unexpired=3)
    report = block_delete_with_results(block=local_block, references="purge")
    assert report.purge.purged == 3 and list(root.iterdir()) == []
    assert PurgeAuditEntry.objects.get(pk=report.purge.audit_id).deleted == 3
    assert references_purge(references=ResultReference.objects.all()).purged == 0


@pytest.mark.django_db
def test_a_purge_job_records_progress_and_outcome(local_block):
    root = Path(local_block.settings["basepath"])
    stored_results(local_block, root, expired=7, unexpired=2, size=100)
    job = job_create(kind=CleanupJob.Kind.PURGE_EXPIRED, params={"batch_size": 3}, source="test")
    job = job_run(job_id=job.pk)
    assert job.status == CleanupJob.Status.DONE
    assert (job.total, job.processed, job.deleted, job.missing, job.bytes_freed, job.error_count) == (
        7,
        7,
        7,
        0,
        700,
        0,
    )
    assert "7 result(s) purged" in job.message
    assert job_run(job_id=job.pk).processed == 7  # a finished job is not run twice


@pytest.mark.django_db
def test_admin_clear_expired_on_a_selection_leaves_the_unexpired_ones(local_block, client, make_user):
    root = Path(local_block.settings["basepath"])
    stored_results(local_block, root, expired=3, unexpired=2)
    client.force_login(make_user("admin", is_staff=True))
    ids = list(ResultReference.objects.values_list("pk", flat=True))
    response = client.post(
        "/admin/results/resultreference/",
        {"action": "clear_expired_results", "_selected_action": ids, "post": "yes"},
    )
    job = CleanupJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/results/cleanup/jobs/{job.pk}/"
    assert (job.status, job.deleted, job.skipped) == ("done", 3, 2)
    assert sorted(path.name for path in root.iterdir()) == ["r00003", "r00004"]
    page = client.get(response["Location"])
    assert b"Objects deleted" in page.content and b"3 result(s) purged" in page.content


def _running_job(*, runner: dict | None, heartbeat: dt.datetime) -> CleanupJob:
    job = job_create(kind=CleanupJob.Kind.PURGE_EXPIRED, source="command")
    CleanupJob.objects.filter(pk=job.pk).update(
        status=CleanupJob.Status.RUNNING,
        started_at=heartbeat,
        heartbeat_at=heartbeat,
        processed=40,
        deleted=30,
        missing=10,
        outcome={"runner": runner} if runner else {},
    )
    return job


def _gone_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.django_db
def test_the_next_job_fails_a_running_job_whose_process_is_gone_keeping_its_counts(local_block):
    import socket

    from apps.results.tasks import purge_expired_periodic

    now = timezone.now()
    here = socket.gethostname()
    dead = _running_job(runner={"host": here, "pid": _gone_pid()}, heartbeat=now)
    alive = _running_job(runner={"host": here, "pid": os.getpid()}, heartbeat=now - dt.timedelta(days=1))
    silent = _running_job(runner={"host": "elsewhere", "pid": 1}, heartbeat=now - dt.timedelta(hours=2))
    beating = _running_job(runner={"host": "elsewhere", "pid": 1}, heartbeat=now - dt.timedelta(minutes=5))
    stored_results(local_block, Path(local_block.settings["basepath"]), expired=3, unexpired=0)

    periodic = CleanupJob.objects.get(pk=purge_expired_periodic())

    assert periodic.status == "done" and periodic.deleted == 3
    statuses = dict(CleanupJob.objects.values_list("pk", "status"))
    assert statuses[dead.pk] == statuses[silent.pk] == "failed"
    assert statuses[alive.pk] == statuses[beating.pk] == "running"
    dead.refresh_from_db()
    assert (dead.processed, dead.deleted, dead.missing) == (40, 30, 10)
    assert dead.message.startswith(f"interrupted: {here} process")
    assert "30 deleted, 10 already gone" in dead.message


def _database_url() -> str:
    s = connection.settings_dict
    assert s["ENGINE"].endswith("postgresql"), "this test needs PostgreSQL (DATABASE_URL)"
    credentials = f"{quote(s['USER'])}:{quote(s['PASSWORD'] or '')}@" if s["USER"] else ""
    return f"postgres://{credentials}{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _purge_process(batch_size: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _database_url(), "RESULTDECK_VAR_DIR": str(settings.VAR_DIR)}
    return subprocess.Popen(
        [sys.executable, "manage.py", "purge_expired_results", "--batch-size", str(batch_size)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.django_db(transaction=True)
def test_a_purge_killed_midway_finishes_on_the_next_run_and_the_counts_add_up(local_block):
    root = Path(local_block.settings["basepath"])
    expired, unexpired, batch_size = 4000, 1000, 20
    stored_results(local_block, root, expired=expired, unexpired=unexpired)
    # Interleave: unexpired results sit between expired ones in id order, so every batch is mixed.
    ResultReference.objects.filter(key__in=[f"r{index:05d}" for index in range(0, expired, 4)]).update(
        expiration=timezone.now() + dt.timedelta(days=30)
    )
    ResultReference.objects.filter(
        key__in=[f"r{index:05d}" for index in range(expired, expired + unexpired)]
    ).update(expiration=timezone.now() - PAST)
    expired_keys = set(ResultReference.objects.expired().values_list("key", flat=True))
    kept_keys = set(ResultReference.objects.values_list("key", flat=True)) - expired_keys

    process = _purge_process(batch_size)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        purged = PurgeAuditEntry.objects.aggregate(total=Sum("purged"))["total"] or 0
        if purged >= 10 * batch_size:
            break
        assert process.poll() is None, process.stdout.read().decode()
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = PurgeAuditEntry.objects.get()
    assert 0 < first.purged < len(expired_keys), "the purge must be killed midway"
    assert ResultReference.objects.live().count() > len(kept_keys)

    second = _purge_process(batch_size)
    output = second.communicate(timeout=120)[0].decode()
    assert second.returncode == 0, output

    remaining = {path.name for path in root.iterdir()}
    assert remaining == kept_keys  # nothing unexpired deleted, everything expired gone
    assert set(ResultReference.objects.live().values_list("key", flat=True)) == kept_keys
    totals = PurgeAuditEntry.objects.aggregate(
        purged=Sum("purged"), deleted=Sum("deleted"), missing=Sum("missing"), freed=Sum("bytes_freed")
    )
    assert totals["purged"] == len(expired_keys)
    assert totals["deleted"] + totals["missing"] == len(expired_keys)
    # Only the batch in flight when the process died can have lost its objects without its marks.
    assert totals["missing"] <= batch_size
    assert totals["freed"] == totals["deleted"] * 10
    # The killed run's job is not left running: the rerun marked it Failed, with the counts it reached.
    killed, rerun = CleanupJob.objects.order_by("pk")
    assert (killed.status, rerun.status) == ("failed", "done")
    assert (killed.deleted, killed.missing) == (first.deleted, first.missing)
    assert killed.processed >= first.purged and killed.finished_at is not None
    assert "interrupted" in killed.message and f"{killed.deleted} deleted" in killed.message


@pytest.mark.django_db
def test_s3_purge_counts_objects_already_gone_and_keeps_unexpired_ones(s3_settings, s3_client, s3_bucket):
    block = services.block_create(
        block_type="s3", name="p", settings={"bucket_path": f"{s3_bucket}/res", **s3_settings}
    )
    now = timezone.now()
    for index in range(30):
        key = f"k{index:02d}"
        if index != 7:  # k07 is already gone
            s3_client.put_object(Bucket=s3_bucket, Key=f"res/{key}", Body=b"abc")
        ResultReference.objects.create(
            block=block,
            storage_location=f"s3://{s3_bucket}/res",
            key=key,
            size_bytes=3,
            expiration=now - PAST if index % 3 else now + PAST,
        )
    s3_client.put_object(Bucket=s3_bucket, Key="res/k07x-unrelated", Body=b"keep")
    report = expired_purge(batch_size=8)
    assert (report.purged, report.deleted, report.missing, report.errors) == (20, 19, 1, {})
    left = {item["Key"] for item in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert left == {f"res/k{index:02d}" for index in range(0, 30, 3)} | {"res/k07x-unrelated"}
