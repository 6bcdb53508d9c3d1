"""Where a result goes when nothing names a storage: the rules of DESIGN.md, in one place."""

from pathlib import Path

from django.conf import settings

from apps.blocks.filesystems import LocalFileSystem, WritableFileSystem


def default_result_storage() -> WritableFileSystem:
    slug = settings.RESULTS_DEFAULT_STORAGE_BLOCK
    if slug:
        from apps.blocks.models import StorageBlock

        return StorageBlock.objects.get_by_slug(slug).filesystem()
    path = settings.RESULTS_LOCAL_STORAGE_PATH or str(Path.cwd() / ".results")
    return LocalFileSystem(basepath=path)
