"""python manage.py index_block SLUG [--prefix PREFIX]: adopt the result files already in a block."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.blocks.filesystems import StorageError
from apps.blocks.models import StorageBlock
from apps.results.indexing import block_index


class Command(BaseCommand):
    help = (
        "Create a result reference for every result file in a storage block written by Prefect 2.x/3.x or "
        "Resultdeck. Only a bounded head of each file is read. Running it again adds only new files."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "slug", help="The storage block, TYPE/NAME (e.g. s3/prod, local-file-system/old)."
        )
        parser.add_argument("--prefix", default="", help="Only keys under this prefix.")

    def handle(self, *args, slug, prefix="", **options):
        try:
            block = StorageBlock.objects.get_by_slug(slug)
        except StorageBlock.DoesNotExist as exc:
            raise CommandError(str(exc)) from None

        def progress(done: int, total: int) -> None:
            if total and (done == total or done % 1000 == 0):
                self.stderr.write(f"  read {done}/{total} file heads")

        try:
            report = block_index(block=block, prefix=prefix, progress=progress)
        except StorageError as exc:
            raise CommandError(f"cannot list {slug}: {exc}") from None
        layouts = (
            ", ".join(f"{layout}: {count}" for layout, count in sorted(report.by_layout.items())) or "none"
        )
        skipped = (
            ", ".join(f"{reason}: {count}" for reason, count in sorted(report.skipped.items())) or "none"
        )
        self.stdout.write(
            f"{slug}: {report.listed} object(s) listed, {report.added} result(s) added ({layouts}), "
            f"{report.already_known} already known, {report.metadata_files} metadata file(s); "
            f"skipped: {skipped}"
        )
        for key, message in list(report.errors.items())[:20]:
            self.stderr.write(f"  {key}: {message}")
