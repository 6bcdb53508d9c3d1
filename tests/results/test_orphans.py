"""Orphans: objects no result points at, and results whose object is gone; both can be cleaned up,
and the clean-up re-checks so a result recorded since the scan is never touched."""

from __future__ import annotations

import pytest

from apps.blocks import services
from apps.results.models import ResultReference
from apps.results.orphans import missing_references_mark, orphan_objects_delete, orphans_scan

pytestmark = pytest.mark.django_db


def test_scan_and_clean_both_kinds_of_orphans(tmp_path, s3_settings, s3_bucket):
    block = services.block_create(
        block_type="s3",
        name="o",
        settings={"bucket_path": f"{s3_bucket}/base", **{k: v for k, v in s3_settings.items()}},
    )
    filesystem = block.filesystem()
    location = filesystem.basepath
    for key in ("kept", "orphan-1", "orphan-2", "later", "x.lock"):
        filesystem.write_path(key, b"12345")
    ResultReference.objects.create(block=block, storage_location=location, key="kept")
    gone = ResultReference.objects.create(block=block, storage_location=location, key="vanished")
    report = orphans_scan(block=block)
    assert sorted(info.key for info in report.objects) == ["later", "orphan-1", "orphan-2"]
    assert (report.object_count, report.object_bytes, report.missing_ids) == (3, 15, [gone.pk])

    ResultReference.objects.create(block=block, storage_location=location, key="later")  # recorded since
    cleaned = orphan_objects_delete(block=block, keys=["orphan-1", "orphan-2", "later", "kept"])
    assert (cleaned.deleted, cleaned.skipped) == (2, 2)
    assert sorted(info.key for info in filesystem.list("")) == ["kept", "later", "x.lock"]

    marked = missing_references_mark(block=block, ids=[gone.pk])
    gone.refresh_from_db()
    assert marked.purged == 1 and gone.purged_at is not None
    assert orphans_scan(block=block).object_count == 0


def test_a_failed_scan_shows_its_failure_not_an_empty_outcome(viewer_client):
    from django.urls import reverse

    from apps.results.models import CleanupJob
    from apps.results.tasks import job_create, job_run

    # The block is gone by the time the scan runs: the job fails.
    job = job_create(kind=CleanupJob.Kind.ORPHAN_SCAN, params={"block": "local-file-system/gone"})
    job = job_run(job_id=job.pk)
    assert job.status == CleanupJob.Status.FAILED
    html = viewer_client.get(reverse("results:cleanup-job", args=[job.pk])).content.decode()
    assert "data-scan-failed" in html and "no storage block" in html
    assert "every stored object has a result" not in html
    assert "every result&#x27;s object is there" not in html
