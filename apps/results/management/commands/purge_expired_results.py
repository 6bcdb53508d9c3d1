"""python manage.py purge_expired_results [--dry-run] [--block SLUG] [--older-than 30d] [--batch-size N]"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.blocks.models import StorageBlock
from apps.core.formatting import DurationInvalidError, duration_parse
from apps.results.purge import PurgeReport, expired_candidates, purge_plan


def _size(value: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


class Command(BaseCommand):
    help = (
        "Delete the stored objects of expired results (in batches, tolerating ones already gone), then mark "
        "the results purged. Safe to interrupt and run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only say what would be purged.")
        parser.add_argument("--block", help="Only results of this storage block (TYPE/NAME, e.g. s3/prod).")
        parser.add_argument("--older-than", help="Only results expired longer ago than this (e.g. 30d, 12h).")
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Objects per delete batch (default 1000)."
        )

    def handle(self, *args, dry_run=False, block=None, older_than=None, batch_size=None, **options):
        batch_size = batch_size or settings.RESULTS_PURGE_BATCH_SIZE
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, not {batch_size}")
        storage_block = None
        if block:
            try:
                storage_block = StorageBlock.objects.get_by_slug(block)
            except StorageBlock.DoesNotExist as exc:
                raise CommandError(str(exc)) from None
        try:
            age = duration_parse(older_than) if older_than else None
        except DurationInvalidError as exc:
            raise CommandError(f"--older-than: {exc}") from None
        if dry_run:
            plan = purge_plan(expired_candidates(block=storage_block, older_than=age))
            self.stdout.write(f"Would purge {plan.count} expired result(s), {_size(plan.bytes)}:")
            for row in plan.by_storage:
                self.stdout.write(f"  {row['storage']}: {row['count']} result(s), {_size(row['bytes'])}")
            return
        from apps.results.models import CleanupJob
        from apps.results.tasks import job_create, job_run

        params = {"batch_size": batch_size}
        if storage_block:
            params["block"] = storage_block.slug
        if age:
            params["older_than_s"] = age.total_seconds()
        job = job_run(
            job_id=job_create(kind=CleanupJob.Kind.PURGE_EXPIRED, params=params, source="command").pk
        )
        if job.status == CleanupJob.Status.FAILED:
            raise CommandError(f"the purge failed: {job.message}")
        report = PurgeReport(deleted=job.deleted, missing=job.missing, bytes_freed=job.bytes_freed)
        self.stdout.write(f"{job.message}; {_size(report.bytes_freed)} freed (job #{job.pk})")
        for message in job.outcome.get("errors", []):
            self.stderr.write(f"  {message}")
