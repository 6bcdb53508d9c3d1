"""python manage.py default_storage_block: make the local default storage a managed block now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.results.defaults import DEFAULT_BLOCK_SLUG, default_block_get_or_create, default_references_attach


class Command(BaseCommand):
    help = (
        f"Create {DEFAULT_BLOCK_SLUG} for the local default storage (RESULTS_LOCAL_STORAGE_PATH) if it "
        "does not exist, and attach to it the results stored there without a block. Safe to run again."
    )

    def handle(self, *args, **options):
        block = default_block_get_or_create()
        if block is None:
            raise CommandError(
                f"{DEFAULT_BLOCK_SLUG} exists but points elsewhere than the local default storage: "
                "rename that block, or set RESULTS_LOCAL_STORAGE_PATH to where it points"
            )
        attached = default_references_attach(block=block)
        self.stdout.write(f"{block.slug} → {block.points_to}; {attached} detached result(s) attached")
