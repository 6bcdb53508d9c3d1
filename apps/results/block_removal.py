"""What a storage block holds, and deleting a block together with what to do with its results.

The blocks app knows nothing of results; these services sit above both. Pages, the API and the
admin of blocks call them, so the rules for deleting a block in use are the same everywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet, Sum

from apps.blocks.models import StorageBlock
from apps.blocks.services import BlockError, BlockInUseError, BlockValidationError, block_delete

from .models import ResultReference
from .purge import PurgeReport, references_purge

logger = logging.getLogger(__name__)

REFERENCE_CHOICES = ("refuse", "detach", "purge")


class BlockPurgeIncompleteError(BlockError):
    def __init__(self, block: StorageBlock, report: PurgeReport) -> None:
        self.report = report
        first_error = next(iter(report.errors.values()), "")
        super().__init__(
            f"block {block.slug} was not deleted: {len(report.errors)} stored result(s) could not be "
            f"deleted ({first_error}); the others were purged"
        )


@dataclass
class BlockDeleteReport:
    slug: str
    detached: int = 0
    purge: PurgeReport | None = None  # when results were purged


@dataclass
class BlockUsage:
    results: int = 0
    bytes: int = 0
    purged: int = 0
    last_result_at: Any = None


def block_references(*, block: StorageBlock) -> QuerySet[ResultReference]:
    return ResultReference.objects.filter(block=block)


def blocks_usage() -> dict[UUID, BlockUsage]:
    """Results and bytes held per block, from one grouped aggregate over the references."""
    live = Q(purged_at__isnull=True)
    rows = (
        ResultReference.objects.filter(block__isnull=False)
        .order_by()
        .values("block_id")
        .annotate(
            results=Count("id", filter=live),
            bytes=Sum("size_bytes", filter=live),
            purged=Count("id", filter=~live),
            last_result_at=Max("created"),
        )
    )
    return {
        row["block_id"]: BlockUsage(
            results=row["results"],
            bytes=row["bytes"] or 0,
            purged=row["purged"],
            last_result_at=row["last_result_at"],
        )
        for row in rows
    }


def block_usage(*, block: StorageBlock) -> BlockUsage:
    live = Q(purged_at__isnull=True)
    row = block_references(block=block).aggregate(
        results=Count("id", filter=live),
        bytes=Sum("size_bytes", filter=live),
        purged=Count("id", filter=~live),
    )
    return BlockUsage(results=row["results"], bytes=row["bytes"] or 0, purged=row["purged"])


def block_delete_with_results(
    *, block: StorageBlock, references: str = "refuse", user: Any = None
) -> BlockDeleteReport:
    """Delete a block. ``references``: what to do with results stored through it.

    ``"refuse"`` raises ``BlockInUseError`` if there are any; ``"detach"`` keeps them browsable
    (their ``storage_location`` still says where they are) without a block; ``"purge"`` deletes their
    stored objects, marks them purged and detaches them. If some objects cannot be deleted, nothing
    more happens: the block stays so the purge can be retried.
    """
    if references not in REFERENCE_CHOICES:
        raise BlockValidationError(f"references must be refuse, detach or purge, not {references!r}")
    report = BlockDeleteReport(slug=block.slug)
    referencing = block_references(block=block)
    count = referencing.count()
    if count and references == "refuse":
        raise BlockInUseError(block, count)
    if count and references == "purge":
        report.purge = references_purge(references=referencing.live(), user=user)
        if report.purge.errors:
            raise BlockPurgeIncompleteError(block, report.purge)
    with transaction.atomic():
        report.detached = referencing.update(block=None)
        block_delete(block=block, user=user)
    logger.info("%d result reference(s) of storage block %s detached", report.detached, report.slug)
    return report
