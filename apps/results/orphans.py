"""Orphans: stored objects no reference points at, and references whose object is gone.

A scan lists a block's objects once and compares them with its references. Cleaning up re-checks
right before acting, so a result written (or restored) since the scan is never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.blocks.filesystems import ObjectInfo
from apps.blocks.services import block_filesystem

from .indexing import key_is_ignored
from .models import ResultReference
from .purge import PurgeReport, audit_entry_add, audit_entry_start
from .references import storage_location_of

logger = logging.getLogger(__name__)

SCAN_LIST_LIMIT = 1000


@dataclass
class OrphanReport:
    objects: list[ObjectInfo] = field(default_factory=list)  # at most SCAN_LIST_LIMIT
    object_count: int = 0
    object_bytes: int = 0
    missing_ids: list[int] = field(default_factory=list)  # at most SCAN_LIST_LIMIT
    missing_count: int = 0
    listed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "objects": [{"key": info.key, "size": info.size} for info in self.objects],
            "object_count": self.object_count,
            "object_bytes": self.object_bytes,
            "missing_ids": self.missing_ids,
            "missing_count": self.missing_count,
            "listed": self.listed,
        }


def _referenced_keys(location: str, *, block_id: Any) -> set[str]:
    live = ResultReference.objects.live().filter(storage_location=location, is_literal=False)
    keys = set(live.values_list("key", flat=True))
    keys |= set(live.exclude(metadata_location="").values_list("metadata_location", flat=True))
    return keys


def orphans_scan(*, block: Any, limit: int = SCAN_LIST_LIMIT) -> OrphanReport:
    """Objects in ``block`` with no live reference, and live references of ``block`` with no object."""
    filesystem = block_filesystem(block)
    location = storage_location_of(filesystem)
    referenced = _referenced_keys(location, block_id=block.pk)
    report = OrphanReport()
    present: set[str] = set()
    for info in filesystem.list(""):
        report.listed += 1
        present.add(info.key)
        if key_is_ignored(info.key) or info.key in referenced:
            continue
        report.object_count += 1
        report.object_bytes += info.size
        if len(report.objects) < limit:
            report.objects.append(info)
    missing = (
        ResultReference.objects.live()
        .filter(block=block, is_literal=False)
        .exclude(key="")
        .order_by("id")
        .values_list("id", "key")
    )
    for reference_id, key in missing.iterator(chunk_size=5000):
        if key not in present:
            report.missing_count += 1
            if len(report.missing_ids) < limit:
                report.missing_ids.append(reference_id)
    return report


def orphan_objects_delete(
    *, block: Any, keys: list[str], user: Any = None, source: str = "page"
) -> PurgeReport:
    """Delete objects no live reference points at (checked again now); referenced keys are left alone."""
    filesystem = block_filesystem(block)
    location = storage_location_of(filesystem)
    referenced = _referenced_keys(location, block_id=block.pk)
    to_delete = [key for key in dict.fromkeys(keys) if key not in referenced and not key_is_ignored(key)]
    report = PurgeReport(batches=1, skipped=len(keys) - len(to_delete))
    audit = audit_entry_start(user=user, source=source, reason="orphan objects")
    report.audit_id = audit.pk
    if to_delete:
        outcome = filesystem.delete_many(to_delete)
        report.deleted = len(outcome.deleted)
        report.missing = len(outcome.missing)
        report.errors = {
            index: f"{key}: {message}" for index, (key, message) in enumerate(outcome.errors.items())
        }
    audit_entry_add(audit=audit, report=report, blocks={block.pk})
    logger.info(
        "orphan objects of %s deleted: %d deleted, %d already gone",
        block.slug,
        report.deleted,
        report.missing,
    )
    return report


def missing_references_mark(
    *, block: Any, ids: list[int], user: Any = None, source: str = "page"
) -> PurgeReport:
    """Mark purged the references whose object is (still) missing; the run history keeps them."""
    filesystem = block_filesystem(block)
    report = PurgeReport(batches=1)
    audit = audit_entry_start(user=user, source=source, reason="missing objects")
    report.audit_id = audit.pk
    with transaction.atomic():
        references = list(
            ResultReference.objects.live()
            .filter(block=block, pk__in=ids, is_literal=False)
            .select_for_update()
        )
        gone = [
            reference.pk for reference in references if reference.key and not filesystem.exists(reference.key)
        ]
        report.skipped = len(ids) - len(gone)
        report.missing = len(gone)
        report.purged = ResultReference.objects.filter(pk__in=gone).update(
            purged_at=timezone.now(), purged_by=user if getattr(user, "is_authenticated", False) else None
        )
        audit_entry_add(audit=audit, report=report, blocks={block.pk})
    return report
