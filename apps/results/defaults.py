"""Where a result goes when nothing names a storage: the rules of DESIGN.md, in one place.

The local default (RESULTS_LOCAL_STORAGE_PATH, else ``.results/`` in the working directory) is a
managed block, ``local-file-system/default``, made on first use: its results can then be indexed,
scanned for orphans and charted like any block's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.blocks.filesystems import LocalFileSystem, WritableFileSystem
from apps.blocks.models import BlockType, StorageBlock
from apps.blocks.services import block_filesystem

from .models import ResultReference
from .references import storage_location_of

logger = logging.getLogger(__name__)

DEFAULT_BLOCK_NAME = "default"
DEFAULT_BLOCK_SLUG = f"{BlockType.LOCAL}/{DEFAULT_BLOCK_NAME}"


def default_local_filesystem() -> LocalFileSystem:
    """The local default storage, by its absolute path (so every process names it alike)."""
    path = settings.RESULTS_LOCAL_STORAGE_PATH or str(Path.cwd() / ".results")
    return LocalFileSystem(basepath=str(Path(path).expanduser().resolve()))


def default_block_get_or_create(*, create: bool = True) -> StorageBlock | None:
    """The managed block of the local default storage, created (and its detached results attached)
    on first use.

    None when a block of that name points somewhere else (someone made it, or the path setting
    changed since): results written to the default path then stay detached rather than being
    filed under a block that does not hold them.
    """
    filesystem = default_local_filesystem()
    block = StorageBlock.objects.filter(block_type=BlockType.LOCAL, name=DEFAULT_BLOCK_NAME).first()
    if block is None and not create:
        return None
    if block is None:
        try:
            with transaction.atomic():
                block = StorageBlock.objects.create(
                    block_type=BlockType.LOCAL, name=DEFAULT_BLOCK_NAME, settings=filesystem.block_settings()
                )
                attached = default_references_attach(block=block)
        except IntegrityError:  # another process made it first
            block = StorageBlock.objects.get(block_type=BlockType.LOCAL, name=DEFAULT_BLOCK_NAME)
        else:
            logger.info(
                "storage block %s created for %s; %d result(s) attached",
                block.slug,
                filesystem.root,
                attached,
            )
    if storage_location_of(block_filesystem(block)) != storage_location_of(filesystem):
        return None
    return block


def default_references_attach(*, block: StorageBlock) -> int:
    """Attach to ``block`` the detached references stored at its location; returns how many."""
    location = storage_location_of(block_filesystem(block))
    return ResultReference.objects.filter(block__isnull=True, storage_location=location).update(block=block)


def default_result_storage(*, create: bool = True) -> WritableFileSystem:
    """Where results go when nothing names a storage; ``create=False`` looks without making the block
    (a health check must not write to the database)."""
    slug = settings.RESULTS_DEFAULT_STORAGE_BLOCK
    if slug:
        return StorageBlock.objects.get_by_slug(slug).filesystem()
    block = default_block_get_or_create(create=create)
    if block is None:
        return default_local_filesystem()
    return block_filesystem(block)
