"""Purging results: delete their stored objects, then mark their references purged.

Objects go first, in batches through the filesystem's ``delete_many``; an object already gone
counts as purged. Only references whose object is gone are marked (``purged_at``/``purged_by``),
so a failed batch leaves its references live and the purge can simply be run again. The run
history keeps every reference.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.blocks.filesystems import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    LocalFileSystem,
    StorageError,
    WritableFileSystem,
)

from .models import ResultReference

logger = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    """What a purge did. ``errors`` maps reference ids to the reason their object stays."""

    deleted: int = 0
    missing: int = 0
    errors: dict[int, str] = field(default_factory=dict)
    bytes_freed: int = 0
    purged: int = 0

    def merge(self, other: PurgeReport) -> None:
        self.deleted += other.deleted
        self.missing += other.missing
        self.errors.update(other.errors)
        self.bytes_freed += other.bytes_freed
        self.purged += other.purged


_FIELDS = ("id", "block_id", "storage_location", "key", "is_literal", "size_bytes")


def references_purge(
    *,
    references: QuerySet[ResultReference] | Iterable[ResultReference],
    user: Any = None,
    batch_size: int = 1000,
) -> PurgeReport:
    """Delete the stored objects of ``references`` and mark them purged; already purged ones are skipped."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    report = PurgeReport()
    filesystems: dict[tuple[Any, str], WritableFileSystem | StorageError] = {}
    # Grouped by where the objects live, so each batch goes to one filesystem.
    for batch in _batches(_live_references(references), batch_size):
        groups: dict[tuple[Any, str], list[ResultReference]] = {}
        for reference in batch:
            groups.setdefault((reference.block_id, reference.storage_location), []).append(reference)
        for group_key, group in groups.items():
            report.merge(_purge_group(group, filesystems, group_key, user=user, batch_size=batch_size))
    logger.info(
        "purged %d result(s): %d object(s) deleted, %d already gone, %d error(s), %d bytes freed",
        report.purged,
        report.deleted,
        report.missing,
        len(report.errors),
        report.bytes_freed,
    )
    return report


def _live_references(references) -> Iterator[ResultReference]:
    if isinstance(references, QuerySet):
        queryset = references.filter(purged_at__isnull=True).order_by("block_id", "storage_location", "id")
        yield from queryset.only(*_FIELDS).iterator(chunk_size=2000)
        return
    for reference in references:
        if reference.purged_at is None:
            yield reference


def _batches(items: Iterator[ResultReference], size: int) -> Iterator[list[ResultReference]]:
    batch: list[ResultReference] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _purge_group(
    group: list[ResultReference],
    filesystems: dict[tuple[Any, str], WritableFileSystem | StorageError],
    group_key: tuple[Any, str],
    *,
    user: Any,
    batch_size: int,
) -> PurgeReport:
    report = PurgeReport()
    literals = [reference for reference in group if reference.is_literal or not reference.key]
    stored = [reference for reference in group if reference not in literals]
    gone: list[ResultReference] = list(literals)  # literals live in the database: nothing to delete
    if stored:
        if group_key not in filesystems:
            filesystems[group_key] = _filesystem_for(stored[0])
        filesystem = filesystems[group_key]
        if isinstance(filesystem, StorageError):
            report.errors.update({reference.id: str(filesystem) for reference in stored})
        else:
            by_key = {reference.key: reference for reference in stored}
            try:
                outcome = filesystem.delete_many(list(by_key), batch_size=batch_size)
            except (AccessDeniedError, BucketNotFoundError, EndpointUnreachableError) as exc:
                # The whole storage refuses: later batches would fail the same way.
                filesystems[group_key] = exc
                report.errors.update({reference.id: str(exc) for reference in stored})
            else:
                for key in outcome.deleted:
                    report.deleted += 1
                    report.bytes_freed += by_key[key].size_bytes or 0
                    gone.append(by_key[key])
                for key in outcome.missing:
                    report.missing += 1
                    gone.append(by_key[key])
                for key, message in outcome.errors.items():
                    report.errors[by_key[key].id] = message
    if gone:
        report.purged = ResultReference.objects.filter(
            id__in=[reference.id for reference in gone], purged_at__isnull=True
        ).update(
            purged_at=timezone.now(), purged_by=user if getattr(user, "is_authenticated", False) else None
        )
    return report


def _filesystem_for(reference: ResultReference) -> WritableFileSystem | StorageError:
    """The filesystem holding the reference's object, or the reason there is none."""
    if reference.block_id is not None:
        from apps.blocks.services import block_filesystem

        try:
            return block_filesystem(reference.block)
        except Exception as exc:
            return StorageError(f"storage block of result {reference.id} cannot be opened: {exc}")
    location = reference.storage_location
    if location.startswith("file://"):
        location = location.removeprefix("file://")
    if location and os.path.isabs(location):
        return LocalFileSystem(basepath=location)
    return StorageError(
        f"result {reference.id} is stored at {location or 'an unknown location'} without a storage block, "
        "so there are no credentials to delete it with"
    )
