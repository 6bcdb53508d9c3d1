"""An admin clears expired results from the Django admin: a real Celery worker purges them from
SeaweedFS in the background while the page shows progress, then the outcome. The cleanup pages
are screenshotted along the way."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from apps.blocks import services
from apps.results.models import CleanupJob, ResultReference, RetentionPolicy
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    s = connection.settings_dict
    credentials = f"{quote(s['USER'])}:{quote(s['PASSWORD'] or '')}@" if s["USER"] else ""
    return f"postgres://{credentials}{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture
def worker(redis_url, tmp_path, settings):
    """A real Celery worker on a queue of its own, sharing this test's PostgreSQL database."""
    queue = f"cleanup-e2e-{os.getpid()}"
    settings.RESULTS_JOBS_QUEUE = queue
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "RESULTDECK_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_DEBUG": "on",
    }
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "project", "worker", "-l", "info", "-c", "1", "-P", "solo",
             "--without-gossip", "--without-mingle", "-n", f"{queue}@%h", "-Q", queue],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        process.log_path = log
        yield process
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_admin_clears_expired_results_with_a_background_job(
    page, live_server, login, screenshot, worker, s3_settings, s3_client, s3_bucket, settings
):
    settings.RESULTS_PURGE_INLINE_LIMIT = 5  # so this selection goes to the worker
    block = services.block_create(
        block_type="s3",
        name="e2e",
        settings={"bucket_path": f"{s3_bucket}/results", **s3_settings},
    )
    now = timezone.now()
    expired_keys, kept_keys = [f"old-{i:03d}" for i in range(60)], [f"new-{i:03d}" for i in range(15)]
    rows = []
    for key in expired_keys + kept_keys:
        s3_client.put_object(Bucket=s3_bucket, Key=f"results/{key}", Body=b"r" * 512)
        rows.append(
            ResultReference(
                block=block,
                storage_location=f"s3://{s3_bucket}/results",
                key=key,
                size_bytes=512,
                serializer_type="pickle",
                value_type="dict",
                created=now - dt.timedelta(days=3),
                expiration=now - dt.timedelta(hours=1)
                if key.startswith("old")
                else now + dt.timedelta(days=2),
            )
        )
    ResultReference.objects.bulk_create(rows)
    RetentionPolicy.objects.create(block=block, expire_after=dt.timedelta(days=30))
    admin = UserFactory(username="cleaner", role="admin", is_staff=True, is_superuser=True)
    login(admin)

    page.goto(f"{live_server.url}/admin/results/resultreference/?state=expired")
    page.wait_for_selector("#result_list")
    screenshot("admin-expired")
    assert page.locator("input.action-select").count() == 60  # the expired ones, on one page
    page.check("#action-toggle")
    page.select_option("select[name=action]", "clear_expired_results")
    page.click("button[name=index]")
    page.wait_for_selector("#purge-counts")
    assert page.inner_text("[data-count=to-purge] strong") == "60"
    screenshot("admin-confirm")
    page.click("input[type=submit]")
    page.wait_for_url("**/results/cleanup/jobs/*/")
    page.wait_for_selector("#job-status")
    screenshot("job-progress")
    try:
        page.wait_for_selector("#job-status[data-status=done]", timeout=60_000)
    finally:
        screenshot("job-outcome")
    assert worker.poll() is None, worker.log_path.read_text()[-3000:]
    assert page.inner_text("[data-outcome=deleted]") == "60"
    assert page.inner_text("[data-outcome=missing]") == "0"
    assert page.inner_text("[data-outcome=errors]") == "0"
    assert "30.0 KB" in page.inner_text("[data-outcome=bytes]") or "30" in page.inner_text(
        "[data-outcome=bytes]"
    )
    job = CleanupJob.objects.get()
    assert (job.source, job.status, job.deleted) == ("admin", "done", 60)

    remaining = {
        item["Key"].removeprefix("results/")
        for item in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    }
    assert remaining == set(kept_keys)
    assert ResultReference.objects.live().count() == 15

    purged = ResultReference.objects.filter(purged_at__isnull=False).first()
    page.goto(f"{live_server.url}/results/{purged.pk}/")
    assert "Result purged on" in page.inner_text("main")
    kept = ResultReference.objects.live().first()
    page.goto(f"{live_server.url}/results/{kept.pk}/")
    page.wait_for_selector(f"#expiration-{kept.pk} .edit-link")
    page.click(f"#expiration-{kept.pk} .edit-link")
    page.wait_for_selector(".expiration-form")
    screenshot("inline-expiration")
    page.fill(".expiration-form input[name=by]", "10d")
    page.click(".expiration-form button[type=submit]")
    page.wait_for_selector(f"#expiration-{kept.pk} .ok")
    kept.refresh_from_db()
    assert kept.expiration > now + dt.timedelta(days=11)

    page.goto(f"{live_server.url}/results/cleanup/")
    assert "Bytes stored per block" in page.inner_text("main")
    screenshot("overview")
    page.goto(f"{live_server.url}/results/expiring/?within=7d")
    assert "14 results" in page.inner_text("main") or "14 result" in page.inner_text("main")
    screenshot("expiring")
    page.goto(f"{live_server.url}/results/expiration/?selection=expired%3Dno")
    screenshot("bulk-confirm")
    page.goto(f"{live_server.url}/results/cleanup/")
    page.click("form[action$='/orphans/'] button")
    page.wait_for_selector("#job-status[data-status=done]", timeout=30_000)
    screenshot("orphans")
